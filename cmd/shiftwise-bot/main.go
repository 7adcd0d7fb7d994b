// Command shiftwise-bot is the ShiftWise ops bot: with Slack tokens it
// joins Slack over Socket Mode; without them, or with -console, it reads
// commands at the console; with a command on its command line it runs that
// one command and exits 0 ok, 1 failed, 2 usage, 3 not permitted or
// waiting for approval.
//
// main reads the environment into each package's options and wires them
// explicitly; it owns signals and the process exit code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/term"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/bot/console"
	"github.com/shiftwise/shiftwise-bot/bot/slack"
	"github.com/shiftwise/shiftwise-bot/commands"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
	"github.com/shiftwise/shiftwise-bot/integrations/redis"
	"github.com/shiftwise/shiftwise-bot/internal/audittrail"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/state"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/permissions"
)

// Exit codes of the one-shot contract (and of start-up failures).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, NewMain(), os.Args[1:], os.Getenv)
	stop()
	os.Exit(code)
}

// run is the whole program, testable in-process: the flags and the
// environment into m (ParseFlags), m.Run, m.Close, and the exit code.
func run(ctx context.Context, m *Main, args []string, getenv func(string) string) int {
	err := m.ParseFlags(args, getenv)
	if err == nil {
		err = m.Run(ctx)
	}
	code, say := exitOK, err
	var e *exit
	switch {
	case errors.As(err, &e):
		code, say = e.code, e.err
	case err != nil:
		code = exitFailed
	}
	if say != nil {
		msg := say.Error()
		if m.Redactor != nil {
			msg = m.Redactor.Redact(msg)
		}
		fmt.Fprintln(m.Stderr, "shiftwise-bot:", msg)
	}
	_ = m.Close() // what fails to close has nothing more to lose
	return code
}

// exit ends the program with code. err, when not nil, is said on stderr;
// without one, what there was to say has been said (the flag package's
// own message, a one-shot's result, the log).
type exit struct {
	code int
	err  error
}

func (e *exit) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exit) Unwrap() error { return e.err }

var userName = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// Main is the program: its configuration, read by ParseFlags; the services
// Open builds from it, which Run serves and end-to-end tests use; and what
// Close closes.
type Main struct {
	// Config is the environment (config.go reads it).
	Config config
	// Console is -console: the console even when Slack tokens are set.
	Console bool
	// Subject is who the console and a one-shot act as: console:<-user>.
	Subject string
	// Args is a one-shot's command line; none: a bot that keeps running.
	Args []string

	Stdin          io.Reader
	Stdout, Stderr io.Writer

	// Commands are registered after the runbook's (tests add their own).
	Commands []bot.Command

	// Redactor and Log: Open makes them from Config unless they are set.
	Redactor *redact.Redactor
	Log      logrus.FieldLogger

	// The services, set by Open.
	Docker    *docker.Client
	TargetDB  *postgres.DB
	Cache     *redis.Cache
	Health    *commands.Health
	Authz     *permissions.Authorizer
	incidents *commands.Incidents
	Engine    *bot.Engine

	// The bot's own state (openState); nil without SHIFTWISE_DATABASE_URL.
	lazy                *botstore.Lazy // the bot's database
	approvals           bot.Approvals
	auditor             bot.Auditor
	deliveries          bot.Deliveries
	trail               *audittrail.Trail // audit entries (database, else the spool)
	auditSpool          *spool.Spool
	flushTrailAtExit    func()
	timeline            *state.Timeline
	timelineSpool       *spool.Spool
	flushTimelineAtExit func()

	loadPolicy func() (string, error)
	// notifyExpired, set before the sweep starts, tells the transport
	// of a request that expired undecided.
	notifyExpired func(context.Context, bot.Approval)

	// stopBackground ends what startBackground started; background waits
	// for it.
	stopBackground context.CancelFunc
	background     sync.WaitGroup
	closeOnce      sync.Once
	closeErr       error
}

// NewMain returns a Main on the process's standard streams.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
}

