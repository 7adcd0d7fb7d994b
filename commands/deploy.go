package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/httpprobe"
	"github.com/shiftwise/shiftwise-bot/integrations/runcmd"
)

// Deployer is what deploy and rollback need of the Docker Engine
// (*docker.Client).
type Deployer interface {
	PlanDeploy(ctx context.Context, service, ref string) (docker.DeployPlan, error)
	PlanRollback(ctx context.Context, service string) (docker.DeployPlan, error)
	Apply(ctx context.Context, plan docker.DeployPlan, opts docker.DeployOptions) (docker.DeployResult, error)
	Containers(ctx context.Context) ([]docker.Container, error)
}

// Deploy is the wiring of `deploy` and `rollback`.
type Deploy struct {
	Docker Deployer
	// Backup takes the pre-deploy backup (the runbook's
	// `./scripts/deploy.sh backup`) and returns what it wrote (a file
	// name). Nil: no backup is configured, and deploy refuses unless
	// --no-backup is given by someone at Level 3.
	Backup func(ctx context.Context) (string, error)
	// Verify is a service's own health beyond its container's (the
	// runbook's /health of api and frontend); nil, or nil returned for a
	// service it does not know, means the container's health decides.
	// Service "" means the whole stack (after a configured rollback command).
	Verify func(ctx context.Context, service string) error
	// LevelOf is the level a subject holds, for --no-backup; nil refuses it.
	LevelOf func(subject string) bot.Level
	// HealthTimeout is how long a new container has to become healthy
	// before it is replaced by the old one again (default 2m).
	HealthTimeout time.Duration
	// RollbackCommand, when set, is what `rollback` runs instead of
	// returning to the recorded image: a team's own script as a fixed argv
	// (SHIFTWISE_ROLLBACK_COMMAND). An element "{service}" becomes the
	// service named, checked against the live project first.
	RollbackCommand []string
	// RollbackEnv is the command's whole environment (nothing else is
	// inherited; the bot's tokens never reach it).
	RollbackEnv []string
	// RollbackTimeout bounds the command (default 10m).
	RollbackTimeout time.Duration
	Log             logrus.FieldLogger
}

// Deploy defaults.
const (
	defaultRollbackTimeout = 10 * time.Minute
	deployTimeout          = 30 * time.Minute // backup + stop + health; a backstop
	maxHealthWait          = 30 * time.Minute
	scriptTail             = 40 // output lines of a rollback command kept for the result
)

// Commands returns deploy and rollback.
func (d *Deploy) Commands() []bot.Command { return []bot.Command{d.DeployCommand(), d.RollbackCmd()} }

func (d *Deploy) log() logrus.FieldLogger {
	if d.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		return l
	}
	return d.Log
}

func (d *Deploy) healthTimeout(req bot.Request) (time.Duration, error) {
	t := d.HealthTimeout
	if t <= 0 {
		t = docker.DefaultHealthTimeout
	}
	if req.Args.Has("wait") {
		t = req.Args.Duration("wait")
		if t < time.Second || t > maxHealthWait {
			return 0, &bot.UsageError{Msg: "--wait must be between 1s and 30m."}
		}
	}
	return t, nil
}

var waitFlag = bot.Flag{Name: "wait", Kind: bot.FlagDuration, Usage: "how long the new container has to become healthy before the old one is put back (default 2m)",
	MinDuration: time.Second, MaxDuration: maxHealthWait}

