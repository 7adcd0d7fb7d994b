package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// Core is what the transport needs of the bot's core.
type Core interface {
	Handle(ctx context.Context, req bot.Request) bot.Reply
	HandleAction(ctx context.Context, a bot.Action) bot.Reply
}

// Options configure the Slack transport.
type Options struct {
	AppToken string // xapp-…: Socket Mode
	BotToken string // xoxb-…: Web API
	APIURL   string // another Web API base (with trailing slash); "" = Slack's
	Core     Core
	Logger   logrus.FieldLogger
	// Channels, when not empty, is the allowlist of channel IDs where the
	// bot runs commands; elsewhere it refuses (ephemeral) and runs nothing.
	Channels []string
	// DirectMessages allows commands in direct messages (channel IDs D…).
	DirectMessages bool
	// AlsoAllowed, when set, admits channels beyond Channels (the
	// incidents' own channels, created while the bot runs).
	AlsoAllowed func(channel string) bool
	// ProgressAfter: a command still running after this gets a progress
	// message, updated in place with the result (default 1.5 s).
	ProgressAfter time.Duration
	// ProgressEvery is the least time between two updates of one
	// progress message (default 1 s): reports in between are coalesced,
	// only the newest is shown.
	ProgressEvery time.Duration
	// ShutdownTimeout bounds how long running commands may finish after
	// the bot is told to stop (default 25 s).
	ShutdownTimeout time.Duration
	// PostEvery and PostBurst shape each channel's post rate (default one
	// a second, bursts of 3).
	PostEvery time.Duration
	PostBurst int
	// MaxRunning bounds the commands and button presses handled at once
	// (default 4); more wait their turn. A burst cannot swamp the host's
	// two cores, the operated services, or the acks of what comes next:
	// each runs on one of MaxRunning worker threads, pinned and at a
	// lower OS priority than the threads that read envelopes and ack.
	MaxRunning int
	HTTPClient *http.Client
	// Requests, when set, finds approval requests (main passes the bot's
	// store), so that `approve <id>` or `deny <id>` typed anywhere
	// answers in the request's own thread, where its buttons are.
	Requests Requests
	// Deliveries, when set, decides across processes that a delivery
	// runs once (main passes the bot's store); this process's own memory
	// answers first.
	Deliveries Deliveries
}

// Requests finds an approval request by ID (bot.Approvals has this Get).
type Requests interface {
	Get(ctx context.Context, id string) (bot.Approval, error)
}

// Bot is the Slack Socket Mode transport.
type Bot struct {
	o        Options
	api      *slack.Client
	sm       *socketmode.Client
	log      logrus.FieldLogger
	once     *once
	pressing *inFlight
	post     *poster
	allowed  map[string]bool
	running  sync.WaitGroup // jobs queued or running
	work     *workQueue
	self     string // the bot's user ID, from auth.test
	apiURL   string // the Web API base, with its trailing slash
	http     *http.Client
}

// raiseProcs raises GOMAXPROCS once per process (see Run); gcOnce sets
// the collector's pace once.
var raiseProcs, gcOnce sync.Once

// botGCPercent is the GOGC of a running Slack bot.
const botGCPercent = 400

// webAPITimeout bounds one Web API call (a 429's wait is outside it).
const webAPITimeout = 30 * time.Second

