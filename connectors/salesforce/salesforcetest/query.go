package salesforcetest

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxBatch is the most records Salesforce returns in one query batch.
const maxBatch = 2000

// locatorIdle is how long an unused query cursor lives in Salesforce.
const locatorIdle = 15 * time.Minute

// plan is a query checked against the schema.
type plan struct {
	t       *table
	fields  []*field
	where   []boundCond
	order   []orderItemBound
	limit   int
	deleted bool // queryAll: recycle-bin records too
}

type boundCond struct {
	f    *field
	op   string
	vals []any // nil for NULL
}

type orderItemBound struct {
	f         *field
	desc      bool
	nullsLast bool
}

// locator is an open query cursor. The result set (which records, in which
// order) is fixed when the query runs; each record's values are read when
// its batch is served, as in Salesforce.
type locator struct {
	t        *table
	fields   []*field
	ids      []string
	batch    int
	all      bool
	lastUsed time.Time
}

const noSuchColumn = "No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."

// bind resolves the names of a parsed query and checks each value against
// its field's type.
func (e *Emulator) bind(q *soql) (*plan, *Error) {
	t := e.table(q.object.name)
	if t == nil {
		return nil, soqlError("INVALID_TYPE", q.text, q.object.pos, "sObject type '"+q.object.name+"' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.")
	}
	p := &plan{t: t, limit: q.limit}
	column := func(id ident) (*field, *Error) {
		if strings.Contains(id.name, ".") {
			return nil, soqlError("INVALID_FIELD", q.text, id.pos, "Didn't understand relationship '"+strings.Split(id.name, ".")[0]+"' in field path: relationship queries are not supported by the emulator")
		}
		f := t.obj.field(id.name)
		if f == nil {
			return nil, soqlError("INVALID_FIELD", q.text, id.pos, fmt.Sprintf(noSuchColumn, id.name, t.obj.Name))
		}
		return f, nil
	}
	seen := map[*field]bool{}
	for _, id := range q.fields {
		f, err := column(id)
		if err != nil {
			return nil, err
		}
		if seen[f] {
			return nil, soqlError("MALFORMED_QUERY", q.text, id.pos, "duplicate field selected: "+f.Name)
		}
		seen[f] = true
		p.fields = append(p.fields, f)
	}
	for _, c := range q.where {
		f, err := column(c.field)
		if err != nil {
			return nil, err
		}
		bc := boundCond{f: f, op: c.op}
		for _, l := range c.vals {
			v, err := bindValue(q.text, f, c.op, l)
			if err != nil {
				return nil, err
			}
			bc.vals = append(bc.vals, v)
		}
		p.where = append(p.where, bc)
	}
	for _, o := range q.order {
		f, err := column(o.field)
		if err != nil {
			return nil, err
		}
		p.order = append(p.order, orderItemBound{f: f, desc: o.desc, nullsLast: o.nullsLast})
	}
	if len(p.order) == 0 {
		p.order = []orderItemBound{{f: t.obj.field("Id")}}
	}
	return p, nil
}

// bindValue checks that literal l suits field f and returns it as the
// stored type, with Salesforce's messages for the usual mistakes.
func bindValue(text string, f *field, op string, l lit) (any, *Error) {
	mismatch := func(want, quotes string) *Error {
		return soqlError("INVALID_FIELD", text, l.pos, fmt.Sprintf("value of filter criterion for field '%s' must be of type %s and %s", f.Name, want, quotes))
	}
	if l.kind == litNull {
		if op != "=" && op != "!=" && op != "IN" && op != "NOT IN" {
			return nil, soqlError("MALFORMED_QUERY", text, l.pos, "invalid operator "+op+" for NULL")
		}
		return nil, nil
	}
	switch {
	case f.Kind == kDateTime:
		if l.kind != litDateTime {
			return nil, mismatch("dateTime", "should not be enclosed in quotes")
		}
		return l.t, nil
	case f.Kind == kBoolean:
		if l.kind != litBool {
			return nil, mismatch("boolean", "should not be enclosed in quotes")
		}
		if op != "=" && op != "!=" {
			return nil, soqlError("INVALID_QUERY_FILTER_OPERATOR", text, l.pos, "invalid operator on boolean field: "+op)
		}
		return l.b, nil
	case f.Kind == kInt || f.Kind == kDouble || f.Kind == kCurrency:
		if l.kind != litNumber {
			return nil, mismatch("number", "should not be enclosed in quotes")
		}
		return l.n, nil
	case f.Kind == kID || f.Kind == kReference:
		if l.kind != litString {
			return nil, mismatch("string", "should be enclosed in quotes")
		}
		id, ok := NormalizeID(l.s)
		if !ok {
			return nil, soqlError("INVALID_QUERY_FILTER_OPERATOR", text, l.pos, "invalid ID field: "+l.s)
		}
		return id, nil
	default:
		if l.kind != litString {
			return nil, mismatch("string", "should be enclosed in quotes")
		}
		return l.s, nil
	}
}

// value reads field f of r as a comparable: string, float64, bool,
// time.Time or nil.
func value(r *Record, f *field) any {
	if f.Compute != nil {
		return f.Compute(r)
	}
	switch f.Name {
	case "Id":
		return r.ID
	case "IsDeleted":
		return r.IsDeleted
	case "CreatedDate":
		return r.CreatedDate
	case "LastModifiedDate":
		return r.LastModifiedDate
	case "SystemModstamp":
		return r.SystemModstamp
	}
	v := r.Fields[f.Name]
	if n, ok := v.(int64); ok {
		return float64(n)
	}
	return v
}

