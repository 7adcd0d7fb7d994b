// Package storable makes text fit for the bot's storage — its PostgreSQL
// store and the local spool that stands in for it — at one boundary, and
// names the errors with which the database refuses a record for good.
//
// PostgreSQL refuses, in a text value, the byte 0x00 and any byte sequence
// that is not UTF-8 (SQLSTATE 22021), and the JSON of the spool replaces
// invalid UTF-8 by U+FFFD without a word. Text stores each such byte as a
// visible escape instead, one form for all:
//
//	0x00                      -> `\x00`
//	each byte of invalid UTF-8 -> `\xNN` (two lower-case hex digits)
//
// Everything else is kept as it came, other control characters too (the
// database takes them; whoever shows the text escapes them for the screen).
// A stored `\xNN` may therefore also have been typed as those four
// characters; nothing is ever dropped. Text is idempotent: its result is
// valid UTF-8 without 0x00, which it returns unchanged.
//
// Indexed text (a user name, a channel) is also bounded in length, because
// a B-tree index refuses a row over about 2.7 kB (SQLSTATE 54000): Indexed
// keeps the first MaxIndexed bytes and says how many more there were.
package storable

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxIndexed is the most bytes Indexed keeps (before its note).
const MaxIndexed = 1024

// ErrRefused marks an error with which the bot's database refused a record
// for good: a data exception (SQLSTATE class 22), an integrity violation
// other than the expected conflict (23), a program limit such as an index
// row too long (54). Trying again changes nothing, unlike a connection
// error or a timeout; such a record is set aside, not retried. The store
// wraps these errors so that errors.Is(err, ErrRefused) holds.
var ErrRefused = errors.New("the bot's database refused the record")

// Refused reports whether err says the database refused a record for good.
func Refused(err error) bool { return errors.Is(err, ErrRefused) }

const hexDigits = "0123456789abcdef"

// Text returns s with 0x00 and every byte of invalid UTF-8 written as a
// visible `\xNN` escape; s itself when it has none.
func Text(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		c := s[i]
		if c == 0 {
			b.WriteString(`\x00`)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
			i++
			continue
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

// Indexed is Text bounded to MaxIndexed bytes (cut at a character), with
// a note of how many bytes were cut: "…[+N bytes]".
func Indexed(s string) string {
	s = Text(s)
	if len(s) <= MaxIndexed+64 {
		return s
	}
	cut := MaxIndexed
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[+" + strconv.Itoa(len(s)-cut) + " bytes]"
}