// New checks the options and builds the clients; it does not connect.
func New(o Options) (*Bot, error) {
	switch {
	case !strings.HasPrefix(o.AppToken, "xapp-"):
		return nil, errors.New("slack: the app-level token must start with xapp-")
	case !strings.HasPrefix(o.BotToken, "xoxb-"):
		return nil, errors.New("slack: the bot token must start with xoxb-")
	case o.Core == nil:
		return nil, errors.New("slack: no core to hand requests to")
	}
	if o.Logger == nil {
		l := logrus.New()
		l.Out = io.Discard
		o.Logger = l
	}
	if o.ProgressAfter <= 0 {
		o.ProgressAfter = 1500 * time.Millisecond
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 25 * time.Second
	}
	if o.PostEvery <= 0 {
		o.PostEvery = time.Second
	}
	if o.PostBurst <= 0 {
		o.PostBurst = 3
	}
	if o.MaxRunning <= 0 {
		o.MaxRunning = 4
	}
	if o.HTTPClient == nil {
		// Every Web API call has a deadline, and posts to many channels
		// at once reuse connections instead of opening new ones.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		o.HTTPClient = &http.Client{Transport: t, Timeout: webAPITimeout}
	}
	apiURL := o.APIURL
	if apiURL == "" {
		apiURL = slack.APIURL
	}
	api := slack.New(o.BotToken, slack.OptionAppLevelToken(o.AppToken), slack.OptionAPIURL(apiURL), slack.OptionHTTPClient(o.HTTPClient))
	b := &Bot{
		o: o, api: api, apiURL: apiURL, http: o.HTTPClient, log: o.Logger.WithField("transport", "slack"),
		sm:       socketmode.New(api),
		once:     newOnce(dedupTTL, 100_000),
		pressing: newInFlight(),
		allowed:  map[string]bool{},
		work:     newWorkQueue(),
	}
	b.post = newPoster(b.log, o.PostEvery, o.PostBurst)
	for _, c := range o.Channels {
		b.allowed[c] = true
	}
	return b, nil
}

// Run connects and serves until ctx ends; then running commands get
// ShutdownTimeout to finish and post, and the socket is closed. It
// returns an error only when Slack refuses the tokens.
func (b *Bot) Run(ctx context.Context) error {
	auth, err := b.api.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("slack: auth.test with the bot token: %w", err)
	}
	b.self = auth.UserID
	b.log.WithFields(logrus.Fields{"team": auth.Team, "bot_user": auth.UserID}).Info("slack: authenticated")

	// Commands keep running past ctx: they get their own deadlines and,
	// at shutdown, ShutdownTimeout to finish.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	// The workers' threads are pinned and run at a lower priority: they
	// must never hold all the runtime's Ps, or the ack path would wait for
	// a thread the kernel runs last. Each worker gets a P of its own.
	raiseProcs.Do(func() { runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + b.o.MaxRunning) })
	// Every collection stops the world twice, acks included; the bot's
	// live heap is a few MB, so at the default GOGC a burst of commands
	// collects several times a second (55 cycles, pauses up to 12 ms, in
	// 7 s at 200 commands/s; 4 cycles at 400). An explicit GOGC wins.
	if os.Getenv("GOGC") == "" {
		gcOnce.Do(func() { debug.SetGCPercent(botGCPercent) })
	}
	var workers sync.WaitGroup
	for range b.o.MaxRunning {
		workers.Go(b.worker)
	}
	defer func() { b.work.close(); workers.Wait() }()
	smDone := make(chan error, 1)
	go func() { smDone <- b.sm.RunContext(ctx) }()

	for {
		select {
		case evt := <-b.sm.Events:
			b.dispatch(work, evt)
		case err := <-smDone:
			if ctx.Err() == nil {
				b.shutdown(stopWork)
				return fmt.Errorf("slack: socket mode: %w", err)
			}
			b.shutdown(stopWork)
			return nil
		case <-ctx.Done():
			<-smDone // the socket closes with ctx
			b.shutdown(stopWork)
			return nil
		}
	}
}

func (b *Bot) shutdown(stopWork context.CancelFunc) {
	done := make(chan struct{})
	go func() { b.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(b.o.ShutdownTimeout):
		b.log.Warn("slack: shutdown deadline passed; cancelling the commands still running")
		stopWork()
		<-done
	}
	b.post.close()
}

