-- Requests waiting for a second person. Every change of state is one
-- conditional UPDATE (see approvals.go).
CREATE TABLE approvals (
    id          text        PRIMARY KEY,
    command     text        NOT NULL,
    args        text        NOT NULL,
    object      text        NOT NULL,
    level       integer     NOT NULL,
    requester   text        NOT NULL,
    channel     text        NOT NULL,
    thread_ts   text        NOT NULL,
    message_ts  text        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'executed', 'failed')),
    approver    text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    decided_at  timestamptz,
    result      text        NOT NULL DEFAULT ''
);
CREATE INDEX approvals_pending_expiry ON approvals (expires_at) WHERE state = 'pending';
