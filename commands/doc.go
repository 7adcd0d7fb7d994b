// Package commands holds the runbook's procedures as bot.Commands, one
// file per procedure, and All, the explicit list main hands to the bot.
// Commands see the operated stack only through the small interfaces they
// declare; main wires the integrations in.
package commands
