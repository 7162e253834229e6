package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tidwall/gjson"

	"tandem"
)

// valueCodes are the SQLSTATEs of a value its column cannot take: fit
// catches most before the statement; these are what the server says of
// the rest (a type fit does not know, a domain, a range only the server
// knows).
var valueCodes = map[string]bool{
	"22001": true, // string_data_right_truncation
	"22003": true, // numeric_value_out_of_range
	"22007": true, // invalid_datetime_format
	"22008": true, // datetime_field_overflow
	"22P02": true, // invalid_text_representation
	"22P05": true, // untranslatable_character
	"22021": true, // character_not_in_repertoire
	"23502": true, // not_null_violation
}

// unfit names the columns whose values a failed write could not set, as
// a *tandem.UnwritableError, when the server's error is about a value
// (valueCodes) and the column can be named: the server names it for a
// NOT NULL; otherwise each column of the payload is turned into its type
// alone, in a savepoint, and those that fail are the ones. nil when it
// cannot tell (the write then fails whole). It leaves the transaction at
// savepoint w, rolled back.
func (c *Client) unfit(ctx context.Context, tx pgx.Tx, t *table, w tandem.Write, pe *pgconn.PgError) error {
	if !valueCodes[pe.Code] {
		return nil
	}
	values := map[string]gjson.Result{}
	var order []string
	gjson.ParseBytes(w.Payload).ForEach(func(k, v gjson.Result) bool {
		if _, ok := t.cols[k.String()]; ok {
			values[k.String()] = v
			order = append(order, k.String())
		}
		return true
	})
	one := func(col, why string) *tandem.UnwritableError {
		return &tandem.UnwritableError{Fields: []tandem.Unwritable{{Path: col, Value: json.RawMessage(values[col].Raw),
			Reason: fmt.Sprintf("column %s (%s): %s", col, t.cols[col].Type, why)}}}
	}
	if pe.ColumnName != "" {
		if _, ok := values[pe.ColumnName]; ok {
			return one(pe.ColumnName, pe.Message)
		}
		return nil
	}
	if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT w"); err != nil {
		return nil
	}
	var out tandem.UnwritableError
	for _, col := range order {
		if col == t.tandemID && w.Op == tandem.OpCreate {
			continue
		}
		if _, err := tx.Exec(ctx, "SAVEPOINT probe"); err != nil {
			return nil
		}
		_, err := tx.Exec(ctx, "SELECT (p."+quote(col)+")::text FROM jsonb_populate_record(NULL::"+t.qname+", jsonb_build_object($1::text, $2::jsonb)) p",
			col, values[col].Raw)
		if err == nil {
			_, err = tx.Exec(ctx, "RELEASE SAVEPOINT probe")
			if err != nil {
				return nil
			}
			continue
		}
		pe2, ok := err.(*pgconn.PgError)
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT probe"); rerr != nil || !ok {
			return nil
		}
		if valueCodes[pe2.Code] {
			out.Fields = append(out.Fields, one(col, pe2.Message).Fields...)
		}
	}
	if len(out.Fields) == 0 {
		return nil
	}
	return &out
}
