package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

// LogReader reads containers' logs: the last lines of a window, the
// window followed as it grows, or every line of it handed to a matcher.
type LogReader interface {
	TailLogs(ctx context.Context, containerID string, since time.Time, tail int, fn func(ts time.Time, line []byte)) error
	FollowLogs(ctx context.Context, containerID string, since time.Time, fn func(ts time.Time, line []byte)) error
	CountLogLines(ctx context.Context, containerID string, since time.Time, match func(line []byte) bool) (total, matched int, err error)
}

// Bounds of the logs command.
const (
	maxTail      = 5000             // lines shown at most
	maxGrep      = 200              // bytes of a --grep text
	maxLogLine   = 1000             // runes of one line shown
	maxFollow    = 15 * time.Minute // --for at most
	maxLogWindow = 90 * 24 * time.Hour
	followReport = time.Second // progress updates at most this often
	followShown  = 30          // lines in a progress update
)

func (s *Stack) logsCommand() bot.Command {
	return bot.Command{
		Name:    "logs",
		Summary: "a service's log lines: the last N, filtered, or followed live for a while",
		Usage:   "<service> [--since 24h] [--tail 100] [--grep TEXT] [--follow --for 5m]",
		Help: "The runbook's `docker-compose logs <service> --tail=100` and `logs -f | grep`. --since bounds the window " +
			"(default 24h), --tail the lines shown (default 100, at most 5000), --grep keeps the lines containing TEXT " +
			"(plain text, any case; the last --tail matching lines of the window). --follow shows the lines as they are " +
			"written, updated in place, for --for (default 5m, at most 15m), then the lines it saw.",
		Flags: []bot.Flag{
			{Name: "since", Kind: bot.FlagDuration, Default: "24h", Usage: "how far back", MinDuration: time.Second, MaxDuration: maxLogWindow},
			{Name: "tail", Kind: bot.FlagInt, Default: "100", Usage: "last N lines", Min: 1, Max: maxTail},
			{Name: "grep", Kind: bot.FlagString, Usage: "only lines containing this text (any case)"},
			{Name: "follow", Kind: bot.FlagBool, Usage: "keep showing new lines"},
			{Name: "for", Kind: bot.FlagDuration, Default: "5m", Usage: "how long --follow runs", MinDuration: time.Second, MaxDuration: maxFollow},
		},
		MinArgs: 1, MaxArgs: 1,
		Level:   bot.Level1,
		Risk:    bot.ReadOnly,
		Timeout: maxFollow + 2*time.Minute,
		Run:     s.logs,
	}
}

// logLine is one line of one container's log.
type logLine struct {
	ts   time.Time
	name string
	text string
}