// ParseFlags reads the command line and the environment (through getenv)
// into m. An error is an *exit: usage (2), or 0 after -help.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	m.setStreams()
	fs := flag.NewFlagSet("shiftwise-bot", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.BoolVar(&m.Console, "console", false, "use the console even when Slack tokens are set")
	userFlag := fs.String("user", "", "console identity (default: the OS user); acts as console:NAME")
	fs.Usage = func() {
		stderr := m.Stderr
		fmt.Fprintf(stderr, "Usage: shiftwise-bot [-console] [-user NAME] [command [args] [--flags]]\n\n")
		fmt.Fprintf(stderr, "Without a command: Slack Socket Mode when SLACK_APP_TOKEN and SLACK_BOT_TOKEN are set,\n")
		fmt.Fprintf(stderr, "else the console. With a command: run it once; exit 0 ok, 1 failed, 2 usage, 3 not permitted.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nEnvironment:\n")
		for _, s := range settings {
			def := s.def
			if def == "" {
				def = "-"
			}
			fmt.Fprintf(stderr, "  %-38s %s (default %s)\n", s.name, s.what, def)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exit{code: exitOK}
		}
		return &exit{code: exitUsage}
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		return &exit{exitUsage, err}
	}
	name := *userFlag
	if name == "" {
		name = osUser(getenv)
	}
	if !userName.MatchString(name) {
		return &exit{exitUsage, fmt.Errorf("-user %q: use 1-64 letters, digits, '.', '_', '@' or '-'", name)}
	}
	m.Config, m.Subject, m.Args = cfg, "console:"+name, fs.Args()
	return nil
}

// slackMode: Slack tokens, no -console and no one-shot command.
func (m *Main) slackMode() bool {
	return m.Config.SlackAppToken != "" && !m.Console && len(m.Args) == 0
}

// Run opens the bot and serves it: one command (Args), or Slack or the
// console until ctx ends or the console's input does. An *exit error
// carries the exit code (the one-shot contract's, or usage).
func (m *Main) Run(ctx context.Context) error {
	m.setDefaults()
	redis.SetLogger(m.Log.WithField("component", "go-redis").Debugf)
	if err := m.Open(ctx); err != nil {
		return err
	}
	if len(m.Args) > 0 {
		// The shell has split the words: they go to the core as they are.
		if code := console.RunOnce(ctx, m.Engine, m.Subject, m.Args, m.Stdout); code != exitOK {
			return &exit{code: code}
		}
		return nil
	}
	// A bot that keeps running follows the containers' logs instead of
	// re-reading them on every health check, and expires approval
	// requests nobody decided.
	m.Health.Follow(ctx)
	m.reloadOnHangup(ctx)
	if m.slackMode() {
		return m.runSlack(ctx)
	}
	return m.runConsole(ctx)
}

// runSlack serves Slack over Socket Mode until ctx ends.
func (m *Main) runSlack(ctx context.Context) error {
	cfg := m.Config
	sb, err := slack.New(slack.Options{
		AppToken: cfg.SlackAppToken, BotToken: cfg.SlackBotToken, APIURL: cfg.SlackAPIURL,
		Core: m.Engine, Logger: m.Log, Channels: cfg.SlackChannels, DirectMessages: cfg.SlackDMs,
		AlsoAllowed: m.incidents.Holds,
	})
	if err != nil {
		return &exit{exitUsage, err}
	}
	m.notifyExpired = sb.NotifyExpired // an expired request says so in its thread
	m.incidents.SetWorkspace(sb.Workspace())
	m.auditChannel(sb.Workspace(), cfg.AuditChannel)
	m.startBackground(ctx)
	m.Log.Info("connecting to Slack (Socket Mode)")
	if err := sb.Run(ctx); err != nil {
		m.Log.WithError(err).Error("slack transport stopped")
		return &exit{code: exitFailed}
	}
	m.Log.Info("stopped")
	return nil
}

