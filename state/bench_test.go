package state

import (
	"context"
	"path/filepath"
	"testing"
)

// The statement overhead a pass pays tens of times per record: one query
// and one update in a transaction, with a cancellable context as the
// engine has, run straight to the driver or through uncancelled (which
// the Store uses). `go test ./state -bench Statement`.
func benchExec(b *testing.B, ctx context.Context, wrap bool) {
	s, err := Open(filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	err = s.Update(ctx, func(tx *Tx) error {
		var d db = tx.tx
		if wrap {
			d = uncancelled{tx.tx}
		}
		for i := 0; i < b.N; i++ {
			var n int
			if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM links WHERE system = ? AND object = ? AND external_id = ?`, "a", "b", "c").Scan(&n); err != nil {
				return err
			}
			if _, err := d.ExecContext(ctx, `UPDATE links SET swept = ? WHERE system = ? AND object = ? AND external_id = ?`, "x", "a", "b", "c"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkStatementCancellable(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchExec(b, ctx, false)
}
func BenchmarkStatementUncancelled(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchExec(b, ctx, true)
}
