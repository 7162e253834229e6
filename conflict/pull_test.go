package conflict

import (
	"context"
	"encoding/json"
	"testing"

	"tandem"
	"tandem/connectors"
)

// fakeSource serves fixed pages and accepts every write.
type fakeSource struct{ pages []tandem.Page }

func (f *fakeSource) Pull(_ context.Context, _ tandem.Query, page func(tandem.Page) error) error {
	for _, p := range f.pages {
		if err := page(p); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeSource) Apply(_ context.Context, _ string, ws []tandem.Write) ([]tandem.Result, error) {
	return make([]tandem.Result, len(ws)), nil
}

// A record the connector could not parse is set aside with its raw body,
// and the rest of its page is staged, the cursor after it kept.
func TestPullSetsAsideRejectedRecords(t *testing.T) {
	b := newBench(t, "[email]", "{policy: newest}")
	raw, _ := json.Marshal(map[string]any{"email": "ann@x.com"})
	b.e.Systems = map[string]connectors.Connector{"a": &fakeSource{pages: []tandem.Page{{
		Records:  []tandem.Record{{ID: "1", Raw: raw, Modified: b.now}},
		Rejected: []tandem.Rejected{{ID: "2", Raw: json.RawMessage(`{"id":"2","updatedAt":"yesterday"}`), Reason: "updatedAt is not a time"}},
		Cursor:   "c1",
	}}}}
	n, err := b.e.pull(context.Background(), b.ent, b.ent.System("a"))
	if err != nil || n != 2 {
		t.Fatalf("pull = %d, %v; want 2 records handled", n, err)
	}
	st, err := b.e.Store.Status(context.Background(), "a", "A")
	if err != nil || st.DeadLetters != 1 || st.Linked != 1 || st.Cursor != "c1" {
		t.Errorf("status = %+v, %v; want 1 dead letter, 1 linked, cursor c1", st, err)
	}
}
