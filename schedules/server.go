package schedules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"

	"tandem/connectors"
	"tandem/state"
)

// unknownSystem labels the deliveries to a path that names no configured
// system.
const unknownSystem = "(unknown)"

// MaxDelivery is the largest webhook body taken: larger is answered 413.
const MaxDelivery = 1 << 20

// Handler serves the public listener: POST /webhooks/{system}, and GET
// /healthz and GET /metrics unless the daemon has an admin listener,
// where they move (AdminHandler).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/{system}", d.webhook)
	if d.Admin == nil {
		d.observe(mux)
	}
	return mux
}

// AdminHandler serves the admin listener: GET /healthz, GET /metrics, and
// everything else through Console (the conflict console), when set.
func (d *Daemon) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	d.observe(mux)
	if d.Console != nil {
		mux.Handle("/", d.Console)
	}
	return mux
}

func (d *Daemon) observe(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", d.healthz)
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics.Handler())
	}
}

// webhook takes one delivery: verified by the system's connector, its
// events stored in the inbox, answered at once; merged later by the inbox
// worker. Nothing of a delivery that fails verification is stored.
func (d *Daemon) webhook(w http.ResponseWriter, r *http.Request) {
	system := r.PathValue("system")
	delivery := uuid.NewString()
	log := d.Log.With("delivery", delivery, "system", system)
	// The metric's label is the system only when it is one of ours: the
	// path is the sender's to choose, and each label value is a series
	// kept for the life of the process.
	label := unknownSystem
	if _, ok := d.Engine.Systems[system]; ok {
		label = system
	}
	answer := func(status int, result, msg string) {
		d.Metrics.delivery(label, result)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"result": result, "message": msg, "delivery": delivery})
	}
	if d.stopping.Load() {
		w.Header().Set("Retry-After", "5")
		answer(http.StatusServiceUnavailable, "stopping", "shutting down; send again later")
		return
	}
	conn, ok := d.Engine.Systems[system]
	if !ok {
		answer(http.StatusNotFound, "unknown_system", fmt.Sprintf("no system %q", system))
		return
	}
	recv, ok := conn.(connectors.WebhookReceiver)
	if !ok {
		answer(http.StatusNotFound, "unknown_system", fmt.Sprintf("system %q takes no webhooks", system))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxDelivery))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("webhook refused: body too large", "limit", MaxDelivery)
			answer(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", MaxDelivery))
			return
		}
		answer(http.StatusBadRequest, "bad_request", "cannot read the body")
		return
	}
	events, err := recv.Receive(r.Method, d.uri(r), r.Header, body, time.Now())
	if err != nil {
		var rej *connectors.WebhookRejected
		if errors.As(err, &rej) {
			log.Warn("webhook refused: not verified", "reason", rej.Reason)
			answer(http.StatusUnauthorized, "unverified", rej.Reason)
			return
		}
		log.Warn("webhook refused: cannot be parsed", "err", err)
		answer(http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var key string
	if g, ok := conn.(connectors.WebhookReplayGuard); ok {
		if k := g.ReplayKey(r.Header); k != "" {
			sum := sha256.Sum256([]byte(k))
			key = hex.EncodeToString(sum[:])
		}
	}
	rows := make([]state.InboxEvent, 0, len(events))
	skipped := 0
	for _, ev := range events {
		if !d.mapped(system, ev.Object) {
			skipped++
			continue
		}
		rows = append(rows, state.InboxEvent{Object: ev.Object, EventID: ev.ID, RecordID: ev.RecordID, Deleted: ev.Deleted, At: ev.At, Delivery: delivery})
	}
	n, err := d.Store.Receive(r.Context(), system, key, rows)
	switch {
	case errors.Is(err, state.ErrReplay):
		log.Warn("webhook refused: replayed")
		answer(http.StatusConflict, "replay", err.Error())
		return
	case err != nil:
		log.Error("webhook not stored", "err", err)
		answer(http.StatusServiceUnavailable, "error", "not stored; send again")
		return
	}
	log.Info("webhook accepted", "events", len(events), "new", n, "duplicates", len(rows)-n, "unmapped", skipped)
	if n > 0 {
		d.Wake()
	}
	result := "accepted"
	if n == 0 && len(rows) > 0 {
		result = "duplicate"
	}
	answer(http.StatusOK, result, fmt.Sprintf("%d new events, %d already received, %d about objects not synced", n, len(rows)-n, skipped))
}

// mapped reports whether an entity syncs (system, object).
func (d *Daemon) mapped(system, object string) bool {
	for _, e := range d.Config.Entities {
		if sm := e.System(system); sm != nil && sm.Object == object {
			return true
		}
	}
	return false
}

// uri is the full URI the sender called, as it signed it: PublicURL (or
// the request's own scheme and host) and the request's path and query.
func (d *Daemon) uri(r *http.Request) string {
	base := d.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + r.URL.RequestURI()
}
