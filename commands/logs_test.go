package commands

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// logLines posts n copies of text to a testapp container's log.
func logLines(t *testing.T, c dockertest.Container, n int, stream, text string) {
	t.Helper()
	post(t, c.URL("3000"), "/control/log", url.Values{"n": {fmt.Sprint(n)}, "stream": {stream}, "text": {text}})
}

// codeLines is the lines of a message's first code block.
func codeLines(m bot.Message) []string {
	if len(m.Code) == 0 {
		return nil
	}
	return strings.Split(m.Code[0].Text, "\n")
}

// withoutTime drops the "2006-01-02 15:04:05 " prefix logs puts on lines.
func withoutTime(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > 20 && l[4] == '-' && l[13] == ':' {
			l = l[20:]
		}
		out[i] = l
	}
	return out
}

func TestLogsTailGrepAndBadInput(t *testing.T) {
	t.Parallel()
	o := newOps(t, containersPolicy,
		dockertest.Service{Name: "api", Ports: []string{"3000"}},
		dockertest.Service{Name: "worker", Ports: []string{"3000"}},
	)
	api := o.project.Service("api")
	logLines(t, api, 5, "stdout", "hello line")
	logLines(t, api, 2, "stderr", "Mixed CASE Needle here")
	logLines(t, api, 1, "stdout", "last one: a.b")
	// The engine writes stdout and stderr lines in the order its two
	// copiers get them: wait until all eight are there.
	waitFor(t, func() bool {
		r, _ := o.run("console:l1", "logs api")
		return r.Message.Summary == "8 lines"
	})

	// The last lines: the same as docker logs --tail shows.
	r, _ := o.run("console:l1", "logs api --tail 3")
	want := strings.Split(strings.TrimSpace(dockerCLI(t, "logs", "--tail", "3", api.ID)), "\n")
	if got := withoutTime(codeLines(r.Message)); strings.Join(got, "|") != strings.Join(want, "|") || r.Message.Summary != "3 lines" {
		t.Errorf("logs api --tail 3: %q; docker logs --tail 3: %q", got, want)
	}
	// --grep: plain text, any case; never a pattern.
	for text, n := range map[string]int{"needle": 2, "NEEDLE HERE": 2, "a.b": 1, "a.c": 0, ".*": 0, "[": 0, "hello line": 5} {
		r, _ := o.run("console:l1", fmt.Sprintf("logs api --grep %q", text))
		got := codeLines(r.Message)
		if n == 0 && (len(got) != 1 || got[0] != "(no lines)") || n > 0 && len(got) != n {
			t.Errorf("--grep %q: %d lines, want %d:\n%s", text, len(got), n, render(r.Message))
		}
		for _, l := range got {
			if n > 0 && !strings.Contains(strings.ToLower(l), strings.ToLower(text)) {
				t.Errorf("--grep %q let through %q", text, l)
			}
		}
	}
	r, _ = o.run("console:l1", "logs api --grep hello --tail 2")
	if got := codeLines(r.Message); len(got) != 2 {
		t.Errorf("--grep hello --tail 2: %q", got)
	}
	// Lines older than --since are left out.
	o.s.Now = func() time.Time { return time.Now().Add(time.Hour) }
	r, _ = o.run("console:l1", "logs api --since 30m")
	if got := codeLines(r.Message); len(got) != 1 || got[0] != "(no lines)" {
		t.Errorf("logs an hour later with --since 30m: %q", got)
	}
	o.s.Now = nil

	for _, text := range []string{
		"logs", "logs nosuch", "logs api --tail 0", "logs api --tail 99999", "logs api --since 0s",
		"logs api --since 100d", "logs api --for 5m", "logs api --follow --for 20m", "logs api --grep ''",
		"logs api --grep " + strings.Repeat("x", 300), "logs api --tail=-1", "logs api --grep 'a\x00b'", "logs api --nosuch",
	} {
		r, _ := o.run("console:l1", text)
		if r.Outcome != bot.OutcomeUsage {
			t.Errorf("%q: outcome %v, want a usage error\n%s", clipTest(text), r.Outcome, render(r.Message))
		}
	}
	r, _ = o.run("console:l1", "logs nosuch")
	if !strings.Contains(r.Message.Text, "Services of project "+o.project.Name+": api, worker.") {
		t.Errorf("logs nosuch: %s", r.Message.Text)
	}
}

