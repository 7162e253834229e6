package conflict

import (
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

type pathValue struct{ path, value string }

// writtenPaths lists the leaf paths of a payload with their JSON values.
func writtenPaths(payload []byte) []pathValue {
	var out []pathValue
	var walk func(prefix string, r gjson.Result)
	walk = func(prefix string, r gjson.Result) {
		if !r.IsObject() {
			out = append(out, pathValue{prefix, r.Raw})
			return
		}
		r.ForEach(func(k, v gjson.Result) bool {
			p := gjson.Escape(k.String())
			if prefix != "" {
				p = prefix + "." + p
			}
			walk(p, v)
			return true
		})
	}
	walk("", gjson.ParseBytes(payload))
	return out
}

// overlayJSON sets every leaf of top over base: objects merge key by key,
// anything else (arrays included) replaces. It keeps a stored payload
// current after a write: the payload sent, then the record the API
// returned, laid over what was last read.
func overlayJSON(base, top []byte) []byte {
	if !gjson.ValidBytes(top) {
		return base
	}
	if len(base) == 0 || !gjson.ValidBytes(base) {
		return append([]byte(nil), top...)
	}
	out := append([]byte(nil), base...)
	for _, p := range writtenPaths(top) {
		if p.path == "" {
			return append([]byte(nil), top...)
		}
		if next, err := sjson.SetRawBytes(out, p.path, []byte(p.value)); err == nil {
			out = next
		}
	}
	return out
}
