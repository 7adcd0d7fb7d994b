package depgraph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/shiftwise/shiftwise-bot"

// pkg is one package of the module as `go list -json` describes it:
// Imports are its own (non-test) imports, Deps everything it depends on.
type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// rule forbids packages matching from to depend on packages matching to
// (through any number of packages between them when deep, else directly).
type rule struct {
	why  string
	from func(p string) bool
	to   func(p string) bool
	deep bool
}

// under reports whether p is path or a package below it.
func under(p, path string) bool { return p == path || strings.HasPrefix(p, path+"/") }

func in(paths ...string) func(string) bool {
	return func(p string) bool {
		for _, path := range paths {
			if under(p, path) {
				return true
			}
		}
		return false
	}
}

func local(paths ...string) func(string) bool {
	full := make([]string, len(paths))
	for i, p := range paths {
		full[i] = module + "/" + p
	}
	return in(full...)
}

func not(f func(string) bool) func(string) bool { return func(p string) bool { return !f(p) } }

// rules are the dependency rules of DESIGN.md: dependencies point one way
// (cmd → commands → bot ← transports; commands → integrations), nothing
// under internal/ or integrations/ reaches a command or a transport, and
// each client library stays in the one package that wraps it.
var rules = []rule{
	{why: "infrastructure must not depend on the feature layer or a transport",
		from: local("internal", "integrations"), to: local("commands", "bot/slack", "bot/console"), deep: true},
	{why: "the core and its transports never import commands",
		from: local("bot"), to: local("commands"), deep: true},
	{why: "commands and the core reach the bot's state only through the core's interfaces",
		from: local("commands", "bot"), to: local("internal/state", "internal/store", "internal/spool", "internal/audittrail"), deep: true},
	{why: "the core knows no transport",
		from: func(p string) bool { return p == module+"/bot" }, to: local("bot/slack", "bot/console"), deep: true},
	{why: "slack-go only in bot/slack",
		from: not(local("bot/slack")), to: in("github.com/slack-go/slack")},
	{why: "casbin only in permissions",
		from: not(local("permissions")), to: in("github.com/casbin/casbin")},
	{why: "the Docker client only in integrations/docker",
		from: not(local("integrations/docker")), to: in("github.com/moby/moby/client")},
	{why: "pgx only in the packages that talk to PostgreSQL",
		from: not(local("internal/state", "internal/store", "internal/pgpool", "internal/testenv", "integrations/postgres", "cmd/shiftwise-demo")),
		to:   in("github.com/jackc/pgx")},
}

