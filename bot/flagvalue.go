package bot

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file is the one place where a number or a duration a user typed
// becomes a value: every int and duration flag goes through Flag.int and
// Flag.duration, which check the flag's declared range. Nothing wraps:
// a value too large for its type is out of range, never something else.

// day is the unit of the "d" suffix.
const day = 24 * time.Hour

// maxDays is the largest day count a time.Duration holds.
const maxDays = int64(math.MaxInt64 / int64(day))

var (
	errNotNumber   = errors.New("not a number")
	errNotDuration = errors.New("not a duration")
	errTooLarge    = errors.New("too large") // syntactically fine, beyond the type
)

// parseInt reads a whole number in decimal: an optional sign and ASCII
// digits, nothing else. A number beyond int64 is errTooLarge.
func parseInt(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errTooLarge
		}
		return 0, errNotNumber
	}
	return n, nil
}

// parseDuration reads a Go duration ("90s", "1h30m", "250ms") or a whole
// number of days ("30d"). A duration beyond time.Duration (about 292
// years) is errTooLarge; a negative one is returned as such for the range
// check to refuse.
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if n == "" || strings.Trim(n, "0123456789") != "" {
			return 0, errNotDuration
		}
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days > maxDays {
			return 0, errTooLarge // digits only: the only failure is range
		}
		return time.Duration(days) * day, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if durationSyntax(s) {
			// time.ParseDuration says only "invalid duration" when a
			// well-formed value overflows.
			return 0, errTooLarge
		}
		return 0, errNotDuration
	}
	return d, nil
}

// durationSyntax reports whether s is shaped like a Go duration: an
// optional sign, then one or more number-unit pairs.
func durationSyntax(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	for s != "" {
		i := 0
		digits := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			if s[i] != '.' {
				digits++
			}
			i++
		}
		if digits == 0 || strings.Count(s[:i], ".") > 1 {
			return false
		}
		s = s[i:]
		unit := ""
		for _, u := range []string{"ns", "us", "µs", "μs", "ms", "s", "m", "h"} {
			if strings.HasPrefix(s, u) && len(u) > len(unit) {
				unit = u
			}
		}
		if unit == "" {
			return false
		}
		s = s[len(unit):]
	}
	return true
}

// FormatDuration writes d as people type it and parseDuration reads it
// back: whole days as "7d", else Go's form without zero tails ("2m",
// "1h30m", "250ms").
func FormatDuration(d time.Duration) string {
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Range says what values the flag takes: "1s to 90d", "1 to 200".
func (f Flag) Range() string {
	switch f.Kind {
	case FlagInt:
		return fmt.Sprintf("%d to %d", f.Min, f.Max)
	case FlagDuration:
		return FormatDuration(f.MinDuration) + " to " + FormatDuration(f.MaxDuration)
	}
	return ""
}

// int parses an int flag's value and checks it against the range.
func (f Flag) int(v string) (int64, error) {
	n, err := parseInt(v)
	switch {
	case errors.Is(err, errNotNumber):
		return 0, f.valueErr("takes a whole number from %s; %q is not one.", f.Range(), clip(v, 40))
	case err != nil || n < f.Min || n > f.Max:
		return 0, f.valueErr("must be from %s, not %s.", f.Range(), clip(v, 40))
	}
	return n, nil
}

// duration parses a duration flag's value and checks it against the range.
func (f Flag) duration(v string) (time.Duration, error) {
	d, err := parseDuration(v)
	switch {
	case errors.Is(err, errNotDuration):
		return 0, f.valueErr("takes a duration from %s (such as 30s, 5m, 24h or 7d); %q is not a duration.", f.Range(), clip(v, 40))
	case err != nil || d < f.MinDuration || d > f.MaxDuration:
		return 0, f.valueErr("must be from %s, not %s.", f.Range(), clip(v, 40))
	}
	return d, nil
}

func (f Flag) valueErr(format string, a ...any) *UsageError {
	return usageErr("--"+f.Name+" "+format, a...)
}

// checkDeclaration reports what is wrong with an int or duration flag's
// declared range or default.
func (f Flag) checkDeclaration() error {
	switch f.Kind {
	case FlagInt:
		if f.Min > f.Max || f.Min == 0 && f.Max == 0 {
			return fmt.Errorf("int flag --%s needs a range (Min <= Max, not both 0)", f.Name)
		}
		if f.Min < math.MinInt || f.Max > math.MaxInt {
			return fmt.Errorf("int flag --%s: range %s does not fit an int", f.Name, f.Range())
		}
		if f.Default != "" {
			if _, err := f.int(f.Default); err != nil {
				return fmt.Errorf("int flag --%s: default: %v", f.Name, err)
			}
		}
	case FlagDuration:
		if f.MinDuration < 0 || f.MaxDuration <= 0 || f.MinDuration > f.MaxDuration {
			return fmt.Errorf("duration flag --%s needs a range (0 <= MinDuration <= MaxDuration, MaxDuration > 0)", f.Name)
		}
		if f.Default != "" {
			if _, err := f.duration(f.Default); err != nil {
				return fmt.Errorf("duration flag --%s: default: %v", f.Name, err)
			}
		}
	}
	return nil
}
