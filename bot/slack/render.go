// Package slack is the bot's Slack transport: Socket Mode, Block Kit
// rendering. It is the only package that imports slack-go.
package slack

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// Rendered is one neutral message as Slack messages.
//
// Every message in it (Blocks and each of Replies) holds at most 50
// blocks and 40,000 characters of text, every section text at most 3,000
// characters (fields 2,000), a header at most 150 and button texts at most
// 75. Characters are counted as UTF-16 code units of the escaped text,
// which is never less than what Slack or slack-go's Validate count.
type Rendered struct {
	// Text is the notification fallback (title and verdict), already
	// escaped for Slack; post it with escaping off.
	Text string
	// Blocks is the main message.
	Blocks []slack.Block
	// Replies are continuations to post, in order, in the main message's
	// thread.
	Replies [][]slack.Block
	// File is code output too long for messages (over UploadThreshold),
	// to upload into the thread; the main message shows its head and says
	// so. Nil when everything fits in messages.
	File *File
}

// File is output to upload rather than post.
type File struct {
	Name    string // e.g. "logs-api.txt"
	Title   string
	Content []byte // the full, unescaped code text
}

// Context says who asked and where, as Slack references ("<@U024BE7LH>",
// "<#C0123>"). They go into the context line as given; when empty, the
// message's Meta is used instead.
type Context struct {
	Who, Where string
}

// UploadThreshold is how much code text (in characters of Slack text,
// summed over the message's code blocks) still goes out as messages: the
// first section of each block in the main message, the rest as thread
// replies. About four sections' worth; a 10 KB log is a short thread, a
// 100 KB one is a file. Above it, all code goes up as one File and the
// main message shows the head of each block.
const UploadThreshold = 12000

// Slack's limits, and the renderer's own choices within them.
const (
	bkMaxBlocks       = 50
	bkMaxMessage      = 40000 // characters of text in one message
	bkMaxSection      = 3000
	bkMaxField        = 2000 // Slack's limit for one field of a section
	bkMaxFields       = 10   // fields per section
	bkMaxHeader       = 150
	bkMaxButtonText   = 75
	bkMaxButtonValue  = 2000
	bkMaxElements     = 25 // elements per actions block
	bkMaxButtons      = 25 // buttons rendered per message
	bkMaxConfirmTitle = 100
	bkMaxConfirmText  = 300
	bkMaxConfirmBtn   = 30
	bkMaxFallback     = 300 // the notification text: short on purpose
	bkMaxTitle        = 150 // a code block's title in its label
	bkHeadLines       = 15  // lines of a block shown when the whole goes up as a file
	bkHeadChars       = 1500
	bkMaxCheckName    = 300
	bkMaxCheckValue   = 2000
	bkMaxCheckThresh  = 300
	bkMaxContextPart  = 500
)

const bkZWSP = "\u200b"

// Render turns a neutral message into Slack messages within Slack's
// limits. All text that comes from commands or users is escaped (& < >),
// so nothing in it can become a mention or a link; Context.Who and Where
// are Slack references and go in as given. Plain-text objects (header,
// buttons, confirm dialogs) are not escaped: Slack parses no mentions or
// links there.
func Render(m bot.Message, c Context) Rendered {
	r := &blockRenderer{m: bkValid(m), c: c}
	return r.render()
}

// bkKind says where a piece of the body may go.
type bkKind int

const (
	bkEssential bkKind = iota // main message while it fits, in order
	bkCodeHead                // main message if room is left for the essentials after it
	bkCodeCont                // always a thread reply
)

type bkPiece struct {
	block slack.Block
	cost  int
	kind  bkKind
}

type blockRenderer struct {
	m bot.Message
	c Context
}

