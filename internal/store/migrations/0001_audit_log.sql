-- The audit log: one row per command, chained by hash (see audit.go).
-- IDs are handed out by the chain head, not a sequence, so that they are
-- contiguous: a gap always means a deleted row.
CREATE TABLE audit_log (
    id          bigint      PRIMARY KEY,
    at          timestamptz NOT NULL,
    subject     text        NOT NULL,
    channel     text        NOT NULL,
    command     text        NOT NULL,
    args        text        NOT NULL,
    decision    text        NOT NULL,
    approver    text        NOT NULL,
    result      text        NOT NULL,
    duration_ns bigint      NOT NULL,
    prev_hash   text        NOT NULL,
    hash        text        NOT NULL
);
CREATE INDEX audit_log_subject_id ON audit_log (subject, id DESC);
CREATE INDEX audit_log_at ON audit_log (at);

-- The chain head: exactly one row, locked FOR UPDATE by every append.
CREATE TABLE audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id   bigint  NOT NULL,
    hash      text    NOT NULL
);
INSERT INTO audit_head (singleton, last_id, hash) VALUES (true, 0, '');
