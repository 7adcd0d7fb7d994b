package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// go test ./bot/slack -run Golden -update rewrites testdata/*.golden.json.
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

var bkGoldenContext = Context{Who: "<@U024BE7LH>", Where: "<#C0123>"}

func bkGoldenMeta(cmd string, d time.Duration) bot.Meta {
	return bot.Meta{User: "slack:U024BE7LH", Channel: "C0123", Command: cmd, Duration: d}
}

// bkHealthChecks are the lines the health command produced on the demo
// stack (README's example).
func bkHealthChecks() []bot.Check {
	return []bot.Check{
		{Name: "api /health", Status: bot.StatusOK, Value: "200 in 3ms", Threshold: "2xx within 3s"},
		{Name: "frontend /health", Status: bot.StatusOK, Value: "200 in 2ms", Threshold: "2xx within 3s"},
		{Name: "containers", Status: bot.StatusOK, Value: "5 of 5 Up", Threshold: "all Up, none unhealthy"},
		{Name: "error lines (24h)", Status: bot.StatusOK, Value: "0", Threshold: "< 10"},
		{Name: "latest backup", Status: bot.StatusOK, Value: "shiftwise_20261127_123612.sql, 2m5s old, 92K", Threshold: "a real dump younger than 24h"},
		{Name: "disk / (backups, docker data)", Status: bot.StatusOK, Value: "15% used, 78G free of 252G", Threshold: "< 80%"},
		{Name: "memory", Status: bot.StatusOK, Value: "4% used, 23G available of 24G", Threshold: "< 80%"},
		{Name: "postgres", Status: bot.StatusOK, Value: "accepting connections (PostgreSQL 15.18 (Debian 15.18-0+deb12u1))", Threshold: "accepting connections"},
		{Name: "postgres connections", Status: bot.StatusOK, Value: "7 of 100 (7%)", Threshold: "< 80% of max_connections"},
		{Name: "redis", Status: bot.StatusOK, Value: "PONG in 1ms", Threshold: "answers PING"},
		{Name: "redis memory", Status: bot.StatusOK, Value: "1.0M of 64M (2%)", Threshold: "< 85% of maxmemory"},
	}
}

// bkLogLines is n lines of container log, about 100 bytes each.
func bkLogLines(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "2026-11-27T12:%02d:%02d.%03dZ api[1] GET /api/shifts?week=48&team=%d 200 %dms <ok> user=u%04d\n", i/60%60, i%60, i%1000, i%7, i%90, i)
	}
	return b.String()
}

type bkGoldenCase struct {
	name string
	m    bot.Message
}

