package commands

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

// Bounds of the errors command.
const (
	topErrors    = 10     // groups shown
	maxErrorKey  = 300    // bytes of a normalised line kept as its group
	maxErrGroups = 20_000 // distinct groups per container; more count as "other"
	otherGroup   = "(other lines: too many distinct ones to group)"
)

func (s *Stack) errorsCommand() bot.Command {
	return bot.Command{
		Name:    "errors",
		Summary: "the most common error lines of every service, grouped, with counts",
		Usage:   "[--since 24h]",
		Help: "The runbook's \"Find most common errors\" (`docker-compose logs | grep ERROR | sort | uniq -c | sort -nr | head -10`): " +
			"every log line of the project's containers since --since (default 24h) that contains \"error\" in any case, " +
			"with numbers, IDs, hex, UUIDs, IP addresses and timestamps replaced so that lines differing only in those " +
			"group together; the 10 largest groups with their counts and services.",
		Flags:   []bot.Flag{{Name: "since", Kind: bot.FlagDuration, Default: "24h", Usage: "how far back", MinDuration: time.Second, MaxDuration: maxLogWindow}},
		MaxArgs: 0,
		Level:   bot.Level1,
		Risk:    bot.ReadOnly,
		Timeout: 5 * time.Minute,
		Run:     s.errors,
	}
}

// ErrorGroup is one normalised error line and how often it occurred.
type ErrorGroup struct {
	Line     string   // normalised
	Count    int      // lines
	Services []string // where it occurred, sorted
	Example  string   // one original line
}

// ErrorSummary is what `errors` found.
type ErrorSummary struct {
	Lines, Matched int          // lines read and error lines among them
	Groups         []ErrorGroup // largest first
	Distinct       int          // groups in all
	Unread         []string     // services whose logs could not be read
}

func (s *Stack) errors(ctx context.Context, req bot.Request) (bot.Message, error) {
	since := req.Args.Duration("since")
	if since <= 0 || since > maxLogWindow {
		return bot.Message{}, &bot.UsageError{Msg: "--since must be between 1s and 90d."}
	}
	sum, err := s.CommonErrors(ctx, s.now().Add(-since), topErrors)
	if err != nil {
		return bot.Message{}, err
	}
	m := bot.Message{Title: fmt.Sprintf("Most common errors, last %s (%s)", human(since), s.Engine.Project()), Status: bot.StatusOK}
	if len(sum.Groups) == 0 {
		m.Text = fmt.Sprintf("No error lines in %d log lines.", sum.Lines)
	} else {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, g := range sum.Groups {
			fmt.Fprintf(tw, "%d\t %s\n", g.Count, strings.Join(g.Services, ","))
		}
		tw.Flush()
		rows := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		for i, g := range sum.Groups {
			rows[i] += "  " + g.Line
		}
		m.Code = []bot.CodeBlock{{Text: strings.Join(rows, "\n")}}
	}
	if sum.Matched >= 10 { // the runbook's "Error count should be < 10 in 24 hours"
		m.Status = bot.StatusWarn
	}
	m.Summary = fmt.Sprintf("%d error lines in %d groups (of %d lines read)", sum.Matched, sum.Distinct, sum.Lines)
	if len(sum.Unread) > 0 {
		m.Status = bot.StatusWarn
		m.Text = strings.TrimSpace(m.Text + "\nLogs unreadable: " + strings.Join(sum.Unread, ", ") + ".")
	}
	return m, nil
}

