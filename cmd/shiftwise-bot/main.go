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
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

var userName = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// run is the whole program, testable in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("shiftwise-bot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	consoleMode := fs.Bool("console", false, "use the console even when Slack tokens are set")
	userFlag := fs.String("user", "", "console identity (default: the OS user); acts as console:NAME")
	fs.Usage = func() {
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
			return exitOK
		}
		return exitUsage
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "shiftwise-bot:", err)
		return exitUsage
	}
	name := *userFlag
	if name == "" {
		name = osUser(getenv)
	}
	if !userName.MatchString(name) {
		fmt.Fprintf(stderr, "shiftwise-bot: -user %q: use 1-64 letters, digits, '.', '_', '@' or '-'\n", name)
		return exitUsage
	}
	oneShot := fs.Args()
	slackMode := cfg.SlackAppToken != "" && !*consoleMode && len(oneShot) == 0

	red := redact.New(cfg.secrets()...)
	log := newLogger(cfg.LogLevel, slackMode, stderr, red)

	redis.SetLogger(log.WithField("component", "go-redis").Debugf)
	app, err := wire(ctx, cfg, red, log)
	if err != nil {
		fmt.Fprintln(stderr, "shiftwise-bot:", red.Redact(err.Error()))
		return exitFailed
	}
	defer app.close()

	subject := "console:" + name
	if len(oneShot) > 0 {
		// The shell has split the words: they go to the core as they are.
		return console.RunOnce(ctx, app.engine, subject, oneShot, stdout)
	}
	// A bot that keeps running follows the containers' logs instead of
	// re-reading them on every health check, and expires approval
	// requests nobody decided.
	app.health.Follow(ctx)
	app.reloadOnHangup(ctx, log)
	switch {
	case slackMode:
		so := slack.Options{
			AppToken: cfg.SlackAppToken, BotToken: cfg.SlackBotToken, APIURL: cfg.SlackAPIURL,
			Core: app.engine, Logger: log, Channels: cfg.SlackChannels, DirectMessages: cfg.SlackDMs,
			AlsoAllowed: app.incidents.Holds,
		}
		if app.lazy != nil {
			// `approve <id>` typed anywhere answers in the request's thread;
			// a redelivery runs once across replicas.
			so.Requests, so.Deliveries = botstore.LazyApprovals{L: app.lazy}, botstore.LazyDeliveries{L: app.lazy}
		}
		sb, err := slack.New(so)
		if err != nil {
			fmt.Fprintln(stderr, "shiftwise-bot:", red.Redact(err.Error()))
			return exitUsage
		}
		app.notifyExpired = sb.NotifyExpired // an expired request says so in its thread
		app.incidents.SetWorkspace(sb.Workspace())
		app.auditChannel(sb.Workspace(), cfg.AuditChannel)
		app.sweep(ctx)
		app.flushTimeline(ctx)
		log.Info("connecting to Slack (Socket Mode)")
		if err := sb.Run(ctx); err != nil {
			log.WithError(err).Error("slack transport stopped")
			return exitFailed
		}
		log.Info("stopped")
		return exitOK
	}
	app.sweep(ctx)
	app.flushTimeline(ctx)
	c := &console.Console{Core: app.engine, Subject: subject}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		c.Prompt = "shiftwise> "
		fmt.Fprintf(stdout, "ShiftWise ops bot — console as %s. Type `help`, or `exit` to leave.\n", subject)
	}
	if err := c.Run(ctx, stdin, stdout); err != nil {
		fmt.Fprintln(stderr, "shiftwise-bot:", err)
		return exitFailed
	}
	return exitOK
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

// app holds what wire built, for closing.
type app struct {
	engine     *bot.Engine
	health     *commands.Health
	authz      *permissions.Authorizer
	loadPolicy func() (string, error)
	lazy       *botstore.Lazy // the bot's database; nil without one
	closers    []func()
	// notifyExpired, set before the sweep starts, tells the transport
	// of a request that expired undecided.
	notifyExpired func(context.Context, bot.Approval)
	incidents     *commands.Incidents
	timeline      *state.Timeline
	// trail writes audit entries (database, else the spool); nil without
	// SHIFTWISE_DATABASE_URL.
	trail *audittrail.Trail
}

// approvalSweep is how often a running bot expires undecided requests.
const approvalSweep = 30 * time.Second

// sweep expires undecided approval requests until ctx ends or the app is
// closed (the sweep stops before the store closes).
func (a *app) sweep(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.engine.SweepExpired(ctx, approvalSweep)
	}()
	a.closers = append(a.closers, func() { cancel(); <-done })
	if a.trail != nil {
		// Spooled audit entries are written once the database answers:
		// at once when it first does.
		tdone := make(chan struct{})
		go func() { defer close(tdone); a.trail.Run(ctx) }()
		go func() {
			select {
			case <-a.lazy.Ready():
				a.trail.Kick()
			case <-ctx.Done():
			}
		}()
		a.closers = append(a.closers, func() { cancel(); <-tdone })
	}
}

