package slack

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// progress is one running command's progress message. It is posted on
// the command's first bot.Report, or when the command is still running
// after ProgressAfter, whichever comes first; later reports update that
// same message in place (chat.update), at most once every ProgressEvery,
// with only the newest state: a command reporting a thousand steps makes
// a handful of calls, never a queue. The result then replaces it.
type progress struct {
	b     *Bot
	ctx   context.Context
	o     origin
	what  string // "`health`", shown while no report has come
	every time.Duration
	timer *time.Timer // ProgressAfter: starts the loop with "Running …"

	mu      sync.Mutex
	latest  *bot.Message // the newest state not yet shown
	started bool         // the loop runs (or ran)
	ended   bool         // finish was called: the loop never starts

	wake chan struct{} // a report came (capacity 1: wakes coalesce)
	stop chan struct{} // the command ended
	done chan struct{} // the loop has ended; ts is final
	ts   string        // the progress message, "" while none is posted
}

// startProgress prepares the progress message of one command answering
// at o. Nothing runs until the first report or ProgressAfter: a quick
// command without reports costs one timer.
func (b *Bot) startProgress(ctx context.Context, o origin, what string) *progress {
	p := &progress{b: b, ctx: ctx, o: o, what: what, every: b.o.ProgressEvery,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	p.timer = time.AfterFunc(b.o.ProgressAfter, p.begin)
	return p
}

// begin starts the loop once, unless the command has ended.
func (p *progress) begin() {
	p.mu.Lock()
	start := !p.started && !p.ended
	p.started = p.started || start
	p.mu.Unlock()
	if start {
		go p.loop()
	}
}

// report is the command's bot.ProgressFunc: it keeps the newest state and
// never blocks on Slack.
func (p *progress) report(m bot.Message) {
	p.mu.Lock()
	p.latest = &m
	p.mu.Unlock()
	p.begin()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// finish stops the loop, waits for a post or update already under way,
// and returns the progress message's ts ("" when none was posted). No
// progress update goes out after it returns, so the result that replaces
// the message is the last word.
func (p *progress) finish() string {
	p.timer.Stop()
	p.mu.Lock()
	p.ended = true
	started := p.started
	p.mu.Unlock()
	if !started {
		return ""
	}
	close(p.stop)
	<-p.done
	return p.ts
}

func (p *progress) take() *bot.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.latest
	p.latest = nil
	return m
}

func (p *progress) loop() {
	defer close(p.done)
	select {
	case <-p.wake: // the report that started the loop, if one did
	default:
	}
	r := p.render(p.take())
	var ts string
	err := p.b.post.do(p.ctx, p.o.channel, "chat.postMessage", func(ctx context.Context) error {
		t, err := p.b.postMessage(ctx, p.o.channel, r.Text, r.Blocks, p.o.thread)
		ts = t
		return err
	})
	if err != nil {
		p.b.log.WithError(err).Warn("slack: progress message not posted")
		return
	}
	p.ts = ts
	last := time.Now()
	for {
		select {
		case <-p.wake:
		case <-p.stop:
			return
		}
		if d := time.Until(last.Add(p.every)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-p.stop:
				t.Stop()
				return
			}
		}
		m := p.take()
		if m == nil {
			continue
		}
		p.b.update(p.ctx, p.o, p.ts, p.render(m))
		last = time.Now()
	}
}

// render shows a progress state: the command's own message, marked as
// still running, without buttons; before any report, "Running …".
func (p *progress) render(m *bot.Message) Rendered {
	if m == nil {
		text := fmt.Sprintf(":hourglass_flowing_sand: Running %s for <@%s>…", escape(p.what), p.o.user)
		return Rendered{Text: text, Blocks: []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)}}
	}
	shown := *m
	shown.Buttons = nil
	shown.Title = strings.TrimSpace(":hourglass_flowing_sand: " + shown.Title)
	r := Render(shown, Context{Who: "<@" + p.o.user + ">", Where: "<#" + p.o.channel + ">"})
	// Only the main message: thread replies and files belong to results.
	return Rendered{Text: r.Text, Blocks: r.Blocks}
}

// commandName is how a progress message names the command line text.
func commandName(text string) string {
	name := strings.Fields(text)
	if len(name) > 0 && strings.EqualFold(name[0], "/shiftwise") {
		name = name[1:]
	}
	if len(name) == 0 {
		return "your command"
	}
	return "`" + clip(name[0], 40) + "`"
}
