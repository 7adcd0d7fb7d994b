package bot

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// unsafeSamples lists what SafeText must escape, with its escaped form: every
// C0 byte but newline and tab, DEL, every C1 control, the bidi controls
// and the line and paragraph separators.
func unsafeSamples() map[string]string {
	m := map[string]string{}
	for b := 0; b < 0x20; b++ {
		if b != '\n' && b != '\t' {
			m[string(rune(b))] = fmt.Sprintf(`\x%02x`, b)
		}
	}
	m["\r"] = `\r`
	m["\x7f"] = `\x7f`
	for r := rune(0x80); r <= 0x9f; r++ {
		m[string(r)] = fmt.Sprintf(`\u%04x`, r)
	}
	for _, r := range []rune{0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029} {
		m[string(r)] = fmt.Sprintf(`\u%04x`, r)
	}
	return m
}

func TestSafeTextEscapesEveryControl(t *testing.T) {
	for raw, want := range unsafeSamples() {
		in := "a" + raw + "b"
		if got := SafeText(in); got != "a"+want+"b" {
			t.Errorf("SafeText(%q) = %q, want %q", in, got, "a"+want+"b")
		}
	}
	for _, keep := range []string{"line\nnext", "col\tcol", "plain ascii", "ünïcödé “quotes” 😀 👩‍💻", "zero\u200bwidth", "\uFFFD", `back\slash \x1b`} {
		if got := SafeText(keep); got != keep {
			t.Errorf("SafeText(%q) = %q, want it unchanged", keep, got)
		}
	}
	cases := map[string]string{
		"\x1b[2J\x1b[H":             `\x1b[2J\x1b[H`,             // clear screen, cursor home
		"\x1b]0;pwned\x07":          `\x1b]0;pwned\x07`,          // window title (OSC)
		"\x1b]8;;http://x\x1b\\hi":  `\x1b]8;;http://x\x1b\hi`,   // hyperlink
		"ok\x1b[8mhidden\x1b[0m":    `ok\x1b[8mhidden\x1b[0m`,    // conceal
		"\u009b31m":                 `\u009b31m`,                 // C1 CSI
		"user \u202eexe.txt":        `user \u202eexe.txt`,        // right-to-left override
		"bad \xff\xfe utf8 \xc3":    `bad \xff\xfe utf8 \xc3`,    // not UTF-8
		"crlf\r\nnext":              `crlf\r` + "\nnext",         // CR visible, newline kept
		"\x00nul":                   `\x00nul`,                   // NUL
		"\xe2\x80":                  `\xe2\x80`,                  // cut rune
		"\xed\xa0\x80 surrogate":    `\xed\xa0\x80 surrogate`,    // encoded surrogate
		"fine\u2067isolate\u2069ok": `fine\u2067isolate\u2069ok`, // isolates
		"sep\u2028line\u2029para":   `sep\u2028line\u2029para`,   // separators
		"mark\u200e\u200f\u061c":    `mark\u200e\u200f\u061c`,    // LRM RLM ALM
		"del\x7f":                   `del\x7f`,                   // DEL
		"\x1bP1$r\x1b\\":            `\x1bP1$r\x1b\`,             // DCS
		"tab\tand\vvt\fff":          "tab\tand" + `\x0bvt\x0cff`, // VT FF
		"":                          "",                          // empty
	}
	for in, want := range cases {
		if got := SafeText(in); got != want {
			t.Errorf("SafeText(%q) = %q, want %q", in, got, want)
		}
	}
}

// Whatever goes in, what comes out is valid UTF-8 without anything a
// terminal acts on, and escaping it again changes nothing.
func TestSafeTextOutputIsInert(t *testing.T) {
	var b strings.Builder
	for r := rune(0); r < 0x3000; r++ {
		b.WriteRune(r)
	}
	for i := 0; i < 256; i++ {
		b.WriteByte(byte(i))
	}
	out := SafeText(b.String())
	assertInert(t, out)
	if again := SafeText(out); again != out {
		t.Errorf("SafeText is not idempotent")
	}
}

func assertInert(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("output is not valid UTF-8")
	}
	for raw := range unsafeSamples() {
		if strings.Contains(s, raw) {
			t.Fatalf("output holds %q", raw)
		}
	}
}

func FuzzSafeText(f *testing.F) {
	for _, s := range []string{"\x1b[2J", "\u009b", "a\u202eb", "\xff", "ok\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := SafeText(s)
		assertInert(t, out)
		if SafeText(out) != out {
			t.Fatalf("not idempotent on %q", s)
		}
	})
}