// extraCommands are added to the registry by tests only.
var extraCommands []bot.Command

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

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// wire builds the integrations, the commands, the policy and the engine.
// Nothing here connects: the stack may be the thing that is down.
func wire(ctx context.Context, cfg config, red *redact.Redactor, log logrus.FieldLogger) (*app, error) {
	a := &app{}
	dock, err := docker.New(cfg.DockerHost, cfg.ComposeProject)
	if err != nil {
		return nil, fmt.Errorf("DOCKER_HOST: %w", err)
	}
	a.closers = append(a.closers, func() { dock.Close() })
	db, err := postgres.Open(ctx, cfg.TargetDBURL)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("SHIFTWISE_TARGET_DB_URL: %w", err)
	}
	a.closers = append(a.closers, db.Close)
	cache, err := redis.Open(cfg.TargetRedisURL)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("SHIFTWISE_TARGET_REDIS_URL: %w", err)
	}
	a.closers = append(a.closers, func() { cache.Close() })

	httpClient := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: time.Minute,
	}}
	a.health = &commands.Health{
		APIURL: cfg.APIURL, FrontendURL: cfg.FrontendURL, HTTP: httpClient,
		Docker: dock, DB: db, Cache: cache, BackupDir: cfg.BackupDir, Limits: cfg.Health,
		Reuse: cfg.HealthReuse,
	}
	backupsCmd, cleanupCmd, dbTestCmd := backupCommands(cfg, dock, a.health, log)
	a.loadPolicy = func() (string, error) { return permissions.LoadPolicy(cfg.PolicyPath) }
	policy, err := a.loadPolicy()
	if err != nil {
		a.close()
		return nil, fmt.Errorf("SHIFTWISE_POLICY: %w", err)
	}
	authz, err := permissions.New(policy, nil)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("SHIFTWISE_POLICY: %w", err)
	}
	a.authz = authz
	var lazy *botstore.Lazy
	if cfg.DatabaseURL != "" {
		// The bot must keep working while its own database is down: until
		// it answers (retried in the background), approvals say it is down,
		// audit entries wait in the spool, read-only commands run.
		// Nothing waits for it here: a database that accepts connections
		// and never answers must not delay the start (a one-shot `health`
		// does not need it at all); what needs the store waits for its
		// first attempt within its own deadline (botstore.Lazy.Wait).
		lazy = botstore.Connect(ctx, func(ctx context.Context) (*store.Store, error) { return store.Open(ctx, cfg.DatabaseURL) },
			storeRetry, storeOpenTimeout, 0, log, red.Redact, nil)
		a.closers = append(a.closers, lazy.Close)
		if err := a.openTrail(cfg, lazy, log); err != nil {
			a.close()
			return nil, err
		}
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
	a.newIncidents(cfg, red, log)
	deps := commands.Deps{Health: a.health, Authz: authz, LoadPolicy: a.loadPolicy,
		Commands: func() []*bot.Command { return reg.Commands() },
		Parse:    func(line string) (*bot.Command, bot.Args, error) { return reg.Parse(line) },
		DataDir:  cfg.DataDir,
		Backups:  backupsCmd, Cleanup: cleanupCmd, DBTest: dbTestCmd, Incidents: a.incidents}
	deps.Audit = commands.NoAuditDatabase
	if a.trail != nil {
		deps.Audit = a.trail
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
	reg, err = bot.NewRegistry(append(commands.All(deps), extraCommands...)...)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("commands: %w", err)
	}
	opts := bot.Options{Registry: reg, Authorizer: authz, Redactor: red, Logger: log, ApprovalTTL: cfg.ApprovalTTL}
	if lazy != nil {
		a.lazy = lazy
		opts.Approvals, opts.Auditor = botstore.LazyApprovals{L: lazy}, a.trail
		a.openTimelineSpool(cfg, log)
		opts.Auditor = a.attachIncidentStore(botstore.LazyIncidents{L: lazy}, opts.Auditor)
		opts.OnExpired = func(ctx context.Context, ap bot.Approval) {
			log.WithFields(logrus.Fields{"approval": ap.ID, "command": ap.Command, "user": ap.Requester, "channel": ap.Channel}).
				Warn("approval request expired without a decision")
			if a.notifyExpired != nil {
				a.notifyExpired(ctx, ap)
			}
		}
	}
	a.reportRecords()
	a.engine, err = bot.NewEngine(opts)
	if err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// reloadOnHangup re-reads SHIFTWISE_POLICY on SIGHUP for as long as ctx
// lives; a bad file keeps the policy in force and says why in the log.
func (a *app) reloadOnHangup(ctx context.Context, log logrus.FieldLogger) {
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
					err = a.authz.Reload(text)
				}
				if err != nil {
					log.WithField("error", err.Error()).Error("SIGHUP: policy NOT reloaded; the previous policy stays in force")
					continue
				}
				log.WithField("rules", len(a.authz.Rules())).Warn("SIGHUP: policy reloaded")
			}
		}
	}()
}