// runConsole serves the console until its input ends or ctx does.
func (m *Main) runConsole(ctx context.Context) error {
	m.startBackground(ctx)
	c := &console.Console{Core: m.Engine, Subject: m.Subject}
	if f, ok := m.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		c.Prompt = "shiftwise> "
		fmt.Fprintf(m.Stdout, "ShiftWise ops bot — console as %s. Type `help`, or `exit` to leave.\n", m.Subject)
	}
	return c.Run(ctx, m.Stdin, m.Stdout)
}

// startBackground starts what a bot that keeps running does besides
// answering (sweep, flushTimeline), until Close.
func (m *Main) startBackground(ctx context.Context) {
	ctx, m.stopBackground = context.WithCancel(ctx)
	m.sweep(ctx)
	m.flushTimeline(ctx)
}

func osUser(getenv func(string) string) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

func newLogger(level string, slackMode bool, out io.Writer, red *redact.Redactor) *logrus.Logger {
	log := logrus.New()
	log.Out = out
	log.AddHook(redact.Hook{R: red})
	log.SetLevel(logrus.WarnLevel)
	if slackMode {
		log.SetLevel(logrus.InfoLevel)
		log.SetFormatter(&logrus.JSONFormatter{})
	}
	if level != "" {
		if l, err := logrus.ParseLevel(level); err == nil {
			log.SetLevel(l)
		} else {
			log.Warnf("SHIFTWISE_LOG_LEVEL %q is not a level; keeping %s", level, log.GetLevel())
		}
	}
	return log
}

// setStreams puts what has no stream on an empty input and discarded
// output.
func (m *Main) setStreams() {
	if m.Stdin == nil {
		m.Stdin = strings.NewReader("")
	}
	if m.Stdout == nil {
		m.Stdout = io.Discard
	}
	if m.Stderr == nil {
		m.Stderr = io.Discard
	}
}

// setDefaults makes the redactor and the log from Config where they are
// not set.
func (m *Main) setDefaults() {
	m.setStreams()
	if m.Redactor == nil {
		m.Redactor = redact.New(m.Config.secrets()...)
	}
	if m.Log == nil {
		m.Log = newLogger(m.Config.LogLevel, m.slackMode(), m.Stderr, m.Redactor)
	}
}

// approvalSweep is how often a running bot expires undecided requests.
const approvalSweep = 30 * time.Second

// sweep expires undecided approval requests until ctx ends or the bot is
// closed (the sweep stops before the store closes).
func (a *Main) sweep(ctx context.Context) {
	a.background.Go(func() { a.Engine.SweepExpired(ctx, approvalSweep) })
	if a.trail != nil {
		// Spooled audit entries are written once the database answers:
		// at once when it first does.
		a.background.Go(func() { a.trail.Run(ctx) })
		go func() {
			select {
			case <-a.lazy.Ready():
				a.trail.Kick()
			case <-ctx.Done():
			}
		}()
	}
}

// storeOpenTimeout bounds each attempt to reach the bot's database (in
// the background); storeRetry is the first pause between attempts
// (doubling up to 16 times that). At exit, what waits in the spools is
// written if the database has answered by storeExitGrace after the start
// (a one-shot run does not wait longer for a database that accepts
// connections and never answers), each flush within storeExitFlush.
const (
	storeOpenTimeout = 10 * time.Second
	storeRetry       = 2 * time.Second
	storeExitGrace   = 500 * time.Millisecond
	storeExitFlush   = 2 * time.Second
)

// storeAtExit returns the bot's store for the flushes at exit, nil when
// it is not there: at once when its first attempt has ended; else it waits
// until storeExitGrace after the start, and beyond that (within the
// attempt's own bound) only for a database that has answered something —
// alive but slow, say applying its migrations — never for one that
// accepts connections and says nothing.
func storeAtExit(lazy *botstore.Lazy) *store.Store {
	ctx, cancel := context.WithDeadline(context.Background(), lazy.Started().Add(storeExitGrace))
	defer cancel()
	if st := lazy.Wait(ctx); st != nil {
		return st
	}
	select {
	case <-lazy.Answered():
		return lazy.Wait(context.Background())
	default:
		return nil
	}
}

