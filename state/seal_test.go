package state

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"tandem"
)

const (
	keyA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	keyB = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=" // base64 of 32 bytes
)

// fill writes one of each sealed value, all carrying "Lovelace".
func fill(t *testing.T, s *Store) (entityID string) {
	t.Helper()
	ctx := context.Background()
	err := s.Update(ctx, func(tx *Tx) error {
		id, err := tx.NewEntity(ctx, "contact", tandem.Golden{"last_name": {Value: "Lovelace"}}, map[string]string{"email": "ada@example.com"})
		if err != nil {
			return err
		}
		entityID = id
		if err := tx.PutLink(ctx, &tandem.Link{EntityID: id, System: "hs", Object: "contacts", ExternalID: "1",
			Snapshot: tandem.Values{"last_name": "Lovelace"}, Raw: []byte(`{"lastname":"Lovelace"}`), Modified: time.Now()}); err != nil {
			return err
		}
		c := &tandem.Conflict{Entity: "contact", EntityID: id, Kind: tandem.ConflictIdentity, Status: tandem.ConflictOpen, Base: "Lovelace",
			Values: map[string]tandem.SideValue{"sf": {Value: map[string]any{"last_name": "Lovelace"}}}}
		if err := tx.AddConflict(ctx, c, &Pending{System: "sf", Object: "Contact", ExternalID: "9", Raw: []byte(`{"LastName":"Lovelace"}`)}); err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, "contact", id, "sf", "Contact"); err != nil {
			return err
		}
		var ob int64
		if err := tx.db.QueryRowContext(ctx, `SELECT id FROM outbox WHERE entity_id = ?`, id).Scan(&ob); err != nil {
			return err
		}
		if err := tx.MarkSent(ctx, ob, tandem.Values{"last_name": "Lovelace"}); err != nil {
			return err
		}
		return tx.AddDeadLetter(ctx, "hs", "contacts", "2", []byte(`{"lastname":"Lovelace","phone":"x"}`), "phone: not a number")
	})
	if err != nil {
		t.Fatal(err)
	}
	return entityID
}

// stored is every sealed column's stored value, as the file holds it.
func stored(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	for _, tb := range sealed {
		for _, c := range tb.cols {
			rows, err := db.Query(`SELECT ` + c + ` FROM ` + tb.table + ` WHERE ` + c + ` IS NOT NULL`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var v []byte
				rows.Scan(&v)
				out = append(out, tb.table+"."+c+"="+string(v))
			}
			rows.Close()
		}
	}
	return out
}

// readBack reads every sealed value through the store.
func readBack(t *testing.T, s *Store, id string) error {
	t.Helper()
	ctx := context.Background()
	g, err := s.Golden(ctx, id)
	if err != nil {
		return err
	}
	l, err := s.LinkOf(ctx, id, "hs", "contacts")
	if err != nil {
		return err
	}
	cs, err := s.Conflicts(ctx, false)
	if err != nil {
		return err
	}
	_, held, err := s.Conflict(ctx, cs[0].ID)
	if err != nil {
		return err
	}
	fl, err := s.InFlight(ctx, id, "sf", "Contact")
	if err != nil {
		return err
	}
	ds, err := s.DeadLetters(ctx)
	if err != nil {
		return err
	}
	if g["last_name"].Value != "Lovelace" || l.Snapshot["last_name"] != "Lovelace" || !strings.Contains(string(l.Raw), "Lovelace") ||
		cs[0].Base != "Lovelace" || !strings.Contains(string(held.Raw), "Lovelace") || !fl.Has("last_name", "Lovelace") || len(ds) != 1 ||
		!strings.Contains(string(ds[0].Raw), "Lovelace") {
		t.Fatalf("read back: golden %v, link %v %s, conflict %+v held %s, in flight %v, dead letters %+v", g, l.Snapshot, l.Raw, cs[0], held.Raw, fl, ds)
	}
	return nil
}

