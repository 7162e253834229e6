package salesforcetest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// change is one call of the OnChange hook.
type change struct {
	object, id string
	at         time.Time
}

func (c change) String() string { return c.object + " " + c.id }

// changes records the calls of an OnChange hook. Each call reads the
// record back from the emulator, which deadlocks if the hook is called
// with the lock held, and checks at is the record's SystemModstamp.
type changes struct {
	t    *testing.T
	e    *Emulator
	mu   sync.Mutex
	list []change
}

func watch(t *testing.T, e *Emulator) *changes {
	c := &changes{t: t, e: e}
	e.OnChange(func(object, id string, at time.Time) {
		r, ok := e.Get(object, id)
		switch {
		case !ok:
			t.Errorf("OnChange(%s, %s): no such record", object, id)
		case !r.SystemModstamp.Equal(at):
			t.Errorf("OnChange(%s, %s, %v): the record's SystemModstamp is %v", object, id, at, r.SystemModstamp)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.list = append(c.list, change{object, id, at})
	})
	return c
}

// take returns the changes seen since the last take.
func (c *changes) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, ch := range c.list {
		out = append(out, ch.String())
	}
	c.list = nil
	return out
}

// withoutDeadlock runs f, and stops the test binary if f does not return
// in time: a hook called with the emulator's lock held deadlocks on its
// first read.
func withoutDeadlock(t *testing.T, f func()) {
	t.Helper()
	watchdog := time.AfterFunc(time.Minute, func() {
		panic("deadlock: the OnChange hook was called with the emulator's lock held")
	})
	defer watchdog.Stop()
	f()
}

func TestOnChangeTestAPI(t *testing.T) {
	clk := newClock()
	e := New(Options{Now: clk.Now})
	seen := watch(t, e)
	withoutDeadlock(t, func() {
		id := mustCreate(t, e, "Contact", map[string]any{"LastName": "Ada"})
		if got := seen.take(); !slices.Equal(got, []string{"Contact " + id}) {
			t.Errorf("create: %v", got)
		}
		clk.Add(time.Second)
		if err := e.Update("Contact", id[:15], map[string]any{"Title": "Countess"}); err != nil {
			t.Fatal(err)
		}
		if got := seen.take(); !slices.Equal(got, []string{"Contact " + id}) {
			t.Errorf("update by the 15-character id: %v, want the 18-character one", got)
		}
		clk.Add(time.Second)
		if err := e.Delete("Contact", id); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
		if err := e.Undelete("Contact", id); err != nil {
			t.Fatal(err)
		}
		if got := seen.take(); !slices.Equal(got, []string{"Contact " + id, "Contact " + id}) {
			t.Errorf("delete and undelete: %v", got)
		}

		// Failed writes call nothing.
		if _, err := e.Create("Contact", map[string]any{"FirstName": "No last"}); err == nil {
			t.Fatal("create without LastName succeeded")
		}
		if err := e.Undelete("Contact", id); err == nil {
			t.Fatal("undelete of a live record succeeded")
		}
		if err := e.Update("Contact", id, map[string]any{"Nope__c": 1}); err == nil {
			t.Fatal("update of an unknown field succeeded")
		}
		if got := seen.take(); len(got) != 0 {
			t.Errorf("failed writes: %v", got)
		}

		// LoadSeed: one call per record, in file order.
		seed := filepath.Join(t.TempDir(), "seed.json")
		os.WriteFile(seed, []byte(`{"Account":[{"Name":"Acme"}],"Contact":[{"LastName":"A"},{"LastName":"B"}]}`), 0o600)
		if err := e.LoadSeed(seed); err != nil {
			t.Fatal(err)
		}
		got := seen.take()
		if len(got) != 3 || !strings.HasPrefix(got[0], "Account 001") || !strings.HasPrefix(got[1], "Contact 003") || !strings.HasPrefix(got[2], "Contact 003") {
			t.Errorf("seed: %v", got)
		}
	})

	// nil removes the hook.
	e.OnChange(nil)
	mustCreate(t, e, "Contact", map[string]any{"LastName": "Unseen"})
	if got := seen.take(); len(got) != 0 {
		t.Errorf("after OnChange(nil): %v", got)
	}
}