// DeployCommand returns `deploy <service> <image:tag>`.
func (d *Deploy) DeployCommand() bot.Command {
	return bot.Command{
		Name:    "deploy",
		Summary: "Deploy an image to a service: backup, recreate, verify health, roll back by itself on failure",
		Usage:   "<service> <image:tag> [--wait 2m] [--no-backup]",
		Help: "The runbook's Standard Deployment on the Docker Engine. First a backup (the runbook's " +
			"`./scripts/deploy.sh backup`); then the image the service runs now is recorded by ID, the " +
			"service's container is stopped and set aside, and a new one with the same configuration " +
			"(environment, mounts and volumes, networks and aliases, labels, published ports, restart policy, " +
			"healthcheck, command, user, limits) is started on the new image. The bot waits for it to be " +
			"healthy (its healthcheck, and the service's /health where the runbook has one); if it is not " +
			"within --wait, the old container is put back by itself. The image must already be on the host " +
			"(built or loaded: nothing is pulled). --no-backup skips the backup and needs the asker to hold " +
			"Level 3. Progress shows step by step; `rollback <service>` returns to the recorded image.",
		Flags: []bot.Flag{waitFlag,
			{Name: "no-backup", Kind: bot.FlagBool, Usage: "skip the pre-deploy backup (the asker must hold Level 3)"}},
		MinArgs:  2,
		MaxArgs:  2,
		Object:   func(a bot.Args) string { return "deploy:" + a.First() },
		Level:    bot.Level2,
		Approval: true,
		Risk:     bot.Changes,
		Timeout:  deployTimeout,
		Preview:  d.previewDeploy,
		Run:      d.runDeploy,
	}
}

// RollbackCmd returns `rollback [service]`.
func (d *Deploy) RollbackCmd() bot.Command {
	help := "The runbook's Emergency Rollback: the service's container is recreated, with the same configuration, " +
		"on the image it ran before the bot's last deploy — by image ID, so a tag moved since does not matter — " +
		"and health is verified as for deploy (the old container is put back if the previous image is not healthy " +
		"either). Without a service: the service the bot deployed most recently. Rolling back twice returns to " +
		"where you started. No backup is taken: the application rolls back, the database does not."
	if len(d.RollbackCommand) > 0 {
		help = "Runs the team's configured rollback command (SHIFTWISE_ROLLBACK_COMMAND: " + strings.Join(d.RollbackCommand, " ") +
			") with no shell, streams its output here, then verifies the containers' and the service's health."
	}
	return bot.Command{
		Name:    "rollback",
		Summary: "Return a service to the image it ran before the last deploy, and verify health",
		Usage:   "[service] [--wait 2m]",
		Help:    help,
		Flags:   []bot.Flag{waitFlag},
		MaxArgs: 1,
		Object: func(a bot.Args) string {
			if a.First() == "" {
				return "rollback"
			}
			return "rollback:" + a.First()
		},
		Level:    bot.Level2,
		Approval: true,
		Risk:     bot.Changes,
		Timeout:  deployTimeout,
		Preview:  d.previewRollback,
		Run:      d.runRollback,
	}
}

// deployProgress shows a deploy's steps as one message, updated in place, and
// logs each step.
type deployProgress struct {
	mu     sync.Mutex
	ctx    context.Context
	title  string
	checks []bot.Check
	log    logrus.FieldLogger
}

func (p *deployProgress) step(name, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log.WithFields(logrus.Fields{"step": name, "detail": detail}).Info(p.title)
	if n := len(p.checks); n > 0 && p.checks[n-1].Status == bot.StatusNone {
		// The step before a rollback is the one that failed.
		p.checks[n-1].Status = bot.StatusOK
		if name == "rolling back" {
			p.checks[n-1].Status = bot.StatusFailed
		}
	}
	p.checks = append(p.checks, bot.Check{Name: name, Value: detail})
	bot.Report(p.ctx, bot.Message{Title: p.title, Checks: append([]bot.Check(nil), p.checks...)})
}

// done closes the last step with a verdict and returns the steps.
func (p *deployProgress) done(st bot.Status) []bot.Check {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.checks); n > 0 && p.checks[n-1].Status == bot.StatusNone {
		p.checks[n-1].Status = st
	}
	return append([]bot.Check(nil), p.checks...)
}

// deployRefusal is a command's answer when it will not act.
func deployRefusal(title, text string) bot.Message {
	return bot.Message{Title: title, Status: bot.StatusFailed, Text: text + " Nothing was changed."}
}

