package main

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shiftwise/shiftwise-bot/commands"
	"github.com/shiftwise/shiftwise-bot/integrations/runcmd"
)

// config is the bot's environment, read once at start. Names and defaults
// are the contract in DESIGN.md; thresholds default to the runbook's.
type config struct {
	SlackAppToken, SlackBotToken, SlackAPIURL string
	SlackChannels                             []string
	SlackDMs                                  bool

	APIURL, FrontendURL string
	TargetDBURL         string
	TargetRedisURL      string
	DockerHost          string
	ComposeProject      string
	BackupDir           string
	DatabaseURL         string
	RedisURL            string
	DataDir             string
	PolicyPath          string
	LogLevel            string
	ApprovalTTL         time.Duration
	AuditChannel        string

	Health      commands.HealthLimits
	HealthReuse time.Duration

	LogDir              string   // SHIFTWISE_LOG_DIR, cleaned by `cleanup`
	DBTestCommand       []string // SHIFTWISE_DB_TEST_COMMAND, run by `db test`
	DeployHealthTimeout time.Duration
	RollbackCommand     []string // argv; none: rollback returns to the recorded image
	RollbackTimeout     time.Duration
	RollbackEnv         []string // the rollback command's whole environment
	Incidents           incidentConfig
}

// settings documents every variable; `-help` prints it.
var settings = []struct{ name, def, what string }{
	{"SLACK_APP_TOKEN", "", "xapp- token: with SLACK_BOT_TOKEN, run in Slack Socket Mode"},
	{"SLACK_BOT_TOKEN", "", "xoxb- token"},
	{"SLACK_API_URL", "", "another Slack Web API base URL (with trailing slash)"},
	{"SHIFTWISE_SLACK_CHANNELS", "", "comma-separated channel IDs where the bot runs commands (default: every channel it is in)"},
	{"SHIFTWISE_SLACK_DMS", "false", "run commands in direct messages too"},
	{"SHIFTWISE_API_URL", "http://localhost:3000", "API base; health at /health"},
	{"SHIFTWISE_FRONTEND_URL", "http://localhost:3001", "frontend base; health at /health"},
	{"SHIFTWISE_TARGET_DB_URL", "postgres://shiftwise@localhost:5432/shiftwise", "the ShiftWise database being operated"},
	{"SHIFTWISE_TARGET_REDIS_URL", "redis://localhost:6379/0", "the ShiftWise cache being operated"},
	{"DOCKER_HOST", "unix:///var/run/docker.sock", "Docker Engine"},
	{"SHIFTWISE_COMPOSE_PROJECT", "shiftwise", "compose project whose containers are operated"},
	{"SHIFTWISE_BACKUP_DIR", "./backups", "where backups are written and checked"},
	{"SHIFTWISE_DATABASE_URL", "", "the bot's own state in PostgreSQL (approvals, audit, incidents)"},
	{"SHIFTWISE_REDIS_URL", "", "the bot's own dedup and leases"},
	{"SHIFTWISE_DATA_DIR", "./data", "the spool and other local files of the bot"},
	{"SHIFTWISE_POLICY", "", "Casbin policy CSV (default: the embedded example)"},
	{"SHIFTWISE_AUDIT_CHANNEL", "", "Slack channel ID where the audit log's running digest is posted (at most once a minute)"},
	{"SHIFTWISE_APPROVAL_TTL", "15m", "how long an approval request waits for a second person (10s to 24h)"},
	{"SHIFTWISE_LOG_LEVEL", "", "debug, info, warn, error (default info in Slack, warn at the console)"},
	{"SHIFTWISE_HEALTH_TIMEOUT", "5s", "each health check's deadline"},
	{"SHIFTWISE_HEALTH_RESPONSE_TIME", "3s", "API/frontend response time above which health fails"},
	{"SHIFTWISE_HEALTH_MAX_ERRORS", "10", "error lines in the log window at which health fails"},
	{"SHIFTWISE_HEALTH_LOG_WINDOW", "24h", "how far back health counts error lines"},
	{"SHIFTWISE_HEALTH_BACKUP_AGE", "24h", "age of the newest backup at which health fails"},
	{"SHIFTWISE_HEALTH_DISK_PERCENT", "80", "disk usage at which health fails"},
	{"SHIFTWISE_HEALTH_MEMORY_PERCENT", "80", "memory usage at which health fails"},
	{"SHIFTWISE_HEALTH_DB_CONN_PERCENT", "80", "share of max_connections at which health fails"},
	{"SHIFTWISE_HEALTH_REDIS_MEMORY_PERCENT", "85", "share of Redis maxmemory at which health fails"},
	{"SHIFTWISE_HEALTH_REUSE", "2s", "health requests within this of a finished run share its result (0 = never)"},
	{"SHIFTWISE_LOG_DIR", "./logs", "the ShiftWise log directory `cleanup` deletes old *.log files from"},
	{"SHIFTWISE_DB_TEST_COMMAND", `["shiftwise-demo","dbtest"]`, "JSON array run in the api container by `db test` (runbook: [\"npm\",\"run\",\"db:test\"])"},
	{"SHIFTWISE_DEPLOY_HEALTH_TIMEOUT", "2m", "how long a deployed container has to become healthy before the old one is put back"},
	{"SHIFTWISE_ROLLBACK_COMMAND", "", `the team's rollback command as a JSON argv, e.g. ["/opt/shiftwise/deploy.sh","rollback","{service}"] (no shell; default: the bot returns to the recorded image)`},
	{"SHIFTWISE_ROLLBACK_TIMEOUT", "10m", "how long the rollback command may run"},
	{"SHIFTWISE_OPS_CHANNEL", "", "Slack channel ID where incidents are announced (and handled in a thread where the bot may not create channels); default: where started"},
	{"SHIFTWISE_ONCALL_GROUP", "", "Slack user group ID (S…) invited to every incident channel"},
	{"SHIFTWISE_ESCALATION_L2_GROUP", "", "Slack user group ID paged by `incident escalate L2` (Development Team, dev@company.com)"},
	{"SHIFTWISE_ESCALATION_L3_GROUP", "", "Slack user group ID paged by `incident escalate L3` (System Architects, management@company.com)"},
}