func bkGoldenCases() []bkGoldenCase {
	failing := bkHealthChecks()
	failing[0] = bot.Check{Name: "api /health", Status: bot.StatusFailed, Value: "HTTP 500 Internal Server Error in 4ms", Threshold: "2xx within 3s"}
	failing[2] = bot.Check{Name: "containers", Status: bot.StatusFailed, Value: "4 of 5 Up; redis exited (0)", Threshold: "all Up, none unhealthy"}
	failing[3] = bot.Check{Name: "error lines (24h)", Status: bot.StatusWarn, Value: "12 (api 12); logs unreadable: redis", Threshold: "< 10"}
	failing[5] = bot.Check{Name: "disk docker data", Status: bot.StatusWarn, Value: "not visible from the bot: no such file or directory", Threshold: "< 80%"}
	failing = append(failing[:9], bot.Check{Name: "redis", Status: bot.StatusFailed, Value: "127.0.0.1:6379: connection refused", Threshold: "answers PING"})

	var sixty []bot.Check
	for i := 0; i < 60; i++ {
		st := []bot.Status{bot.StatusOK, bot.StatusOK, bot.StatusWarn, bot.StatusFailed}[i%4]
		sixty = append(sixty, bot.Check{Name: fmt.Sprintf("container shiftwise-api-%d", i+1), Status: st,
			Value: fmt.Sprintf("Up %d hours, restarts %d, memory %d%% of its limit", i+1, i%3, 20+i), Threshold: "Up, < 3 restarts, < 80% memory"})
	}
	var fields []bot.Field
	for i := 0; i < 25; i++ {
		fields = append(fields, bot.Field{Name: fmt.Sprintf("shift_assignments_%02d", i+1), Value: fmt.Sprintf("%d rows · %d MB · last vacuum %dh ago", 1000*(i+1), 2*i+1, i)})
	}

	return []bkGoldenCase{
		{"health_passed", bot.Message{Title: "Daily health check", Status: bot.StatusOK, Checks: bkHealthChecks(),
			Summary: "Health: PASSED", Meta: bkGoldenMeta("health", 31*time.Millisecond+400*time.Microsecond)}},
		{"health_failed", bot.Message{Title: "Daily health check", Status: bot.StatusFailed, Checks: failing,
			Summary: "Health: FAILED (3 of 11 checks)", Meta: bkGoldenMeta("health", 5012*time.Millisecond)}},
		{"usage_error", bot.Message{Title: "Usage error", Status: bot.StatusFailed,
			Text:   "health has no flag --tmeout. Did you mean --timeout?",
			Fields: []bot.Field{{Name: "Usage", Value: "health [--timeout 5s]"}},
			Meta:   bot.Meta{User: "slack:U024BE7LH", Channel: "C0123", Duration: 120 * time.Microsecond}}},
		{"help", bot.Message{Title: "ShiftWise ops bot",
			Text: "Type a command as in Slack: `/shiftwise health` or just `health`. `help <command>` explains one.",
			Code: []bot.CodeBlock{
				{Title: "Commands you may run", Text: "health [--timeout 5s]        Daily Health Check: every runbook check, PASSED/WARN/FAILED\nlogs <service> [--since 1h]  Recent log lines of one service\nhelp [command]               this help"},
				{Title: "Commands that need a higher level", Text: "restart                      needs Level 2\nrollback                     needs Level 2"},
			},
			Meta: bkGoldenMeta("help", 2*time.Millisecond)}},
		{"buttons", bot.Message{Title: "Rollback of api requested", Status: bot.StatusWarn,
			Text: "Ana (Level 1) asks to roll back `api` to the previous image. A Level 2 developer approves here.",
			Fields: []bot.Field{
				{Name: "Service", Value: "api"},
				{Name: "From → to", Value: "shiftwise-api:2026.11.27 → shiftwise-api:2026.11.20"},
			},
			Buttons: []bot.Button{
				{ActionID: "approval.approve", Text: "Approve rollback", Value: "apr_01HZY3K9", Danger: true},
				{ActionID: "approval.deny", Text: "Deny", Value: "apr_01HZY3K9"},
			},
			Meta: bkGoldenMeta("rollback api", 45*time.Millisecond)}},
		{"escaping", bot.Message{Title: "Restart <!here> & friends", Status: bot.StatusWarn,
			Text:    "<!channel> restart done & <@U123> was paged. See <https://evil.example|the runbook> > now.\nKeep `code` and *bold* as typed.",
			Checks:  []bot.Check{{Name: "<@U123>", Status: bot.StatusWarn, Value: "a & b <!everyone>", Threshold: "< 3 & > 1"}},
			Fields:  []bot.Field{{Name: "<#C999>", Value: "<!subteam^S123>"}},
			Code:    []bot.CodeBlock{{Title: "out <x>", Text: "echo '<!channel>' && cat a > b\n```\nbreakout *bold* <@U123>\n```"}},
			Summary: "done <!channel>",
			Buttons: []bot.Button{{ActionID: "x.y", Text: "<!channel> & go", Value: "v<1>"}},
			Meta:    bot.Meta{User: "slack:U123", Channel: "C0123", Command: "restart <api>"}}},
		{"code_10k", bot.Message{Title: "logs api", Status: bot.StatusNone,
			Code: []bot.CodeBlock{{Title: "api (last 115 lines)", Text: bkLogLines(115)}},
			Meta: bkGoldenMeta("logs api", 180*time.Millisecond)}},
		{"code_100k", bot.Message{Title: "logs api", Status: bot.StatusNone,
			Code: []bot.CodeBlock{{Title: "api (last 1150 lines)", Text: bkLogLines(1150)}},
			Meta: bkGoldenMeta("logs api", 950*time.Millisecond)}},
		{"checks_60", bot.Message{Title: "Containers", Status: bot.StatusFailed, Checks: sixty,
			Summary: "15 of 60 FAILED", Meta: bkGoldenMeta("containers", 88*time.Millisecond)}},
		{"fields_25", bot.Message{Title: "Table sizes", Fields: fields, Meta: bkGoldenMeta("db tables", 14*time.Millisecond)}},
		{"empty", bot.Message{}},
	}
}

