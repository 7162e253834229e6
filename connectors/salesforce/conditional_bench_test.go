package salesforce

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/salesforce/salesforcetest"
)

// BenchmarkApplyConditional measures what guarding the write gap costs: 200
// updates of records modified within the conditional window (sObject Rows
// subrequests with If-Unmodified-Since, 25 per Composite call) against the
// same 200 in one sObject Collections call, on the loopback emulator.
// calls/op is what the daily allowance pays; ns/op is loopback time, a
// floor for a real org, where each call costs a round trip.
func BenchmarkApplyConditional(b *testing.B) {
	for _, guarded := range []bool{false, true} {
		name := map[bool]string{false: "batched", true: "conditional"}[guarded]
		b.Run(name, func(b *testing.B) {
			clk := newClock()
			// Room for every run (the emulator's default allowance is
			// 15,000 calls a day).
			sf := salesforcetest.NewServer(salesforcetest.Options{Now: clk.Now, DailyLimit: 5_000_000})
			defer sf.Close()
			conn, err := New(config(b, fmt.Sprintf("type: salesforce\ninstance_url: %s\nclient_id: test-client-id\nclient_secret: test-client-secret\n", sf.URL)))
			if err != nil {
				b.Fatal(err)
			}
			c := conn.(*Client)
			c.now = clk.Now
			writes := make([]tandem.Write, 200)
			for i := range writes {
				id, err := sf.Create("Contact", map[string]any{"LastName": fmt.Sprint(i)})
				if err != nil {
					b.Fatal(err)
				}
				writes[i] = tandem.Write{Op: tandem.OpUpdate, ID: id}
			}
			before := len(sf.Requests())
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				clk.Add(time.Second)
				for i := range writes {
					writes[i].Payload = []byte(fmt.Sprintf(`{"FirstName":"n%d"}`, n))
					if guarded {
						writes[i].Unmodified = clk.Now().Add(-time.Second) // read a second ago, unmodified since
					}
				}
				res, err := c.Apply(context.Background(), "Contact", writes)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(len(sf.Requests())-before)/float64(b.N), "calls/op")
		})
	}
}