// With keys, every record value is sealed in the file (none reads
// "Lovelace"), and reads back whole; the match key stays plain.
func TestSealedAtRest(t *testing.T) {
	s, path := open(t)
	keys, err := ParseKeys(keyA)
	if err != nil {
		t.Fatal(err)
	}
	s.SetKeys(keys)
	id := fill(t, s)
	vals := stored(t, path)
	if len(vals) != 8 {
		t.Fatalf("%d stored values, want every sealed column filled: %v", len(vals), vals)
	}
	for _, v := range vals {
		if strings.Contains(v, "Lovelace") || !strings.Contains(v, "=tdm1:"+keys.ID()+":") {
			t.Errorf("stored plain: %.80s", v)
		}
	}
	if err := readBack(t, s, id); err != nil {
		t.Fatal(err)
	}
	// Without the key, or with another, nothing is read, and the error
	// names the key.
	s.SetKeys(nil)
	if _, err := s.Golden(context.Background(), id); err == nil || !strings.Contains(err.Error(), keys.ID()) || !strings.Contains(err.Error(), "TANDEM_STATE_KEY") {
		t.Errorf("golden without the key: %v", err)
	}
	other, _ := ParseKeys(keyB)
	s.SetKeys(other)
	if _, err := s.LinkOf(context.Background(), id, "hs", "contacts"); err == nil || !strings.Contains(err.Error(), "TANDEM_STATE_KEY_OLD") {
		t.Errorf("link with another key: %v", err)
	}
	// A sealed value moved to another column does not open.
	db, _ := sql.Open("sqlite3", "file:"+path)
	db.Exec(`UPDATE entities SET golden = (SELECT snapshot FROM links LIMIT 1)`)
	db.Close()
	s.SetKeys(keys)
	if _, err := s.Golden(context.Background(), id); err == nil || !strings.Contains(err.Error(), "another column") {
		t.Errorf("a snapshot moved into golden: %v", err)
	}
}

// Turning encryption on seals what was plain; a rotation re-seals with the
// new key what the old one sealed, reading both meanwhile; after it the
// old key is not needed.
func TestRekey(t *testing.T) {
	s, path := open(t)
	id := fill(t, s)
	for _, v := range stored(t, path) {
		if strings.HasPrefix(strings.SplitN(v, "=", 2)[1], "tdm1:") {
			t.Fatalf("sealed without keys: %.60s", v)
		}
	}
	ctx := context.Background()
	a, _ := ParseKeys(keyA)
	s.SetKeys(a)
	if err := readBack(t, s, id); err != nil { // plain values read with keys set
		t.Fatal(err)
	}
	n, err := s.Rekey(ctx, 2, 0)
	if err != nil || n != 5 {
		t.Fatalf("rekey from plain: %d rows, %v", n, err)
	}
	for _, v := range stored(t, path) {
		if !strings.Contains(v, "=tdm1:"+a.ID()+":") {
			t.Errorf("not sealed with A: %.60s", v)
		}
	}
	if n, err := s.Rekey(ctx, 2, 0); err != nil || n != 0 {
		t.Errorf("a second rekey rewrote %d rows, %v", n, err)
	}
	b, err := ParseKeys(keyB, keyA)
	if err != nil {
		t.Fatal(err)
	}
	s.SetKeys(b)
	if err := readBack(t, s, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rekey(ctx, 3, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	only, _ := ParseKeys(keyB)
	s.SetKeys(only)
	if err := readBack(t, s, id); err != nil {
		t.Fatalf("after the rotation, without the old key: %v", err)
	}
	for _, v := range stored(t, path) {
		if !strings.Contains(v, "=tdm1:"+b.ID()+":") {
			t.Errorf("not sealed with B: %.60s", v)
		}
	}
}

func TestParseKeys(t *testing.T) {
	for _, bad := range []string{"", "abc", strings.Repeat("0", 62), "not base64 at all, not hex either, no"} {
		if _, err := ParseKeys(bad); err == nil || !strings.Contains(err.Error(), "openssl rand -hex 32") {
			t.Errorf("ParseKeys(%q) = %v", bad, err)
		}
	}
	if _, err := ParseKeys(keyA, keyB+" short"); err == nil || !strings.Contains(err.Error(), "an old key") {
		t.Errorf("a bad old key: %v", err)
	}
	a, _ := ParseKeys(keyA)
	a2, _ := ParseKeys(" " + keyA + "\n")
	b, _ := ParseKeys(keyB)
	if a.ID() != a2.ID() || a.ID() == b.ID() || len(a.ID()) != 8 {
		t.Errorf("key ids %q %q %q", a.ID(), a2.ID(), b.ID())
	}
}