type bkGoldenFile struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	Size  int    `json:"size"`
}

type bkGoldenDoc struct {
	Text    string         `json:"text"`
	Blocks  slack.Blocks   `json:"blocks"`
	Replies []slack.Blocks `json:"replies"`
	File    *bkGoldenFile  `json:"file"`
}

func bkGoldenJSON(t *testing.T, r Rendered) []byte {
	t.Helper()
	d := bkGoldenDoc{Text: r.Text, Blocks: slack.Blocks{BlockSet: r.Blocks}}
	for _, rep := range r.Replies {
		d.Replies = append(d.Replies, slack.Blocks{BlockSet: rep})
	}
	if r.File != nil {
		d.File = &bkGoldenFile{Name: r.File.Name, Title: r.File.Title, Size: len(r.File.Content)}
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return bkReadable(b)
}

// bkReadable undoes encoding/json's HTML escaping (\u003c for <), which
// slack-go's nested MarshalJSON methods apply whatever the encoder says,
// so the goldens show Slack's own escaping (&lt;) as Slack receives it.
func bkReadable(b []byte) []byte {
	if bytes.Contains(b, []byte(`\\u00`)) { // a literal backslash-u: keep it exact
		return append(b, '\n')
	}
	b = bytes.ReplaceAll(b, []byte(`\u003c`), []byte("<"))
	b = bytes.ReplaceAll(b, []byte(`\u003e`), []byte(">"))
	b = bytes.ReplaceAll(b, []byte(`\u0026`), []byte("&"))
	return append(b, '\n')
}

func TestBlocksGolden(t *testing.T) {
	for _, tc := range bkGoldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := Render(tc.m, bkGoldenContext)
			bkCheckRendered(t, r)
			got := bkGoldenJSON(t, r)
			path := filepath.Join("testdata", tc.name+".golden.json")
			if *updateGolden {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendering (run with -update if the change is intended):\n%s", path, bkFirstDiff(want, got))
			}
			// slack-go reads back what it wrote, unchanged.
			var back bkGoldenDoc
			if err := json.Unmarshal(want, &back); err != nil {
				t.Fatalf("slack-go cannot read %s: %v", path, err)
			}
			again, err := json.MarshalIndent(back, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if again = bkReadable(again); !bytes.Equal(again, want) {
				t.Errorf("%s does not survive a slack-go round trip:\n%s", path, bkFirstDiff(want, again))
			}
		})
	}
}

func bkFirstDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, a, b)
		}
	}
	return "(no line differs)"
}

