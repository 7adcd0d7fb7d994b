package runcmd

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunStreamsLinesAndExitCode(t *testing.T) {
	p := script(t, "echo one\necho two >&2\necho \"svc=$1 env=$SHIFTWISE_SERVICE home=$HOME\"\nexit 3\n")
	var lines []string
	res, err := Run(context.Background(), []string{p, "api; rm -rf /"}, []string{"SHIFTWISE_SERVICE=api"}, func(l string) { lines = append(lines, l) })
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 {
		t.Errorf("exit %d", res.ExitCode)
	}
	// The argument reached the script as one word, untouched by any shell;
	// the environment is only what was given.
	want := []string{"one", "two", "svc=api; rm -rf / env=api home="}
	slices.Sort(lines)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
}

func TestRunKillsAtTheDeadline(t *testing.T) {
	p := script(t, "echo started\nsleep 30 &\nsleep 30\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var lines []string
	res, err := Run(ctx, []string{p}, []string{"PATH=/usr/bin:/bin"}, func(l string) { lines = append(lines, l) })
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, res %+v", err, res)
	}
	if res.Took > 20*time.Second || !slices.Equal(lines, []string{"started"}) {
		t.Errorf("took %s, lines %q", res.Took, lines)
	}
}

func TestRunMissingProgram(t *testing.T) {
	if _, err := Run(context.Background(), []string{"/nonexistent/rollback"}, nil, nil); err == nil {
		t.Fatal("no error for a missing program")
	}
}

func TestParseArgv(t *testing.T) {
	if a, err := ParseArgv(`["/opt/deploy.sh","rollback","{service}"]`); err != nil || len(a) != 3 {
		t.Errorf("%q %v", a, err)
	}
	for _, bad := range []string{``, `[]`, `[""]`, `"/bin/sh -c x"`, `["a\nb"]`, `[1]`} {
		if _, err := ParseArgv(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
