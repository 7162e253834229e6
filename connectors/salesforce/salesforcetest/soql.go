package salesforcetest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The SOQL the emulator understands, which is the part a sync engine uses:
//
//	SELECT field [, field ...] FROM Object
//	  [WHERE cond [AND cond ...]]
//	  [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST] [, ...]]
//	  [LIMIT n]
//	cond := field (= | != | <> | < | <= | > | >=) literal
//	      | field [NOT] IN (literal [, literal ...])
//	literal := 'string' | datetime | date | number | TRUE | FALSE | NULL
//
// Keywords are case-insensitive. Anything else (OR, parentheses, functions,
// subqueries, relationship paths, GROUP BY, OFFSET) is answered with
// MALFORMED_QUERY or INVALID_FIELD in Salesforce's format, with a hint that
// the emulator, not Salesforce, draws the line there.

// soql is a parsed query, before its names are checked against the schema.
type soql struct {
	text   string
	fields []ident
	object ident
	where  []cond
	order  []orderItem
	limit  int // -1: none
}

type ident struct {
	name string
	pos  int // byte offset in the query text, for error messages
}

type cond struct {
	field ident
	op    string // = != < <= > >= IN NOT IN
	vals  []lit
}

type litKind int

const (
	litString litKind = iota
	litDateTime
	litDate
	litNumber
	litBool
	litNull
)

type lit struct {
	kind litKind
	raw  string
	pos  int
	s    string
	t    time.Time
	n    float64
	b    bool
}

type orderItem struct {
	field     ident
	desc      bool
	nullsLast bool
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDateTime
	tDate
	tPunct
)

type token struct {
	kind tokKind
	text string // as written; for tString, the unescaped value
	pos  int
}

const emulatorHint = " (the emulator supports SELECT fields FROM Object [WHERE field-op-value conditions joined with AND] [ORDER BY ...] [LIMIT n])"