// CommonErrors reads every container's log since `since`, concurrently,
// and groups the lines containing "error" (any case) by their normalised
// text; it returns the top n groups.
func (s *Stack) CommonErrors(ctx context.Context, since time.Time, n int) (ErrorSummary, error) {
	list, err := s.list(ctx)
	if err != nil {
		return ErrorSummary{}, err
	}
	type result struct {
		service        string
		groups         map[string]*ErrorGroup
		lines, matched int
		err            error
	}
	bot.Report(ctx, bot.Message{Title: "errors (in progress)",
		Text: fmt.Sprintf("Reading the logs of %d containers since %s…", len(list), since.UTC().Format("2006-01-02 15:04 MST"))})
	res := make([]result, len(list))
	red := s.Redact
	if red == nil {
		red = redact.Builtin
	}
	var wg sync.WaitGroup
	for i, c := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			groups := map[string]*ErrorGroup{}
			var key []byte
			total, matched, err := s.Logs.CountLogLines(ctx, c.ID, since, func(line []byte) bool {
				if !ContainsError(line) {
					return false
				}
				// Redacted before it is matched, grouped or clipped: a line
				// whose "error" was inside a secret is no error line.
				text := red(string(line))
				line = []byte(text)
				if !ContainsError(line) {
					return false
				}
				key = NormalizeLine(key[:0], line)
				g := groups[string(key)]
				if g == nil {
					k := string(key)
					if len(groups) >= maxErrGroups {
						k = otherGroup
						if g = groups[k]; g != nil {
							g.Count++
							return true
						}
					}
					g = &ErrorGroup{Line: k, Example: clipLine(text)}
					groups[k] = g
				}
				g.Count++
				return true
			})
			res[i] = result{service: c.Service, groups: groups, lines: total, matched: matched, err: err}
		}()
	}
	wg.Wait()

	var sum ErrorSummary
	merged := map[string]*ErrorGroup{}
	svcs := map[string]map[string]bool{}
	var errs []error
	for _, r := range res {
		if r.err != nil {
			if ctx.Err() != nil {
				errs = append(errs, r.err)
			}
			sum.Unread = append(sum.Unread, r.service)
			continue
		}
		sum.Lines += r.lines
		sum.Matched += r.matched
		for k, g := range r.groups {
			m := merged[k]
			if m == nil {
				m = &ErrorGroup{Line: k, Example: g.Example}
				merged[k] = m
				svcs[k] = map[string]bool{}
			}
			m.Count += g.Count
			svcs[k][r.service] = true
		}
	}
	if len(errs) > 0 {
		return ErrorSummary{}, fmt.Errorf("Could not read the logs in time: %w", errors.Join(errs...))
	}
	sort.Strings(sum.Unread)
	sum.Distinct = len(merged)
	all := make([]*ErrorGroup, 0, len(merged))
	for k, g := range merged {
		for svc := range svcs[k] {
			g.Services = append(g.Services, svc)
		}
		sort.Strings(g.Services)
		all = append(all, g)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Count != all[j].Count {
			return all[i].Count > all[j].Count
		}
		return all[i].Line < all[j].Line
	})
	for i := 0; i < len(all) && i < n; i++ {
		sum.Groups = append(sum.Groups, *all[i])
	}
	return sum, nil
}

// NormalizeLine appends to dst the line with what varies between
// occurrences of one error replaced: timestamps and times by <ts>, UUIDs
// by <uuid>, IP addresses (with a port) by <ip>, hex strings of 8 or more
// digits and 0x numbers by <hex>, other numbers by <n>. A word is a run
// of letters, digits and . : - _; a word without digits is kept as it is.
// The result is cut at 300 bytes.
func NormalizeLine(dst, line []byte) []byte {
	start := len(dst)
	for i := 0; i < len(line) && len(dst)-start < maxErrorKey; {
		c := line[i]
		if !isWordByte(c) {
			if c == '\r' || c == '\n' {
				i++
				continue
			}
			dst = append(dst, c)
			i++
			continue
		}
		j := i
		digit := false
		for j < len(line) && isWordByte(line[j]) {
			if '0' <= line[j] && line[j] <= '9' {
				digit = true
			}
			j++
		}
		w := line[i:j]
		if !digit {
			dst = append(dst, w...)
		} else {
			dst = normalizeWord(dst, w)
		}
		i = j
	}
	if len(dst)-start > maxErrorKey {
		dst = dst[:start+maxErrorKey]
	}
	return dst
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == ':' || c == '-' || c == '_'
}

// normalizeWord replaces one word that holds a digit.
func normalizeWord(dst, w []byte) []byte {
	// Trailing sentence punctuation is not part of the value.
	trail := 0
	for len(w)-trail > 0 && (w[len(w)-1-trail] == '.' || w[len(w)-1-trail] == ':' || w[len(w)-1-trail] == '-') {
		trail++
	}
	core, rest := w[:len(w)-trail], w[len(w)-trail:]
	switch {
	case isUUID(core):
		dst = append(dst, "<uuid>"...)
	case isDateTime(core) || isClock(core):
		dst = append(dst, "<ts>"...)
	case isIPv4(core) || isIPv6(core):
		dst = append(dst, "<ip>"...)
	case isNumber(core):
		dst = append(dst, "<n>"...)
	case isHexWord(core):
		dst = append(dst, "<hex>"...)
	case numberWithUnit(core) > 0:
		dst = append(dst, "<n>"...)
		dst = append(dst, core[numberWithUnit(core):]...)
	default:
		dst = normalizeParts(dst, core)
	}
	return append(dst, rest...)
}

