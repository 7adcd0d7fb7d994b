package storable

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"health":             "health",
		"health\x00; id":     `health\x00; id`,
		"a\x01\x1b\x7fb":     "a\x01\x1b\x7fb", // the database takes them: kept
		"caf\xe9":            `caf\xe9`,
		"\xed\xa0\x80":       `\xed\xa0\x80`, // a surrogate is not UTF-8
		"\xe2\x82":           `\xe2\x82`,
		"ok “quotes” ✓ \xff": `ok “quotes” ✓ \xff`,
		"":                   "",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIndexed(t *testing.T) {
	long := strings.Repeat("é", 2000) // 4000 bytes
	got := Indexed(long)
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "…[+2976 bytes]") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…[+2976 bytes]")) {
		t.Fatalf("Indexed of 4000 bytes: %q", got[len(got)-40:])
	}
	if Indexed("console:alice") != "console:alice" || Indexed("a\x00") != `a\x00` {
		t.Fatal("short text changed beyond Text")
	}
}

// FuzzText: the result is always storable, Text is idempotent, storable
// text is kept, and no byte is dropped (each refused one is a 4-byte escape).
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "a\x00b", "\xff", "é", strings.Repeat("x", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, got := range map[string]string{"Text": Text(s), "Indexed": Indexed(s)} {
			if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
				t.Fatalf("%s(%q) = %q is not storable", name, s, got)
			}
		}
		got := Text(s)
		if Text(got) != got || Indexed(Indexed(s)) != Indexed(s) {
			t.Fatalf("not idempotent on %q", s)
		}
		if utf8.ValidString(s) && !strings.Contains(s, "\x00") && got != s {
			t.Fatalf("storable %q changed to %q", s, got)
		}
		if len(got) < len(s) || (len(got)-len(s))%3 != 0 {
			t.Fatalf("%q: %d bytes became %d", s, len(s), len(got))
		}
	})
}