// The goldens pin the JSON; these pin what matters about each case, so a
// careless -update cannot bless a regression.
func TestBlocksGoldenCasesMeanWhatTheySay(t *testing.T) {
	cases := map[string]Rendered{}
	msgs := map[string]bot.Message{}
	for _, tc := range bkGoldenCases() {
		cases[tc.name] = Render(tc.m, bkGoldenContext)
		msgs[tc.name] = tc.m
	}

	r := cases["health_passed"]
	if r.Text != "✅ Daily health check — Health: PASSED" {
		t.Errorf("health fallback text = %q", r.Text)
	}
	if h := r.Blocks[0].(*slack.HeaderBlock); h.Text.Text != "✅ Daily health check" {
		t.Errorf("header = %q", h.Text.Text)
	}
	all := bkAllText(r.Blocks)
	for _, want := range []string{
		"✅ *api /health* · 200 in 3ms · _2xx within 3s_",
		"✅ *error lines (24h)* · 0 · _&lt; 10_",
		"*Health: PASSED*",
		"requested by <@U024BE7LH> in <#C0123> · health · 31ms",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("health message lacks %q", want)
		}
	}
	last := r.Blocks[len(r.Blocks)-1]
	if _, ok := last.(*slack.ContextBlock); !ok {
		t.Errorf("last block is %T, want the context block", last)
	}

	all = bkAllText(cases["health_failed"].Blocks)
	for _, want := range []string{"❌ *api /health* · HTTP 500", "⚠️ *disk docker data*", "❌ *redis* · 127.0.0.1:6379: connection refused", "· 5.012s"} {
		if !strings.Contains(all, want) {
			t.Errorf("failing health message lacks %q", want)
		}
	}
	if got := cases["health_failed"].Text; got != "❌ Daily health check — Health: FAILED (3 of 11 checks)" {
		t.Errorf("failing fallback = %q", got)
	}

	r = cases["usage_error"]
	if !strings.Contains(r.Text, "Usage error — health has no flag --tmeout") {
		t.Errorf("usage fallback = %q", r.Text)
	}
	if s := bkFindFields(r.Blocks); len(s) != 1 || s[0] != "*Usage*\nhealth [--timeout 5s]" {
		t.Errorf("usage fields = %q", s)
	}
	if all := bkAllText(r.Blocks); !strings.Contains(all, "requested by <@U024BE7LH> in <#C0123> · &lt;1ms") {
		t.Errorf("usage context: %q", all)
	}

	r = cases["help"]
	if n := len(bkFencedSections(r.Blocks)); n != 2 || len(r.Replies) != 0 || r.File != nil {
		t.Errorf("help: %d code fences, %d replies, file %v", n, len(r.Replies), r.File)
	}

	r = cases["buttons"]
	var actions *slack.ActionBlock
	for _, b := range r.Blocks {
		if a, ok := b.(*slack.ActionBlock); ok {
			actions = a
		}
	}
	if actions == nil || actions.BlockID != "actions" || len(actions.Elements.ElementSet) != 2 {
		t.Fatalf("actions block = %+v", actions)
	}
	approve := actions.Elements.ElementSet[0].(*slack.ButtonBlockElement)
	deny := actions.Elements.ElementSet[1].(*slack.ButtonBlockElement)
	if approve.ActionID != "approval.approve" || approve.Value != "apr_01HZY3K9" || approve.Style != slack.StyleDanger || approve.Confirm == nil {
		t.Errorf("approve = %+v", approve)
	} else if c := approve.Confirm; c.Title.Text != "Are you sure?" || c.Confirm.Text != "Yes, Approve rollback" || c.Deny.Text != "Cancel" || !strings.Contains(c.Text.Text, "Approve rollback") {
		t.Errorf("confirm = %+v %+v %+v %+v", c.Title, c.Text, c.Confirm, c.Deny)
	}
	if deny.Style != "" || deny.Confirm != nil || deny.ActionID != "approval.deny" {
		t.Errorf("deny = %+v", deny)
	}

	r = cases["escaping"]
	texts := []string{r.Text}
	for _, b := range r.Blocks {
		if _, ok := b.(*slack.HeaderBlock); !ok { // plain text: Slack parses nothing there
			texts = append(texts, bkTextsOf([]slack.Block{b})...)
		}
	}
	for _, s := range texts {
		for _, bad := range []string{"<!", "<@U123>", "<#C999>", "<https", " & ", "```\nbreakout"} {
			if strings.Contains(s, bad) {
				t.Errorf("escaping: %q survives in %q", bad, s)
			}
		}
	}
	all = bkAllText(r.Blocks)
	for _, want := range []string{"&lt;!channel&gt; restart done &amp; &lt;@U123&gt;", "`code` and *bold*", "requested by <@U024BE7LH> in <#C0123> · restart &lt;api&gt;"} {
		if !strings.Contains(all, want) {
			t.Errorf("escaping message lacks %q in %q", want, all)
		}
	}

	r = cases["code_10k"]
	if r.File != nil || len(r.Replies) != 1 {
		t.Errorf("10 KB of code: file %v, %d replies; want the thread", r.File, len(r.Replies))
	}
	if got := bkCodeOf(t, r); got != strings.TrimRight(bkLogLines(115), "\n") {
		t.Errorf("10 KB of code comes back different")
	}

	r = cases["code_100k"]
	if r.File == nil || string(r.File.Content) != bkLogLines(1150) || r.File.Name != "api-last-1150-lines.txt" || len(r.Replies) != 0 {
		t.Errorf("100 KB of code: file %+v, %d replies", r.File, len(r.Replies))
	}
	if !strings.Contains(bkAllText(r.Blocks), "Full output attached as `api-last-1150-lines.txt`") {
		t.Errorf("100 KB: the main message does not point at the file")
	}

	r = cases["checks_60"]
	if len(r.Blocks) > bkMaxBlocks || len(r.Replies) != 0 || strings.Count(bkAllText(r.Blocks), "*container shiftwise-api-") != 60 {
		t.Errorf("60 checks: %d blocks, %d replies", len(r.Blocks), len(r.Replies))
	}

	if f := bkFindFields(cases["fields_25"].Blocks); len(f) != 25 {
		t.Errorf("25 fields rendered as %d", len(f))
	}
	sections := 0
	for _, b := range cases["fields_25"].Blocks {
		if s, ok := b.(*slack.SectionBlock); ok && len(s.Fields) > 0 {
			sections++
		}
	}
	if sections != 3 {
		t.Errorf("25 fields in %d sections, want 3", sections)
	}

	r = cases["empty"]
	if r.Text != "No output" || len(r.Blocks) != 2 || r.Replies != nil || r.File != nil || !strings.HasPrefix(bkAllText(r.Blocks), "_No output._\nrequested by") {
		t.Errorf("empty message: %+v", r)
	}
	r = Render(bot.Message{}, Context{})
	if r.Text != "No output" || len(r.Blocks) != 1 || bkAllText(r.Blocks) != "_No output._" {
		t.Errorf("empty message without context: %+v", r)
	}
}

