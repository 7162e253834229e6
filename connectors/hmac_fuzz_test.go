package connectors

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzHMACReceive: the generic receiver never panics; it accepts a
// delivery only when the signature header, read as documented (hex or
// base64 of any alphabet, an optional sha256= prefix), is the HMAC of
// what was sent, and, with a timestamp header, the timestamp is digits
// within HMACWindow of now; a delivery signed so, in any of its
// spellings, is never refused; every spelling of one signature has the
// same replay key; accepted events carry an id, a record id and an
// object; a verified body that cannot be read is an error, never a
// rejection. Seeds: the f.Add calls; CI runs it for a bounded count
// (.ci/run).
//
// mode: bit 0 signs the delivery (else sig is sent as given); bit 1
// stamps it now+skew seconds (else ts is sent as given); bits 2-3 pick a
// spelling of the signature; bit 4 picks the receiver: hex with a
// timestamp header and a default object, or base64 with neither.
func FuzzHMACReceive(f *testing.F) {
	now := time.Unix(1715000000, 0)
	for _, body := range []string{
		`{"id":"e1","record_id":"r1"}`,
		`[{"id":"evt-1","object":"Contact","record_id":"003000000000001AAA","deleted":false,"occurred_at":"2024-05-06T07:08:09Z"},{"id":7,"record_id":8,"deleted":true}]`,
		`[]`, `{}`, `null`, `"x"`, `[1]`, `{"id":"","record_id":"r"}`, `{"id":1.5,"record_id":"r"}`,
		`{"id":"e","record_id":"r","object":""}`, `{"id":"e","record_id":"r","deleted":"yes"}`,
		`{"id":"e","record_id":"r","occurred_at":1715000000}`, `{"id":"e","record_id":"r","occurred_at":"2024-13-01T00:00:00Z"}`,
		`{"id":-1,"record_id":"r"}`, `{"id":"e","record_id":{"a":1}}`,
	} {
		f.Add(uint8(0x03), []byte(body), "", "", int64(-2))
		f.Add(uint8(0x13), []byte(body), "", "", int64(0))
	}
	body := []byte(`{"id":"e1","record_id":"r1"}`)
	f.Add(uint8(0x10), body, "oOcjD9RCmZWjtEY0Q4Dxs79F0HRqlZfQJAvo9WCxn00=", "", int64(0))
	for spelling := uint8(0); spelling < 4; spelling++ {
		f.Add(0x03|spelling<<2, body, "", "", int64(0))
		f.Add(0x13|spelling<<2, body, "", "", int64(0))
	}
	f.Add(uint8(0x01), body, "", "+1715000000", int64(0))
	f.Add(uint8(0x01), body, "", "1715000000000", int64(0))
	f.Add(uint8(0x01), body, "", " 1715000000", int64(0))
	f.Add(uint8(0x01), body, "", "99999999999", int64(0))
	f.Add(uint8(0x01), body, "", "100000000001", int64(0))
	f.Add(uint8(0x03), body, "", "", int64(301))
	f.Add(uint8(0x03), body, "", "", int64(-300))
	f.Add(uint8(0x00), body, "sha256=zz", "1715000000", int64(0))
	f.Add(uint8(0x10), body, "sha256=", "", int64(0))

	const tsHeader = "X-Timestamp"
	withTS, err := NewHMACReceiver("relay", HMACConfig{Secret: testSecret, TimestampHeader: tsHeader, Object: "Contact"})
	if err != nil {
		f.Fatal(err)
	}
	plain, err := NewHMACReceiver("relay", HMACConfig{Secret: testSecret, Encoding: "base64"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, mode uint8, body []byte, sig, ts string, skew int64) {
		r := withTS
		if mode&0x10 != 0 {
			r = plain
		}
		if mode&2 != 0 {
			ts = strconv.FormatInt(now.Unix()+skew, 10)
		}
		message := string(body)
		if r.tsHeader != "" {
			message = ts + "." + message
		}
		mac := sign(testSecret, message)
		if mode&1 != 0 {
			sig = spell(mac, r.base64, mode>>2&3)
		}
		h := http.Header{}
		if sig != "" {
			h.Set(DefaultHMACHeader, sig)
		}
		if ts != "" {
			h.Set(tsHeader, ts)
		}
		evs, err := r.Receive("POST", "/webhooks/relay", h, body, now)
		reason := rejected(err)

		signed := signatureOf(sig, r.base64) == string(mac)
		fresh := true
		if r.tsHeader != "" {
			fresh = false
			if n, err := strconv.ParseInt(ts, 10, 64); err == nil && strings.Trim(ts, "0123456789") == "" {
				at := time.Unix(n, 0)
				if n > 1e11 {
					at = time.UnixMilli(n)
				}
				fresh = now.Sub(at).Abs() <= HMACWindow
			}
		}
		switch {
		case reason != "" && signed && fresh:
			t.Fatalf("a delivery signed %q and stamped %q was refused: %v", sig, ts, err)
		case reason != "":
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("the rejection shows the secret: %v", err)
			}
			return
		case !signed:
			t.Fatalf("accepted a delivery whose signature %q is not the HMAC of what was sent (err %v)", sig, err)
		case !fresh:
			t.Fatalf("accepted a delivery stamped %q, not unix time within %v of %v", ts, HMACWindow, now)
		}
		if r.tsHeader != "" {
			if key := r.ReplayKey(h); key != hex.EncodeToString(mac) {
				t.Fatalf("replay key %q for signature %q, want the signature's bytes %x", key, sig, mac)
			}
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "relay: webhook ") || evs != nil {
				t.Fatalf("a verified body that cannot be read gave %v (events %v), want an error naming the system", err, evs)
			}
			return
		}
		for _, ev := range evs {
			if ev.ID == "" || ev.RecordID == "" || ev.Object == "" {
				t.Fatalf("event %+v lacks an id, a record id or an object", ev)
			}
		}
	})
}

// spell writes mac as a sender may: hex in either case, base64 in either
// alphabet, padded or not, with or without a sha256= prefix.
func spell(mac []byte, b64 bool, variant uint8) string {
	if !b64 {
		return [...]string{
			hex.EncodeToString(mac),
			strings.ToUpper(hex.EncodeToString(mac)),
			"sha256=" + hex.EncodeToString(mac),
			" SHA256=" + strings.ToUpper(hex.EncodeToString(mac)[:10]) + hex.EncodeToString(mac)[10:] + " ",
		}[variant]
	}
	return [...]string{
		base64.StdEncoding.EncodeToString(mac),
		base64.URLEncoding.EncodeToString(mac),
		"sha256=" + base64.RawStdEncoding.EncodeToString(mac),
		"Sha256=" + base64.RawURLEncoding.EncodeToString(mac),
	}[variant]
}

// signatureOf is the signature a header carries, decoded as the
// receiver documents it, written apart from decodeSignature; "" when it
// is not one.
func signatureOf(header string, b64 bool) string {
	s := strings.TrimSpace(header)
	if p, rest, ok := strings.Cut(s, "="); ok && strings.ToLower(p) == "sha256" {
		s = rest
	}
	if !b64 {
		b, err := hex.DecodeString(s)
		if err != nil {
			return ""
		}
		return string(b)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return string(b)
		}
		if b, err := enc.WithPadding(base64.NoPadding).DecodeString(s); err == nil {
			return string(b)
		}
	}
	return ""
}
