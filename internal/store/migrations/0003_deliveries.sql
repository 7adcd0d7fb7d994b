-- Slack delivery keys already handled (event_id, or message ts + action).
CREATE TABLE deliveries (
    key     text        PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_seen_at ON deliveries (seen_at);