func TestLogsFollowStreamsNewLinesInPlace(t *testing.T) {
	t.Parallel()
	o := newOps(t, containersPolicy, dockertest.Service{Name: "api", Ports: []string{"3000"}})
	api := o.project.Service("api")
	logLines(t, api, 3, "stdout", "old line")
	waitFor(t, func() bool {
		r, _ := o.run("console:l1", "logs api --grep old")
		return len(codeLines(r.Message)) == 3
	})

	var mu sync.Mutex
	var progress []bot.Message
	first := make(chan struct{})
	done := make(chan bot.Reply, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		once := sync.Once{}
		done <- o.engine.Handle(ctx, bot.Request{Subject: "console:l1", Text: "logs api --follow --for 4s --grep line", Progress: func(m bot.Message) {
			mu.Lock()
			progress = append(progress, m)
			mu.Unlock()
			once.Do(func() { close(first) })
		}})
	}()
	select {
	case <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("no progress from logs --follow")
	}
	logLines(t, api, 2, "stderr", "fresh line")
	logLines(t, api, 1, "stdout", "not shown")
	r := <-done
	got := withoutTime(codeLines(r.Message))
	if r.Outcome != bot.OutcomeOK || strings.Join(got, "|") != "fresh line|fresh line" || r.Message.Summary != "2 new lines while following" {
		t.Fatalf("logs --follow: %v\n%s", r.Outcome, render(r.Message))
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(progress[0].Code[0].Text, "old line") {
		t.Errorf("the first progress message does not show the lines before following:\n%s", render(progress[0]))
	}
	shown := false
	for _, m := range progress {
		shown = shown || strings.Contains(m.Code[0].Text, "fresh line")
	}
	if !shown {
		t.Errorf("no progress message showed the new lines (%d messages)", len(progress))
	}
}

func TestErrorsGroupsNormalisedLinesAcrossServices(t *testing.T) {
	t.Parallel()
	o := newOps(t, containersPolicy,
		dockertest.Service{Name: "api", Ports: []string{"3000"}},
		dockertest.Service{Name: "worker", Ports: []string{"3000"}},
	)
	api, worker := o.project.Service("api"), o.project.Service("worker")
	for i := 1; i <= 5; i++ {
		logLines(t, api, 1, "stdout", fmt.Sprintf("2026-12-01T10:0%d:00.123Z ERROR db timeout after %dms for user %d", i, i*37, 1000+i))
	}
	for i := 1; i <= 2; i++ {
		for _, c := range []dockertest.Container{api, worker} {
			logLines(t, c, 1, "stderr", fmt.Sprintf("ERROR request 550e8400-e29b-41d4-a716-44665544%04d failed", i))
		}
	}
	for i := 1; i <= 3; i++ {
		logLines(t, worker, 1, "stdout", fmt.Sprintf("error: connection to 10.0.%d.5:5432 refused (session 0x%x)", i, 0xbeef+i))
	}
	logLines(t, worker, 4, "stdout", "warning: nothing wrong here")
	waitFor(t, func() bool {
		r, _ := o.run("console:l1", "errors")
		return strings.HasPrefix(r.Message.Summary, "12 error lines")
	})
	r, _ := o.run("console:l1", "errors --since 1h")
	want := []string{
		"5   api  <ts> ERROR db timeout after <n>ms for user <n>",
		"4   api,worker  ERROR request <uuid> failed",
		"3   worker  error: connection to <ip> refused (session <hex>)",
	}
	got := codeLines(r.Message)
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if len(got) != len(want) {
		t.Fatalf("errors:\n%s", render(r.Message))
	}
	for i := range want {
		if norm(got[i]) != norm(want[i]) {
			t.Errorf("group %d: %q, want %q", i, got[i], want[i])
		}
	}
	if r.Message.Status != bot.StatusWarn || r.Message.Summary != "12 error lines in 3 groups (of 16 lines read)" {
		t.Errorf("errors: %s %q", r.Message.Status, r.Message.Summary)
	}
	// The count is the runbook's: docker logs | grep -ci error, per container.
	total := 0
	for _, c := range o.project.Containers {
		for _, l := range strings.Split(dockerCLI(t, "logs", c.ID), "\n") {
			if strings.Contains(strings.ToLower(l), "error") {
				total++
			}
		}
	}
	if total != 12 {
		t.Errorf("docker logs | grep -ci error counts %d, errors 12", total)
	}
	if r, _ := o.run("console:l1", "errors --since 0s"); r.Outcome != bot.OutcomeUsage {
		t.Errorf("errors --since 0s: %v", r.Outcome)
	}
	if r, _ := o.run("console:l1", "errors api"); r.Outcome != bot.OutcomeUsage {
		t.Errorf("errors api: %v", r.Outcome)
	}
}

func TestNormalizeLine(t *testing.T) {
	for in, want := range map[string]string{
		"ERROR db timeout after 123ms for user 42":                         "ERROR db timeout after <n>ms for user <n>",
		"2026-12-01T21:33:40.123Z error: x":                                "<ts> error: x",
		"2026-12-01 21:33:40,123 ERROR pool":                               "<ts> <ts>,<n> ERROR pool",
		"error id=550e8400-e29b-41d4-a716-446655440000.":                   "error id=<uuid>.",
		"error from 192.168.1.20:5432, retry 3 of 5":                       "error from <ip>, retry <n> of <n>",
		"error from fe80::1ff:fe23:4567:890a":                              "error from <ip>",
		"Error: session deadbeefcafe1234 expired":                          "Error: session <hex> expired",
		"error at 0x7ffd3a2b in worker-3":                                  "error at <hex> in worker-<n>",
		"error: user42 took 1.5s":                                          "error: user<n> took <n>s",
		"ERROR: relation \"shifts\" does not exist":                        "ERROR: relation \"shifts\" does not exist",
		"error GET /api/users/981/shifts?from=2026-01-01 500 12.3ms":       "error GET /api/users/<n>/shifts?from=<ts> <n> <n>ms",
		"error req_id=ab12cd34ef56ab78 job=sess_9f8e7d6c5b4a3f2e status=1": "error req_id=<hex> job=sess_<hex> status=<n>",
		"error v1.4.2 at 10:30":                                            "error v<n>.<n>.<n> at <n>:<n>",
	} {
		if got := string(NormalizeLine(nil, []byte(in))); got != want {
			t.Errorf("NormalizeLine(%q)\n = %q\nwant %q", in, got, want)
		}
	}
	long := strings.Repeat("error ", 200)
	if got := NormalizeLine(nil, []byte(long)); len(got) != maxErrorKey {
		t.Errorf("a long line normalises to %d bytes, want %d", len(got), maxErrorKey)
	}
	// Appends to dst.
	if got := string(NormalizeLine([]byte("x:"), []byte("error 7"))); got != "x:error <n>" {
		t.Errorf("NormalizeLine appends: %q", got)
	}
}

func BenchmarkNormalizeLine(b *testing.B) {
	line := []byte("2026-12-01T21:33:40.123456Z ERROR db timeout after 5012ms for user 42 from 10.0.3.5:5432 request 550e8400-e29b-41d4-a716-446655440000")
	var dst []byte
	for b.Loop() {
		dst = NormalizeLine(dst[:0], line)
	}
}

// Secrets written into a service's log never reach the output of logs,
// logs --follow or errors: the engine's one redactor sees everything.
func TestLogsAndErrorsRedactSeededSecrets(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t, dockertest.Service{Name: "api", Ports: []string{"3000"}})
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
	api := p.Service("api")
	secrets := []string{"hunter2-db-pass", "s3cr3t-in-url", "xoxb-123456789012-abcdefghijkl"}
	logLines(t, api, 1, "stdout", "ERROR boot failed with POSTGRES_PASSWORD="+secrets[0])
	logLines(t, api, 1, "stderr", "error connecting to postgres://shiftwise:"+secrets[1]+"@db:5432/shiftwise")
	logLines(t, api, 1, "stdout", "slack token "+secrets[2]+" rejected: error")
	waitFor(t, func() bool {
		r, _ := o.run("console:l1", "logs api")
		return r.Message.Summary == "3 lines"
	})
	for _, text := range []string{"logs api", "logs api --grep error", "errors", "logs api --follow --for 1s"} {
		r, progress := o.run("console:l1", text)
		out := render(r.Message)
		for _, m := range progress {
			out += render(m)
		}
		for _, s := range secrets {
			// Nor any recognisable part of one (errors normalises digits).
			if strings.Contains(out, s) || strings.Contains(out, s[len(s)-8:]) || strings.Contains(out, "hunter") {
				t.Errorf("%s shows the secret %q:\n%s", text, s, out)
			}
		}
	}
}

func TestMergeKeepsEachContainersOrder(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	a := []logLine{{ts: at(1), text: "a1"}, {ts: at(5), text: "a2"}, {ts: at(3), text: "a3"}} // a3's stamp crosses a2's
	b := []logLine{{ts: at(2), text: "b1"}, {ts: at(4), text: "b2"}}
	var got []string
	for _, l := range merge([][]logLine{a, b}) {
		got = append(got, l.text)
	}
	if strings.Join(got, " ") != "a1 b1 b2 a2 a3" {
		t.Errorf("merge: %v", got)
	}
	r := newRing(2)
	for _, l := range a {
		r.add(l)
	}
	if l := r.lines(); len(l) != 2 || l[0].text != "a2" || l[1].text != "a3" {
		t.Errorf("ring of 2: %+v", l)
	}
}