// violations lists every dependency of pkgs that breaks one of rules.
func violations(pkgs []pkg, rules []rule) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !r.from(p.ImportPath) {
				continue
			}
			deps := p.Imports
			if r.deep {
				deps = p.Deps
			}
			for _, d := range deps {
				if r.to(d) {
					out = append(out, fmt.Sprintf("%s imports %s: %s", strings.TrimPrefix(p.ImportPath, module+"/"),
						strings.TrimPrefix(d, module+"/"), r.why))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// listModule lists the module's packages with go list.
func listModule(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestDependencyRules holds the module's import graph to the rules.
func TestDependencyRules(t *testing.T) {
	pkgs := listModule(t)
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.ImportPath] = true
	}
	// The rules must bite on real packages: a renamed module or a broken
	// go list must not pass by finding nothing.
	for _, p := range []string{"bot", "bot/slack", "bot/console", "commands", "integrations/docker", "permissions", "cmd/shiftwise-bot"} {
		if !seen[module+"/"+p] {
			t.Fatalf("go list did not list %s: the test would check nothing", p)
		}
	}
	if v := violations(pkgs, rules); len(v) > 0 {
		t.Errorf("dependency rules broken:\n  %s", strings.Join(v, "\n  "))
	}
}

// TestViolationsFindsEachRule: every rule catches a package that breaks
// it, directly and (for the deep ones) through a package in between, and
// lets the allowed ones through.
func TestViolationsFindsEachRule(t *testing.T) {
	m := func(p string) string { return module + "/" + p }
	cases := []struct {
		name string
		p    pkg
		want int
	}{
		{"internal imports commands", pkg{ImportPath: m("internal/state"), Imports: []string{m("commands")}, Deps: []string{m("commands")}}, 1},
		{"internal reaches commands through another package", pkg{ImportPath: m("internal/audittrail"), Imports: []string{m("internal/x")}, Deps: []string{m("internal/x"), m("commands")}}, 1},
		{"internal imports a command subpackage", pkg{ImportPath: m("internal/x"), Imports: []string{m("commands/sub")}, Deps: []string{m("commands/sub")}}, 1},
		{"integrations imports the Slack transport", pkg{ImportPath: m("integrations/redis"), Imports: []string{m("bot/slack")}, Deps: []string{m("bot/slack")}}, 1},
		{"internal imports the console", pkg{ImportPath: m("internal/redact/redacttest"), Imports: []string{m("bot/console")}, Deps: []string{m("bot/console")}}, 1},
		{"bot imports commands", pkg{ImportPath: m("bot"), Imports: []string{m("commands")}, Deps: []string{m("commands")}}, 1},
		{"a transport imports commands", pkg{ImportPath: m("bot/slack"), Imports: []string{m("commands")}, Deps: []string{m("commands")}}, 1},
		{"commands takes a concrete spool", pkg{ImportPath: m("commands"), Imports: []string{m("internal/spool")}, Deps: []string{m("internal/spool")}}, 1},
		{"commands imports the state package", pkg{ImportPath: m("commands"), Imports: []string{m("internal/state")}, Deps: []string{m("internal/state")}}, 1},
		{"bot imports a transport", pkg{ImportPath: m("bot"), Imports: []string{m("bot/console")}, Deps: []string{m("bot/console")}}, 1},
		{"slack-go outside bot/slack", pkg{ImportPath: m("commands"), Imports: []string{"github.com/slack-go/slack"}}, 1},
		{"casbin outside permissions", pkg{ImportPath: m("bot"), Imports: []string{"github.com/casbin/casbin/v2"}}, 1},
		{"moby outside integrations/docker", pkg{ImportPath: m("commands"), Imports: []string{"github.com/moby/moby/client"}}, 1},
		{"pgx in commands", pkg{ImportPath: m("commands"), Imports: []string{"github.com/jackc/pgx/v5"}}, 1},

		{"transports import bot", pkg{ImportPath: m("bot/slack"), Imports: []string{m("bot")}, Deps: []string{m("bot")}}, 0},
		{"commands imports bot and integrations", pkg{ImportPath: m("commands"), Imports: []string{m("bot"), m("integrations/docker")}, Deps: []string{m("bot"), m("integrations/docker")}}, 0},
		{"main imports everything", pkg{ImportPath: m("cmd/shiftwise-bot"), Imports: []string{m("commands"), m("bot/slack"), m("internal/state")}, Deps: []string{m("commands"), m("bot/slack"), "github.com/slack-go/slack", "github.com/jackc/pgx/v5"}}, 0},
		{"commands-like name is not commands", pkg{ImportPath: m("internal/x"), Imports: []string{m("commandsx")}, Deps: []string{m("commandsx")}}, 0},
		{"slack-go in bot/slack", pkg{ImportPath: m("bot/slack"), Imports: []string{"github.com/slack-go/slack/socketmode"}}, 0},
		{"slack-go in the Slack fake", pkg{ImportPath: m("bot/slack/slacktest"), Imports: []string{"github.com/slack-go/slack"}}, 0},
		{"pgx in the state package", pkg{ImportPath: m("internal/state"), Imports: []string{"github.com/jackc/pgx/v5/pgxpool"}}, 0},
		{"moby in integrations/docker", pkg{ImportPath: m("integrations/docker"), Imports: []string{"github.com/moby/moby/client"}}, 0},
	}
	for _, c := range cases {
		if got := violations([]pkg{c.p}, rules); len(got) != c.want {
			t.Errorf("%s: %d violations %q, want %d", c.name, len(got), got, c.want)
		}
	}
}