// dispatch acknowledges every envelope at once, then hands the work to a
// goroutine: acks never wait for commands or posts.
func (b *Bot) dispatch(ctx context.Context, evt socketmode.Event) {
	if evt.Request != nil && evt.Request.EnvelopeID != "" {
		if err := b.sm.Ack(*evt.Request); err != nil {
			b.log.WithError(err).Error("slack: ack failed")
		}
		// slack-go's writer goroutine, just woken with the ack, runs
		// now, before this goroutine wakes a worker (which would take its
		// place at the head of the scheduler's queue) or does anything
		// else with the envelope.
		runtime.Gosched()
	}
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		key := "envelope:" + evt.Request.EnvelopeID
		if !ok || !b.once.first(key, time.Now()) {
			return
		}
		b.spawn(func() {
			if b.firstDelivery(ctx, key) {
				b.command(ctx, origin{channel: cmd.ChannelID, user: cmd.UserID}, unescape(cmd.Text))
			}
		})
	case socketmode.EventTypeEventsAPI:
		b.eventsAPI(ctx, evt)
	case socketmode.EventTypeInteractive:
		b.interactive(ctx, evt)
	case socketmode.EventTypeConnecting, socketmode.EventTypeConnected, socketmode.EventTypeHello:
		b.log.WithField("event", string(evt.Type)).Debug("slack: socket")
	case socketmode.EventTypeDisconnect:
		b.log.Info("slack: Slack asked to reconnect")
	case socketmode.EventTypeConnectionError:
		b.log.WithField("error", fmt.Sprint(evt.Data)).Warn("slack: connection failed; retrying with backoff")
	case socketmode.EventTypeInvalidAuth:
		b.log.Error("slack: Slack refused the app-level token")
	case socketmode.EventTypeErrorBadMessage:
		// slack-go could not parse the envelope (unknown type, wrong JSON
		// types). Ack it anyway, or Slack redelivers it again and again.
		if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
			var env struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal(bad.Message, &env) == nil && env.EnvelopeID != "" {
				if err := b.sm.AckCtx(ctx, env.EnvelopeID, nil); err != nil {
					b.log.WithError(err).Error("slack: ack failed")
				}
			}
			b.log.WithField("error", bad.Cause.Error()).Warn("slack: unreadable envelope acked and ignored")
		}
	case socketmode.EventTypeIncomingError:
		b.log.WithField("error", fmt.Sprint(evt.Data)).Warn("slack: unreadable frame ignored")
	}
}

// spawn queues fn for a worker; it never blocks.
func (b *Bot) spawn(fn func()) {
	b.running.Add(1)
	b.work.push(fn)
}

// worker runs queued jobs one at a time until the queue is closed.
func (b *Bot) worker() {
	if err := lowerWorkerPriority(); err != nil {
		b.log.WithError(err).Debug("slack: worker priority not lowered")
	}
	for {
		fn, ok := b.work.pop()
		if !ok {
			return
		}
		func() {
			defer b.running.Done()
			defer func() {
				if p := recover(); p != nil {
					b.log.WithField("panic", fmt.Sprint(p)).Error("slack: handler crashed")
				}
			}()
			fn()
		}()
	}
}

func (b *Bot) eventsAPI(ctx context.Context, evt socketmode.Event) {
	ev, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok || evt.Request == nil {
		return
	}
	var outer struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(evt.Request.Payload, &outer)
	key := "event:" + outer.EventID
	if outer.EventID == "" {
		key = "envelope:" + evt.Request.EnvelopeID
	}
	if !b.once.first(key, time.Now()) {
		b.log.WithFields(logrus.Fields{"event_id": outer.EventID, "retry_attempt": evt.Request.RetryAttempt}).Info("slack: redelivered event ignored")
		return
	}
	m, ok := ev.InnerEvent.Data.(*slackevents.AppMentionEvent)
	if !ok || m.User == "" || m.BotID != "" {
		return
	}
	text := b.mentionText(m.Text)
	b.spawn(func() {
		if b.firstDelivery(ctx, key) {
			b.command(ctx, origin{channel: m.Channel, user: m.User, thread: m.ThreadTimeStamp}, text)
		}
	})
}

var mention = regexp.MustCompile(`<@([A-Z0-9]+)(\|[^>]*)?>`)

// mentionText removes the mention of the bot and Slack's escaping from a
// message's text.
func (b *Bot) mentionText(text string) string {
	text = mention.ReplaceAllStringFunc(text, func(m string) string {
		if sub := mention.FindStringSubmatch(m); sub != nil && sub[1] == b.self {
			return " "
		}
		return m
	})
	return strings.TrimSpace(unescape(text))
}

// unescape undoes the only escaping Slack applies to message and command
// text: &amp; &lt; &gt;.
func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

