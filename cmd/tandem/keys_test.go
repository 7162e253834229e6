package main

import (
	"database/sql"
	"strings"
	"testing"
)

const (
	testKeyA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	testKeyB = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
)

// sealedColumns counts the golden records and snapshots of the state file
// that are sealed, and those that are not.
func sealedColumns(t *testing.T, path, key string) (sealed, plain int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`SELECT golden FROM entities`, `SELECT snapshot FROM links`, `SELECT raw FROM links`} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			rows.Scan(&v)
			if strings.HasPrefix(v, "tdm1:"+key) {
				sealed++
			} else {
				plain++
			}
		}
		rows.Close()
	}
	return sealed, plain
}

// TestEncryptionAtRest: with TANDEM_STATE_KEY a sync seals the record
// values it stores; without the key the state cannot be read, and says
// which key it needs; a rotation (the new key, the old one in
// TANDEM_STATE_KEY_OLD, tandem rekey) reseals everything, after which the
// old key is not needed.
func TestEncryptionAtRest(t *testing.T) {
	w := newWorld(t)
	t.Setenv(stateKeyEnv, testKeyA)
	w.sync(t)
	a, _ := stateKeys()
	sealed, plain := sealedColumns(t, w.state, "")
	if sealed == 0 || plain != 0 {
		t.Fatalf("after a sync with a key: %d values sealed, %d plain", sealed, plain)
	}
	t.Setenv(stateKeyEnv, "")
	if code, _, errs := run("sync", "--config", w.config); code == 0 || !strings.Contains(errs, a.ID()) || !strings.Contains(errs, stateKeyEnv) {
		t.Errorf("sync without the key: exit %d\n%s", code, errs)
	}
	t.Setenv(stateKeyEnv, "not a key")
	if code, _, errs := run("status", "--config", w.config); code == 0 || !strings.Contains(errs, "openssl rand -hex 32") {
		t.Errorf("status with a malformed key: exit %d\n%s", code, errs)
	}

	t.Setenv(stateKeyEnv, testKeyB)
	t.Setenv(stateKeyOldEnv, testKeyA)
	b, _ := stateKeys()
	code, out, errs := run("rekey", "--config", w.config)
	if code != 0 || !strings.Contains(out, "resealed with key "+b.ID()) {
		t.Fatalf("rekey: exit %d\n%s%s", code, out, errs)
	}
	if sealed, plain := sealedColumns(t, w.state, b.ID()); sealed == 0 || plain != 0 {
		t.Errorf("after rekey: %d values sealed with the new key, %d not", sealed, plain)
	}
	t.Setenv(stateKeyOldEnv, "")
	if code, out, errs := run("sync", "--config", w.config); code != 0 {
		t.Errorf("sync with the new key alone: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := run("conflicts", "--config", w.config); code != 0 {
		t.Errorf("conflicts with the new key: exit %d\n%s", code, out)
	}
}