func (r *blockRenderer) render() Rendered {
	var out Rendered
	out.Text = r.fallback()

	var head []slack.Block
	if h := r.header(); h != nil {
		head = append(head, h)
	}
	var body []bkPiece
	body = append(body, r.textPieces()...)
	body = append(body, r.checkPieces()...)
	body = append(body, r.fieldPieces()...)
	code, file := r.codePieces()
	body = append(body, code...)
	out.File = file
	body = append(body, r.summaryPieces()...)
	if len(head) == 0 && len(body) == 0 {
		body = append(body, bkSectionPiece("_No output._", bkEssential))
	}

	tail := r.buttonBlocks()
	if ctx := r.contextBlock(); ctx != nil {
		tail = append(tail, ctx)
	}

	// The budget left for the body in the main message, with room kept
	// for the "continued in the thread" note.
	blocks := bkMaxBlocks - len(head) - len(tail) - 1
	chars := bkMaxMessage - bkCost(head...) - bkCost(tail...) - bkCost(bkNote(999))

	var main, rest []bkPiece
	essential := 0
	essentialBlocks := 0
	for _, p := range body {
		if p.kind == bkEssential {
			essential += p.cost
			essentialBlocks++
		}
	}
	if essential <= chars && essentialBlocks <= blocks {
		// Every essential piece fits: code heads take what is left, in
		// order, keeping room for the essentials after them.
		after, afterBlocks := essential, essentialBlocks
		usedC, usedB := 0, 0
		codeFull := false
		for _, p := range body {
			switch p.kind {
			case bkEssential:
				after -= p.cost
				afterBlocks--
				main = append(main, p)
				usedC += p.cost
				usedB++
			case bkCodeHead:
				if !codeFull && usedC+p.cost+after <= chars && usedB+1+afterBlocks <= blocks {
					main = append(main, p)
					usedC += p.cost
					usedB++
				} else {
					codeFull = true
					rest = append(rest, p)
				}
			default:
				rest = append(rest, p)
			}
		}
	} else {
		// Too much for one message: fill it in order, the rest follows in
		// the thread.
		usedC, usedB := 0, 0
		full := false
		for _, p := range body {
			if p.kind != bkCodeCont && !full && usedC+p.cost <= chars && usedB+1 <= blocks {
				main = append(main, p)
				usedC += p.cost
				usedB++
				continue
			}
			if p.kind != bkCodeCont {
				full = true
			}
			rest = append(rest, p)
		}
	}

	out.Replies = bkPack(rest)
	out.Blocks = append(out.Blocks, head...)
	for _, p := range main {
		out.Blocks = append(out.Blocks, p.block)
	}
	if len(out.Replies) > 0 {
		out.Blocks = append(out.Blocks, bkNote(len(out.Replies)))
	}
	out.Blocks = append(out.Blocks, tail...)
	return out
}

// bkPack groups pieces into thread messages within the limits.
func bkPack(pieces []bkPiece) [][]slack.Block {
	var msgs [][]slack.Block
	var cur []slack.Block
	used := 0
	for _, p := range pieces {
		if len(cur) > 0 && (len(cur)+1 > bkMaxBlocks || used+p.cost > bkMaxMessage) {
			msgs = append(msgs, cur)
			cur, used = nil, 0
		}
		cur = append(cur, p.block)
		used += p.cost
	}
	if len(cur) > 0 {
		msgs = append(msgs, cur)
	}
	return msgs
}

func bkNote(n int) slack.Block {
	s := "↪ Continued in the thread"
	if n > 1 {
		s += fmt.Sprintf(" (%d messages)", n)
	}
	return slack.NewContextBlock("", bkMrkdwn(s+"."))
}

// --- the parts of a message ---

func bkStatusEmoji(s bot.Status) string {
	switch s {
	case bot.StatusOK:
		return "✅"
	case bot.StatusWarn:
		return "⚠️"
	case bot.StatusFailed:
		return "❌"
	}
	return ""
}

func (r *blockRenderer) header() slack.Block {
	title := bkOneLine(r.m.Title)
	text := strings.TrimSpace(bkStatusEmoji(r.m.Status) + " " + title)
	if text == "" {
		return nil
	}
	return slack.NewHeaderBlock(bkPlain(bkClipPlain(text, bkMaxHeader)))
}

// fallback is the notification text: "✅ Daily health check — Health:
// PASSED". It is mrkdwn to Slack, so it is escaped.
func (r *blockRenderer) fallback() string {
	title := strings.TrimSpace(bkStatusEmoji(r.m.Status) + " " + bkOneLine(r.m.Title))
	verdict := bkOneLine(r.m.Summary)
	if verdict == "" {
		verdict = bkFirstLine(r.m.Text)
	}
	if verdict == "" {
		verdict = r.m.Status.String()
	}
	s := title
	if verdict != "" && !strings.Contains(title, verdict) {
		if s != "" {
			s += " — "
		}
		s += verdict
	}
	if s == "" {
		s = "No output"
	}
	return bkClipText(s, bkMaxFallback)
}

func (r *blockRenderer) textPieces() []bkPiece {
	var out []bkPiece
	for _, chunk := range bkSplit(r.m.Text, bkMaxSection, bkTextCost, true) {
		chunk = strings.Trim(chunk, "\n")
		if strings.TrimSpace(chunk) == "" {
			continue
		}
		out = append(out, bkSectionPiece(bkEscText(chunk), bkEssential))
	}
	return out
}

