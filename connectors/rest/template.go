package rest

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// expand fills the query templates: each {name} is replaced by its value.
// A parameter whose template names a value that is empty is left out (the
// {since} filter of a first pull, the {cursor} of a first page).
func expand(q map[string]string, vars map[string]string) url.Values {
	out := url.Values{}
	for k, tmpl := range q {
		empty := false
		v := placeholder.ReplaceAllStringFunc(tmpl, func(m string) string {
			val := vars[m[1:len(m)-1]]
			if val == "" {
				empty = true
			}
			return val
		})
		if !empty {
			out.Set(k, v)
		}
	}
	return out
}

func usesSince(q map[string]string) bool {
	for _, v := range q {
		if strings.Contains(v, "{since}") {
			return true
		}
	}
	return false
}

// parseTime reads an updated-at value in the object's format.
func parseTime(ob objectOptions, v gjson.Result) (time.Time, error) {
	if !v.Exists() || v.Type == gjson.Null {
		return time.Time{}, fmt.Errorf("missing")
	}
	switch ob.UpdatedFormat {
	case "unix", "unix_ms":
		var f float64
		switch v.Type {
		case gjson.Number:
			f = v.Num
		case gjson.String:
			n, err := strconv.ParseFloat(v.Str, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("%s is not a number of seconds", clip(v.Raw))
			}
			f = n
		default:
			return time.Time{}, fmt.Errorf("%s is not a number", clip(v.Raw))
		}
		if ob.UpdatedFormat == "unix" {
			sec, frac := math.Modf(f)
			return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
		}
		return time.UnixMilli(int64(f)).UTC(), nil
	}
	if v.Type != gjson.String {
		return time.Time{}, fmt.Errorf("%s is not a time string", clip(v.Raw))
	}
	layout := ob.UpdatedFormat
	if layout == "rfc3339" {
		layout = time.RFC3339Nano
	}
	t, err := time.Parse(layout, v.Str)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time like %s", v.Str, layout)
	}
	return t.UTC(), nil
}

// formatTime writes a time for a query ({since}, {last_updated}) the way
// the API writes its stamps, in UTC: an API that compares its stamps as
// text (json-server's _gte) orders them right only in one fixed form, so
// rfc3339 is written with as many fraction digits as the precision.
func formatTime(ob objectOptions, t time.Time) string {
	t = t.UTC().Truncate(ob.Precision)
	switch ob.UpdatedFormat {
	case "unix":
		if ob.Precision >= time.Second {
			return strconv.FormatInt(t.Unix(), 10)
		}
		return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', -1, 64)
	case "unix_ms":
		return strconv.FormatInt(t.UnixMilli(), 10)
	case "rfc3339":
		switch {
		case ob.Precision >= time.Second:
			return t.Format("2006-01-02T15:04:05Z07:00")
		case ob.Precision >= time.Millisecond:
			return t.Format("2006-01-02T15:04:05.000Z07:00")
		case ob.Precision >= time.Microsecond:
			return t.Format("2006-01-02T15:04:05.000000Z07:00")
		}
		return t.Format("2006-01-02T15:04:05.000000000Z07:00")
	}
	return t.Format(ob.UpdatedFormat)
}
