// Package runcmd runs a fixed program configured by the operators (a
// team's own rollback script) the safe way: an argv, never a shell, with a
// deadline, a small environment given by the caller, and its output
// handed over line by line as it comes.
package runcmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxLine is how much of one output line is passed on; the rest is cut.
const maxLine = 4 << 10

// waitDelay is how long the program's output may stay open after it was
// killed at the deadline (a child that inherited it keeps it open).
const waitDelay = 5 * time.Second

// ParseArgv reads a JSON array of strings ("[\"/opt/deploy.sh\", \"rollback\"]"),
// the form a command is configured in: the first element is the program,
// an absolute path or a name looked up in PATH. No shell ever sees it.
func ParseArgv(text string) ([]string, error) {
	var argv []string
	if err := json.Unmarshal([]byte(text), &argv); err != nil {
		return nil, fmt.Errorf("want a JSON array of strings such as [\"/opt/shiftwise/deploy.sh\",\"rollback\"]: %v", err)
	}
	if len(argv) == 0 || strings.TrimSpace(argv[0]) == "" {
		return nil, errors.New("the array is empty: its first element is the program")
	}
	for i, a := range argv {
		if strings.ContainsAny(a, "\x00\n\r") {
			return nil, fmt.Errorf("element %d holds a NUL or line break", i)
		}
	}
	return argv, nil
}

// Result is how the program ended.
type Result struct {
	ExitCode int // -1 when it was killed or never started
	Took     time.Duration
}

// Run runs argv with env (KEY=value; nothing is inherited) until it exits
// or ctx ends, when it is killed with its process group. Every line it
// writes on stdout or stderr goes to line (cut at 4 KiB), one call at a
// time. A non-zero exit is a Result, not an error; err is for a program
// that could not start or was stopped by ctx.
func Run(ctx context.Context, argv, env []string, line func(string)) (Result, error) {
	start := time.Now()
	if len(argv) == 0 {
		return Result{ExitCode: -1}, errors.New("runcmd: no program")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if len(l) > maxLine {
				l = l[:maxLine] + "…"
			}
			if line != nil {
				line(l)
			}
		}
		_, _ = io.Copy(io.Discard, pr) // a line over 1 MiB: drain the rest
	}()
	err := cmd.Start()
	if err != nil {
		pw.Close()
		wg.Wait()
		return Result{ExitCode: -1, Took: time.Since(start)}, fmt.Errorf("runcmd: start %s: %w", argv[0], err)
	}
	err = cmd.Wait()
	pw.Close()
	wg.Wait()
	res := Result{ExitCode: cmd.ProcessState.ExitCode(), Took: time.Since(start)}
	if ctx.Err() != nil {
		return res, fmt.Errorf("runcmd: %s stopped after %s: %w", argv[0], res.Took.Round(time.Millisecond), ctx.Err())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return res, fmt.Errorf("runcmd: %s: %w", argv[0], err)
	}
	return res, nil
}