func (b *Bot) interactive(ctx context.Context, evt socketmode.Event) {
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok || cb.Type != slack.InteractionTypeBlockActions || evt.Request == nil {
		return
	}
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	msgTS := cb.Container.MessageTs
	if msgTS == "" {
		msgTS = cb.Message.Timestamp
	}
	thread := cb.Message.ThreadTimestamp
	if thread == "" {
		thread = msgTS
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if a == nil {
			continue
		}
		// One press is one action_ts (a redelivery, or the same envelope
		// twice, carries the same payload): it is handled once. A second
		// press of the same button by the same person while the first is
		// still being handled (a double click) is dropped too. Nothing
		// else is: a press that was refused or failed, or any later
		// deliberate press, is handled afresh, and the database decides
		// whether a request is still undecided. Another person's press is
		// theirs (the requester's refused click must not swallow the
		// approver's).
		button := msgTS + "|" + a.ActionID + "|" + a.Value + "|" + cb.User.ID
		press := "press:" + button + "|" + firstNonEmpty(a.ActionTs, cb.TriggerID, evt.Request.EnvelopeID)
		if !b.once.first(press, time.Now()) {
			b.log.WithFields(logrus.Fields{"action": a.ActionID, "user": cb.User.ID, "action_ts": a.ActionTs}).Info("slack: redelivered button press ignored")
			continue
		}
		if !b.pressing.start(button) {
			b.log.WithFields(logrus.Fields{"action": a.ActionID, "user": cb.User.ID, "action_ts": a.ActionTs}).Info("slack: button pressed again while its first press is still being handled; ignored")
			continue
		}
		act := bot.Action{ID: a.ActionID, Value: a.Value, Subject: "slack:" + cb.User.ID, Channel: channel, MessageTS: msgTS, ThreadTS: thread}
		o := origin{channel: channel, user: cb.User.ID, thread: thread}
		b.spawn(func() {
			defer func() {
				b.pressing.done(button)
				b.log.WithFields(logrus.Fields{"action": act.ID, "user": cb.User.ID, "action_ts": a.ActionTs}).Debug("slack: button press handled")
			}()
			if !b.firstDelivery(ctx, press) || !b.permitted(ctx, o) {
				return
			}
			// An approved command runs now: its progress goes into the
			// request's thread, where its result follows.
			p := b.startProgress(ctx, o, "the approved command")
			act.Progress = p.report
			reply := b.o.Core.HandleAction(ctx, act)
			b.deliver(ctx, o, reply, p.finish())
		})
	}
}

// origin is where a request came from and where its answer goes.
type origin struct {
	channel, user string
	thread        string // answer in this thread; "" = in the channel
}

// permitted applies the channel allowlist, refusing privately elsewhere.
func (b *Bot) permitted(ctx context.Context, o origin) bool {
	dm := strings.HasPrefix(o.channel, "D")
	switch {
	case dm && b.o.DirectMessages, !dm && (len(b.allowed) == 0 || b.allowed[o.channel] || b.o.AlsoAllowed != nil && b.o.AlsoAllowed(o.channel)):
		return true
	}
	text := "I don't run commands in this channel. Ask in one of the ops channels."
	if dm {
		text = "I don't run commands in direct messages. Ask in an ops channel."
	}
	b.log.WithFields(logrus.Fields{"channel": o.channel, "user": o.user}).Warn("slack: request outside the allowed channels refused")
	b.ephemeral(ctx, o, "Not here", text)
	return false
}

// command runs one command line and posts its result where it was asked;
// its progress, when it reports any or runs long, in one message updated
// in place that the result then replaces.
func (b *Bot) command(ctx context.Context, o origin, text string) {
	if !b.permitted(ctx, o) {
		return
	}
	if target, id, ok := b.requestThread(ctx, o, text); ok {
		b.decision(ctx, o, target, id, text)
		return
	}
	p := b.startProgress(ctx, o, commandName(text))
	reply := b.o.Core.Handle(ctx, bot.Request{Subject: "slack:" + o.user, Channel: o.channel, Thread: o.thread, Text: text, Progress: p.report})
	b.deliver(ctx, o, reply, p.finish())
}