func (s *Stack) logs(ctx context.Context, req bot.Request) (bot.Message, error) {
	a := req.Args
	since, tail, grep, follow, dur := a.Duration("since"), a.Int("tail"), a.String("grep"), a.Bool("follow"), a.Duration("for")
	switch {
	case since <= 0 || since > maxLogWindow:
		return bot.Message{}, &bot.UsageError{Msg: "--since must be between 1s and 90d."}
	case tail < 1 || tail > maxTail:
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("--tail must be between 1 and %d.", maxTail)}
	case a.Has("grep") && strings.TrimSpace(grep) == "":
		return bot.Message{}, &bot.UsageError{Msg: "--grep needs a text to look for."}
	case len(grep) > maxGrep:
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("--grep takes at most %d characters.", maxGrep)}
	case a.Has("for") && !follow:
		return bot.Message{}, &bot.UsageError{Msg: "--for goes with --follow."}
	case follow && (dur <= 0 || dur > maxFollow):
		return bot.Message{}, &bot.UsageError{Msg: "--for must be between 1s and 15m."}
	}
	list, err := s.list(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	picked, err := s.pick(list, a.First())
	if err != nil {
		return bot.Message{}, err
	}
	match := func(string) bool { return true }
	if grep != "" {
		match = containsFold(grep)
	}
	now := s.now()
	lines, newest, err := s.lastLines(ctx, picked, now.Add(-since), tail, grep != "", match)
	if err != nil {
		return bot.Message{}, err
	}
	what := fmt.Sprintf("last %d lines", tail)
	if grep != "" {
		what = fmt.Sprintf("last %d lines containing %s", tail, quoteName(grep))
	}
	m := bot.Message{Title: fmt.Sprintf("Logs of %s (%s, since %s)", a.First(), what, human(since))}
	if !follow {
		m.Code = []bot.CodeBlock{{Text: renderLines(lines, len(picked) > 1, "(no lines)")}}
		m.Summary = fmt.Sprintf("%d lines", len(lines))
		return m, nil
	}
	// The console prints each progress message below the last one, Slack
	// replaces one message: the console gets only the new lines each time.
	appendOnly := req.Channel == "console"
	seen, n, err := s.follow(ctx, picked, lines, newest, tail, dur, match, m.Title, appendOnly)
	if err != nil {
		return bot.Message{}, err
	}
	m.Title = fmt.Sprintf("Logs of %s, followed for %s", a.First(), human(dur))
	if grep != "" {
		m.Title += " (lines containing " + quoteName(grep) + ")"
	}
	m.Code = []bot.CodeBlock{{Text: renderLines(seen, len(picked) > 1, "(no new lines)")}}
	m.Summary = fmt.Sprintf("%d new lines while following", n)
	if n > len(seen) {
		m.Summary += fmt.Sprintf(" (the last %d shown)", len(seen))
	}
	return m, nil
}

// lastLines returns the last tail lines of the containers' logs since
// `since`, oldest first. Without a filter the engine cuts the tail;
// with one, the window is read and the last tail matches kept. Each line
// is redacted before it is matched or clipped: --grep sees only what the
// reply may show, so it cannot tell a secret's characters apart.
func (s *Stack) lastLines(ctx context.Context, picked []docker.Container, since time.Time, tail int, filtered bool, match func(string) bool) ([]logLine, []time.Time, error) {
	per := make([][]logLine, len(picked))
	newest := make([]time.Time, len(picked))
	errs := make([]error, len(picked))
	var wg sync.WaitGroup
	for i, c := range picked {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ring := newRing(tail)
			st := redact.NewStream(s.Redact)
			engineTail := tail
			if filtered {
				engineTail = 0
			}
			errs[i] = s.Logs.TailLogs(ctx, c.ID, since, engineTail, func(ts time.Time, line []byte) {
				if ts.After(newest[i]) {
					newest[i] = ts
				}
				text := st.Line(string(bytes.TrimRight(line, "\r")))
				if match(text) {
					ring.add(logLine{ts: ts, name: c.Name, text: clipLine(text)})
				}
			})
			per[i] = ring.lines()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("Could not read the logs: %w", err)
	}
	return lastOf(merge(per), tail), newest, nil
}

