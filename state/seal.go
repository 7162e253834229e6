package state

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Encryption at rest (optional). With keys, the values of CRM records the
// state file keeps — golden records, link snapshots and raw payloads,
// conflicts' sides, base and held records, the values a write sent, the
// payloads of dead letters — are sealed with AES-256-GCM before they are
// written, and opened when read. A sealed value reads
// "tdm1:KEYID:BASE64(nonce|ciphertext)", its column's name the associated
// data (so a value cannot be moved to another column unnoticed). A value
// without the prefix is plain (written before encryption was turned on)
// and is read as it is; Rekey seals it.
//
// Left plain, because Tandem looks them up by equality: match keys (the
// emails), record and entity ids, and the names of systems and fields.

const sealPrefix = "tdm1:"

// Keys are the keys a store seals and opens with: the current one, which
// seals, and older ones still accepted for opening during a rotation.
type Keys struct {
	cur *sealKey
	all map[string]*sealKey
}

type sealKey struct {
	id   string
	aead cipher.AEAD
}

// ParseKeys reads keys as the environment gives them: 32 bytes, in hex (64
// digits) or base64, e.g. from 'openssl rand -hex 32'. current seals;
// each of old (several may be given separated by spaces) only opens.
func ParseKeys(current string, old ...string) (*Keys, error) {
	k := &Keys{all: map[string]*sealKey{}}
	add := func(what, s string) (*sealKey, error) {
		raw, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		sum := sha256.Sum256(append([]byte("tandem state key\x00"), raw...))
		sk := &sealKey{id: hex.EncodeToString(sum[:4]), aead: aead}
		k.all[sk.id] = sk
		return sk, nil
	}
	var err error
	if k.cur, err = add("the current key", current); err != nil {
		return nil, err
	}
	for _, o := range old {
		for _, s := range strings.Fields(o) {
			if _, err := add("an old key", s); err != nil {
				return nil, err
			}
		}
	}
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("want 32 bytes in hex (64 digits) or base64, e.g. the output of 'openssl rand -hex 32'")
}

// ID is the current key's id, as sealed values name it.
func (k *Keys) ID() string {
	if k == nil {
		return ""
	}
	return k.cur.id
}

// seal seals a column's value; nil keys, or an empty value, leave it.
func (k *Keys) seal(col string, plain []byte) []byte {
	if k == nil || len(plain) == 0 {
		return plain
	}
	nonce := make([]byte, k.cur.aead.NonceSize())
	rand.Read(nonce) // never fails (crypto/rand)
	ct := k.cur.aead.Seal(nonce, nonce, plain, []byte(col))
	out := make([]byte, 0, len(sealPrefix)+len(k.cur.id)+1+base64.RawStdEncoding.EncodedLen(len(ct)))
	out = append(out, sealPrefix+k.cur.id+":"...)
	return base64.RawStdEncoding.AppendEncode(out, ct)
}

// open opens a column's value; a plain one is returned as it is.
func (k *Keys) open(col string, v []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(string(v), sealPrefix)
	if !ok {
		return v, nil
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, fmt.Errorf("%s: a sealed value without a key id", col)
	}
	if k == nil {
		return nil, fmt.Errorf("%s: sealed with key %s, and no key is set (TANDEM_STATE_KEY)", col, id)
	}
	sk := k.all[id]
	if sk == nil {
		return nil, fmt.Errorf("%s: sealed with key %s, which neither TANDEM_STATE_KEY nor TANDEM_STATE_KEY_OLD holds", col, id)
	}
	ct, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(ct) < sk.aead.NonceSize() {
		return nil, fmt.Errorf("%s: a sealed value that is not base64", col)
	}
	plain, err := sk.aead.Open(nil, ct[:sk.aead.NonceSize()], ct[sk.aead.NonceSize():], []byte(col))
	if err != nil {
		return nil, fmt.Errorf("%s: a sealed value that does not open with key %s: altered, or moved from another column", col, id)
	}
	return plain, nil
}

func (k *Keys) sealText(col, s string) string { return string(k.seal(col, []byte(s))) }

func (k *Keys) openText(col, s string) (string, error) {
	b, err := k.open(col, []byte(s))
	return string(b), err
}

// current reports whether a stored value is sealed with the current key
// (nil keys: whether it is plain).
func (k *Keys) current(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	if k == nil {
		return !strings.HasPrefix(string(v), sealPrefix)
	}
	return strings.HasPrefix(string(v), sealPrefix+k.cur.id+":")
}
