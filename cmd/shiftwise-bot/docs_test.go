package main

//go:generate go test -run=TestCommandsReference -count=1 . -update-docs

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/docgen"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/commands.md from the registry ("+docgen.Regenerate+")")

// commandsDoc is the generated commands reference, from this directory.
const commandsDoc = "../../docs/commands.md"

// docsEnv wires every command without reaching a live service: the bot's
// database is set (so approvals, audit and incidents are wired) but points
// at a port nothing listens on, and Docker at a socket that does not exist,
// so that what the reference says never depends on what runs on this
// machine (restart all's services are the runbook's, not the live
// project's). Every other setting is its default, as in production.
func docsEnv(dataDir string) map[string]string {
	return map[string]string{
		"SHIFTWISE_DATABASE_URL": "postgres://docgen@127.0.0.1:1/docgen?sslmode=disable&connect_timeout=1",
		"DOCKER_HOST":            "unix:///nonexistent/shiftwise-docgen/docker.sock",
		"SHIFTWISE_DATA_DIR":     dataDir,
	}
}

// wiredCommands builds the registry as main does, with the engine's own
// commands, and returns it.
func wiredCommands(t *testing.T) []*bot.Command {
	t.Helper()
	// Test-only commands never reach the reference: none are added.
	m := openMain(t, t.Context(), docsEnv(t.TempDir()))
	return m.Engine.Registry().Commands()
}

// TestCommandsReference fails when docs/commands.md is not what the
// registry generates now. `go generate ./cmd/shiftwise-bot` rewrites it.
func TestCommandsReference(t *testing.T) {
	cmds := wiredCommands(t)
	if *updateDocs {
		out, err := docgen.Render(cmds)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("../../docs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(commandsDoc, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d commands)", commandsDoc, len(cmds))
		return
	}
	file, err := os.ReadFile(commandsDoc)
	if err != nil {
		t.Fatalf("%v: generate it with `%s`", err, docgen.Regenerate)
	}
	if err := docgen.Check(file, cmds); err != nil {
		t.Fatal(err)
	}
}

// TestCommandsReferenceIsFullyWired guards the wiring the reference is
// generated from: every family of commands main can wire is in it, so a
// dependency docsEnv leaves out cannot silently drop commands from the
// reference.
func TestCommandsReferenceIsFullyWired(t *testing.T) {
	names := map[string]bool{}
	for _, c := range wiredCommands(t) {
		names[c.Name] = true
	}
	for _, want := range []string{
		"health", "status", "host", "restart", "db status", "db test", "cache status", "backup create", "cleanup",
		"deploy", "rollback", "runbook", "whoami", "policy show", "policy reload", "incident start", "audit",
		"audit verify", "approve", "deny",
	} {
		if !names[want] {
			t.Errorf("the wired registry has no %q: the reference would leave it out", want)
		}
	}
	file, err := os.ReadFile(commandsDoc)
	if err != nil {
		t.Fatalf("%v: generate it with `%s`", err, docgen.Regenerate)
	}
	for name := range names {
		if !strings.Contains(string(file), "\n### "+name+"\n") {
			t.Errorf("%s has no section for %q", commandsDoc, name)
		}
	}
}

// TestReadmeAndDocsLinks keeps the newcomer's page short, its two commands
// first and exact, and every relative link in README.md and docs/ pointing
// at a file of the repository (or, for the runbook beside the repository,
// at the same place from every page).
func TestReadmeAndDocsLinks(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(readme), "\n"), "\n")
	if len(lines) >= 200 {
		t.Errorf("README.md has %d lines; the newcomer's page stays under 200 (move detail to docs/)", len(lines))
	}
	head := strings.Join(lines[:min(6, len(lines))], "\n")
	for _, want := range []string{
		"make demo   # brings up (or reuses) the local demo ShiftWise stack and opens the bot's console on it",
		"make test   # installs what the tests need (PostgreSQL, Redis, demo images), then vet + every test with -race",
	} {
		if !strings.Contains(head, "\n"+want+"\n") {
			t.Errorf("README.md's first lines lack the contract line\n%s", want)
		}
	}
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no docs pages: %v", err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	outside := map[string]string{} // target outside the repository -> first page linking it
	for _, page := range append([]string{"../../README.md"}, pages...) {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(text), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			abs, err := filepath.Abs(filepath.Join(filepath.Dir(page), target))
			if err != nil {
				t.Fatal(err)
			}
			root, _ := filepath.Abs("../..")
			if !strings.HasPrefix(abs, root+string(filepath.Separator)) {
				if first, ok := outside[filepath.Base(abs)]; ok && first != abs {
					t.Errorf("%s links %s, which is %s; another page's link to it is %s", page, m[1], abs, first)
				}
				outside[filepath.Base(abs)] = abs
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links %s, which does not exist", page, m[1])
			}
		}
	}
}