// compare orders two non-nil values of field f. Text compares without case,
// as SOQL does, except on case-sensitive fields and ids.
func compare(f *field, a, b any) int {
	switch x := a.(type) {
	case string:
		y := b.(string)
		if !f.CaseSensitive && f.Kind != kID && f.Kind != kReference {
			x, y = strings.ToLower(x), strings.ToLower(y)
		}
		return strings.Compare(x, y)
	case float64:
		y := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	return 0
}

func (c boundCond) match(r *Record) bool {
	v := value(r, c.f)
	eq := func(w any) bool {
		if v == nil || w == nil {
			return v == nil && w == nil
		}
		return compare(c.f, v, w) == 0
	}
	switch c.op {
	case "=":
		return eq(c.vals[0])
	case "!=":
		// SOQL treats null as a value: != 'x' includes records without one.
		return !eq(c.vals[0])
	case "IN", "NOT IN":
		in := false
		for _, w := range c.vals {
			in = in || eq(w)
		}
		return in == (c.op == "IN")
	}
	if v == nil || c.vals[0] == nil {
		return false
	}
	n := compare(c.f, v, c.vals[0])
	switch c.op {
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	case ">=":
		return n >= 0
	}
	return false
}

// run selects and orders the ids of the result set.
func (p *plan) run() []string {
	var rows []*Record
next:
	for _, r := range p.t.rows {
		if r.IsDeleted && !p.deleted {
			continue
		}
		for _, c := range p.where {
			if !c.match(r) {
				continue next
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		for _, o := range p.order {
			a, b := value(rows[i], o.f), value(rows[j], o.f)
			if a == nil || b == nil {
				if (a == nil) == (b == nil) {
					continue
				}
				return (a == nil) != o.nullsLast
			}
			if n := compare(o.f, a, b); n != 0 {
				return (n < 0) != o.desc
			}
		}
		// Salesforce does not promise an order among equal keys; the
		// emulator settles it by id so runs repeat.
		return rows[i].ID < rows[j].ID
	})
	if p.limit >= 0 && len(rows) > p.limit {
		rows = rows[:p.limit]
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}

// serveQuery is GET query?q= and queryAll?q=.
func (e *Emulator) serveQuery(w http.ResponseWriter, r *http.Request, all bool) {
	text := r.URL.Query().Get("q")
	if strings.TrimSpace(text) == "" {
		writeError(w, http.StatusBadRequest, apiErr("MALFORMED_QUERY", "A query string has to be specified"))
		return
	}
	q, err := parseSOQL(text)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p, err := e.bind(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	p.deleted = all
	now := e.opts.Now()
	e.expireLocators(now)
	loc := &locator{t: p.t, fields: p.fields, ids: p.run(), batch: e.batchSize(r), all: all, lastUsed: now}
	kind := "query"
	if all {
		kind = "queryAll"
	}
	e.locSeq++
	name := mintID("01g", e.locSeq)
	if len(loc.ids) > loc.batch {
		e.locators[name] = loc
	}
	writeRaw(w, http.StatusOK, e.renderBatch(loc, kind, name, 0))
}

// serveMore is GET query/{locator}-{offset}: the next batch of a cursor.
func (e *Emulator) serveMore(w http.ResponseWriter, r *http.Request, kind, ref string) {
	name, off, _ := strings.Cut(ref, "-")
	offset, convErr := strconv.Atoi(off)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now()
	e.expireLocators(now)
	loc := e.locators[name]
	if loc == nil || convErr != nil || offset < 0 || offset > len(loc.ids) {
		writeError(w, http.StatusBadRequest, apiErr("INVALID_QUERY_LOCATOR", "invalid query locator"))
		return
	}
	loc.lastUsed = now
	writeRaw(w, http.StatusOK, e.renderBatch(loc, kind, name, offset))
}

func (e *Emulator) expireLocators(now time.Time) {
	for name, loc := range e.locators {
		if now.Sub(loc.lastUsed) >= locatorIdle {
			delete(e.locators, name)
		}
	}
}

// batchSize honours the Sforce-Query-Options header (200 to 2000 in
// Salesforce), never above Options.BatchSize.
func (e *Emulator) batchSize(r *http.Request) int {
	n := e.opts.BatchSize
	for _, opt := range strings.Split(r.Header.Get("Sforce-Query-Options"), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(opt), "=")
		if strings.EqualFold(k, "batchSize") {
			if b, err := strconv.Atoi(v); err == nil {
				n = min(max(b, 200), maxBatch, n)
			}
		}
	}
	return n
}

// renderBatch writes the batch of loc starting at offset, reading the
// records' current values.
func (e *Emulator) renderBatch(loc *locator, kind, name string, offset int) []byte {
	end := min(offset+loc.batch, len(loc.ids))
	var b []byte
	b = fmt.Appendf(b, `{"totalSize":%d,"done":%t,`, len(loc.ids), end == len(loc.ids))
	if end < len(loc.ids) {
		b = fmt.Appendf(b, `"nextRecordsUrl":%q,`, dataPrefix+kind+"/"+name+"-"+strconv.Itoa(end))
	}
	b = append(b, `"records":[`...)
	for i, id := range loc.ids[offset:end] {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRecord(b, loc.t.obj, loc.t.rows[id], loc.fields)
	}
	return append(b, "]}"...)
}
