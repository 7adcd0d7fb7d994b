package commands

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/redact/redacttest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// TestLogsRedactCorpusEndToEnd writes the corpus of fake secrets (every
// format, PEM blocks over several lines) into a real container's log and
// reads it back through logs, logs --grep, errors and the security
// runbook's snapshot file: no secret, and no part of one, shows. --grep on
// the first characters of each secret finds nothing (it matches redacted
// text), and a line clipped at 1,000 characters across a secret shows none
// of it (it is clipped after redaction).
func TestLogsRedactCorpusEndToEnd(t *testing.T) {
	t.Parallel()
	corpus := redacttest.Corpus(11)
	var lines []string
	for _, it := range corpus {
		lines = append(lines, strings.Split(it.Text, "\n")...)
	}
	// Secrets straddling the 1,000-character clip: 990 characters, then
	// the secret, so that clipping first would leave its first 10.
	filler := strings.Repeat("a", 985) + " ERR "
	clipped := []string{"AKIA" + strings.Repeat("QZ7", 5) + "Q", "ghp_" + strings.Repeat("Zq9", 12)}
	for _, s := range clipped {
		lines = append(lines, filler+s+" error tail")
	}
	p := dockertest.StartProject(t, dockertest.Service{
		Name: "app", Image: testenv.Get("SHIFTWISE_TEST_DATA_IMAGE"), NoWait: true,
		Cmd: []string{"bash", "-c", `printf '%s\n' "$CORPUS"`},
		Env: []string{"CORPUS=" + strings.Join(lines, "\n")},
	})
	dockertest.WaitState(t, p.Containers[0].ID, "exited", 2*time.Minute)
	o := opsOn(t, p, containersPolicy)
	red := redact.New()
	o.s.Redact = red.Redact
	reg, err := bot.NewRegistry(o.s.Commands()...)
	if err != nil {
		t.Fatal(err)
	}
	authz, err := permissions.New(containersPolicy, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.engine, err = bot.NewEngine(bot.Options{Registry: reg, Authorizer: authz, Redactor: red}); err != nil {
		t.Fatal(err)
	}
	check := func(what, out string) {
		t.Helper()
		if leaks := redacttest.Leaks(out, corpus); len(leaks) > 0 {
			t.Errorf("%s shows %d secrets, first %q:\n%s", what, len(leaks), leaks[0], out)
		}
		for _, s := range clipped {
			if strings.Contains(out, s[:10]) {
				t.Errorf("%s shows the start %q of a clipped secret", what, s[:10])
			}
		}
	}
	r, _ := o.run("console:l1", "logs app --tail 1000")
	out := render(r.Message)
	if !strings.Contains(out, strings.Repeat("a", 50)) || !strings.Contains(out, "loaded key") {
		t.Fatalf("logs did not show the log:\n%s", out)
	}
	check("logs --tail 1000", out)
	for _, cmd := range []string{"logs app --grep error", "logs app --grep PRIVATE", "errors"} {
		r, progress := o.run("console:l1", cmd)
		out := render(r.Message)
		for _, m := range progress {
			out += render(m)
		}
		check(cmd, out)
	}
	// --grep is no oracle: the first characters of a secret match nothing.
	needles := append([]string(nil), clipped...)
	for _, it := range corpus {
		needles = append(needles, it.Secrets[0])
	}
	for _, s := range needles {
		needle := s[:8]
		r, _ := o.run("console:l1", "logs app --grep "+needle)
		if r.Message.Summary != "0 lines" {
			t.Errorf("--grep %q (of %q) found %s:\n%s", needle, s, r.Message.Summary, render(r.Message))
		}
	}
	// The security runbook's copy of the logs is redacted too.
	dc, err := docker.New(dockertest.Host(t), p.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	rb := &Runbook{Logs: dc, DataDir: t.TempDir(), Redact: red.Redact, LogWindow: time.Hour}
	snap, _ := rb.snapshot(context.Background())
	files, _ := filepath.Glob(filepath.Join(rb.DataDir, "security_*.log"))
	if len(files) != 1 {
		t.Fatalf("snapshot %+v: files %v", snap, files)
	}
	kept, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(kept), "loaded key") {
		t.Fatalf("the snapshot lacks the log:\n%s", kept)
	}
	check("the security snapshot file", string(kept))
}

// TestClipHelpersRedactFirst: every clipping helper redacts before it cuts,
// so no clipped output keeps the start of a secret the redactor would no
// longer recognise.
func TestClipHelpersRedactFirst(t *testing.T) {
	for _, it := range redacttest.Corpus(5) {
		if it.MultiLine {
			continue
		}
		for _, s := range it.Secrets {
			i := strings.Index(it.Text, s)
			for _, cut := range []int{i + 4, i + len(s)/2, i + len(s) - 1} {
				for name, clip := range map[string]func(string, int) string{
					"clipText": clipText, "clipCell": clipCell, "clipMiddle": func(s string, n int) string { return clipMiddle(s, n) },
				} {
					out := clip(it.Text+" and the rest of a long line", cut)
					if strings.Contains(out, s[:min(len(s), max(cut-i, 4))]) && cut-i >= 4 && len(s) > 4 {
						t.Errorf("%s(%q, %d) = %q shows the start of %q", name, it.Text, cut, out, s)
					}
				}
			}
		}
	}
}