func TestBlocksLongButtonValueIsNotRendered(t *testing.T) {
	r := Render(bot.Message{Title: "x", Buttons: []bot.Button{
		{ActionID: "a.ok", Text: strings.Repeat("Ω", 100), Value: "ref"},
		{ActionID: "a.big", Text: "Big", Value: strings.Repeat("v", 2001)},
	}}, Context{})
	bkCheckRendered(t, r)
	var buttons []*slack.ButtonBlockElement
	for _, b := range r.Blocks {
		if a, ok := b.(*slack.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				buttons = append(buttons, e.(*slack.ButtonBlockElement))
			}
		}
	}
	if len(buttons) != 1 || buttons[0].ActionID != "a.ok" || utf8.RuneCountInString(buttons[0].Text.Text) != 75 {
		t.Fatalf("buttons = %+v", buttons)
	}
	if !strings.Contains(bkAllText(r.Blocks), "Button “Big” not shown: its value is 2001 bytes") {
		t.Errorf("no warning for the dropped button: %q", bkAllText(r.Blocks))
	}
}

func TestBlocksSplitKeepsRunesAndPrefersLineEnds(t *testing.T) {
	s := strings.Repeat("äöü€😀 ", 1000) + "\n" + strings.Repeat("x", 50) + "\nend"
	parts := bkSplit(s, 100, bkTextCost, false)
	if strings.Join(parts, "") != s {
		t.Fatal("pieces do not add up to the text")
	}
	for _, p := range parts {
		if !utf8.ValidString(p) || bkCostOf(p, bkTextCost) > 100 {
			t.Fatalf("bad piece %q", p)
		}
	}
	parts = bkSplit("aaaa\nbbbb\ncccc\n", 11, bkTextCost, false)
	if strings.Join(parts, "|") != "aaaa\nbbbb\n|cccc\n" {
		t.Errorf("line cut: %q", parts)
	}
	parts = bkSplit("one two three four", 9, bkTextCost, false)
	if strings.Join(parts, "|") != "one two |three |four" {
		t.Errorf("word cut: %q", parts)
	}
	parts = bkSplit("&&&&", 10, bkTextCost, false) // 5 characters each once escaped
	if strings.Join(parts, "|") != "&&|&&" {
		t.Errorf("escaped cut: %q", parts)
	}
}

// --- property test ---

