package redact

import (
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/internal/redact/redacttest"
)

// FuzzRedact places one fake secret of the corpus between any two texts:
// the output never shows it, and redacting the output again changes
// nothing. Run: go test -fuzz FuzzRedact -fuzztime 20s ./internal/redact
func FuzzRedact(f *testing.F) {
	f.Add("", "", uint8(0))
	f.Add("2026-12-05T23:00:00Z INFO ", " 200 4ms", uint8(3))
	f.Add("x", "y", uint8(9))
	f.Add(`{"a":"`, `"}`, uint8(20))
	f.Add("-", "\n-----END RSA PRIVATE KEY-----", uint8(60))
	f.Add("http://h/", "@x", uint8(50))
	corpus := redacttest.Corpus(42)
	r := New("hunter2-literal")
	f.Fuzz(func(t *testing.T, prefix, suffix string, pick uint8) {
		it := corpus[int(pick)%len(corpus)]
		in := prefix + it.Text + suffix
		out := r.Redact(in)
		for _, s := range it.Secrets {
			if strings.Contains(out, s) && !strings.Contains(prefix, s) && !strings.Contains(suffix, s) {
				t.Fatalf("%s: Redact(%q) = %q shows %q", it.Name, in, out, s)
			}
		}
		if again := r.Redact(out); again != out {
			t.Fatalf("not idempotent on %q:\n once %q\ntwice %q", in, out, again)
		}
		if once := r.Redact(prefix); r.Redact(once) != once {
			t.Fatalf("not idempotent on %q: %q, then %q", prefix, once, r.Redact(once))
		}
	})
}