// checkLine is "✅ *api /health* · 200 in 3ms · _2xx within 3s_".
func bkCheckLine(c bot.Check) string {
	var parts []string
	if name := strings.TrimSpace(bkOneLine(c.Name)); name != "" {
		parts = append(parts, "*"+bkClipText(name, bkMaxCheckName)+"*")
	}
	if v := strings.TrimSpace(bkOneLine(c.Value)); v != "" {
		parts = append(parts, bkClipText(v, bkMaxCheckValue))
	}
	if t := strings.TrimSpace(bkOneLine(c.Threshold)); t != "" {
		parts = append(parts, "_"+bkClipText(t, bkMaxCheckThresh)+"_")
	}
	if len(parts) == 0 {
		parts = append(parts, c.Status.String())
	}
	line := strings.Join(parts, " · ")
	if e := bkStatusEmoji(c.Status); e != "" {
		return e + " " + line
	} else if c.Status == bot.StatusNone {
		return "• " + line
	}
	return line
}

func (r *blockRenderer) checkPieces() []bkPiece {
	var out []bkPiece
	var cur strings.Builder
	curCost := 0
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, bkSectionPiece(cur.String(), bkEssential))
			cur.Reset()
			curCost = 0
		}
	}
	for _, c := range r.m.Checks {
		line := bkCheckLine(c)
		cost := bkUnits(line)
		if curCost > 0 && curCost+1+cost > bkMaxSection {
			flush()
		}
		if curCost > 0 {
			cur.WriteString("\n")
			curCost++
		}
		cur.WriteString(line)
		curCost += cost
	}
	flush()
	return out
}

func (r *blockRenderer) fieldPieces() []bkPiece {
	var out []bkPiece
	var cur []*slack.TextBlockObject
	flush := func() {
		if len(cur) > 0 {
			b := slack.NewSectionBlock(nil, cur, nil)
			out = append(out, bkPiece{block: b, cost: bkCost(b), kind: bkEssential})
			cur = nil
		}
	}
	for _, f := range r.m.Fields {
		name := strings.TrimSpace(bkOneLine(f.Name))
		value := strings.TrimSpace(f.Value)
		var text string
		switch {
		case name == "" && value == "":
			continue
		case name == "":
			text = bkClipText(value, bkMaxField)
		default:
			label := "*" + bkClipText(name, 200) + "*"
			text = label
			if value != "" {
				text += "\n" + bkClipText(value, bkMaxField-bkUnits(label)-1)
			}
		}
		cur = append(cur, bkMrkdwn(text))
		if len(cur) == bkMaxFields {
			flush()
		}
	}
	flush()
	return out
}

func (r *blockRenderer) summaryPieces() []bkPiece {
	var lines []string
	for _, l := range strings.Split(r.m.Summary, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, "*"+bkClipText(l, 500)+"*")
		}
	}
	if len(lines) == 0 {
		return nil
	}
	s := strings.Join(lines, "\n")
	if bkUnits(s) > bkMaxSection {
		s = bkClipText(bkOneLine(r.m.Summary), bkMaxSection-2)
		s = "*" + s + "*"
	}
	return []bkPiece{bkSectionPiece(s, bkEssential)}
}

// most, action_ids unique within a block), after a warning section for
// buttons that cannot be shown.
func (r *blockRenderer) buttonBlocks() []slack.Block {
	var warnings []string
	var blocks []slack.Block
	var cur []slack.BlockElement
	seen := map[string]bool{}
	flush := func() {
		if len(cur) > 0 {
			id := "actions"
			if len(blocks) > 0 {
				id = fmt.Sprintf("actions-%d", len(blocks)+1)
			}
			blocks = append(blocks, slack.NewActionBlock(id, cur...))
			cur = nil
			seen = map[string]bool{}
		}
	}
	shown := 0
	for i, b := range r.m.Buttons {
		text := strings.TrimSpace(bkOneLine(b.Text))
		if text == "" {
			text = b.ActionID
		}
		switch {
		case shown == bkMaxButtons:
			warnings = append(warnings, fmt.Sprintf("⚠️ %d more actions not shown: a message holds %d buttons.", len(r.m.Buttons)-i, bkMaxButtons))
		case b.ActionID == "" || len(b.ActionID) > 255:
			warnings = append(warnings, fmt.Sprintf("⚠️ Button “%s” not shown: its action id is empty or too long.", bkClipText(text, 75)))
			continue
		case len(b.Value) > bkMaxButtonValue:
			warnings = append(warnings, fmt.Sprintf("⚠️ Button “%s” not shown: its value is %d bytes, over Slack's %d.", bkClipText(text, 75), len(b.Value), bkMaxButtonValue))
			continue
		}
		if shown == bkMaxButtons {
			break
		}
		if len(cur) == bkMaxElements || seen[b.ActionID] {
			flush()
		}
		seen[b.ActionID] = true
		label := bkClipPlain(text, bkMaxButtonText)
		btn := slack.NewButtonBlockElement(b.ActionID, b.Value, bkPlain(label))
		if b.Danger {
			btn.Style = slack.StyleDanger
			btn.Confirm = &slack.ConfirmationBlockObject{
				Title:   bkPlain("Are you sure?"),
				Text:    bkPlain(bkClipPlain("This will run “"+label+"”.", bkMaxConfirmText)),
				Confirm: bkPlain(bkClipPlain("Yes, "+label, bkMaxConfirmBtn)),
				Deny:    bkPlain("Cancel"),
				Style:   slack.StyleDanger,
			}
		}
		cur = append(cur, btn)
		shown++
	}
	flush()
	if len(warnings) == 0 {
		return blocks
	}
	w := strings.Join(warnings, "\n")
	if bkUnits(w) > bkMaxSection {
		w = bkClipPlain(w, bkMaxSection) // already escaped: cut at a line
		if i := strings.LastIndex(w, "\n"); i > 0 {
			w = w[:i] + "\n…"
		}
	}
	return append([]slack.Block{bkSection(w)}, blocks...)
}