func TestBlocksRenderRespectsSlackLimits(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 60
	}
	seen := map[string]int{}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		m := bkRandomMessage(rng)
		r := Render(m, Context{Who: "<@U024BE7LH>", Where: "<#C0123>"})
		ok := t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			bkCheckRendered(t, r)
			bkCheckNoCodeLost(t, m, r)
		})
		if !ok {
			break
		}
		if len(r.Replies) > 0 {
			seen["replies"]++
		}
		if len(r.Replies) > 1 {
			seen["several replies"]++
		}
		if r.File != nil {
			seen["file"]++
		}
		if len(r.Blocks) >= 45 {
			seen["45+ blocks"]++
		}
		if bkCost(r.Blocks...) >= 35000 {
			seen["35000+ characters"]++
		}
		if len(m.Buttons) > 25 {
			seen["26+ buttons"]++
		}
		if len(m.Code) > 1 && r.File == nil && len(r.Replies) > 0 {
			seen["several code blocks in the thread"]++
		}
	}
	// The generator must reach the hard cases, or the test proves little.
	for _, k := range []string{"replies", "several replies", "file", "45+ blocks", "35000+ characters", "26+ buttons", "several code blocks in the thread"} {
		if seen[k] == 0 {
			t.Errorf("no generated message had %s", k)
		}
	}
	t.Logf("%d messages: %v", n, seen)
}

var bkAlphabets = []string{
	"abcdefghijklmnopqrstuvwxyz0123456789",
	"      \n\n\n",
	"&<>`*_~",
	"äöüßéñ€…—“”",
	"日本語中文한국어",
	"😀🚀✅❌⚠️👍🏽",
}

func bkRandomString(rng *rand.Rand, max int) string {
	if max <= 0 {
		return ""
	}
	n := rng.IntN(max + 1)
	var b strings.Builder
	for b.Len() < n {
		a := []rune(bkAlphabets[rng.IntN(len(bkAlphabets))])
		run := 1 + rng.IntN(40)
		for i := 0; i < run && b.Len() < n; i++ {
			b.WriteRune(a[rng.IntN(len(a))])
		}
		if rng.IntN(30) == 0 {
			b.WriteString("<!channel>")
		}
	}
	return b.String()
}

// bkRandomSize picks mostly small sizes, sometimes huge ones.
func bkRandomSize(rng *rand.Rand, small, huge int) int {
	if rng.IntN(5) == 0 {
		return huge
	}
	return small
}

func bkRandomMessage(rng *rand.Rand) bot.Message {
	m := bot.Message{
		Title:   bkRandomString(rng, bkRandomSize(rng, 40, 400)),
		Status:  bot.Status(rng.IntN(4)),
		Text:    bkRandomString(rng, bkRandomSize(rng, 300, 60000)),
		Summary: bkRandomString(rng, bkRandomSize(rng, 40, 5000)),
		Meta: bot.Meta{User: "slack:U024BE7LH", Channel: "C0123", Command: bkRandomString(rng, 30),
			Duration: time.Duration(rng.Int64N(int64(time.Minute)))},
	}
	for i, n := 0, rng.IntN(bkRandomSize(rng, 15, 400)); i < n; i++ {
		m.Checks = append(m.Checks, bot.Check{Name: bkRandomString(rng, bkRandomSize(rng, 30, 800)), Status: bot.Status(rng.IntN(4)),
			Value: bkRandomString(rng, bkRandomSize(rng, 60, 5000)), Threshold: bkRandomString(rng, bkRandomSize(rng, 20, 800))})
	}
	for i, n := 0, rng.IntN(bkRandomSize(rng, 12, 120)); i < n; i++ {
		m.Fields = append(m.Fields, bot.Field{Name: bkRandomString(rng, bkRandomSize(rng, 20, 500)), Value: bkRandomString(rng, bkRandomSize(rng, 60, 4000))})
	}
	if rng.IntN(8) == 0 { // many small pieces: the block limit binds before the characters
		for i := 0; i < 700; i++ {
			m.Fields = append(m.Fields, bot.Field{Name: fmt.Sprint("f", i), Value: bkRandomString(rng, 8)})
		}
	}
	for i, n := 0, rng.IntN(5); i < n; i++ {
		m.Code = append(m.Code, bot.CodeBlock{Title: bkRandomString(rng, bkRandomSize(rng, 20, 300)),
			Text: bkRandomString(rng, []int{0, 500, 3000, 9000, 14000, 150000}[rng.IntN(6)])})
	}
	for i, n := 0, rng.IntN(bkRandomSize(rng, 4, 40)); i < n; i++ {
		m.Buttons = append(m.Buttons, bot.Button{ActionID: fmt.Sprintf("act.%d", rng.IntN(30)), Text: bkRandomString(rng, bkRandomSize(rng, 20, 200)),
			Value: bkRandomString(rng, bkRandomSize(rng, 30, 2100)), Danger: rng.IntN(2) == 0})
	}
	return m
}

