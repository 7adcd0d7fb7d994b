// Package state is the bot's own state: what must survive the bot and
// reach its database — for now the incident timeline's recorder, which
// falls back on the local spool while the database does not answer and
// drains it, in order and once, when it is back.
package state