// deployPlanError turns a refused plan into a usage error (bad or unknown
// input) or a failed answer.
func deployPlanError(title string, err error) (bot.Message, error) {
	switch {
	case errors.Is(err, docker.ErrNoSuchService), errors.Is(err, docker.ErrBadImageRef), errors.Is(err, docker.ErrNoImage):
		return bot.Message{}, &bot.UsageError{Msg: deploySentence(err)}
	case errors.Is(err, docker.ErrNoHistory), errors.Is(err, docker.ErrNotDeployable):
		return deployRefusal(title, deploySentence(err)), nil
	}
	return bot.Message{}, fmt.Errorf("%s: %w", strings.ToLower(title), err)
}

// deploySentence makes an error text a deploySentence for people.
func deploySentence(err error) string {
	s := err.Error()
	for _, e := range []error{docker.ErrNoSuchService, docker.ErrBadImageRef, docker.ErrNoImage, docker.ErrNoHistory, docker.ErrNotDeployable} {
		s = strings.TrimPrefix(s, e.Error()+": ")
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// checkDeployArgs is what deploy can tell of its arguments without the
// engine: the service and image as text, and --wait.
func (d *Deploy) checkDeployArgs(req bot.Request) (service, ref string, wait time.Duration, err error) {
	service, ref = req.Args.At(0), req.Args.At(1)
	if !docker.ValidServiceName(service) {
		return "", "", 0, &bot.UsageError{Msg: fmt.Sprintf("%q is not a service name.", deployClip(service))}
	}
	if _, err := docker.ParseImageRef(ref); err != nil {
		return "", "", 0, &bot.UsageError{Msg: fmt.Sprintf("%q is not an image reference: use name:tag in lower case (shiftwise/api:1.4.2) or an image ID.", deployClip(ref))}
	}
	wait, err = d.healthTimeout(req)
	return service, ref, wait, err
}

// previewDeploy checks a deploy before anyone is asked to approve it: the
// arguments, the service against the live project, the image on this
// host. Any of them wrong is a usage error, and no request is recorded.
// What the request then shows is the plan: which container goes from
// which image to which, by ID.
func (d *Deploy) previewDeploy(ctx context.Context, req bot.Request) (bot.Message, error) {
	service, ref, wait, err := d.checkDeployArgs(req)
	if err != nil {
		return bot.Message{}, err
	}
	plan, err := d.Docker.PlanDeploy(ctx, service, ref)
	if err != nil {
		return deployPreviewError("deploy", err)
	}
	backup := "after the pre-deploy backup"
	switch noBackup := req.Args.Bool("no-backup"); {
	case noBackup && (d.LevelOf == nil || d.LevelOf(req.Subject) < bot.Level3):
		return bot.Message{Text: fmt.Sprintf("As things stand it would not run: --no-backup needs %s held by the person asking (%s); an approval does not lend it.", bot.Level3, req.Subject)}, nil
	case noBackup:
		backup = "without a backup (--no-backup)"
	case d.Backup == nil:
		return bot.Message{Text: "As things stand it would not run: no pre-deploy backup is configured, and the runbook takes one before every deploy. Someone at Level 3 may deploy with --no-backup."}, nil
	}
	m := bot.Message{
		Text: fmt.Sprintf("It recreates %s's container %s on %s (now on %s), %s, and puts the old one back if the new one is not healthy within %s.",
			service, plan.Container, plan.Target, plan.Current, backup, wait),
		Fields: []bot.Field{{Name: "From", Value: plan.Current.String()}, {Name: "To", Value: plan.Target.String()}},
	}
	if plan.Current.ID == plan.Target.ID {
		m.Text = fmt.Sprintf("%s already runs %s: approving it changes nothing.", service, plan.Target)
	}
	return m, nil
}

// previewRollback checks a rollback before anyone is asked: the service
// as text and against the live project, and what it would return to.
func (d *Deploy) previewRollback(ctx context.Context, req bot.Request) (bot.Message, error) {
	service := req.Args.First()
	if service != "" && !docker.ValidServiceName(service) {
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("%q is not a service name.", deployClip(service))}
	}
	if _, err := d.healthTimeout(req); err != nil {
		return bot.Message{}, err
	}
	if len(d.RollbackCommand) > 0 {
		if err := d.rollbackCommandArgs(ctx, service); err != nil {
			return bot.Message{}, err
		}
		return bot.Message{Text: "It runs the configured rollback command: " + strings.Join(d.RollbackCommand, " ") + "."}, nil
	}
	plan, err := d.Docker.PlanRollback(ctx, service)
	if err != nil {
		return deployPreviewError("rollback", err)
	}
	return bot.Message{
		Text:   fmt.Sprintf("It recreates %s's container %s on %s, the image it ran before the bot's last deploy (now on %s).", plan.Service, plan.Container, plan.Target, plan.Current),
		Fields: []bot.Field{{Name: "From", Value: plan.Current.String()}, {Name: "To", Value: plan.Target.String()}},
	}, nil
}

// deployPreviewError is a plan refused before anyone is asked: an
// unknown service or an image not on this host is a usage error (no
// request); what would make the run fail anyway (no recorded deploy, a
// service that cannot be replaced) is said in the request, for the
// approver to see.
// (A rollback's recorded image that is gone is not the asker's mistake.)
func deployPreviewError(action string, err error) (bot.Message, error) {
	switch {
	case errors.Is(err, docker.ErrNoSuchService), errors.Is(err, docker.ErrBadImageRef),
		errors.Is(err, docker.ErrNoImage) && action == "deploy":
		return bot.Message{}, &bot.UsageError{Msg: deploySentence(err)}
	case errors.Is(err, docker.ErrNoHistory), errors.Is(err, docker.ErrNotDeployable), errors.Is(err, docker.ErrNoImage):
		return bot.Message{Text: "As things stand it would not run: " + deploySentence(err)}, nil
	}
	return bot.Message{}, fmt.Errorf("plan the %s: %w", action, err)
}

func (d *Deploy) runDeploy(ctx context.Context, req bot.Request) (bot.Message, error) {
	service, ref, wait, err := d.checkDeployArgs(req)
	if err != nil {
		return bot.Message{}, err
	}
	title := "Deploy " + service
	noBackup := req.Args.Bool("no-backup")
	if noBackup && (d.LevelOf == nil || d.LevelOf(req.Subject) < bot.Level3) {
		return deployRefusal(title, fmt.Sprintf("--no-backup needs %s held by the person asking (%s); an approval does not lend it.", bot.Level3, req.Subject)), nil
	}
	plan, err := d.Docker.PlanDeploy(ctx, service, ref)
	if err != nil {
		return deployPlanError(title, err)
	}
	if !noBackup && d.Backup == nil {
		return deployRefusal(title, "No pre-deploy backup is configured, and the runbook takes one before every deploy. Someone at Level 3 may deploy with --no-backup."), nil
	}
	if plan.Current.ID == plan.Target.ID {
		return bot.Message{Title: title, Status: bot.StatusOK,
			Text: fmt.Sprintf("%s already runs %s; nothing to do.", service, plan.Target)}, nil
	}
	p := &deployProgress{ctx: ctx, title: fmt.Sprintf("Deploy %s: %s → %s", service, plan.Current, plan.Target),
		log: d.log().WithFields(logrus.Fields{"command": "deploy", "service": service, "user": req.Subject, "request_id": req.ID})}
	backup := "skipped (--no-backup)"
	if !noBackup {
		p.step("backup", "taking the pre-deploy backup")
		name, err := d.Backup(ctx)
		if err != nil {
			p.done(bot.StatusFailed)
			p.log.WithError(err).Error("pre-deploy backup failed")
			return deployRefusal(title, fmt.Sprintf("The pre-deploy backup failed (%s), so %s was not deployed.", deployFirstLine(err.Error()), plan.Target)), nil
		}
		backup = name
	}
	res, err := d.Docker.Apply(ctx, plan, d.options(req, wait, p))
	return d.result(title, "deploy", p, res, err, backup)
}

func (d *Deploy) options(req bot.Request, wait time.Duration, p *deployProgress) docker.DeployOptions {
	return docker.DeployOptions{By: req.Subject, HealthTimeout: wait, Verify: d.Verify, Step: p.step}
}

// result is the final answer of a deploy or rollback through the engine.
func (d *Deploy) result(title, action string, p *deployProgress, res docker.DeployResult, err error, backup string) (bot.Message, error) {
	plan := res.Plan
	fields := []bot.Field{
		{Name: "Service", Value: plan.Service},
		{Name: "From", Value: plan.Current.String()},
		{Name: "To", Value: plan.Target.String()},
	}
	if backup != "" {
		fields = append(fields, bot.Field{Name: "Backup", Value: backup})
	}
	if err != nil {
		p.log.WithError(err).Error(action + " failed")
		return bot.Message{Title: title, Status: bot.StatusFailed, Checks: p.done(bot.StatusFailed), Fields: fields,
			Text:    fmt.Sprintf("The %s of %s failed: %s", action, plan.Service, err.Error()),
			Summary: strings.ToUpper(action[:1]) + action[1:] + ": FAILED"}, nil
	}
	fields = append(fields, bot.Field{Name: "Took", Value: res.Took.Round(100 * time.Millisecond).String()})
	if res.RolledBack {
		m := bot.Message{Title: title, Status: bot.StatusFailed, Checks: p.done(bot.StatusOK), Fields: fields,
			Text: fmt.Sprintf("%s was not healthy on %s: %s. The old container was put back: %s runs %s again.",
				plan.Service, plan.Target, res.Reason, plan.Service, plan.Current),
			Summary: strings.ToUpper(action[:1]) + action[1:] + ": FAILED, rolled back to " + plan.Current.String()}
		if !plan.Running {
			m.Text = fmt.Sprintf("%s was not healthy on %s: %s. The old container was put back, stopped as it was before (on %s).",
				plan.Service, plan.Target, res.Reason, plan.Current)
		}
		if res.PreflightFailed != "" {
			m.Text += fmt.Sprintf(" Before the %s, the service's own check already failed (%s): if it still fails, look at the check itself (SHIFTWISE_API_URL / SHIFTWISE_FRONTEND_URL).", action, res.PreflightFailed)
		}
		if len(res.Diagnostics) > 0 {
			m.Code = []bot.CodeBlock{{Title: "last log lines of the container that failed", Text: strings.Join(res.Diagnostics, "\n")}}
		}
		p.log.WithField("reason", res.Reason).Warn(action + " rolled back by itself")
		return m, nil
	}
	text := fmt.Sprintf("%s runs %s and is healthy.", plan.Service, plan.Target)
	if action == "rollback" && plan.Target.Ref == "" && plan.Record.Previous.Ref != "" && plan.Record.Previous.Ref != plan.Record.Previous.ID {
		text += fmt.Sprintf(" (%s names another image now, so the recorded image ID was used.)", plan.Record.Previous.Ref)
	}
	if action == "deploy" {
		text += fmt.Sprintf(" `rollback %s` returns to %s.", plan.Service, plan.Current)
	}
	if res.Reason != "" {
		text += " Note: " + res.Reason + "."
	}
	p.log.WithField("took", res.Took.String()).Info(action + " done")
	return bot.Message{Title: title, Status: bot.StatusOK, Checks: p.done(bot.StatusOK), Fields: fields, Text: text,
		Summary: strings.ToUpper(action[:1]) + action[1:] + ": PASSED"}, nil
}

func (d *Deploy) runRollback(ctx context.Context, req bot.Request) (bot.Message, error) {
	service := req.Args.First()
	if service != "" && !docker.ValidServiceName(service) {
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("%q is not a service name.", deployClip(service))}
	}
	wait, err := d.healthTimeout(req)
	if err != nil {
		return bot.Message{}, err
	}
	if len(d.RollbackCommand) > 0 {
		return d.runRollbackCommand(ctx, req, service, wait)
	}
	title := "Rollback"
	if service != "" {
		title += " " + service
	}
	plan, err := d.Docker.PlanRollback(ctx, service)
	if errors.Is(err, docker.ErrNoImage) {
		// The recorded image is gone (pruned): not the asker's mistake.
		return deployRefusal(title, deploySentence(err)), nil
	}
	if err != nil {
		return deployPlanError(title, err)
	}
	title = "Rollback " + plan.Service
	p := &deployProgress{ctx: ctx, title: fmt.Sprintf("Rollback %s: %s → %s", plan.Service, plan.Current, plan.Target),
		log: d.log().WithFields(logrus.Fields{"command": "rollback", "service": plan.Service, "user": req.Subject, "request_id": req.ID})}
	res, err := d.Docker.Apply(ctx, plan, d.options(req, wait, p))
	return d.result(title, "rollback", p, res, err, "")
}

