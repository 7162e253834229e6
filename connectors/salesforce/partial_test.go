package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tidwall/gjson"

	"tandem"
	"tandem/connectors/salesforce/salesforcetest"
)

func TestRecordErrorClassification(t *testing.T) {
	c := &Client{system: "sf"}
	tests := []struct {
		code, message string
		retryable     bool
	}{
		{"UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: 0035g00000AbCdE", true},
		{"REQUEST_RUNNING_TOO_LONG", "Your request was running for too long, and has been stopped.", true},
		{"SERVER_UNAVAILABLE", "Server unavailable", true},
		{"REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", true},
		{"ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were valid and the request was using AllOrNone header", true},
		// A trigger or a flow that met a lock reports it under its own code.
		{"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "ContactTrigger: execution of AfterUpdate caused by: System.DmlException: Update failed. First exception on row 0; first error: UNABLE_TO_LOCK_ROW, unable to obtain exclusive access to this record: []", true},
		{"CANNOT_EXECUTE_FLOW_TRIGGER", "We can't save this record because the “Sync” process failed. This error occurred when the flow tried to update records: UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record.", true},
		// What the record carries is wrong: the same write fails again.
		{"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "ContactTrigger: execution of BeforeInsert caused by: System.NullPointerException: Attempt to de-reference a null object", false},
		{"FIELD_CUSTOM_VALIDATION_EXCEPTION", "Phone must have 10 digits", false},
		{"REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", false},
		{"INVALID_FIELD", "No such column 'Foo__c' on sobject of type Contact", false},
		{"INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: Name.", false},
		{"DUPLICATE_VALUE", "duplicate value found: Tandem_Id__c duplicates value on record with id: 0035g00000AbCdE", false},
		{"STRING_TOO_LONG", "Last Name: data value too large", false},
		{"INVALID_EMAIL_ADDRESS", "Email: invalid email address: x", false},
		{"ENTITY_IS_LOCKED", "This record is locked. If you need to edit it, contact your admin", false},
	}
	for _, tt := range tests {
		res := gjson.Parse(fmt.Sprintf(`{"success":false,"errors":[{"statusCode":%q,"message":%q,"fields":[]}]}`, tt.code, tt.message))
		e := c.recordError("apply Contact create", res)
		if e.Code != tt.code || e.Retryable != tt.retryable || tandem.IsRetryable(e) != tt.retryable || !strings.Contains(e.Message, tt.message[:min(20, len(tt.message))]) {
			t.Errorf("%s %q: got %#v, want retryable %v", tt.code, tt.message, e, tt.retryable)
		}
	}
}

// failSome is an emulator in front of which the creates whose LastName
// has a failure never reach the org and come back failed with it, in
// their place among the others' results, as allOrNone=false answers.
func failSome(e http.Handler, fail map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch || !strings.Contains(r.URL.Path, "/composite/sobjects/") {
			e.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var kept []string
		var failed []string // per record: "" or the failure's JSON
		for _, rec := range gjson.GetBytes(body, "records").Array() {
			code := fail[rec.Get("LastName").String()]
			if code == "" {
				kept = append(kept, rec.Raw)
				failed = append(failed, "")
				continue
			}
			msg := map[string]string{
				"UNABLE_TO_LOCK_ROW":                "unable to obtain exclusive access to this record",
				"FIELD_CUSTOM_VALIDATION_EXCEPTION": "Phone must have 10 digits",
			}[code]
			failed = append(failed, fmt.Sprintf(`{"success":false,"errors":[{"statusCode":%q,"message":%q,"fields":["Phone"]}]}`, code, msg))
		}
		var results []json.RawMessage
		if len(kept) > 0 {
			inner := httptest.NewRequest(r.Method, r.URL.String(), strings.NewReader(`{"allOrNone":false,"records":[`+strings.Join(kept, ",")+`]}`))
			inner.Header = r.Header
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, inner)
			if err := json.Unmarshal(rec.Body.Bytes(), &results); err != nil {
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				return
			}
		}
		var out [][]byte
		for _, f := range failed {
			if f != "" {
				out = append(out, []byte(f))
			} else {
				out, results = append(out, results[0]), results[1:]
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[" + string(bytes.Join(out, []byte(","))) + "]"))
	})
}

func TestPartialBatchFailure(t *testing.T) {
	e := salesforcetest.New(salesforcetest.Options{})
	c := serve(t, failSome(e, map[string]string{"L1": "UNABLE_TO_LOCK_ROW", "L3": "FIELD_CUSTOM_VALIDATION_EXCEPTION"}), Options{})
	ws := creates(5, "pf")
	res, err := c.Apply(context.Background(), "Contact", ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2, 4} {
		if res[i].Err != nil || len(res[i].ID) != 18 {
			t.Fatalf("write %d: %+v", i, res[i])
		}
	}
	var lock, invalid *tandem.Error
	if !errors.As(res[1].Err, &lock) || lock.Code != "UNABLE_TO_LOCK_ROW" || !tandem.IsRetryable(res[1].Err) || res[1].ID != "" {
		t.Fatalf("locked record: %+v", res[1])
	}
	if !errors.As(res[3].Err, &invalid) || invalid.Code != "FIELD_CUSTOM_VALIDATION_EXCEPTION" || tandem.IsRetryable(res[3].Err) ||
		!strings.Contains(invalid.Message, "Phone must have 10 digits") {
		t.Fatalf("invalid record: %+v", res[3])
	}
	if n := len(e.List("Contact")); n != 3 {
		t.Fatalf("%d contacts after the batch, want 3", n)
	}

	// The retryable one is tried again, with the others of the next batch
	// (here, all five again, as after a crash before the results were
	// recorded): upserts on the key, so nothing is made twice.
	c2 := serve(t, e, Options{})
	again, err := c2.Apply(context.Background(), "Contact", ws)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again {
		if r.Err != nil || i != 1 && i != 3 && r.ID != res[i].ID {
			t.Fatalf("write %d again: %+v (first %+v)", i, r, res[i])
		}
	}
	if n := len(e.List("Contact")); n != 5 {
		t.Fatalf("%d contacts after the retry, want 5", n)
	}
}

func TestPullPagingIsBounded(t *testing.T) {
	// A server that never says done, answering a new locator each time,
	// or the same one: the pull stops with an error, not a loop.
	for _, same := range []bool{false, true} {
		var n atomic.Int32
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/services/oauth2/token" {
				fmt.Fprint(w, `{"access_token":"00D!x","token_type":"Bearer"}`)
				return
			}
			if r.URL.Path == "/services/data/v62.0/" { // the call for the server's time
				fmt.Fprint(w, `{}`)
				return
			}
			i := n.Add(1)
			loc := i
			if same {
				loc = 1
			}
			fmt.Fprintf(w, `{"totalSize":3,"done":false,"nextRecordsUrl":"/services/data/v62.0/queryAll/01gD0000002HU6KIAW-%d","records":[
				{"attributes":{"type":"Contact"},"Id":"0035g00000AbC%03dAA","SystemModstamp":"2024-05-06T07:08:%02d.000+0000","LastModifiedDate":"2024-05-06T07:08:09.000+0000","IsDeleted":false}]}`,
				loc, i, i%60)
		})
		c := serve(t, h, Options{})
		var pages int
		err := c.Pull(context.Background(), tandem.Query{Object: "Contact"}, func(tandem.Page) error { pages++; return nil })
		if err == nil || tandem.IsRetryable(err) {
			t.Fatalf("same locator %v: %v after %d pages", same, err, pages)
		}
		want := "did not end after 5 batches"
		if same {
			want = "points at the batch just read"
		}
		if !strings.Contains(err.Error(), want) || n.Load() > 5 {
			t.Fatalf("same locator %v: %v after %d calls", same, err, n.Load())
		}
	}
}