var (
	bkUserID    = regexp.MustCompile(`^slack:([UW][A-Z0-9]{2,})$`)
	bkChannelID = regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)
)

// contextBlock is "requested by <Who> in <Where> · <command> · <duration>".
func (r *blockRenderer) contextBlock() slack.Block {
	who, where := r.c.Who, r.c.Where
	if bkUnits(who) > bkMaxContextPart {
		who = ""
	}
	if bkUnits(where) > bkMaxContextPart {
		where = ""
	}
	if who == "" && r.m.Meta.User != "" {
		if m := bkUserID.FindStringSubmatch(r.m.Meta.User); m != nil {
			who = "<@" + m[1] + ">"
		} else {
			who = bkClipText(bkOneLine(r.m.Meta.User), 100)
		}
	}
	if where == "" && r.m.Meta.Channel != "" {
		if bkChannelID.MatchString(r.m.Meta.Channel) {
			where = "<#" + r.m.Meta.Channel + ">"
		} else {
			where = bkClipText(bkOneLine(r.m.Meta.Channel), 100)
		}
	}
	var parts []string
	asked := ""
	if who != "" {
		asked = "requested by " + who
	}
	if where != "" {
		if asked == "" {
			asked = "requested"
		}
		asked += " in " + where
	}
	if asked != "" {
		parts = append(parts, asked)
	}
	if cmd := strings.TrimSpace(bkOneLine(r.m.Meta.Command)); cmd != "" {
		parts = append(parts, bkClipText(cmd, 200))
	}
	if d := r.m.Meta.Duration; d > 0 {
		if d < time.Millisecond {
			parts = append(parts, "&lt;1ms")
		} else {
			parts = append(parts, d.Round(time.Millisecond).String())
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return slack.NewContextBlock("", bkMrkdwn(strings.Join(parts, " · ")))
}

// --- text objects and blocks ---

func bkMrkdwn(s string) *slack.TextBlockObject {
	// verbatim: Slack does not turn bare names or URLs into links and
	// mentions; explicit <@U…> references (the context line) still work.
	return &slack.TextBlockObject{Type: slack.MarkdownType, Text: s, Verbatim: true}
}

func bkPlain(s string) *slack.TextBlockObject {
	emoji := true
	return &slack.TextBlockObject{Type: slack.PlainTextType, Text: s, Emoji: &emoji}
}

func bkSection(s string) *slack.SectionBlock {
	return slack.NewSectionBlock(bkMrkdwn(s), nil, nil)
}

func bkSectionPiece(s string, kind bkKind) bkPiece {
	b := bkSection(s)
	return bkPiece{block: b, cost: bkCost(b), kind: kind}
}

// bkCost counts the characters of text the blocks hold.
func bkCost(blocks ...slack.Block) int {
	n := 0
	t := func(o *slack.TextBlockObject) {
		if o != nil {
			n += bkUnits(o.Text)
		}
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			t(b.Text)
		case *slack.SectionBlock:
			t(b.Text)
			for _, f := range b.Fields {
				t(f)
			}
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if o, ok := e.(*slack.TextBlockObject); ok {
					t(o)
				}
			}
		case *slack.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					t(btn.Text)
					n += bkUnits(btn.Value)
					if c := btn.Confirm; c != nil {
						t(c.Title)
						t(c.Text)
						t(c.Confirm)
						t(c.Deny)
					}
				}
			}
		}
	}
	return n
}
