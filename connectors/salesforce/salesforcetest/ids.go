package salesforcetest

import (
	"strings"
)

// Salesforce ids are 15 case-sensitive characters: a 3-character key prefix
// naming the object, a 2-character pod, one reserved character and 9
// characters of record number. The 18-character form appends a checksum that
// encodes, for each block of 5 characters, which ones are upper-case letters,
// so that the id survives case-insensitive systems (spreadsheets, some
// databases). The API always returns 18 characters and accepts either form.

const checksumAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

// base62 in ASCII order, so fixed-width numbers sort like the ids they make.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// pod and reserved character of every id the emulator mints, as a real org
// on one instance would.
const podReserved = "5g0"

// checksum computes the 3-character suffix of a 15-character id.
func checksum(id15 string) string {
	var b [3]byte
	for block := 0; block < 3; block++ {
		n := 0
		for i := 0; i < 5; i++ {
			c := id15[block*5+i]
			if c >= 'A' && c <= 'Z' {
				n |= 1 << i
			}
		}
		b[block] = checksumAlphabet[n]
	}
	return string(b[:])
}

// ID18 returns the 18-character form of a well-formed 15-character id.
func ID18(id15 string) string { return id15 + checksum(id15) }

// mintID makes the 18-character id of the n-th record with key prefix.
func mintID(prefix string, n int) string {
	var num [9]byte
	for i := len(num) - 1; i >= 0; i-- {
		num[i] = base62[n%62]
		n /= 62
	}
	return ID18(prefix + podReserved + string(num[:]))
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// NormalizeID parses an id the way the API does and returns its canonical
// 18-character form. A 15-character id is taken as is (it is
// case-sensitive). An 18-character id may have lost its case: the checksum
// says which characters are upper-case, so the case is restored from it and
// the checksum verified. ok is false for anything else.
func NormalizeID(s string) (id string, ok bool) {
	switch len(s) {
	case 15:
		if !isAlnum(s) {
			return "", false
		}
		return ID18(s), true
	case 18:
		if !isAlnum(s) {
			return "", false
		}
		suffix := strings.ToUpper(s[15:])
		b := []byte(s[:15])
		for block := 0; block < 3; block++ {
			n := strings.IndexByte(checksumAlphabet, suffix[block])
			if n < 0 {
				return "", false
			}
			for i := 0; i < 5; i++ {
				c := &b[block*5+i]
				upper := n&(1<<i) != 0
				switch {
				case *c >= 'a' && *c <= 'z' && upper:
					*c -= 'a' - 'A'
				case *c >= 'A' && *c <= 'Z' && !upper:
					*c += 'a' - 'A'
				case *c >= '0' && *c <= '9' && upper:
					return "", false // the checksum claims a letter where there is a digit
				}
			}
		}
		id15 := string(b)
		return id15 + suffix, checksum(id15) == suffix
	}
	return "", false
}