// requestThread tells whether text is `approve <id>` or `deny <id>` of a
// request posted in Slack, and where that request's thread is.
func (b *Bot) requestThread(ctx context.Context, o origin, text string) (origin, string, bool) {
	if b.o.Requests == nil {
		return origin{}, "", false
	}
	words, err := bot.Tokenize(text)
	if err == nil && len(words) > 0 && strings.EqualFold(words[0], "/shiftwise") {
		words = words[1:]
	}
	if err != nil || len(words) != 2 || (!strings.EqualFold(words[0], "approve") && !strings.EqualFold(words[0], "deny")) {
		return origin{}, "", false
	}
	id := strings.ToUpper(words[1])
	if !approvalID.MatchString(id) {
		return origin{}, "", false // the core refuses it where it was typed
	}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	a, err := b.o.Requests.Get(gctx, id)
	cancel()
	if err != nil || a.MessageTS == "" || !slackChannel.MatchString(a.Channel) {
		// Unknown, not posted in Slack, or the store did not answer: the
		// core says so where it was typed.
		return origin{}, "", false
	}
	thread := a.ThreadTS
	if thread == "" {
		thread = a.MessageTS
	}
	return origin{channel: a.Channel, user: o.user, thread: thread}, id, true
}

var approvalID = regexp.MustCompile(`^A-[2-9A-HJKMNP-Z]{6}$`)

// decision runs a typed `approve <id>` / `deny <id>`: the decision, the
// approved command's progress and its result go into the request's
// thread, where the request is; a refusal goes privately to the person
// where they typed it, and when that is elsewhere a private pointer says
// where the answer went.
func (b *Bot) decision(ctx context.Context, typed, target origin, id, text string) {
	p := b.startProgress(ctx, target, "the approved command")
	reply := b.o.Core.Handle(ctx, bot.Request{Subject: "slack:" + typed.user, Channel: typed.channel, Thread: typed.thread, Text: text, Progress: p.report})
	ts := p.finish()
	if reply.Outcome == bot.OutcomeUsage || reply.Outcome == bot.OutcomeDenied {
		if ts != "" {
			b.update(ctx, target, ts, Render(bot.Message{Title: "Not run", Text: "See the private reply."}, Context{}))
		}
		b.ephemeralRendered(ctx, typed, Render(reply.Message, Context{Who: "<@" + typed.user + ">", Where: "<#" + typed.channel + ">"}))
		return
	}
	b.deliver(ctx, target, reply, ts)
	if typed.channel != target.channel || typed.thread != target.thread {
		// Message text is escaped; the context line links the channel.
		b.ephemeralRendered(ctx, typed, Render(bot.Message{
			Title: "Answered in the request's thread",
			Text:  fmt.Sprintf("The answer to `%s` is in the thread of request %s, in the channel below.", clip(text, 80), id),
		}, Context{Who: "<@" + typed.user + ">", Where: "<#" + target.channel + ">"}))
	}
}

// deliver posts a reply: refusals and usage errors privately to the
// asker, results where they were asked (replacing the progress message
// when there is one), long output in the thread or as a file.
func (b *Bot) deliver(ctx context.Context, o origin, reply bot.Reply, progressTS string) {
	r := Render(reply.Message, Context{Who: "<@" + o.user + ">", Where: "<#" + o.channel + ">"})
	if reply.Outcome == bot.OutcomeUsage || reply.Outcome == bot.OutcomeDenied {
		if progressTS != "" {
			b.update(ctx, o, progressTS, Render(bot.Message{Title: "Not run", Text: "See the private reply."}, Context{}))
		}
		b.ephemeralRendered(ctx, o, r)
		return
	}
	ts := progressTS
	if ts != "" {
		b.update(ctx, o, ts, r)
	} else {
		err := b.post.do(ctx, o.channel, "chat.postMessage", func(ctx context.Context) error {
			t, err := b.postMessage(ctx, o.channel, r.Text, r.Blocks, o.thread)
			ts = t
			return err
		})
		if err != nil {
			b.log.WithError(err).Error("slack: result not posted")
			return
		}
	}
	thread := o.thread
	if thread == "" {
		thread = ts
	}
	if reply.Outcome == bot.OutcomePending {
		b.requestPosted(ctx, o, reply.Message, ts, thread)
	}
	for _, blocks := range r.Replies {
		err := b.post.do(ctx, o.channel, "chat.postMessage", func(ctx context.Context) error {
			_, err := b.postMessage(ctx, o.channel, r.Text+" (continued)", blocks, thread)
			return err
		})
		if err != nil {
			b.log.WithError(err).Error("slack: continuation not posted")
			return
		}
	}
	if r.File != nil {
		err := b.post.do(ctx, o.channel, "files.upload", func(ctx context.Context) error {
			_, err := b.api.UploadFileContext(ctx, slack.UploadFileParameters{
				Channel: o.channel, ThreadTimestamp: thread, Filename: r.File.Name, Title: r.File.Title,
				Content: string(r.File.Content), FileSize: len(r.File.Content),
			})
			return err
		})
		if err != nil {
			b.log.WithError(err).Error("slack: output file not uploaded")
		}
	}
}

