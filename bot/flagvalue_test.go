package bot

import (
	"context"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

// rangedRegistry has one command per kind of bounded flag, as the runbook
// commands declare them: ages in days, windows in seconds, a deadline in
// milliseconds, a count, and an ID that reaches PostgreSQL as int4.
func rangedRegistry(t testing.TB, ran *int) *Registry {
	t.Helper()
	run := func(context.Context, Request) (Message, error) {
		*ran++
		return Message{Title: "ran", Status: StatusOK}, nil
	}
	r, err := NewRegistry(
		Command{Name: "prune", Level: Level1, Run: run, Flags: []Flag{
			{Name: "older", Kind: FlagDuration, Default: "30d", MinDuration: day, MaxDuration: 3650 * day}}},
		Command{Name: "logs", Level: Level1, Run: run, Flags: []Flag{
			{Name: "since", Kind: FlagDuration, Default: "24h", MinDuration: time.Second, MaxDuration: 90 * day},
			{Name: "tail", Kind: FlagInt, Default: "100", Min: 1, Max: 5000}}},
		Command{Name: "health", Level: Level1, Run: run, Flags: []Flag{
			{Name: "timeout", Kind: FlagDuration, MinDuration: time.Millisecond, MaxDuration: 2 * time.Minute}}},
		Command{Name: "audit", Level: Level1, Run: run, Flags: []Flag{
			{Name: "before", Kind: FlagInt, Default: "0", Min: 0, Max: MaxInt4},
			{Name: "limit", Kind: FlagInt, Default: "20", Min: 1, Max: 200}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every value here is outside its flag's range or no number at all: the
// engine answers a usage error naming the flag and the range, and nothing
// runs. The first rows are the reported ones: 281474976710658d is 2 days
// after int64 nanoseconds wrap, 9223372036854775807 does not fit int4.
func TestOutOfRangeValuesAreUsageErrors(t *testing.T) {
	cases := []struct{ line, want string }{
		{"prune --older 281474976710658d", "--older must be from 1d to 3650d"},
		{"logs --since 281474976710658d", "--since must be from 1s to 90d"},
		{"audit --before 9223372036854775807", "--before must be from 0 to 2147483647"},
		{"health --timeout 1ns", "--timeout must be from 1ms to 2m"},
		// huge day counts: just past time.Duration, past int64, far past
		{"prune --older 106752d", "--older must be from 1d to 3650d"},
		{"prune --older 9223372036854775807d", "--older must be from"},
		{"prune --older 9223372036854775808d", "--older must be from"},
		{"prune --older 99999999999999999999999999d", "--older must be from"},
		{"prune --older 3651d", "--older must be from"},
		{"prune --older 0d", "--older must be from"},
		{"prune --older 23h59m59s", "--older must be from"},
		{"prune --older -1d", "is not a duration"},
		{"prune --older 1.5d", "is not a duration"},
		{"prune --older d", "is not a duration"},
		// Go durations beyond time.Duration, negative, zero, too small
		{"logs --since 2562048h", "--since must be from 1s to 90d"},
		{"logs --since 9223372036854775808ns", "--since must be from"},
		{"logs --since 99999999999999999999s", "--since must be from"},
		{"logs --since 2160h0m1s", "--since must be from"},
		{"logs --since -1s", "--since must be from"},
		{"logs --since -9223372036854775808ns", "--since must be from"},
		{"logs --since 0", "--since must be from"},
		{"logs --since 0s", "--since must be from"},
		{"logs --since 999ms", "--since must be from"},
		{"logs --since=1e9s", "is not a duration"},
		{"logs --since 1x", "is not a duration"},
		{"health --timeout 999us", "--timeout must be from 1ms to 2m"},
		{"health --timeout 2m0.001s", "--timeout must be from"},
		{"health --timeout 0s", "--timeout must be from"},
		// ints: 2^63 and beyond, negative, 0 where not allowed, int4 limits
		{"logs --tail 9223372036854775808", "--tail must be from 1 to 5000"},
		{"logs --tail 18446744073709551617", "--tail must be from"},
		{"logs --tail -9223372036854775809", "--tail must be from"},
		{"logs --tail 0", "--tail must be from"},
		{"logs --tail -1", "--tail must be from"},
		{"logs --tail 5001", "--tail must be from"},
		{"logs --tail 1e3", "--tail takes a whole number from 1 to 5000"},
		{"logs --tail 0x10", "--tail takes a whole number"},
		{"logs --tail 1_000", "--tail takes a whole number"},
		{"logs --tail ５", "--tail takes a whole number"},
		{"audit --before 2147483648", "--before must be from 0 to 2147483647"},
		{"audit --before -1", "--before must be from"},
		{"audit --before -2147483649", "--before must be from"},
		{"audit --limit 0", "--limit must be from 1 to 200"},
		{"audit --limit 4294967297", "--limit must be from"},
	}
	ran := 0
	e := newTestEngine(t, rangedRegistry(t, &ran))
	for _, c := range cases {
		r := e.Handle(context.Background(), Request{Subject: "console:ops", Channel: "console", Text: c.line})
		if r.Outcome != OutcomeUsage || r.Outcome.ExitCode() != 2 || !strings.Contains(r.Message.Text, c.want) {
			t.Errorf("%q: outcome %d %q, want a usage error with %q", c.line, r.Outcome, r.Message.Text, c.want)
		}
	}
	if ran != 0 {
		t.Errorf("%d commands ran with values out of range", ran)
	}
}

// The edges of every range are accepted, and the values arrive exactly.
func TestInRangeEdgesAreAccepted(t *testing.T) {
	ran := 0
	reg := rangedRegistry(t, &ran)
	cases := []struct {
		line, flag string
		want       any
	}{
		{"prune --older 1d", "older", day},
		{"prune --older 3650d", "older", 3650 * day},
		{"prune --older 24h", "older", day},
		{"prune", "older", 30 * day},
		{"logs --since 1s", "since", time.Second},
		{"logs --since 2160h", "since", 90 * day},
		{"logs --since 1h30m", "since", 90 * time.Minute},
		{"health --timeout 1ms", "timeout", time.Millisecond},
		{"health --timeout 2m", "timeout", 2 * time.Minute},
		{"health --timeout 1000us", "timeout", time.Millisecond},
		{"logs --tail 1", "tail", 1},
		{"logs --tail 5000", "tail", 5000},
		{"logs --tail +7", "tail", 7},
		{"logs --tail 007", "tail", 7},
		{"audit --before 2147483647", "before", MaxInt4},
		{"audit --before 0", "before", 0},
		{"audit", "limit", 20},
	}
	for _, c := range cases {
		_, a, err := reg.Parse(c.line)
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		var got any
		switch c.want.(type) {
		case time.Duration:
			got = a.Duration(c.flag)
		default:
			got = a.Int(c.flag)
		}
		if got != c.want {
			t.Errorf("%q: --%s = %v, want %v", c.line, c.flag, got, c.want)
		}
	}
}

// Help shows each bounded flag's range.
func TestHelpShowsRanges(t *testing.T) {
	ran := 0
	e := newTestEngine(t, rangedRegistry(t, &ran))
	r := e.Handle(context.Background(), Request{Subject: "console:ops", Text: "help logs"})
	var since, tail string
	for _, f := range r.Message.Fields {
		switch f.Name {
		case "--since":
			since = f.Value
		case "--tail":
			tail = f.Value
		}
	}
	if !strings.Contains(since, "1s to 90d") || !strings.Contains(tail, "1 to 5000") || !strings.Contains(tail, "default 100") {
		t.Errorf("help logs: --since %q, --tail %q", since, tail)
	}
}

// A command cannot declare an int or duration flag without a range, or
// with a default outside it.
func TestRegistryRefusesUnboundedFlags(t *testing.T) {
	run := func(context.Context, Request) (Message, error) { return Message{}, nil }
	for _, f := range []Flag{
		{Name: "n", Kind: FlagInt},
		{Name: "n", Kind: FlagInt, Min: 5, Max: 1},
		{Name: "n", Kind: FlagInt, Min: 1, Max: 10, Default: "11"},
		{Name: "n", Kind: FlagInt, Min: 1, Max: 10, Default: "x"},
		{Name: "d", Kind: FlagDuration},
		{Name: "d", Kind: FlagDuration, MinDuration: -time.Second, MaxDuration: time.Second},
		{Name: "d", Kind: FlagDuration, MinDuration: time.Hour, MaxDuration: time.Second},
		{Name: "d", Kind: FlagDuration, MinDuration: time.Second, MaxDuration: time.Hour, Default: "2h"},
	} {
		if _, err := NewRegistry(Command{Name: "x", Run: run, Flags: []Flag{f}}); err == nil {
			t.Errorf("flag %+v accepted", f)
		}
	}
}

func TestParseDurationNeverWraps(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  error
	}{
		{"106751d", 106751 * day, nil},
		{"106752d", 0, errTooLarge},
		{"281474976710658d", 0, errTooLarge},
		{"9223372036854775807ns", math.MaxInt64, nil},
		{"9223372036854775808ns", 0, errTooLarge},
		{"2562047h", 2562047 * time.Hour, nil},
		{"2562048h", 0, errTooLarge},
		{"1.5h", 90 * time.Minute, nil},
		{"-1s", -time.Second, nil}, // for the range to refuse
		{"1.2.3s", 0, errNotDuration},
		{"", 0, errNotDuration},
		{"d", 0, errNotDuration},
		{"+1d", 0, errNotDuration},
		{"1dd", 0, errNotDuration},
		{"1s ", 0, errNotDuration},
	}
	for _, c := range cases {
		got, err := parseDuration(c.in)
		if got != c.want || err != c.err {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestFormatDurationReadsBack(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, time.Millisecond, time.Second, 90 * time.Second, time.Hour, 36 * time.Hour,
		day, 3650 * day, 90*time.Minute + time.Second, 106751 * day, math.MaxInt64} {
		s := FormatDuration(d)
		if back, err := parseDuration(s); err != nil || back != d {
			t.Errorf("FormatDuration(%v) = %q, reads back as %v, %v", d, s, back, err)
		}
	}
	for d, want := range map[time.Duration]string{2 * time.Minute: "2m", 90 * day: "90d", time.Millisecond: "1ms", 90 * time.Minute: "1h30m"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// bigDuration is an independent reading of a well-formed value, in
// nanoseconds, without any fixed-size arithmetic; ok is false for anything
// else.
func bigDuration(s string) (*big.Int, bool) {
	if n, found := strings.CutSuffix(s, "d"); found {
		if n == "" || strings.Trim(n, "0123456789") != "" {
			return nil, false
		}
		v, ok := new(big.Int).SetString(n, 10)
		if !ok {
			return nil, false
		}
		return v.Mul(v, big.NewInt(int64(day))), true
	}
	d, err := time.ParseDuration(s) // the standard library detects overflow itself
	if err != nil {
		return nil, false
	}
	return big.NewInt(int64(d)), true
}

func rangeFrom(a, b int64) (int64, int64) {
	if a > b {
		a, b = b, a
	}
	return a, b
}

// FuzzParseDuration: a duration flag never accepts a value outside its
// range, and what it accepts is exactly what was typed (never wrapped).
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "281474976710658d", "106752d", "1ns", "2m", "-1s", "9223372036854775807ns", "1h30m", "0"} {
		f.Add(s, int64(time.Millisecond), int64(2*time.Minute))
	}
	f.Fuzz(func(t *testing.T, s string, lo, hi int64) {
		lo, hi = rangeFrom(lo, hi)
		if lo < 0 {
			lo = 0
		}
		if hi <= 0 {
			hi = 1
		}
		if lo > hi {
			lo = hi
		}
		fl := Flag{Name: "x", Kind: FlagDuration, MinDuration: time.Duration(lo), MaxDuration: time.Duration(hi)}
		d, err := fl.duration(s)
		exact, wellFormed := bigDuration(s)
		inRange := wellFormed && exact.Cmp(big.NewInt(lo)) >= 0 && exact.Cmp(big.NewInt(hi)) <= 0
		if err != nil {
			if inRange {
				t.Fatalf("duration(%q) refused %v within [%d, %d]: %v", s, exact, lo, hi, err)
			}
			if !strings.Contains(err.Error(), "--x ") || !strings.Contains(err.Error(), fl.Range()) {
				t.Fatalf("duration(%q) error %q names neither flag nor range", s, err)
			}
			return
		}
		if !inRange || big.NewInt(int64(d)).Cmp(exact) != 0 {
			t.Fatalf("duration(%q) = %d accepted; exact value %v, range [%d, %d]", s, d, exact, lo, hi)
		}
		if back, err := parseDuration(FormatDuration(d)); err != nil || back != d {
			t.Fatalf("FormatDuration(%d) = %q does not read back: %v, %v", d, FormatDuration(d), back, err)
		}
	})
}

// FuzzParseInt: an int flag never accepts a value outside its range, and
// what it accepts is exactly the decimal number typed.
func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"100", "9223372036854775807", "9223372036854775808", "-1", "0", "2147483648", "+5", "1e3"} {
		f.Add(s, int64(1), int64(MaxInt4))
	}
	f.Fuzz(func(t *testing.T, s string, lo, hi int64) {
		lo, hi = rangeFrom(lo, hi)
		fl := Flag{Name: "n", Kind: FlagInt, Min: lo, Max: hi}
		n, err := fl.int(s)
		exact, ok := new(big.Int).SetString(s, 10)
		if ok && strings.ContainsAny(s, "_") {
			ok = false // big reads underscores only with base 0, but be sure
		}
		inRange := ok && exact.Cmp(big.NewInt(lo)) >= 0 && exact.Cmp(big.NewInt(hi)) <= 0
		if err != nil {
			if inRange {
				t.Fatalf("int(%q) refused %v within [%d, %d]: %v", s, exact, lo, hi, err)
			}
			if !strings.Contains(err.Error(), "--n ") || !strings.Contains(err.Error(), fl.Range()) {
				t.Fatalf("int(%q) error %q names neither flag nor range", s, err)
			}
			return
		}
		if !inRange || big.NewInt(n).Cmp(exact) != 0 {
			t.Fatalf("int(%q) = %d accepted; exact value %v, range [%d, %d]", s, n, exact, lo, hi)
		}
	})
}

func newTestEngine(t *testing.T, reg *Registry) *Engine {
	t.Helper()
	e, err := NewEngine(Options{Registry: reg, Authorizer: allowAll{}, Redactor: noRedact{}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
