// Package bot is the transport-neutral core of the ShiftWise ops bot.
//
// Every transport (the console, one-shot mode, Slack) hands the core a
// Request holding one line of user text. The Engine parses it against the
// explicit registry of Commands, authorizes it, runs the command under a
// deadline, passes the resulting neutral Message through the redactor and
// returns a Reply whose Outcome maps onto exit codes and Slack statuses.
//
// bot defines the vocabulary (Request, Args, Command, Message); package
// commands implements the runbook procedures with it; transports render
// Messages. bot never imports commands or any transport.
package bot
