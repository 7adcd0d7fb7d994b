-- Audit entries that waited in the bot's local spool while this database
-- was unreachable: entry_key is the spool record's ID (unique, so a record
-- replayed twice after a crash is written once) and occurred_at when the
-- thing audited happened (at is when the entry joined the chain). Both are
-- hashed for entries that have a key (see audit.go, encoding v2).
ALTER TABLE audit_log ADD COLUMN entry_key text;
ALTER TABLE audit_log ADD COLUMN occurred_at timestamptz;
CREATE UNIQUE INDEX audit_log_entry_key ON audit_log (entry_key);