func TestOnChangeCollections(t *testing.T) {
	c, clk := newClient(t, Options{})
	e := c.s.Emulator
	seen := watch(t, e)
	path := dataPrefix + "composite/sobjects"
	withoutDeadlock(t, func() {
		st, res, _ := c.do("POST", path, body(false,
			contact(`"LastName":"Ada","Tandem_Id__c":"ent-1"`),
			contact(`"FirstName":"No last"`), // fails alone
			`{"attributes":{"type":"Account"},"Name":"Acme"}`))
		ada, acme := res.Get("0.id").String(), res.Get("2.id").String()
		if st != 200 || ada == "" || acme == "" {
			t.Fatalf("create: %d %s", st, res.Raw)
		}
		if got := seen.take(); !slices.Equal(got, []string{"Contact " + ada, "Account " + acme}) {
			t.Errorf("create: %v, want the two records created, in order", got)
		}

		clk.Add(time.Second)
		c.do("PATCH", path, body(false, contact(fmt.Sprintf(`"Id":%q,"Title":"Countess"`, ada))))
		if got := seen.take(); !slices.Equal(got, []string{"Contact " + ada}) {
			t.Errorf("update: %v", got)
		}

		clk.Add(time.Second)
		st, res, _ = c.do("PATCH", path+"/Contact/Tandem_Id__c", body(false,
			contact(`"LastName":"Lovelace","Tandem_Id__c":"ent-1"`),
			contact(`"LastName":"Byron","Tandem_Id__c":"ent-2"`)))
		byron := res.Get("1.id").String()
		if st != 200 || byron == "" {
			t.Fatalf("upsert: %d %s", st, res.Raw)
		}
		if got := seen.take(); !slices.Equal(got, []string{"Contact " + ada, "Contact " + byron}) {
			t.Errorf("upsert: %v", got)
		}

		// allOrNone with a failure: everything rolled back, nothing seen.
		clk.Add(time.Second)
		c.do("POST", path, body(true, contact(`"LastName":"Rolled back"`), contact(`"FirstName":"No last"`)))
		c.do("DELETE", path+"?allOrNone=true&ids="+ada+",001000000000000AAA", nil)
		if got := seen.take(); len(got) != 0 {
			t.Errorf("rolled back: %v", got)
		}
		if r, _ := e.Get("Contact", ada); r.IsDeleted {
			t.Fatal("the delete was not rolled back")
		}

		clk.Add(time.Second)
		c.do("DELETE", path+"?ids="+ada+","+byron, nil)
		if got := seen.take(); !slices.Equal(got, []string{"Contact " + ada, "Contact " + byron}) {
			t.Errorf("delete: %v", got)
		}

		// Reads are not changes.
		c.query("SELECT Id FROM Contact")
		c.do("GET", path+"/Contact?ids="+ada+"&fields=Id", nil)
		if got := seen.take(); len(got) != 0 {
			t.Errorf("reads: %v", got)
		}
	})
}

// TestOnChangeConcurrent: writes from many goroutines each report their
// own change, and the hook may write to the emulator itself.
func TestOnChangeConcurrent(t *testing.T) {
	e := New(Options{})
	var mu sync.Mutex
	var n int
	var echoed sync.Once
	e.OnChange(func(object, id string, at time.Time) {
		mu.Lock()
		n++
		mu.Unlock()
		if object == "Contact" {
			echoed.Do(func() { // a write from the hook: no deadlock, and seen too
				if _, err := e.Create("Account", map[string]any{"Name": "From the hook"}); err != nil {
					t.Error(err)
				}
			})
		}
	})
	withoutDeadlock(t, func() {
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.Create("Contact", map[string]any{"LastName": fmt.Sprint(i)}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	})
	if n != 21 {
		t.Errorf("%d changes, want 20 creates and the hook's own", n)
	}
}
