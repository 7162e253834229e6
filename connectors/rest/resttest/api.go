package resttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// list serves GET /contacts: filters updated_since (at or after, in the
// stamps' own form), ids (comma-separated), tandem_id and email; sorted by
// updated_at then id; paged by page (with a Link header), offset or
// cursor (next_cursor in the body), limit records a page (default 100).
// The body is {"data": [...], "next_cursor": ...}.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("updated_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"message": "updated_since: not an RFC 3339 time"})
			return
		}
		since = t
	}
	ids := map[string]bool{}
	for _, id := range strings.Split(q.Get("ids"), ",") {
		if id != "" {
			ids[id] = true
		}
	}
	var recs []*Record
	for _, rec := range s.recs {
		switch {
		case rec.Updated.Before(since):
		case len(ids) > 0 && !ids[rec.ID]:
		case q.Has("tandem_id") && rec.Fields["tandem_id"] != q.Get("tandem_id"):
		case q.Has("email") && !strings.EqualFold(fmt.Sprint(rec.Fields["email"]), q.Get("email")):
		default:
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(i, j int) bool {
		if !recs[i].Updated.Equal(recs[j].Updated) {
			return recs[i].Updated.Before(recs[j].Updated)
		}
		return recs[i].ID < recs[j].ID
	})
	limit := 100
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		limit = v
	}
	start := 0
	switch {
	case q.Has("page"):
		p, _ := strconv.Atoi(q.Get("page"))
		start = max(p-1, 0) * limit
	case q.Has("offset"):
		start, _ = strconv.Atoi(q.Get("offset"))
	case q.Get("cursor") != "":
		n, err := strconv.Atoi(strings.TrimPrefix(q.Get("cursor"), "after-"))
		if err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"message": "cursor: not one of ours"})
			return
		}
		start = n
	}
	start = min(max(start, 0), len(recs))
	end := min(start+limit, len(recs))
	data := []map[string]any{}
	for _, rec := range recs[start:end] {
		data = append(data, s.json(rec))
	}
	body := map[string]any{"data": data, "next_cursor": nil}
	if end < len(recs) {
		body["next_cursor"] = fmt.Sprintf("after-%d", end)
		if q.Has("page") {
			next := *r.URL
			nq := next.Query()
			p, _ := strconv.Atoi(q.Get("page"))
			nq.Set("page", strconv.Itoa(max(p, 1)+1))
			next.RawQuery = nq.Encode()
			w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, (&url.URL{Path: next.Path, RawQuery: next.RawQuery}).String()))
		}
	}
	reply(w, http.StatusOK, body)
}

// post serves POST /contacts. An Idempotency-Key seen before answers with
// the record it made; a tandem_id (or with UniqueEmail an email) another
// record holds is a 409 naming it.
func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	fields, ok := readFields(w, r)
	if !ok {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if id, seen := s.idem[key]; key != "" && seen {
		reply(w, http.StatusOK, s.json(s.recs[id]))
		return
	}
	for _, f := range []string{"tandem_id", "email"} {
		v, ok := fields[f]
		if !ok || f == "email" && !s.o.UniqueEmail {
			continue
		}
		for _, rec := range s.recs {
			if rec.Fields[f] == v && !rec.Deleted {
				reply(w, http.StatusConflict, map[string]string{"message": f + " taken", "existing_id": rec.ID})
				return
			}
		}
	}
	id := s.create(fields, time.Time{})
	if key != "" {
		s.idem[key] = id
	}
	w.Header().Set("ETag", etag(s.recs[id]))
	reply(w, http.StatusCreated, s.json(s.recs[id]))
}

// readFields reads a write's body: an object, whose email, if any, holds
// an @; the fields the API keeps itself are dropped, version aside.
func readFields(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"message": "body: not a JSON object"})
		return nil, false
	}
	if e, ok := fields["email"]; ok && e != nil {
		if s, ok := e.(string); !ok || !strings.Contains(s, "@") {
			reply(w, http.StatusUnprocessableEntity, map[string]string{"message": "email: not an email address"})
			return nil, false
		}
	}
	for _, k := range []string{"id", "updated_at", "deleted"} {
		delete(fields, k)
	}
	return fields, true
}

// one serves GET, PATCH, PUT and DELETE /contacts/{id}. Writes check
// If-Match against the ETag (412) and a version in the body against the
// record's (409). DELETE leaves a tombstone.
func (s *Server) one(w http.ResponseWriter, r *http.Request, id string) {
	if fn := s.beforeWrite; fn != nil && (r.Method == http.MethodPatch || r.Method == http.MethodPut) {
		s.beforeWrite = nil
		s.mu.Unlock()
		fn()
		s.mu.Lock()
	}
	rec, ok := s.recs[id]
	if !ok {
		reply(w, http.StatusNotFound, map[string]string{"message": "no such record"})
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && r.Method != http.MethodGet && m != etag(rec) {
		reply(w, http.StatusPreconditionFailed, map[string]string{"message": "the record changed"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("ETag", etag(rec))
		reply(w, http.StatusOK, s.json(rec))
	case http.MethodDelete:
		s.delete(rec)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch, http.MethodPut:
		fields, ok := readFields(w, r)
		if !ok {
			return
		}
		if v, ok := fields["version"]; ok {
			if n, _ := v.(float64); int(n) != rec.Version {
				reply(w, http.StatusConflict, map[string]string{"message": "version conflict"})
				return
			}
			delete(fields, "version")
		}
		if r.Method == http.MethodPut {
			rec.Fields = map[string]any{}
		}
		for k, v := range fields {
			rec.Fields[k] = v
		}
		rec.Updated, rec.Version = s.now(), rec.Version+1
		w.Header().Set("ETag", etag(rec))
		reply(w, http.StatusOK, s.json(rec))
	default:
		reply(w, http.StatusMethodNotAllowed, map[string]string{"message": "method not allowed"})
	}
}

// deleted serves GET /contacts/deleted (HardDelete): the records deleted
// at or after deleted_since, oldest first, all in one page.
func (s *Server) deleted(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("deleted_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"message": "deleted_since: not an RFC 3339 time"})
			return
		}
		since = t
	}
	data := []map[string]any{}
	for _, g := range s.gone {
		if !g.At.Before(since) {
			data = append(data, map[string]any{"id": g.ID, "deleted_at": s.stamp(g.At)})
		}
	}
	reply(w, http.StatusOK, map[string]any{"data": data})
}