// Close stops what Run started in the background, writes what waits in
// the spools if the bot's database answers by then, and closes the state
// and the integrations: the reverse of Open. Only the first call closes.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		if m.stopBackground != nil {
			m.stopBackground()
		}
		m.background.Wait()
		m.closeState()
		var errs []error
		if m.Cache != nil {
			errs = append(errs, m.Cache.Close())
		}
		if m.TargetDB != nil {
			m.TargetDB.Close()
		}
		if m.Docker != nil {
			errs = append(errs, m.Docker.Close())
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// Open builds the integrations, the policy, the bot's state, the commands
// and the engine from Config. Nothing here connects: the stack may be the
// thing that is down. On an error, what it opened is closed again.
func (m *Main) Open(ctx context.Context) (err error) {
	m.setDefaults()
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	cfg, red, log := m.Config, m.Redactor, m.Log
	dock, err := docker.New(cfg.DockerHost, cfg.ComposeProject)
	if err != nil {
		return fmt.Errorf("DOCKER_HOST: %w", err)
	}
	m.Docker = dock
	db, err := postgres.Open(ctx, cfg.TargetDBURL)
	if err != nil {
		return fmt.Errorf("SHIFTWISE_TARGET_DB_URL: %w", err)
	}
	m.TargetDB = db
	cache, err := redis.Open(cfg.TargetRedisURL)
	if err != nil {
		return fmt.Errorf("SHIFTWISE_TARGET_REDIS_URL: %w", err)
	}
	m.Cache = cache

	httpClient := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: time.Minute,
	}}
	m.Health = &commands.Health{
		APIURL: cfg.APIURL, FrontendURL: cfg.FrontendURL, HTTP: httpClient,
		Docker: dock, DB: db, Cache: cache, BackupDir: cfg.BackupDir, Limits: cfg.Health,
		Reuse: cfg.HealthReuse,
	}
	backupsCmd, cleanupCmd, dbTestCmd := backupCommands(cfg, dock, m.Health, log)
	m.loadPolicy = func() (string, error) { return permissions.LoadPolicy(cfg.PolicyPath) }
	policy, err := m.loadPolicy()
	if err != nil {
		return fmt.Errorf("SHIFTWISE_POLICY: %w", err)
	}
	authz, err := permissions.New(policy, nil)
	if err != nil {
		return fmt.Errorf("SHIFTWISE_POLICY: %w", err)
	}
	m.Authz = authz
	m.newIncidents(cfg, red, log)
	if err := m.openState(ctx); err != nil {
		return err
	}
	deployer := &commands.Deploy{
		Docker: dock,
		// While Backup is nil (the backup commands could not be set up),
		// deploy refuses without --no-backup.
		Verify:          commands.ServiceHealthURLs(httpClient, map[string]string{"api": cfg.APIURL, "frontend": cfg.FrontendURL}),
		LevelOf:         authz.Level,
		HealthTimeout:   cfg.DeployHealthTimeout,
		RollbackCommand: cfg.RollbackCommand,
		RollbackEnv:     cfg.RollbackEnv,
		RollbackTimeout: cfg.RollbackTimeout,
		Log:             log.WithField("component", "deploy"),
	}
	var reg *bot.Registry
	deps := commands.Deps{Health: m.Health, Authz: authz, LoadPolicy: m.loadPolicy,
		Commands: func() []*bot.Command { return reg.Commands() },
		Parse:    func(line string) (*bot.Command, bot.Args, error) { return reg.Parse(line) },
		DataDir:  cfg.DataDir,
		Backups:  backupsCmd, Cleanup: cleanupCmd, DBTest: dbTestCmd, Incidents: m.incidents}
	deps.Audit = commands.NoAuditDatabase
	if m.trail != nil {
		deps.Audit = m.trail
	}
	deps.DB, deps.Cache = db, cache
	if backupsCmd != nil {
		// Every deploy takes a backup first, as the runbook's does.
		deployer.Backup = func(ctx context.Context) (string, error) {
			b, err := backupsCmd.Create(ctx)
			return b.Name, err
		}
	}
	deps.Deploy = deployer
	deps.Stack = &commands.Stack{Engine: dock, Logs: dock, Redact: red.Redact, Self: docker.SelfID()}
	deps.Host = &commands.Host{WarnPercent: cfg.Health.DiskPercent}
	reg, err = bot.NewRegistry(append(commands.All(deps), m.Commands...)...)
	if err != nil {
		return fmt.Errorf("commands: %w", err)
	}
	opts := bot.Options{Registry: reg, Authorizer: authz, Redactor: red, Logger: log, ApprovalTTL: cfg.ApprovalTTL,
		Approvals: m.approvals, Auditor: m.auditor,
		// With the bot's database a Slack redelivery runs once across
		// replicas (and `approve <id>` typed anywhere answers in the
		// request's thread, through Approvals).
		Deliveries: m.deliveries}
	if m.approvals != nil {
		opts.OnExpired = func(ctx context.Context, ap bot.Approval) {
			log.WithFields(logrus.Fields{"approval": ap.ID, "command": ap.Command, "user": ap.Requester, "channel": ap.Channel}).
				Warn("approval request expired without a decision")
			if m.notifyExpired != nil {
				m.notifyExpired(ctx, ap)
			}
		}
	}
	m.Engine, err = bot.NewEngine(opts)
	return err
}

