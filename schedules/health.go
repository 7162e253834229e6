package schedules

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"tandem/connectors"
)

// Healthz is what GET /healthz answers, as JSON: 200 when the state file
// answers and every scheduled job's last run went through, 503 with the
// reasons otherwise (a pass fails when a system does, so a system that is
// down shows here), and each system's detail either way.
type Healthz struct {
	Status    string         `json:"status"` // "ok" or "unhealthy"
	Reasons   []string       `json:"reasons,omitempty"`
	Started   time.Time      `json:"started_at"`
	Schedules []ScheduleInfo `json:"schedules"`
	Systems   []SystemInfo   `json:"systems"`
}

// ScheduleInfo is one cron job as /healthz shows it.
type ScheduleInfo struct {
	Entity  string    `json:"entity"`
	Kind    string    `json:"kind"` // sync or reconcile
	Next    time.Time `json:"next"`
	Last    time.Time `json:"last_finished,omitzero"`
	Running bool      `json:"running"`
	Error   string    `json:"error,omitempty"`
}

// SystemInfo is one system's detail in /healthz.
type SystemInfo struct {
	System      string             `json:"system"`
	Object      string             `json:"object"`
	Outbox      int                `json:"outbox_depth"`
	Inbox       int                `json:"inbox_depth"`
	DeadLetters int                `json:"dead_letters"`
	Health      *connectors.Health `json:"client,omitempty"`
}

// Health reports the daemon's health.
func (d *Daemon) Health(r *http.Request) Healthz {
	h := Healthz{Status: "ok", Started: d.started}
	if d.stopping.Load() {
		h.Reasons = append(h.Reasons, "shutting down")
	}
	d.mu.Lock()
	for _, js := range d.jobs {
		si := ScheduleInfo{Entity: js.entity, Kind: js.kind, Next: d.cron.Entry(js.entry).Next, Last: js.last, Running: js.running, Error: js.err}
		if js.err != "" {
			h.Reasons = append(h.Reasons, fmt.Sprintf("entity %s: last %s failed: %s", js.entity, js.kind, js.err))
		}
		h.Schedules = append(h.Schedules, si)
	}
	d.mu.Unlock()
	sort.Slice(h.Schedules, func(i, j int) bool {
		a, b := h.Schedules[i], h.Schedules[j]
		return a.Entity < b.Entity || a.Entity == b.Entity && a.Kind < b.Kind
	})
	for _, e := range d.Config.Entities {
		for _, sm := range e.Systems {
			st, err := d.Store.Status(r.Context(), sm.Name, sm.Object)
			if err != nil {
				h.Reasons = append(h.Reasons, "state file: "+err.Error())
				break
			}
			inbox, err := d.Store.InboxDepth(r.Context(), sm.Name, sm.Object)
			if err != nil {
				h.Reasons = append(h.Reasons, "state file: "+err.Error())
				break
			}
			si := SystemInfo{System: sm.Name, Object: sm.Object, Outbox: st.Outbox, Inbox: inbox, DeadLetters: st.DeadLetters}
			if hl, ok := d.Engine.Systems[sm.Name].(connectors.Healther); ok {
				v := hl.Health()
				si.Health = &v
			}
			h.Systems = append(h.Systems, si)
		}
	}
	sort.Strings(h.Reasons)
	if len(h.Reasons) > 0 {
		h.Status = "unhealthy"
	}
	return h
}

func (d *Daemon) healthz(w http.ResponseWriter, r *http.Request) {
	h := d.Health(r)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if h.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(h)
}
