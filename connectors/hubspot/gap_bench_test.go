package hubspot

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tandem"
	"tandem/connectors/hubspot/hubspottest"
)

// BenchmarkApplyGapCheck measures what seeing the write gap after the fact
// costs with property_history on: 100 updates (one batch/update) that carry
// the time their records were read, whose history is then read (two
// batch/reads of 50), against the same updates without that time (no
// check). calls/op is what HubSpot's rate limit pays; ns/op is loopback
// time on the emulator.
func BenchmarkApplyGapCheck(b *testing.B) {
	for _, check := range []bool{false, true} {
		name := map[bool]string{false: "no check", true: "history check"}[check]
		b.Run(name, func(b *testing.B) {
			clk := &fixedClock{t: time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)}
			srv := hubspottest.NewServer(hubspottest.Options{Now: clk.Now})
			defer srv.Close()
			c := open(b, srv, "property_history: true\n")
			writes := make([]tandem.Write, 100)
			for i := range writes {
				id, err := srv.Create("contacts", map[string]any{"email": fmt.Sprintf("p%03d@example.com", i), "firstname": "x"})
				if err != nil {
					b.Fatal(err)
				}
				writes[i] = tandem.Write{Op: tandem.OpUpdate, ID: id}
			}
			before := len(srv.Requests())
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				read := clk.Now()
				clk.t = clk.t.Add(time.Second)
				for i := range writes {
					writes[i].Payload = []byte(fmt.Sprintf(`{"properties":{"firstname":"n%d"}}`, n))
					if check {
						writes[i].Unmodified = read
					}
				}
				res, err := c.Apply(context.Background(), "contacts", writes)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					if r.Err != nil || len(r.Overwritten) != 0 {
						b.Fatalf("%+v", r)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(len(srv.Requests())-before)/float64(b.N), "calls/op")
		})
	}
}