// runRollbackCommand runs the configured command, streaming its output,
// then verifies health.
func (d *Deploy) runRollbackCommand(ctx context.Context, req bot.Request, service string, wait time.Duration) (bot.Message, error) {
	title := "Rollback (configured command)"
	argv := make([]string, 0, len(d.RollbackCommand))
	for _, a := range d.RollbackCommand {
		if a == "{service}" {
			a = service
		}
		argv = append(argv, a)
	}
	if err := d.rollbackCommandArgs(ctx, service); err != nil {
		return bot.Message{}, err
	}
	if service != "" {
		title = "Rollback " + service + " (configured command)"
	}
	log := d.log().WithFields(logrus.Fields{"command": "rollback", "service": service, "user": req.Subject, "request_id": req.ID, "argv": argv})
	timeout := d.RollbackTimeout
	if timeout <= 0 {
		timeout = defaultRollbackTimeout
	}
	env := append([]string(nil), d.RollbackEnv...)
	env = append(env, "SHIFTWISE_SERVICE="+service, "SHIFTWISE_REQUESTED_BY="+req.Subject)

	var mu sync.Mutex
	var tail []string
	var lastReport time.Time
	show := func(final bool) {
		if !final && time.Since(lastReport) < 500*time.Millisecond {
			return
		}
		lastReport = time.Now()
		bot.Report(ctx, bot.Message{Title: title, Text: "Running " + argv[0],
			Code: []bot.CodeBlock{{Title: "output", Text: strings.Join(tail, "\n")}}})
	}
	log.Info("rollback command starting")
	bot.Report(ctx, bot.Message{Title: title, Text: "Running " + strings.Join(argv, " ")})
	rctx, cancel := context.WithTimeout(ctx, timeout)
	res, err := runcmd.Run(rctx, argv, env, func(line string) {
		log.WithField("line", line).Info("rollback command output")
		mu.Lock()
		defer mu.Unlock()
		tail = append(tail, line)
		if len(tail) > scriptTail {
			tail = tail[1:]
		}
		show(false)
	})
	cancel()
	mu.Lock()
	out := strings.Join(tail, "\n")
	show(true)
	mu.Unlock()
	fields := []bot.Field{{Name: "Command", Value: strings.Join(argv, " ")}, {Name: "Took", Value: res.Took.Round(100 * time.Millisecond).String()}}
	code := []bot.CodeBlock{{Title: "last output lines", Text: out}}
	if err != nil || res.ExitCode != 0 {
		why := fmt.Sprintf("exited with code %d", res.ExitCode)
		if err != nil {
			why = err.Error()
		}
		log.WithField("why", why).Error("rollback command failed")
		return bot.Message{Title: title, Status: bot.StatusFailed, Fields: fields, Code: code,
			Text: "The rollback command failed: " + why + ".", Summary: "Rollback: FAILED"}, nil
	}
	bot.Report(ctx, bot.Message{Title: title, Text: "The command succeeded; verifying health", Code: code})
	if why := d.waitStackHealthy(ctx, service, wait); why != "" {
		log.WithField("why", why).Error("unhealthy after the rollback command")
		return bot.Message{Title: title, Status: bot.StatusFailed, Fields: fields, Code: code,
			Text: "The rollback command succeeded, but health did not follow: " + why + ".", Summary: "Rollback: FAILED"}, nil
	}
	log.Info("rollback command done, healthy")
	return bot.Message{Title: title, Status: bot.StatusOK, Fields: fields, Code: code,
		Text: "The rollback command succeeded and the services are healthy.", Summary: "Rollback: PASSED"}, nil
}