// follow streams new lines of the containers for dur, reporting the last
// ones as progress (only those not reported yet when appendOnly), and
// returns the last tail lines it saw and how many.
func (s *Stack) follow(ctx context.Context, picked []docker.Container, before []logLine, newest []time.Time, tail int, dur time.Duration, match func(string) bool, title string, appendOnly bool) ([]logLine, int, error) {
	fctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var mu sync.Mutex
	ring := newRing(tail)
	n, reported, dirty := 0, 0, true
	multi := len(picked) > 1
	report := func(final bool) {
		mu.Lock()
		if !dirty && !final {
			mu.Unlock()
			return
		}
		dirty = false
		shown := lastOf(append(lastOf(before, followShown), ring.lines()...), followShown)
		if appendOnly && n > 0 {
			shown = lastOf(ring.lines(), min(n-reported, followShown))
		}
		reported = n
		count := n
		mu.Unlock()
		bot.Report(ctx, bot.Message{
			Title:   title + " — following",
			Code:    []bot.CodeBlock{{Text: renderLines(shown, multi, "(waiting for lines)")}},
			Summary: fmt.Sprintf("%d new lines so far", count),
		})
	}
	report(true)

	errs := make([]error, len(picked))
	var wg sync.WaitGroup
	for i, c := range picked {
		// From the newest line already read, so nothing is shown twice
		// and nothing written meanwhile is missed.
		last := newest[i]
		from := last
		if from.IsZero() {
			from = s.now()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := redact.NewStream(s.Redact)
			err := s.Logs.FollowLogs(fctx, c.ID, from, func(ts time.Time, line []byte) {
				if !ts.IsZero() && !last.IsZero() && !ts.After(last) {
					return // read before following
				}
				text := st.Line(string(bytes.TrimRight(line, "\r")))
				if !match(text) {
					return
				}
				l := logLine{ts: ts, name: c.Name, text: clipLine(text)}
				mu.Lock()
				ring.add(l)
				n++
				dirty = true
				mu.Unlock()
			})
			if err != nil && fctx.Err() == nil {
				errs[i] = err
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTicker(followReport)
	defer t.Stop()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-t.C:
			report(false)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, 0, fmt.Errorf("Could not follow the logs: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return ring.lines(), n, nil
}

// ring keeps the last n lines added (n >= 1).
type ring struct {
	n    int
	buf  []logLine
	next int
}

func newRing(n int) *ring { return &ring{n: max(n, 1)} }

func (r *ring) add(l logLine) {
	if len(r.buf) < r.n {
		r.buf = append(r.buf, l)
		return
	}
	r.buf[r.next] = l
	r.next = (r.next + 1) % r.n
}

func (r *ring) lines() []logLine {
	return append(append([]logLine(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// merge interleaves the containers' lines by time, keeping each
// container's own order: the engine's, which is the order its log file
// holds even where two streams' timestamps cross.
func merge(per [][]logLine) []logLine {
	if len(per) == 1 {
		return per[0]
	}
	var all []logLine
	next := make([]int, len(per))
	for {
		best := -1
		for i, p := range per {
			if next[i] < len(p) && (best < 0 || p[next[i]].ts.Before(per[best][next[best]].ts)) {
				best = i
			}
		}
		if best < 0 {
			return all
		}
		all = append(all, per[best][next[best]])
		next[best]++
	}
}

func lastOf(lines []logLine, n int) []logLine {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

func renderLines(lines []logLine, withName bool, empty string) string {
	if len(lines) == 0 {
		return empty
	}
	var b strings.Builder
	for _, l := range lines {
		if !l.ts.IsZero() {
			b.WriteString(l.ts.UTC().Format("2006-01-02 15:04:05 "))
		}
		if withName {
			b.WriteString(l.name + " | ")
		}
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// clipLine keeps at most maxLogLine runes of a line (already redacted:
// a secret cut in two is no longer recognisable), as valid text.
func clipLine(line string) string {
	line = strings.TrimRight(line, "\r")
	if utf8.RuneCountInString(line) <= maxLogLine {
		return strings.ToValidUTF8(line, "\uFFFD")
	}
	r := []rune(strings.ToValidUTF8(line, "\uFFFD"))
	return string(r[:maxLogLine]) + "…"
}

// containsFold returns a matcher for lines containing text in any case:
// a plain substring, never a pattern.
func containsFold(text string) func(string) bool {
	needle := []byte(strings.ToLower(text))
	ascii := utf8.RuneCount(needle) == len(needle)
	var buf []byte
	var mu sync.Mutex
	return func(line string) bool {
		if !ascii || !isASCIIString(line) {
			return strings.Contains(strings.ToLower(line), string(needle))
		}
		mu.Lock()
		defer mu.Unlock()
		buf = append(buf[:0], line...)
		for i, b := range buf {
			if 'A' <= b && b <= 'Z' {
				buf[i] = b + 'a' - 'A'
			}
		}
		return bytes.Contains(buf, needle)
	}
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
