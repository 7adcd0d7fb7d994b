package slack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// Core is what the transport needs of the bot's core.
// The transport hands each request and press to it once, raw, with its
// delivery key and a Start that the core calls before it runs anything
// (bot.Engine does); the core decides the rest.
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
