-- Audit entries get an idempotency key and the time the audited thing
-- happened. entry_key is unique: an entry the bot's local spool replays
-- twice (the bot died after the database took it, before the spool forgot
-- it) is written once. occurred_at is set for entries that waited in the
-- spool while this database was unreachable (at is when an entry joined
-- the chain). Both are hashed for entries that have a key (audit.go, v2).
ALTER TABLE audit_log ADD COLUMN entry_key text;
ALTER TABLE audit_log ADD COLUMN occurred_at timestamptz;
CREATE UNIQUE INDEX audit_log_entry_key ON audit_log (entry_key);