var (
	dateTimeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})`)
	dateRE     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)
	numberRE   = regexp.MustCompile(`^-?\d+(\.\d+)?`)
)

// soqlError formats an error the way Salesforce does: the offending line,
// a caret under the position, the row and column, then the message.
func soqlError(code, text string, pos int, msg string) *Error {
	pos = min(max(pos, 0), len(text))
	row, start := 1, 0
	for i := 0; i < pos; i++ {
		if text[i] == '\n' {
			row, start = row+1, i+1
		}
	}
	end := strings.IndexByte(text[start:], '\n')
	if end < 0 {
		end = len(text) - start
	}
	line := text[start : start+end]
	col := pos - start
	return apiErr(code, fmt.Sprintf("\n%s\n%s^\nERROR at Row:%d:Column:%d\n%s", line, strings.Repeat(" ", col), row, col+1, msg))
}

func lex(text string) ([]token, *Error) {
	var toks []token
	i := 0
	for i < len(text) {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			s, n, err := lexString(text, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tString, s, i})
			i += n
		case c >= '0' && c <= '9' || c == '-' && i+1 < len(text) && text[i+1] >= '0' && text[i+1] <= '9':
			rest := text[i:]
			if m := dateTimeRE.FindString(rest); m != "" {
				toks = append(toks, token{tDateTime, m, i})
				i += len(m)
			} else if m := dateRE.FindString(rest); m != "" {
				if len(rest) > len(m) && rest[len(m)] == 'T' {
					return nil, soqlError("MALFORMED_QUERY", text, i, "invalid datetime literal: expected YYYY-MM-DDThh:mm:ss[.sss] followed by Z, +hh:mm or -hh:mm")
				}
				toks = append(toks, token{tDate, m, i})
				i += len(m)
			} else {
				m := numberRE.FindString(rest)
				toks = append(toks, token{tNumber, m, i})
				i += len(m)
			}
		case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			j := i + 1
			for j < len(text) && (text[j] == '_' || text[j] == '.' || text[j] >= '0' && text[j] <= '9' ||
				text[j] >= 'A' && text[j] <= 'Z' || text[j] >= 'a' && text[j] <= 'z') {
				j++
			}
			toks = append(toks, token{tIdent, text[i:j], i})
			i = j
		case strings.HasPrefix(text[i:], "!=") || strings.HasPrefix(text[i:], "<>") ||
			strings.HasPrefix(text[i:], "<=") || strings.HasPrefix(text[i:], ">="):
			toks = append(toks, token{tPunct, text[i : i+2], i})
			i += 2
		case strings.IndexByte("(),=<>", c) >= 0:
			toks = append(toks, token{tPunct, text[i : i+1], i})
			i++
		default:
			return nil, soqlError("MALFORMED_QUERY", text, i, fmt.Sprintf("no viable alternative at character '%c'", c))
		}
	}
	return append(toks, token{tEOF, "<EOF>", len(text)}), nil
}

// lexString reads a quoted literal at text[start], with SOQL's backslash
// escapes, returning the value and the bytes consumed.
func lexString(text string, start int) (string, int, *Error) {
	var b strings.Builder
	for i := start + 1; i < len(text); i++ {
		switch c := text[i]; c {
		case '\'':
			return b.String(), i + 1 - start, nil
		case '\\':
			if i+1 == len(text) {
				break
			}
			i++
			switch text[i] {
			case '\'', '"', '\\':
				b.WriteByte(text[i])
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			default:
				return "", 0, soqlError("MALFORMED_QUERY", text, i-1, "Invalid string literal '"+text[start:min(i+1, len(text))]+"'. Illegal character sequence '\\"+text[i:i+1]+"' in string literal.")
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, soqlError("MALFORMED_QUERY", text, start, "unterminated string literal")
}

type parser struct {
	text string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i = min(p.i+1, len(p.toks)-1); return t }

func (p *parser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) unexpected(t token, hint string) *Error {
	return soqlError("MALFORMED_QUERY", p.text, t.pos, "unexpected token: '"+t.text+"'"+hint)
}

func (p *parser) keyword(kw string) *Error {
	if !p.isKeyword(kw) {
		return p.unexpected(p.peek(), " (expecting '"+kw+"')")
	}
	p.next()
	return nil
}

func (p *parser) ident() (ident, *Error) {
	t := p.next()
	if t.kind != tIdent || isReserved(t.text) {
		hint := ""
		if t.text == "(" {
			hint = emulatorHint
		}
		return ident{}, p.unexpected(t, hint)
	}
	return ident{t.text, t.pos}, nil
}

func isReserved(s string) bool {
	switch strings.ToUpper(s) {
	case "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "ORDER", "BY", "LIMIT", "ASC", "DESC", "NULLS",
		"GROUP", "HAVING", "OFFSET", "WITH", "USING", "LIKE", "INCLUDES", "EXCLUDES":
		return true
	}
	return false
}

// parseSOQL parses text; it checks syntax only.
func parseSOQL(text string) (*soql, *Error) {
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	p := &parser{text: text, toks: toks}
	q := &soql{text: text, limit: -1}
	if err := p.keyword("SELECT"); err != nil {
		return nil, err
	}
	for {
		f, err := p.ident()
		if err != nil {
			return nil, err
		}
		if p.peek().text == "(" {
			return nil, p.unexpected(p.peek(), " (functions are not supported by the emulator)")
		}
		q.fields = append(q.fields, f)
		if p.peek().text != "," {
			break
		}
		p.next()
	}
	if err := p.keyword("FROM"); err != nil {
		return nil, err
	}
	if q.object, err = p.ident(); err != nil {
		return nil, err
	}
	if p.isKeyword("WHERE") {
		p.next()
		for {
			c, err := p.cond()
			if err != nil {
				return nil, err
			}
			q.where = append(q.where, c)
			if !p.isKeyword("AND") {
				break
			}
			p.next()
		}
	}
	if p.isKeyword("ORDER") {
		p.next()
		if err := p.keyword("BY"); err != nil {
			return nil, err
		}
		for {
			o, err := p.orderItem()
			if err != nil {
				return nil, err
			}
			q.order = append(q.order, o)
			if p.peek().text != "," {
				break
			}
			p.next()
		}
	}
	if p.isKeyword("LIMIT") {
		p.next()
		t := p.next()
		n, perr := strconv.Atoi(t.text)
		if t.kind != tNumber || perr != nil || n < 0 {
			return nil, soqlError("MALFORMED_QUERY", text, t.pos, "LIMIT must be a non-negative integer, found '"+t.text+"'")
		}
		q.limit = n
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t, emulatorHint)
	}
	return q, nil
}

func (p *parser) cond() (cond, *Error) {
	f, err := p.ident()
	if err != nil {
		return cond{}, err
	}
	c := cond{field: f}
	t := p.next()
	switch {
	case t.kind == tPunct && t.text != "(" && t.text != ")" && t.text != ",":
		c.op = t.text
		if c.op == "<>" {
			c.op = "!="
		}
		v, err := p.literal()
		if err != nil {
			return cond{}, err
		}
		c.vals = []lit{v}
		return c, nil
	case t.kind == tIdent && strings.EqualFold(t.text, "NOT") && p.isKeyword("IN"):
		p.next()
		c.op = "NOT IN"
	case t.kind == tIdent && strings.EqualFold(t.text, "IN"):
		c.op = "IN"
	default:
		return cond{}, p.unexpected(t, " (expecting a comparison operator or IN)")
	}
	if open := p.next(); open.text != "(" {
		return cond{}, p.unexpected(open, " (expecting '(')")
	}
	for {
		v, err := p.literal()
		if err != nil {
			return cond{}, err
		}
		c.vals = append(c.vals, v)
		t := p.next()
		if t.text == ")" {
			return c, nil
		}
		if t.text != "," {
			return cond{}, p.unexpected(t, " (expecting ',' or ')')")
		}
	}
}

func (p *parser) literal() (lit, *Error) {
	t := p.next()
	l := lit{raw: t.text, pos: t.pos}
	switch t.kind {
	case tString:
		l.kind, l.s = litString, t.text
		l.raw = "'" + t.text + "'"
	case tNumber:
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return lit{}, p.unexpected(t, "")
		}
		l.kind, l.n = litNumber, n
	case tDateTime:
		layout := "2006-01-02T15:04:05Z07:00"
		tm, err := time.Parse(layout, t.text)
		if err != nil {
			return lit{}, soqlError("MALFORMED_QUERY", p.text, t.pos, "invalid datetime literal '"+t.text+"': "+err.Error())
		}
		// Datetimes are stored to the second, and SOQL compares them to
		// the second: a literal's fraction is dropped, so
		// SystemModstamp >= 10:00:00.500Z holds for a record stamped at
		// 10:00:00.
		l.kind, l.t = litDateTime, tm.UTC().Truncate(time.Second)
	case tDate:
		tm, err := time.Parse("2006-01-02", t.text)
		if err != nil {
			return lit{}, soqlError("MALFORMED_QUERY", p.text, t.pos, "invalid date literal '"+t.text+"'")
		}
		l.kind, l.t = litDate, tm
	case tIdent:
		switch strings.ToUpper(t.text) {
		case "TRUE", "FALSE":
			l.kind, l.b = litBool, strings.EqualFold(t.text, "TRUE")
		case "NULL":
			l.kind = litNull
		default:
			// Date literals such as TODAY or LAST_N_DAYS:7, and bind
			// variables, are Salesforce features the emulator lacks.
			return lit{}, p.unexpected(t, " (the emulator accepts quoted strings, datetimes, numbers, TRUE, FALSE and NULL as values)")
		}
	default:
		return lit{}, p.unexpected(t, " (expecting a value)")
	}
	return l, nil
}

func (p *parser) orderItem() (orderItem, *Error) {
	f, err := p.ident()
	if err != nil {
		return orderItem{}, err
	}
	o := orderItem{field: f}
	if p.isKeyword("ASC") {
		p.next()
	} else if p.isKeyword("DESC") {
		p.next()
		o.desc = true
	}
	o.nullsLast = o.desc // Salesforce puts nulls first ascending, last descending
	if p.isKeyword("NULLS") {
		p.next()
		switch t := p.next(); {
		case strings.EqualFold(t.text, "FIRST"):
			o.nullsLast = false
		case strings.EqualFold(t.text, "LAST"):
			o.nullsLast = true
		default:
			return orderItem{}, p.unexpected(t, " (expecting FIRST or LAST)")
		}
	}
	return o, nil
}
