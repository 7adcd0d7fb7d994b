// Package console is the bot's local transport: it reads command lines
// from a terminal or a pipe, hands them to the core and prints the
// plain-text rendering of the same neutral message Slack would get. It
// also serves one-shot mode (one command from the command line, exit code
// from its outcome).
package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// maxLine bounds what is read of one input line; the rest is discarded.
const maxLine = 1 << 20

// Handler is the part of the core the console needs.
type Handler interface {
	Handle(ctx context.Context, req bot.Request) bot.Reply
}

// Console reads lines and answers them.
type Console struct {
	Core    Handler
	Subject string // "console:alice"
	// Prompt is printed before each line when the input is a terminal.
	Prompt string
}

// Run answers each line of in on out until EOF, `exit`/`quit`, or ctx ends
// (Ctrl-C or SIGTERM: a running command is cancelled through ctx and Run
// returns without waiting for more input). Blank lines and lines starting
// with # are skipped.
func (c *Console) Run(ctx context.Context, in io.Reader, out io.Writer) error {
	type input struct {
		line    string
		tooLong bool
		err     error
	}
	lines := make(chan input, 1) // the reader never blocks on a Run that has returned
	next := make(chan struct{})
	go func() {
		defer close(lines)
		r := bufio.NewReaderSize(in, 64*1024)
		for range next {
			line, tooLong, err := readLine(r)
			lines <- input{line, tooLong, err}
			if err != nil {
				return
			}
		}
	}()
	defer close(next)
	for {
		if c.Prompt != "" {
			fmt.Fprint(out, c.Prompt)
		}
		next <- struct{}{}
		var got input
		select {
		case <-ctx.Done():
			return nil
		case got = <-lines:
		}
		eof := errors.Is(got.err, io.EOF)
		if got.err != nil && !eof {
			return fmt.Errorf("read input: %w", got.err)
		}
		if eof && got.line == "" && !got.tooLong {
			if c.Prompt != "" {
				fmt.Fprintln(out)
			}
			return nil
		}
		trimmed := strings.TrimSpace(got.line)
		switch {
		case got.tooLong:
			fmt.Fprintf(out, "Usage error: that line is over %d bytes; the limit is %d. Nothing was run.\n\n", maxLine, bot.MaxInputBytes)
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		case trimmed == "exit" || trimmed == "quit":
			return nil
		default:
			reply := c.Core.Handle(ctx, bot.Request{Subject: c.Subject, Channel: "console", Text: got.line, Progress: progressTo(out)})
			fmt.Fprintln(out, Render(reply.Message))
		}
		if eof || ctx.Err() != nil {
			return nil
		}
	}
}

// readLine reads one line without its newline, keeping at most maxLine
// bytes of it.
func readLine(r *bufio.Reader) (line string, tooLong bool, err error) {
	var b strings.Builder
	for {
		chunk, isPrefix, err := r.ReadLine()
		if b.Len()+len(chunk) > maxLine {
			tooLong = true
		} else {
			b.Write(chunk)
		}
		if err != nil {
			return b.String(), tooLong, err
		}
		if !isPrefix {
			return b.String(), tooLong, nil
		}
	}
}

// RunOnce handles one command given as words (a program's arguments,
// already split by the shell: they reach the core as they are, never
// re-tokenized), prints the reply and returns the exit code of the
// one-shot contract.
func RunOnce(ctx context.Context, core Handler, subject string, words []string, out io.Writer) int {
	if words == nil {
		words = []string{}
	}
	reply := core.Handle(ctx, bot.Request{Subject: subject, Channel: "console", Words: words, Progress: progressTo(out)})
	fmt.Fprintln(out, Render(reply.Message))
	return reply.Outcome.ExitCode()
}

// progressTo prints a running command's interim messages, each marked
// with "… " so that they read as steps, not as the result.
func progressTo(out io.Writer) bot.ProgressFunc {
	return func(m bot.Message) {
		fmt.Fprintln(out, "… "+strings.TrimRight(Render(m), "\n"))
	}
}

// Render is the plain-text rendering of a neutral message. Every text in
// it goes through bot.SafeText first: control characters and escape
// sequences (from a container's log, say) are shown escaped, never sent
// to the terminal, and tab stops are measured on what is shown.
func Render(m bot.Message) string {
	m = safeMessage(m)
	var b strings.Builder
	if m.Title != "" {
		b.WriteString(m.Title + "\n")
	}
	if m.Text != "" {
		b.WriteString(m.Text + "\n")
	}
	if len(m.Checks) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, c := range m.Checks {
			// The threshold follows the value rather than getting a column
			// of its own, so one long value does not pad every line.
			line := fmt.Sprintf("  %s\t%s\t%s", c.Name, c.Status, c.Value)
			if c.Threshold != "" {
				line += "  (" + c.Threshold + ")"
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
	if len(m.Fields) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, f := range m.Fields {
			fmt.Fprintf(tw, "  %s:\t%s\n", f.Name, f.Value)
		}
		tw.Flush()
	}
	for _, cb := range m.Code {
		if cb.Title != "" {
			b.WriteString(cb.Title + ":\n")
		}
		for _, l := range strings.Split(strings.TrimRight(cb.Text, "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	for _, btn := range m.Buttons {
		if btn.ActionID == bot.ActionRun {
			// At the console a button is the line to type.
			fmt.Fprintf(&b, "  [%s]  type: %s\n", btn.Text, btn.Value)
			continue
		}
		fmt.Fprintf(&b, "  [%s]\n", btn.Text)
	}
	if m.Summary != "" {
		b.WriteString(m.Summary + "\n")
	}
	if m.Meta.Command != "" {
		fmt.Fprintf(&b, "(%s · %s · %s)\n", m.Meta.User, m.Meta.Command, m.Meta.Duration.Round(time.Millisecond))
	}
	return b.String()
}

// safeMessage is m with bot.SafeText applied to every text Render shows.
func safeMessage(m bot.Message) bot.Message {
	t := bot.SafeText
	m.Title, m.Text, m.Summary = t(m.Title), t(m.Text), t(m.Summary)
	m.Checks = append([]bot.Check(nil), m.Checks...)
	for i := range m.Checks {
		c := &m.Checks[i]
		c.Name, c.Value, c.Threshold = t(c.Name), t(c.Value), t(c.Threshold)
	}
	m.Fields = append([]bot.Field(nil), m.Fields...)
	for i := range m.Fields {
		m.Fields[i].Name, m.Fields[i].Value = t(m.Fields[i].Name), t(m.Fields[i].Value)
	}
	m.Code = append([]bot.CodeBlock(nil), m.Code...)
	for i := range m.Code {
		m.Code[i].Title, m.Code[i].Text = t(m.Code[i].Title), t(m.Code[i].Text)
	}
	m.Buttons = append([]bot.Button(nil), m.Buttons...)
	for i := range m.Buttons {
		m.Buttons[i].Text, m.Buttons[i].Value = t(m.Buttons[i].Text), t(m.Buttons[i].Value)
	}
	m.Meta.User, m.Meta.Command = t(m.Meta.User), t(m.Meta.Command)
	return m
}
