package bot

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// SafeText makes text safe to show on a terminal or in a chat client:
// what could act instead of being read is written out visibly, so a log
// line cannot clear the screen, move the cursor, retitle the window or
// reorder what follows it. Both transports pass everything they show
// through it.
//
//   - C0 controls and DEL become \xNN (ESC is \x1b), CR is \r; newline
//     and tab stay, as layout.
//   - C1 controls (U+0080–U+009F, CSI among them) become \u0080…\u009f.
//   - Bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E,
//     U+2066–U+2069) and the line and paragraph separators U+2028 and
//     U+2029 become \uNNNN.
//   - Bytes that are not UTF-8 become \xNN.
//
// Everything else is unchanged; text without any of these is returned
// as it is.
func SafeText(s string) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, size) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 && r != '\n' && r != '\t' || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r, size):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports whether SafeText escapes r (decoded from size bytes).
func unsafeRune(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size <= 1:
		return true // not UTF-8
	case r == '\n' || r == '\t':
		return false
	case r < 0x20 || r >= 0x7f && r <= 0x9f:
		return true
	}
	return isBidiOrSeparator(r)
}

func isBidiOrSeparator(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028 || r == 0x2029:
		return true
	}
	return false
}