// bkCheckRendered asserts Slack's limits on every message of r.
func bkCheckRendered(t *testing.T, r Rendered) {
	t.Helper()
	if r.Text == "" || bkUnits(r.Text) > 3000 || !utf8.ValidString(r.Text) {
		t.Errorf("fallback text %q", r.Text)
	}
	if len(r.Blocks) == 0 {
		t.Errorf("no blocks in the main message")
	}
	bkCheckMessage(t, "main", r.Blocks)
	for i, rep := range r.Replies {
		if len(rep) == 0 {
			t.Errorf("reply %d is empty", i)
		}
		bkCheckMessage(t, fmt.Sprintf("reply %d", i), rep)
	}
	if r.File != nil && (r.File.Name == "" || !strings.HasSuffix(r.File.Name, ".txt") || r.File.Title == "") {
		t.Errorf("file %q %q", r.File.Name, r.File.Title)
	}
}

func bkCheckMessage(t *testing.T, which string, blocks []slack.Block) {
	t.Helper()
	if len(blocks) > 50 {
		t.Errorf("%s: %d blocks", which, len(blocks))
	}
	total := 0
	text := func(o *slack.TextBlockObject, what string, max int) {
		t.Helper()
		if o == nil {
			t.Errorf("%s: %s has no text object", which, what)
			return
		}
		if err := o.Validate(); err != nil {
			t.Errorf("%s: %s: slack-go says %v", which, what, err)
		}
		if n := bkUnits(o.Text); n > max || n == 0 {
			t.Errorf("%s: %s is %d characters (limit %d)", which, what, n, max)
		}
		if !utf8.ValidString(o.Text) {
			t.Errorf("%s: %s is not valid UTF-8", which, what)
		}
		if o.Type == slack.MarkdownType && strings.Contains(o.Text, "<!") {
			t.Errorf("%s: %s holds a raw special mention: %q", which, what, o.Text)
		}
		total += bkUnits(o.Text)
	}
	blockIDs := map[string]bool{}
	for _, b := range blocks {
		if id := b.ID(); id != "" {
			if blockIDs[id] {
				t.Errorf("%s: block_id %q twice", which, id)
			}
			blockIDs[id] = true
		}
		switch b := b.(type) {
		case *slack.HeaderBlock:
			text(b.Text, "header", 150)
			if b.Text.Type != slack.PlainTextType {
				t.Errorf("%s: header is %s", which, b.Text.Type)
			}
		case *slack.SectionBlock:
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("%s: empty section", which)
			}
			if b.Text != nil {
				text(b.Text, "section", 3000)
			}
			if len(b.Fields) > 10 {
				t.Errorf("%s: %d fields in a section", which, len(b.Fields))
			}
			for _, f := range b.Fields {
				text(f, "field", 2000)
			}
		case *slack.ContextBlock:
			if n := len(b.ContextElements.Elements); n == 0 || n > 10 {
				t.Errorf("%s: context with %d elements", which, n)
			}
			for _, e := range b.ContextElements.Elements {
				text(e.(*slack.TextBlockObject), "context", 3000)
			}
		case *slack.ActionBlock:
			if b.BlockID == "" {
				t.Errorf("%s: actions block without block_id", which)
			}
			els := b.Elements.ElementSet
			if len(els) == 0 || len(els) > 25 {
				t.Errorf("%s: actions block with %d elements", which, len(els))
			}
			ids := map[string]bool{}
			for _, e := range els {
				btn := e.(*slack.ButtonBlockElement)
				if btn.ActionID == "" || ids[btn.ActionID] {
					t.Errorf("%s: action_id %q empty or repeated in its block", which, btn.ActionID)
				}
				ids[btn.ActionID] = true
				text(btn.Text, "button text", 75)
				if len(btn.Value) > 2000 {
					t.Errorf("%s: button value of %d bytes", which, len(btn.Value))
				}
				total += bkUnits(btn.Value)
				if c := btn.Confirm; c != nil {
					text(c.Title, "confirm title", 100)
					text(c.Text, "confirm text", 300)
					text(c.Confirm, "confirm button", 30)
					text(c.Deny, "deny button", 30)
				}
			}
		default:
			t.Errorf("%s: unexpected block %T", which, b)
		}
	}
	if total > 40000 {
		t.Errorf("%s: %d characters of text", which, total)
	}
	if _, err := json.Marshal(slack.Blocks{BlockSet: blocks}); err != nil {
		t.Errorf("%s: %v", which, err)
	}
}

var bkCodeUnescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// bkFenced returns the unescaped text inside a section's ``` fence.
func bkFenced(s string) (string, bool) {
	i := strings.Index(s, "```\n")
	if i < 0 || !strings.HasSuffix(s, "\n```") || len(s) < i+8 {
		return "", false
	}
	body := s[i+4 : len(s)-4]
	body = strings.ReplaceAll(body, "`"+bkZWSP, "`")
	return bkCodeUnescaper.Replace(body), true
}

// bkCheckNoCodeLost asserts that every code block's text is in the output:
// whole in the File, or spread over sections of Blocks and Replies (cut at
// line ends, so compared without line ends).
func bkCheckNoCodeLost(t *testing.T, m bot.Message, r Rendered) {
	t.Helper()
	if r.File != nil {
		for i, cb := range m.Code {
			if !bytes.Contains(r.File.Content, []byte(cb.Text)) {
				t.Errorf("code block %d is not in the file", i)
			}
		}
		return
	}
	var chunks []string
	for _, msg := range append([][]slack.Block{r.Blocks}, r.Replies...) {
		for _, b := range msg {
			if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
				if body, ok := bkFenced(s.Text.Text); ok {
					if body = strings.ReplaceAll(body, "\n", ""); body != "" {
						chunks = append(chunks, body)
					}
				}
			}
		}
	}
	// Chunks of one block come in order; blocks may interleave (a later
	// block's first section can be in the main message while an earlier
	// one continues in the thread).
	rest := make([]string, len(m.Code))
	for i, cb := range m.Code {
		if strings.TrimSpace(cb.Text) != "" { // blank output is shown as "(no output)"
			rest[i] = strings.ReplaceAll(cb.Text, "\n", "")
		}
	}
	for _, c := range chunks {
		matched := false
		for i := range rest {
			if rest[i] != "" && strings.HasPrefix(rest[i], c) {
				rest[i] = rest[i][len(c):]
				matched = true
				break
			}
		}
		if !matched {
			t.Errorf("rendered code %.60q… belongs to no code block", c)
			return
		}
	}
	for i, s := range rest {
		if s != "" {
			t.Errorf("code block %d: %d bytes never rendered, from %.60q", i, len(s), s)
		}
	}
}

func bkFencedSections(blocks []slack.Block) []string {
	var out []string
	for _, b := range blocks {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
			if body, ok := bkFenced(s.Text.Text); ok {
				out = append(out, body)
			}
		}
	}
	return out
}

// bkCodeOf is the code text of a rendering without a file, in order.
func bkCodeOf(t *testing.T, r Rendered) string {
	t.Helper()
	var parts []string
	for _, msg := range append([][]slack.Block{r.Blocks}, r.Replies...) {
		for _, b := range msg {
			if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
				if body, ok := bkFenced(s.Text.Text); ok {
					parts = append(parts, body)
				}
			}
		}
	}
	return strings.Join(parts, "\n")
}

func bkTextsOf(blocks []slack.Block) []string {
	var out []string
	for _, b := range blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			out = append(out, b.Text.Text)
		case *slack.SectionBlock:
			if b.Text != nil {
				out = append(out, b.Text.Text)
			}
			for _, f := range b.Fields {
				out = append(out, f.Text)
			}
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				out = append(out, e.(*slack.TextBlockObject).Text)
			}
		}
	}
	return out
}

func bkAllText(blocks []slack.Block) string { return strings.Join(bkTextsOf(blocks), "\n") }

func bkFindFields(blocks []slack.Block) []string {
	var out []string
	for _, b := range blocks {
		if s, ok := b.(*slack.SectionBlock); ok {
			for _, f := range s.Fields {
				out = append(out, f.Text)
			}
		}
	}
	return out
}
