package main

import (
	"context"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// bigValue reads a flag value independently of the bot's parser, without
// fixed-size arithmetic: a whole number, or a duration in nanoseconds.
func bigValue(kind bot.FlagKind, s string) (*big.Int, bool) {
	if kind == bot.FlagInt {
		return new(big.Int).SetString(s, 10)
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if n == "" || strings.Trim(n, "0123456789") != "" {
			return nil, false
		}
		v, _ := new(big.Int).SetString(n, 10)
		return v.Mul(v, big.NewInt(int64(24*time.Hour))), true
	}
	d, err := time.ParseDuration(s)
	return big.NewInt(int64(d)), err == nil
}

// Every int and duration flag of every command the bot registers declares
// a range, and one-shot mode refuses, with exit 2 and a usage error naming
// the flag and the range, each value outside it: huge day counts, 2^63,
// int4 limits, negative, zero, 1ns, and one step past each end.
func TestOneShotEveryBoundedFlagRefusesOutOfRange(t *testing.T) {
	env := offlineEnv(t)
	m := openMain(t, context.Background(), copyEnv(env, "SHIFTWISE_DATA_DIR", t.TempDir()))
	cmds := m.Engine.Registry().Commands()
	m.Close()

	generic := []string{"281474976710658d", "106752d", "9223372036854775807d", "99999999999999999999d",
		"9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
		"2147483647", "2147483648", "-2147483649", "-1", "0", "1ns", "0s", "-1s", "2562048h", "9223372036854775808ns", "1e9", "x"}
	flags := 0
	for _, c := range cmds {
		for _, f := range c.Flags {
			if f.Kind != bot.FlagInt && f.Kind != bot.FlagDuration {
				continue
			}
			flags++
			values := append([]string(nil), generic...)
			if f.Kind == bot.FlagInt {
				values = append(values, strconv.FormatInt(f.Min-1, 10), strconv.FormatInt(f.Max+1, 10))
				if f.Max > bot.MaxInt4 {
					t.Errorf("%s --%s goes up to %d, past PostgreSQL's int4", c.Name, f.Name, f.Max)
				}
			} else {
				values = append(values, (f.MinDuration - 1).String(), (f.MaxDuration + 1).String())
			}
			lo, hi := big.NewInt(f.Min), big.NewInt(f.Max)
			if f.Kind == bot.FlagDuration {
				lo, hi = big.NewInt(int64(f.MinDuration)), big.NewInt(int64(f.MaxDuration))
			}
			for _, v := range values {
				if n, ok := bigValue(f.Kind, v); ok && n.Cmp(lo) >= 0 && n.Cmp(hi) <= 0 {
					continue // in range: not this test's subject
				}
				args := append(strings.Fields(c.Name), "--"+f.Name+"="+v)
				code, out, _ := runWith(env, "", append([]string{"-user", "ops"}, args...)...)
				if code != 2 || !strings.Contains(out, "--"+f.Name+" ") || !strings.Contains(out, f.Range()) {
					t.Errorf("%q: exit %d, want 2 and a usage error naming --%s and %s\n%s", args, code, f.Name, f.Range(), out)
				}
			}
		}
	}
	t.Logf("%d bounded flags checked", flags)
	if flags < 15 {
		t.Errorf("only %d bounded flags found; the registry should hold every runbook command", flags)
	}
}