// openState opens the bot's own state when SHIFTWISE_DATABASE_URL is set:
// its database, reached in the background, the audit trail and the
// incidents' timeline with their spools. It sets what the engine and the
// transports take from it (approvals, the auditor, deliveries); closeState
// closes it.
func (m *Main) openState(ctx context.Context) error {
	cfg, log := m.Config, m.Log
	if cfg.DatabaseURL == "" {
		return nil
	}
	// The bot must keep working while its own database is down: until
	// it answers (retried in the background), approvals say it is down,
	// audit entries wait in the spool, read-only commands run.
	// Nothing waits for it here: a database that accepts connections
	// and never answers must not delay the start (a one-shot `health`
	// does not need it at all); what needs the store waits for its
	// first attempt within its own deadline (botstore.Lazy.Wait).
	lazy := botstore.Connect(ctx, func(ctx context.Context) (*store.Store, error) { return store.Open(ctx, cfg.DatabaseURL) },
		storeRetry, storeOpenTimeout, 0, log, m.Redactor.Redact, nil)
	m.lazy = lazy
	if err := m.openTrail(cfg, lazy, log); err != nil {
		return err
	}
	m.openTimelineSpool(cfg, log)
	m.auditor = m.attachIncidentStore(botstore.LazyIncidents{L: lazy}, m.trail)
	m.approvals, m.deliveries = botstore.LazyApprovals{L: lazy}, botstore.LazyDeliveries{L: lazy}
	m.reportRecords()
	return nil
}

// closeState writes what waits in the spools if the bot's database
// answers by then (else the next start does) and closes the spools and
// the store.
func (m *Main) closeState() {
	if m.flushTimelineAtExit != nil {
		m.flushTimelineAtExit()
	}
	if m.timelineSpool != nil {
		_ = m.timelineSpool.Close()
	}
	if m.flushTrailAtExit != nil {
		m.flushTrailAtExit()
	}
	if m.auditSpool != nil {
		m.auditSpool.Close()
	}
	if m.lazy != nil {
		m.lazy.Close()
	}
}

// reloadOnHangup re-reads SHIFTWISE_POLICY on SIGHUP for as long as ctx
// lives; a bad file keeps the policy in force and says why in the log.
func (a *Main) reloadOnHangup(ctx context.Context) {
	log := a.Log
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				text, err := a.loadPolicy()
				if err == nil {
					err = a.Authz.Reload(text)
				}
				if err != nil {
					log.WithField("error", err.Error()).Error("SIGHUP: policy NOT reloaded; the previous policy stays in force")
					continue
				}
				log.WithField("rules", len(a.Authz.Rules())).Warn("SIGHUP: policy reloaded")
			}
		}
	}()
}