// requestPoster is what a core offers to remember where a request for
// approval was posted.
type requestPoster interface {
	RequestPosted(ctx context.Context, id, channel, messageTS, threadTS string)
}

// requestPosted tells the core where the approval request carried by m
// was posted, so that its expiry can be said in its thread.
func (b *Bot) requestPosted(ctx context.Context, o origin, m bot.Message, ts, thread string) {
	rp, ok := b.o.Core.(requestPoster)
	if !ok || ts == "" {
		return
	}
	for _, btn := range m.Buttons {
		if btn.ActionID == bot.ActionApprove {
			rp.RequestPosted(ctx, btn.Value, o.channel, ts, thread)
			return
		}
	}
}

// NotifyExpired says in a request's thread that it expired undecided.
// Requests not posted in Slack (the console's) are left alone.
func (b *Bot) NotifyExpired(ctx context.Context, a bot.Approval) {
	if a.MessageTS == "" || !slackChannel.MatchString(a.Channel) {
		return
	}
	thread := a.ThreadTS
	if thread == "" {
		thread = a.MessageTS
	}
	o := origin{channel: a.Channel, user: strings.TrimPrefix(a.Requester, "slack:"), thread: thread}
	b.deliver(ctx, o, bot.Reply{Outcome: bot.OutcomeOK, Message: bot.Message{
		Title: fmt.Sprintf("Expired: %s (%s)", a.Command, a.ID), Status: bot.StatusWarn,
		Text: fmt.Sprintf("Nobody decided `%s`, asked by %s, before %s. Nothing was run; ask again if it is still needed.",
			a.Text, a.Requester, a.ExpiresAt.UTC().Format("15:04:05 UTC")),
	}}, "")
}

var slackChannel = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)

func (b *Bot) update(ctx context.Context, o origin, ts string, r Rendered) {
	err := b.post.do(ctx, o.channel, "chat.update", func(ctx context.Context) error {
		return b.updateMessage(ctx, o.channel, ts, r.Text, r.Blocks)
	})
	if err != nil {
		b.log.WithError(err).Error("slack: message not updated")
	}
}

func (b *Bot) ephemeral(ctx context.Context, o origin, title, text string) {
	b.ephemeralRendered(ctx, o, Render(bot.Message{Title: title, Status: bot.StatusFailed, Text: text}, Context{}))
}

func (b *Bot) ephemeralRendered(ctx context.Context, o origin, r Rendered) {
	// A private reply has no thread of its own: continuations follow as
	// further private messages; a file would be public, so it is left out.
	for _, blocks := range append([][]slack.Block{r.Blocks}, r.Replies...) {
		err := b.post.do(ctx, o.channel, "chat.postEphemeral", func(ctx context.Context) error {
			_, err := b.api.PostEphemeralContext(ctx, o.channel, o.user, slack.MsgOptionText(r.Text, false), slack.MsgOptionBlocks(blocks...), slack.MsgOptionTS(o.thread))
			return err
		})
		if err != nil {
			b.log.WithError(err).Error("slack: private reply not posted")
			return
		}
	}
	if r.File != nil {
		b.log.WithField("user", o.user).Warn("slack: a private reply's attached output was not uploaded (files are visible to the channel)")
	}
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(bot.SafeText(s))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
