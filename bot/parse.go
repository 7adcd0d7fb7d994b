package bot

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxInputBytes bounds one line of user text.
const MaxInputBytes = 4096

// UsageError is a problem with what the user typed. It carries one clear
// sentence and, where a command was recognised, its usage line.
type UsageError struct {
	Msg   string
	Usage string // "health [--timeout 5s]" or ""
}

func (e *UsageError) Error() string {
	if e.Usage == "" {
		return e.Msg
	}
	return e.Msg + " Usage: " + e.Usage
}

func usageErr(format string, a ...any) *UsageError {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}

// Tokenize splits a command line into words. Words are separated by
// white space; double or single quotes (also the typographic ones chat
// clients substitute) group words; a backslash escapes the next character
// inside double quotes and outside quotes. The text is never given to a
// shell: this only finds the words.
func Tokenize(line string) ([]string, error) {
	if err := checkText(line); err != nil {
		return nil, err
	}
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune // 0, or the closing quote expected
		escaped bool
	)
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'' && quote != '’':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote || (quote == '"' && r == '”') || (quote == '\'' && r == '’') {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == '“':
			quote, inWord = '"', true
		case r == '‘':
			quote, inWord = '\'', true
		case unicode.IsSpace(r):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if escaped {
		return nil, usageErr("The input ends with a lone backslash.")
	}
	if quote != 0 {
		return nil, usageErr("A quote is not closed (%c).", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// checkText refuses input no command takes: over MaxInputBytes, invalid
// UTF-8, or holding a control character (tab aside), a line or paragraph
// separator, or an invisible format character (a bidi override; the
// zero-width joiner of emoji aside).
func checkText(line string) error {
	if len(line) > MaxInputBytes {
		return usageErr("That input is %d bytes; the limit is %d.", len(line), MaxInputBytes)
	}
	if !utf8.ValidString(line) {
		return usageErr("That input is not valid UTF-8 text.")
	}
	for _, r := range line {
		if r == '\t' {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) && r != '\u200d' {
			return usageErr("That input contains a control character (%U); type plain text only.", r)
		}
	}
	return nil
}

// QuoteWords joins words into one command line that Tokenize splits back
// into exactly these words: a word that is empty or holds white space, a
// quote character (straight or typographic) or a backslash goes in double
// quotes, with \, " and ” escaped by a backslash. The audit log and
// approval requests keep this line.
func QuoteWords(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if needsQuotes(w) {
			w = `"` + wordEscaper.Replace(w) + `"`
		}
		out[i] = w
	}
	return strings.Join(out, " ")
}

var wordEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "”", `\”`)

func needsQuotes(w string) bool {
	if w == "" {
		return true
	}
	for _, r := range w {
		switch r {
		case '"', '\'', '\\', '“', '”', '‘', '’':
			return true
		}
		if unicode.IsSpace(r) {
			return true
		}
	}
	return false
}

// stripPrefix removes a leading "/shiftwise" word.
func stripPrefix(words []string) []string {
	if len(words) > 0 && strings.EqualFold(words[0], "/shiftwise") {
		return words[1:]
	}
	return words
}

// parseArgs reads the words after a command's name into Args, checking
// flags and argument counts against the command's declaration.
func parseArgs(cmd *Command, words []string) (Args, error) {
	a := Args{cmd: cmd, flags: map[string]string{}}
	fail := func(format string, v ...any) (Args, error) {
		return Args{}, &UsageError{Msg: fmt.Sprintf(format, v...), Usage: cmd.UsageLine()}
	}
	onlyPositional := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		if onlyPositional || !strings.HasPrefix(w, "--") {
			a.Positional = append(a.Positional, w)
			continue
		}
		if w == "--" {
			onlyPositional = true
			continue
		}
		name, value, hasValue := strings.Cut(w[2:], "=")
		f, ok := cmd.flag(name)
		if !ok {
			msg := fmt.Sprintf("%s has no flag --%s.", cmd.Name, clip(name, 40))
			if s := closest(name, flagNames(cmd)); s != "" {
				msg = fmt.Sprintf("%s has no flag --%s. Did you mean --%s?", cmd.Name, clip(name, 40), s)
			}
			return Args{}, &UsageError{Msg: msg, Usage: cmd.UsageLine()}
		}
		if _, dup := a.flags[name]; dup {
			return fail("--%s is given twice.", name)
		}
		if f.Kind == FlagBool {
			if !hasValue {
				value = "true"
			}
			b, err := strconv.ParseBool(value)
			if err != nil {
				return fail("--%s takes no value, or true/false.", name)
			}
			a.flags[name] = strconv.FormatBool(b)
			continue
		}
		if !hasValue {
			if i+1 >= len(words) {
				return fail("--%s needs a value.", name)
			}
			i++
			value = words[i]
		}
		var err error
		switch f.Kind {
		case FlagDuration:
			_, err = f.duration(value)
		case FlagInt:
			_, err = f.int(value)
		}
		if err != nil {
			ue := err.(*UsageError)
			ue.Usage = cmd.UsageLine()
			return Args{}, ue
		}
		a.flags[name] = value
	}
	switch {
	case len(a.Positional) < cmd.MinArgs:
		if cmd.MinArgs == 1 {
			return fail("%s needs an argument.", cmd.Name)
		}
		return fail("%s needs %d arguments.", cmd.Name, cmd.MinArgs)
	case cmd.MaxArgs >= 0 && len(a.Positional) > cmd.MaxArgs:
		if cmd.MaxArgs == 0 {
			return fail("%s takes no arguments (got %q).", cmd.Name, clip(a.Positional[0], 40))
		}
		return fail("%s takes at most %d argument(s).", cmd.Name, cmd.MaxArgs)
	}
	return a, nil
}

func flagNames(cmd *Command) []string {
	names := make([]string, len(cmd.Flags))
	for i, f := range cmd.Flags {
		names[i] = f.Name
	}
	return names
}

// clip shortens user text quoted back in messages.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// closest returns the candidate nearest to s, if it is near enough to be
// what was meant.
func closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := distance(strings.ToLower(s), strings.ToLower(c))
		limit := 2
		if len(c) <= 4 {
			limit = 1
		}
		if strings.HasPrefix(c, s) && len(s) >= 2 {
			d = 0
		}
		if d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Damerau-Levenshtein (optimal string alignment) edit
// distance, so a swapped pair of letters counts once.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
