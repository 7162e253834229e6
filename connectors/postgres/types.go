package postgres

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Values travel as JSON both ways. Read, a row is built by
// jsonb_build_object: text as strings, integers and numeric as numbers,
// booleans, dates ("2024-05-06") and times ("2024-05-06T07:08:09+00:00")
// as strings, jsonb as itself, arrays as arrays. Written, a payload is
// turned into a row by jsonb_populate_record, after fit has checked each
// value against its column here, so that a value that does not fit fails
// its write with an error naming the column, not the batch.

var (
	uuidRE    = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)
	numericRE = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)
)

// fit says why v cannot be written to col, or nil.
func fit(col column, v gjson.Result) error {
	if v.Type == gjson.Null {
		if col.NotNull {
			return fmt.Errorf("column %s is NOT NULL: it cannot be cleared", col.Name)
		}
		return nil
	}
	if col.Array {
		if !v.IsArray() {
			return fmt.Errorf("column %s (%s) takes a list, got %s", col.Name, col.Type, clip(v.Raw))
		}
		for i, e := range v.Array() {
			if e.Type == gjson.Null {
				continue
			}
			if err := fitScalar(col.Base, 0, e); err != nil {
				return fmt.Errorf("column %s (%s), item %d: %v", col.Name, col.Type, i, err)
			}
		}
		return nil
	}
	if err := fitScalar(col.Base, col.MaxLen, v); err != nil {
		return fmt.Errorf("column %s (%s): %v", col.Name, col.Type, err)
	}
	if col.Base == "numeric" && col.Precision > 0 && col.Scale <= col.Precision {
		if err := fitDigits(col.Precision, col.Scale, numberText(v)); err != nil {
			return fmt.Errorf("column %s (%s): %v", col.Name, col.Type, err)
		}
	}
	return nil
}

// fitDigits checks a number against numeric(p,s): rounded to s decimals,
// as the server rounds it, it keeps at most p-s digits before the point.
func fitDigits(p, s int, text string) error {
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil // fitScalar said what it takes
	}
	limit := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p-s)), nil))
	// |r| rounded half away from zero to s decimals must stay below 10^(p-s).
	half := new(big.Rat).SetFrac(big.NewInt(5), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s+1)), nil))
	if new(big.Rat).Add(new(big.Rat).Abs(r), half).Cmp(limit) >= 0 {
		return fmt.Errorf("holds at most %d digits before the point, got %s", p-s, clip(text))
	}
	return nil
}

// fitScalar checks one value against a type, by the type's name in
// pg_type. Types not named here are left to the server.
func fitScalar(base string, maxLen int, v gjson.Result) error {
	switch base {
	case "text", "varchar", "bpchar", "citext", "name":
		if v.IsObject() || v.IsArray() {
			return fmt.Errorf("takes text, got %s", clip(v.Raw))
		}
		s := v.String()
		if strings.ContainsRune(s, 0) {
			return fmt.Errorf("cannot hold the NUL character (\\u0000)")
		}
		if maxLen > 0 && utf8.RuneCountInString(s) > maxLen {
			return fmt.Errorf("holds at most %d characters, got %d", maxLen, utf8.RuneCountInString(s))
		}
	case "int2", "int4", "int8":
		n, err := strconv.ParseInt(numberText(v), 10, 64)
		limit := map[string]int64{"int2": math.MaxInt16, "int4": math.MaxInt32, "int8": math.MaxInt64}[base]
		if err != nil || n > limit || n < -limit-1 {
			return fmt.Errorf("takes a whole number that fits, got %s", clip(v.Raw))
		}
	case "numeric", "float4", "float8", "money":
		if !numericRE.MatchString(numberText(v)) {
			return fmt.Errorf("takes a number, got %s", clip(v.Raw))
		}
	case "bool":
		if v.Type != gjson.True && v.Type != gjson.False {
			return fmt.Errorf("takes true or false, got %s", clip(v.Raw))
		}
	case "date":
		if _, err := time.Parse("2006-01-02", v.String()); err != nil || v.Type != gjson.String {
			return fmt.Errorf("takes a date like 2024-05-06, got %s", clip(v.Raw))
		}
	case "timestamptz", "timestamp":
		if _, err := time.Parse(time.RFC3339Nano, v.String()); err != nil || v.Type != gjson.String {
			return fmt.Errorf("takes a time like 2024-05-06T07:08:09Z, got %s", clip(v.Raw))
		}
	case "jsonb":
		if strings.Contains(v.Raw, `\u0000`) {
			return fmt.Errorf("cannot hold the NUL character (\\u0000)")
		}
	case "uuid":
		if v.Type != gjson.String || !uuidRE.MatchString(v.String()) {
			return fmt.Errorf("takes a UUID, got %s", clip(v.Raw))
		}
	}
	return nil
}

// numberText is a JSON number's text, or a string's (a number written as
// a string, as some APIs send them).
func numberText(v gjson.Result) string {
	switch v.Type {
	case gjson.Number:
		return v.Raw
	case gjson.String:
		return v.String()
	}
	return ""
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// canonical says whether a column's type can hold a canonical type, for
// `tandem doctor`; "" when it can.
func canonical(col column, typ string) string {
	base := col.Base
	ok := true
	switch typ {
	case "string", "email", "phone", "enum":
		ok = !col.Array && (isText(base) || base == "uuid" || base == "jsonb" || base == "json")
	case "number":
		ok = !col.Array && (base == "numeric" || base == "int2" || base == "int4" || base == "int8" || base == "float4" || base == "float8" || isText(base))
	case "bool":
		ok = !col.Array && (base == "bool" || isText(base))
	case "date":
		ok = !col.Array && (base == "date" || isText(base))
	case "datetime":
		ok = !col.Array && (base == "timestamptz" || base == "timestamp" || isText(base))
	case "list":
		ok = col.Array || base == "jsonb" || base == "json"
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("column %s is %s, which cannot hold a %s", col.Name, col.Type, typ)
}

func isText(base string) bool {
	return base == "text" || base == "varchar" || base == "bpchar" || base == "citext"
}