var slackChannelID = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)

// loadConfig reads the environment through getenv. An unusable value
// stops the bot with the setting named.
func loadConfig(getenv func(string) string) (config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, s := range settings {
			if s.name == name {
				return s.def
			}
		}
		return ""
	}
	c := config{
		SlackAppToken: get("SLACK_APP_TOKEN"), SlackBotToken: get("SLACK_BOT_TOKEN"), SlackAPIURL: get("SLACK_API_URL"),
		APIURL: get("SHIFTWISE_API_URL"), FrontendURL: get("SHIFTWISE_FRONTEND_URL"),
		TargetDBURL: get("SHIFTWISE_TARGET_DB_URL"), TargetRedisURL: get("SHIFTWISE_TARGET_REDIS_URL"),
		DockerHost: get("DOCKER_HOST"), ComposeProject: get("SHIFTWISE_COMPOSE_PROJECT"),
		BackupDir: get("SHIFTWISE_BACKUP_DIR"), DatabaseURL: get("SHIFTWISE_DATABASE_URL"),
		RedisURL: get("SHIFTWISE_REDIS_URL"), DataDir: get("SHIFTWISE_DATA_DIR"),
		PolicyPath: get("SHIFTWISE_POLICY"), LogLevel: get("SHIFTWISE_LOG_LEVEL"), AuditChannel: get("SHIFTWISE_AUDIT_CHANNEL"),
		Health: commands.DefaultHealthLimits(),
	}
	var errs []string
	check := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
		}
	}
	for _, ch := range strings.Split(get("SHIFTWISE_SLACK_CHANNELS"), ",") {
		ch = strings.TrimSpace(ch)
		if ch == "" {
			continue
		}
		if !slackChannelID.MatchString(ch) {
			check("SHIFTWISE_SLACK_CHANNELS", fmt.Errorf("%q is not a channel ID (like C0123ABCD; names change, IDs do not)", ch))
			continue
		}
		c.SlackChannels = append(c.SlackChannels, ch)
	}
	if c.AuditChannel != "" && !slackChannelID.MatchString(c.AuditChannel) {
		check("SHIFTWISE_AUDIT_CHANNEL", fmt.Errorf("%q is not a channel ID (like C0123ABCD)", c.AuditChannel))
	}
	dms, err := strconv.ParseBool(get("SHIFTWISE_SLACK_DMS"))
	check("SHIFTWISE_SLACK_DMS", err)
	c.SlackDMs = dms
	if c.SlackAPIURL != "" {
		u, err := url.Parse(c.SlackAPIURL)
		if err == nil && (u.Scheme != "http" && u.Scheme != "https" || !strings.HasSuffix(u.Path, "/")) {
			err = fmt.Errorf("must be an http(s) URL ending in /")
		}
		check("SLACK_API_URL", err)
	}
	for _, name := range []string{"SHIFTWISE_API_URL", "SHIFTWISE_FRONTEND_URL"} {
		u, err := url.Parse(get(name))
		if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
			err = fmt.Errorf("must be an http(s) URL with a host")
		}
		check(name, err)
	}
	dur := func(name string, dst *time.Duration) {
		d, err := time.ParseDuration(get(name))
		if err == nil && d <= 0 {
			err = fmt.Errorf("must be positive")
		}
		check(name, err)
		if err == nil {
			*dst = d
		}
	}
	pct := func(name string, dst *float64) {
		p, err := strconv.ParseFloat(strings.TrimSuffix(get(name), "%"), 64)
		if err == nil && (p <= 0 || p > 100) {
			err = fmt.Errorf("must be a percentage between 0 and 100")
		}
		check(name, err)
		if err == nil {
			*dst = p
		}
	}
	ttl, err := time.ParseDuration(get("SHIFTWISE_APPROVAL_TTL"))
	if err == nil && (ttl < 10*time.Second || ttl > 24*time.Hour) {
		err = fmt.Errorf("must be between 10s and 24h")
	}
	check("SHIFTWISE_APPROVAL_TTL", err)
	c.ApprovalTTL = ttl
	dur("SHIFTWISE_HEALTH_TIMEOUT", &c.Health.CheckTimeout)
	dur("SHIFTWISE_HEALTH_RESPONSE_TIME", &c.Health.ResponseTime)
	dur("SHIFTWISE_HEALTH_LOG_WINDOW", &c.Health.LogWindow)
	dur("SHIFTWISE_HEALTH_BACKUP_AGE", &c.Health.BackupAge)
	reuse, err := time.ParseDuration(get("SHIFTWISE_HEALTH_REUSE"))
	if err == nil && (reuse < 0 || reuse > time.Minute) {
		err = fmt.Errorf("must be between 0 and 1m")
	}
	check("SHIFTWISE_HEALTH_REUSE", err)
	c.HealthReuse = reuse
	n, err := strconv.Atoi(get("SHIFTWISE_HEALTH_MAX_ERRORS"))
	if err == nil && n < 1 {
		err = fmt.Errorf("must be at least 1")
	}
	check("SHIFTWISE_HEALTH_MAX_ERRORS", err)
	if err == nil {
		c.Health.ErrorLines = n
	}
	c.LogDir = get("SHIFTWISE_LOG_DIR")
	c.DBTestCommand, err = commands.ParseDBTestCommand(get("SHIFTWISE_DB_TEST_COMMAND"))
	check("SHIFTWISE_DB_TEST_COMMAND", err)
	dur("SHIFTWISE_DEPLOY_HEALTH_TIMEOUT", &c.DeployHealthTimeout)
	dur("SHIFTWISE_ROLLBACK_TIMEOUT", &c.RollbackTimeout)
	if v := get("SHIFTWISE_ROLLBACK_COMMAND"); v != "" {
		argv, err := runcmd.ParseArgv(v)
		check("SHIFTWISE_ROLLBACK_COMMAND", err)
		c.RollbackCommand = argv
	}
	c.RollbackEnv = commands.RollbackEnv(getenv, c.ComposeProject, c.DockerHost)
	c.Incidents, err = loadIncidentConfig(get)
	if err != nil {
		errs = append(errs, err.Error())
	}
	pct("SHIFTWISE_HEALTH_DISK_PERCENT", &c.Health.DiskPercent)
	pct("SHIFTWISE_HEALTH_MEMORY_PERCENT", &c.Health.MemoryPercent)
	pct("SHIFTWISE_HEALTH_DB_CONN_PERCENT", &c.Health.DBConnPercent)
	pct("SHIFTWISE_HEALTH_REDIS_MEMORY_PERCENT", &c.Health.RedisMemPercent)
	switch {
	case (c.SlackAppToken == "") != (c.SlackBotToken == ""):
		errs = append(errs, "SLACK_APP_TOKEN and SLACK_BOT_TOKEN: set both for Slack, or neither for the console")
	case c.SlackAppToken != "" && !strings.HasPrefix(c.SlackAppToken, "xapp-"):
		errs = append(errs, "SLACK_APP_TOKEN: must be an app-level token (xapp-…)")
	case c.SlackBotToken != "" && !strings.HasPrefix(c.SlackBotToken, "xoxb-"):
		errs = append(errs, "SLACK_BOT_TOKEN: must be a bot token (xoxb-…)")
	}
	if len(errs) > 0 {
		return config{}, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// secrets lists the literal secrets the redactor must always remove. URL
// passwords are masked by pattern wherever a URL appears; they are not
// literals, because a short demo password such as "shiftwise" would mask
// every mention of the project.
func (c config) secrets() []string {
	return []string{c.SlackAppToken, c.SlackBotToken}
}