// normalizeParts handles a mixed word part by part (split at . : - _):
// numbers and hex parts are replaced, digit runs inside letters too
// ("user42" -> "user<n>", "12ms" -> "<n>ms").
func normalizeParts(dst, w []byte) []byte {
	for i := 0; i < len(w); {
		if w[i] == '.' || w[i] == ':' || w[i] == '-' || w[i] == '_' {
			dst = append(dst, w[i])
			i++
			continue
		}
		j := i
		for j < len(w) && w[j] != '.' && w[j] != ':' && w[j] != '-' && w[j] != '_' {
			j++
		}
		p := w[i:j]
		switch {
		case isNumber(p):
			dst = append(dst, "<n>"...)
		case isHexWord(p):
			dst = append(dst, "<hex>"...)
		default:
			for k := 0; k < len(p); {
				if '0' <= p[k] && p[k] <= '9' {
					for k < len(p) && '0' <= p[k] && p[k] <= '9' {
						k++
					}
					dst = append(dst, "<n>"...)
					continue
				}
				dst = append(dst, p[k])
				k++
			}
		}
		i = j
	}
	return dst
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// isNumber: digits with at most one decimal point (12, 3.5).
func isNumber(w []byte) bool {
	if len(w) == 0 {
		return false
	}
	dots := 0
	for _, c := range w {
		switch {
		case c == '.':
			dots++
		case !isDigit(c):
			return false
		}
	}
	return dots <= 1 && isDigit(w[0]) && isDigit(w[len(w)-1])
}

// isHexWord: 0x followed by hex digits, or 8+ hex digits with a digit.
func isHexWord(w []byte) bool {
	if len(w) > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X') {
		for _, c := range w[2:] {
			if !isHex(c) {
				return false
			}
		}
		return true
	}
	if len(w) < 8 {
		return false
	}
	digit := false
	for _, c := range w {
		if !isHex(c) {
			return false
		}
		digit = digit || isDigit(c)
	}
	return digit
}

// isUUID: 8-4-4-4-12 hex digits.
func isUUID(w []byte) bool {
	if len(w) != 36 {
		return false
	}
	for i, c := range w {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isHex(c) {
			return false
		}
	}
	return true
}

// isDateTime: a word starting with a date, 2026-12-01 (then anything:
// T21:33:40.123Z).
func isDateTime(w []byte) bool {
	return len(w) >= 10 && isDigit(w[0]) && isDigit(w[1]) && isDigit(w[2]) && isDigit(w[3]) && w[4] == '-' &&
		isDigit(w[5]) && isDigit(w[6]) && w[7] == '-' && isDigit(w[8]) && isDigit(w[9])
}

// isClock: 21:33:40 with optional fraction (.123, ,123 is split off).
func isClock(w []byte) bool {
	if len(w) < 8 || !isDigit(w[0]) || !isDigit(w[1]) || w[2] != ':' || !isDigit(w[3]) || !isDigit(w[4]) || w[5] != ':' || !isDigit(w[6]) || !isDigit(w[7]) {
		return false
	}
	rest := w[8:]
	if len(rest) == 0 {
		return true
	}
	if rest[0] != '.' {
		return false
	}
	for _, c := range rest[1:] {
		if !isDigit(c) && c != 'Z' {
			return false
		}
	}
	return true
}

// isIPv4: four decimal octets, optionally :port.
func isIPv4(w []byte) bool {
	parts, digits := 0, 0
	for i, c := range w {
		switch {
		case isDigit(c):
			digits++
			if digits > 3 {
				return false
			}
		case c == '.':
			if digits == 0 {
				return false
			}
			parts++
			digits = 0
		case c == ':' && parts == 3 && digits > 0:
			return isNumber(w[i+1:]) && !containsByte(w[i+1:], '.')
		default:
			return false
		}
	}
	return parts == 3 && digits > 0
}

// isIPv6: hex groups separated by colons, at least two colons and a digit,
// e.g. fe80::1, 2001:db8::8a2e:370:7334.
func isIPv6(w []byte) bool {
	colons, digit := 0, false
	for _, c := range w {
		switch {
		case c == ':':
			colons++
		case isHex(c):
			digit = digit || isDigit(c)
		default:
			return false
		}
	}
	return colons >= 2 && digit
}

func containsByte(w []byte, b byte) bool {
	for _, c := range w {
		if c == b {
			return true
		}
	}
	return false
}

// numberWithUnit returns where the unit starts in a number followed by
// letters ("1.5s", "12ms", "64MB"), or 0.
func numberWithUnit(w []byte) int {
	i := 0
	for i < len(w) && (isDigit(w[i]) || w[i] == '.') {
		i++
	}
	if i == 0 || i == len(w) || !isNumber(w[:i]) {
		return 0
	}
	for _, c := range w[i:] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return 0
		}
	}
	return i
}
