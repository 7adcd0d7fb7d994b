package redact

import (
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/internal/redact/redacttest"
)

// TestCorpus: every fake secret of the corpus is masked, alone, amid log
// noise and run together with the text around it, and Redact is idempotent.
func TestCorpus(t *testing.T) {
	r := New("hunter2-literal")
	for seed := uint64(1); seed <= 20; seed++ {
		for _, it := range redacttest.Corpus(seed) {
			for _, text := range []string{
				it.Text,
				"2026-12-05T23:00:00.123Z INFO " + it.Text + " 200 12ms",
				"x" + it.Text + "y",
				"\t" + it.Text + "\r",
				`{"msg":"` + it.Text + `"}`,
			} {
				out := r.Redact(text)
				if leaks := redacttest.Leaks(out, []redacttest.Item{it}); len(leaks) > 0 {
					t.Errorf("seed %d %s: Redact(%q) = %q shows %q", seed, it.Name, text, out, leaks)
				}
				if again := r.Redact(out); again != out {
					t.Errorf("seed %d %s: not idempotent:\n once %q\ntwice %q", seed, it.Name, out, again)
				}
			}
		}
	}
}

// TestStreamCorpus: the same line by line, as logs are read.
func TestStreamCorpus(t *testing.T) {
	r := New()
	c := redacttest.Corpus(7)
	st := r.Stream()
	var out []string
	for _, it := range c {
		for _, line := range strings.Split(it.Text, "\n") {
			out = append(out, st.Line(line))
		}
	}
	if leaks := redacttest.Leaks(strings.Join(out, "\n"), c); len(leaks) > 0 {
		t.Fatalf("stream shows %q", leaks)
	}
}

// TestKeyCutOff: a key whose BEGIN line is not in the text read (a tail
// that starts inside it) is masked: whole base64 lines by themselves, the
// short last line because the END line follows it.
func TestKeyCutOff(t *testing.T) {
	r := New()
	for _, it := range redacttest.Corpus(3) {
		if !it.MultiLine {
			continue
		}
		lines := strings.Split(it.Text, "\n")
		tail := lines[len(lines)/2:]
		st := r.Stream()
		var shown []string
		for _, l := range tail {
			shown = append(shown, st.Line(l))
		}
		// The engine redacts the whole reply again, with timestamps in front.
		var rendered []string
		for _, l := range shown {
			rendered = append(rendered, "2026-12-05 23:00:00 "+l)
		}
		whole := r.Redact(strings.Join(rendered, "\n"))
		if leaks := redacttest.Leaks(whole, []redacttest.Item{it}); len(leaks) > 0 {
			t.Errorf("%s cut off: shows %q in\n%s", it.Name, leaks, whole)
		}
		// Raw text, tail only, redacted at once.
		if leaks := redacttest.Leaks(r.Redact(strings.Join(tail, "\n")), []redacttest.Item{it}); len(leaks) > 0 {
			t.Errorf("%s cut off, at once: shows %q", it.Name, leaks)
		}
	}
}

// TestClipMark: a secret cut by a clip mark before redaction is masked
// however little of it is left.
func TestClipMark(t *testing.T) {
	r := New("Hunter2-literal-secret")
	for in, want := range map[string]string{
		"key AKIAIOSFOD…":                  "key " + Mask + "…",
		"ghp_abc…":                         Mask + "…",
		"postgres://app:s3cr…":             "postgres://app:" + Mask + "…",
		"x eyJhbGciOi…":                    "x " + Mask + "…",
		"Authorization: Bearer ab…":        "Authorization: Bearer " + Mask,
		"the literal Hunter2-li…":          "the literal " + Mask + "…",
		"plain text clipped here…":         "plain text clipped here…",
		"-----BEGIN RSA PRIVATE KEY-----…": Mask,
	} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFormats: the formats and shapes the issue names, one by one, with
// the text around them kept.
func TestFormats(t *testing.T) {
	r := New()
	for in, want := range map[string]string{
		"postgres://u:p/ss@db:5432/x":               "postgres://u:" + Mask + "@db:5432/x",
		"postgres://u:p@ss:w@db:5432/x ok":          "postgres://u:" + Mask + "@db:5432/x ok",
		"postgres://u:p%40ss%2F@db/x":               "postgres://u:" + Mask + "@db/x",
		"http://127.0.0.1:13000/health":             "http://127.0.0.1:13000/health",
		"https://example.org/a:b/c@d":               "https://example.org/a:b/c@d",
		"password%3Dhunter22%26user%3Dbob":          "password%3D" + Mask + "%26user%3Dbob",
		"login pass=abc123 ok":                      "login pass=" + Mask + " ok",
		"tests passed=12 failed=0":                  "tests passed=12 failed=0",
		"author: Jane":                              "author: Jane",
		"cache miss key=shift:42":                   "cache miss key=" + Mask,
		"keyspace=users":                            "keyspace=users",
		"monkey=banana":                             "monkey=banana",
		"Authorization: Basic dXNlcjpwYXNz":         "Authorization: Basic " + Mask,
		"Authorization: Custom abcdef123":           "Authorization: " + Mask,
		"the basic configuration":                   "the basic configuration",
		"ALTER ROLE app PASSWORD 'x'":               "ALTER ROLE app PASSWORD '" + Mask + "'",
		"12:00:00 token=":                           "12:00:00 token=",
		"2026-12-01T12:00:00Z GET /a?b=c 200 4ms":   "2026-12-01T12:00:00Z GET /a?b=c 200 4ms",
		"sk-ant-api03-" + strings.Repeat("a1B", 31): Mask,
	} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}
