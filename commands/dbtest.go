package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
)

// DefaultDBTestCommand is what `db test` runs in the api container when
// SHIFTWISE_DB_TEST_COMMAND is not set: the demo api's own database check
// (connect with its DATABASE_URL, SELECT 1). A Node.js ShiftWise api sets
// ["npm","run","db:test"], the runbook's command.
var DefaultDBTestCommand = []string{"shiftwise-demo", "dbtest"}

// DBTest is the runbook's API→database check (`docker-compose exec api
// npm run db:test`): a configured, fixed argument vector run inside the
// api container, its output and exit code reported.
type DBTest struct {
	Docker  ServiceExecer
	Service string   // default api
	Argv    []string // default DefaultDBTestCommand
	Timeout time.Duration
}

// dbTestOutputLimit bounds what is kept of the check's output.
const dbTestOutputLimit = 16 << 10

// ParseDBTestCommand reads SHIFTWISE_DB_TEST_COMMAND: a JSON array of
// strings, the program first ("" gives the default).
func ParseDBTestCommand(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return append([]string(nil), DefaultDBTestCommand...), nil
	}
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil {
		return nil, fmt.Errorf(`must be a JSON array of strings, like ["npm","run","db:test"]: %v`, err)
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("the command is empty: give at least the program")
	}
	for _, a := range argv {
		if strings.ContainsAny(a, "\x00\n\r") {
			return nil, errors.New("an argument holds a NUL or a line break")
		}
	}
	return argv, nil
}

func (d *DBTest) argv() []string {
	if len(d.Argv) == 0 {
		return DefaultDBTestCommand
	}
	return d.Argv
}

// Command returns `db test`.
func (d *DBTest) Command() bot.Command {
	return bot.Command{
		Name:    "db test",
		Summary: "the API→database check, run inside the api container",
		Help: "The runbook's `docker-compose exec api npm run db:test` (API Returns 500 Errors, step 3): runs the configured " +
			"command (SHIFTWISE_DB_TEST_COMMAND, a JSON array; default `shiftwise-demo dbtest`, the demo api's check) inside the " +
			"api container and shows its output and exit code. PASSED when it exits 0. Nothing you type reaches the command.",
		Object: bkObj("db:test"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: d.timeout() + 15*time.Second,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			return d.Run(ctx), nil
		},
	}
}

func (d *DBTest) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return 30 * time.Second
}

// Run runs the check once.
func (d *DBTest) Run(ctx context.Context) bot.Message {
	svc := bkFirst(d.Service, "api")
	argv := d.argv()
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	var out bytes.Buffer
	res, err := d.Docker.Exec(ctx, svc, argv, docker.ExecOptions{Stdout: &bkLimitWriter{w: &out, n: dbTestOutputLimit}, StderrLimit: dbTestOutputLimit})
	m := bot.Message{Title: "API → database check", Fields: []bot.Field{
		{Name: "Command", Value: strings.Join(argv, " ")},
		{Name: "Service", Value: svc},
	}}
	if err != nil {
		m.Status = bot.StatusFailed
		switch {
		case errors.Is(err, docker.ErrNoService), errors.Is(err, docker.ErrNotRunning):
			m.Text = fmt.Sprintf("The check could not run: %v. `status` shows the containers.", err)
		case errors.Is(err, context.DeadlineExceeded):
			m.Text = fmt.Sprintf("The check did not finish within %s.", d.timeout())
		default:
			m.Text = "The check could not run: " + err.Error()
		}
		m.Summary = "DB test: FAILED"
		if res.Stderr != "" || out.Len() > 0 {
			m.Code = append(m.Code, bot.CodeBlock{Title: "output", Text: strings.TrimRight(out.String()+res.Stderr, "\n")})
		}
		return m
	}
	m.Fields = append(m.Fields,
		bot.Field{Name: "Container", Value: res.Container},
		bot.Field{Name: "Exit code", Value: strconv.Itoa(res.ExitCode)},
		bot.Field{Name: "Took", Value: ms(res.Duration)})
	text := strings.TrimRight(out.String(), "\n")
	if res.Stderr != "" {
		if text != "" {
			text += "\n"
		}
		text += strings.TrimRight(res.Stderr, "\n")
	}
	if text == "" {
		text = "(no output)"
	}
	m.Code = []bot.CodeBlock{{Title: "output", Text: text}}
	if res.ExitCode == 0 {
		m.Status, m.Summary = bot.StatusOK, "DB test: PASSED"
	} else {
		m.Status, m.Summary = bot.StatusFailed, fmt.Sprintf("DB test: FAILED (exit %d)", res.ExitCode)
	}
	return m
}