// rollbackCommandArgs checks service against the configured rollback
// command (whether it takes one) and the live project.
func (d *Deploy) rollbackCommandArgs(ctx context.Context, service string) error {
	usesService := slices.Contains(d.RollbackCommand, "{service}")
	switch {
	case usesService && service == "":
		return &bot.UsageError{Msg: "The configured rollback command needs a service: rollback <service>."}
	case !usesService && service != "":
		return &bot.UsageError{Msg: "The configured rollback command rolls back the whole stack; run `rollback` without a service."}
	}
	if service != "" {
		return d.serviceExists(ctx, service)
	}
	return nil
}

func (d *Deploy) serviceExists(ctx context.Context, service string) error {
	list, err := d.Docker.Containers(ctx)
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	for _, c := range list {
		if c.Service == service {
			return nil
		}
	}
	return &bot.UsageError{Msg: fmt.Sprintf("The project has no service %q.", deployClip(service))}
}

// waitStackHealthy waits until the service's containers (every
// container of the project for "") run and none is unhealthy or starting,
// and Verify passes.
func (d *Deploy) waitStackHealthy(ctx context.Context, service string, wait time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	last := ""
	for {
		list, err := d.Docker.Containers(ctx)
		bad := ""
		if err != nil {
			bad = err.Error()
		}
		for _, c := range list {
			if service != "" && c.Service != service {
				continue
			}
			if c.State != "running" || c.Health == "unhealthy" || c.Health == "starting" {
				bad = fmt.Sprintf("%s is %s", c.Name, strings.TrimSpace(c.State+" "+c.Health))
				break
			}
		}
		if bad == "" && d.Verify != nil {
			vctx, vcancel := context.WithTimeout(ctx, 5*time.Second)
			if err := d.Verify(vctx, service); err != nil {
				bad = err.Error()
			}
			vcancel()
		}
		if bad == "" {
			return ""
		}
		last = bad
		select {
		case <-ctx.Done():
			return fmt.Sprintf("not healthy within %s (%s)", wait, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// RollbackEnv is the environment a configured rollback command gets: the
// bot's PATH, HOME and locale, the compose project and Docker's address,
// and nothing else (no tokens, no database URLs).
func RollbackEnv(getenv func(string) string, project, dockerHost string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ"} {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	if dockerHost != "" {
		env = append(env, "DOCKER_HOST="+dockerHost)
	}
	return append(env, "SHIFTWISE_COMPOSE_PROJECT="+project)
}

// deployClip keeps at most 60 characters (never half a UTF-8 rune).
func deployClip(s string) string { return clipText(s, 60) }

func deployFirstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// ServiceHealthURLs returns a Deploy.Verify that GETs the base URL's
// /health of the services named in bases (the runbook's: api and
// frontend) and wants a 2xx; other services pass (their container's
// health decides). Service "" checks them all.
func ServiceHealthURLs(client *http.Client, bases map[string]string) func(ctx context.Context, service string) error {
	return func(ctx context.Context, service string) error {
		var names []string
		if service == "" {
			for n := range bases {
				names = append(names, n)
			}
			sort.Strings(names)
		} else if _, ok := bases[service]; ok {
			names = []string{service}
		}
		for _, n := range names {
			url := strings.TrimRight(bases[n], "/") + "/health"
			res, err := httpprobe.Probe(ctx, client, url)
			if err != nil {
				return fmt.Errorf("%s /health: %v", n, err)
			}
			if res.StatusCode < 200 || res.StatusCode > 299 {
				return fmt.Errorf("%s /health answered HTTP %d", n, res.StatusCode)
			}
		}
		return nil
	}
}
