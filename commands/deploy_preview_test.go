package commands

import (
	"context"
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// TestDeployArgumentsCheckedBeforeAnyoneIsAsked: with deploy and rollback
// needing approval (their defaults), a hostile or invalid service or
// image, an unknown service, or an image the engine does not have is
// refused as a usage error before a request exists, for a Level 2 asker
// and for a Level 1 escalation alike: no request is recorded, nothing
// changes. A valid deploy becomes a request that shows its plan.
func TestDeployArgumentsCheckedBeforeAnyoneIsAsked(t *testing.T) {
	t.Parallel()
	env := newDeployEnv(t)
	s, _ := storetest.OpenTest(t)
	reg, err := bot.NewRegistry(All(Deps{Health: &Health{}, Deploy: env.d})...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Redactor: noRedact{},
		Authorizer: newAuthz(t, "g, console:ops, level1\ng, console:dev, level2\ng, console:arch, level3\n"),
		Approvals:  botstore.Approvals{S: s}, Auditor: botstore.Auditor{S: s}})
	if err != nil {
		t.Fatal(err)
	}
	before := env.api(t)
	missing := "is not on this host"
	for _, c := range []struct{ line, says string }{
		{"deploy 'api;id' " + env.v2, "not a service name"},
		{"deploy 'api`id`' " + env.v2, "not a service name"},
		{"deploy '$(id)' " + env.v2, "not a service name"},
		{"deploy ../api " + env.v2, "not a service name"},
		{"deploy '-api' " + env.v2, "not a service name"},
		{"deploy 'api id' " + env.v2, "not a service name"},
		{"deploy " + strings.Repeat("a", 64) + " " + env.v2, "not a service name"},
		{"deploy nosuch " + env.v2, "no service"},
		{"deploy api 'x:latest;id'", "not an image reference"},
		{"deploy api 'app:v2; rm -rf /'", "not an image reference"},
		{"deploy api '$(curl evil)'", "not an image reference"},
		{"deploy api 'x:latest|id'", "not an image reference"},
		{"deploy api App:Latest", "not an image reference"},
		{"deploy api ''", "not an image reference"},
		{"deploy api x:", "not an image reference"},
		{"deploy api " + strings.Repeat("x", 300), "not an image reference"},
		{"deploy api nonexistent/image:1", missing},
		{"deploy api shiftwise-test/never-built:v1", missing},
		{"deploy api sha256:" + strings.Repeat("0", 64), missing},
		{"deploy api " + env.v2 + " --wait 0s", "--wait"},
		{"rollback 'api;id'", "not a service name"},
		{"rollback 'api`id`'", "not a service name"},
		{"rollback nosuch", "no service"},
		{"rollback api --wait 31m", "--wait"},
	} {
		for _, who := range []string{"console:dev", "console:ops"} {
			r := e.Handle(context.Background(), bot.Request{Subject: who, Channel: "C1", Text: c.line})
			if r.Outcome != bot.OutcomeUsage || r.Outcome.ExitCode() != 2 || !strings.Contains(text(r.Message), c.says) || len(r.Message.Buttons) != 0 {
				t.Errorf("%s as %s: %v %q; want a usage error saying %q", c.line, who, r.Outcome, text(r.Message), c.says)
			}
		}
	}
	if got := requestsRecorded(t, s); got != 0 {
		t.Errorf("%d requests recorded for invalid arguments", got)
	}
	if now := env.api(t); now.ID != before.ID || env.apiImage(t) != env.v1ID {
		t.Fatalf("refused input changed the service: %+v", now)
	}

	// Valid: a request showing what it would do, nothing done yet.
	r := e.Handle(context.Background(), bot.Request{Subject: "console:dev", Channel: "C1", Text: "deploy api " + env.v2})
	if r.Outcome != bot.OutcomePending || !strings.Contains(text(r.Message), "on "+env.v2+" (") || !strings.Contains(text(r.Message), "(now on "+env.v1) {
		t.Errorf("valid deploy: %v %q", r.Outcome, text(r.Message))
	}
	// A rollback with nothing to return to is asked for, saying so.
	r = e.Handle(context.Background(), bot.Request{Subject: "console:dev", Channel: "C1", Text: "rollback api"})
	if r.Outcome != bot.OutcomePending || !strings.Contains(text(r.Message), "would not run: there is no previous image") {
		t.Errorf("rollback without history: %v %q", r.Outcome, text(r.Message))
	}
	// --no-backup by someone below Level 3: the request says it would be refused.
	r = e.Handle(context.Background(), bot.Request{Subject: "console:dev", Channel: "C1", Text: "deploy api " + env.v2 + " --no-backup"})
	if r.Outcome != bot.OutcomePending || !strings.Contains(text(r.Message), "would not run: --no-backup needs Level 3") {
		t.Errorf("--no-backup below Level 3: %v %q", r.Outcome, text(r.Message))
	}
	if got := requestsRecorded(t, s); got != 3 {
		t.Errorf("%d requests recorded; want the 3 valid ones", got)
	}
	if env.apiImage(t) != env.v1ID || len(env.backups) != 0 {
		t.Error("a request changed the service or took a backup")
	}
}

// requestsRecorded counts the requests recorded, by their audit entries.
func requestsRecorded(t *testing.T, s *store.Store) int {
	t.Helper()
	entries, err := s.Entries(context.Background(), store.Filter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Decision == "pending" {
			n++
		}
	}
	return n
}
