-- Incidents and their timelines (see incidents.go). An incident is
-- reserved ('opening') before its Slack channel is created and becomes
-- 'open' with the channel, or is deleted: no channel without its record.
CREATE TABLE incidents (
    id             bigserial   PRIMARY KEY,  -- INC-<id>
    state          text        NOT NULL CHECK (state IN ('opening', 'open', 'resolved')),
    severity       integer     NOT NULL CHECK (severity BETWEEN 1 AND 4),
    title          text        NOT NULL,
    commander      text        NOT NULL,
    opened_by      text        NOT NULL,
    origin_channel text        NOT NULL,             -- where `incident start` was typed
    channel        text        NOT NULL DEFAULT '',  -- where its timeline is collected
    thread_ts      text        NOT NULL DEFAULT '',  -- '' = the whole channel
    link           text        NOT NULL DEFAULT '',
    started_at     timestamptz NOT NULL,
    resolved_at    timestamptz,
    summary        text        NOT NULL DEFAULT ''
);
-- One open incident per place (a channel, or a thread of one).
CREATE UNIQUE INDEX incidents_one_open_per_place ON incidents (channel, thread_ts) WHERE state = 'open';
CREATE INDEX incidents_place ON incidents (channel, started_at);

-- Timeline entries. key is the entry's idempotency key: an entry written
-- twice (a spool replayed after a crash) is written once.
CREATE TABLE incident_timeline (
    seq         bigserial   PRIMARY KEY,
    incident_id bigint      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    key         text        NOT NULL UNIQUE,
    at          timestamptz NOT NULL,
    who         text        NOT NULL,
    kind        text        NOT NULL,
    what        text        NOT NULL,
    outcome     text        NOT NULL,
    approver    text        NOT NULL DEFAULT '',
    link        text        NOT NULL DEFAULT ''
);
CREATE INDEX incident_timeline_order ON incident_timeline (incident_id, at, seq);
