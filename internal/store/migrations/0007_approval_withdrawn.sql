-- A requester may withdraw their own pending request: a state of its
-- own, so that the record and the audit log say "withdrawn by", never
-- "denied". The CHECK is replaced whole (0002 named it by default).
ALTER TABLE approvals DROP CONSTRAINT approvals_state_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_state_check
    CHECK (state IN ('pending', 'approved', 'denied', 'withdrawn', 'expired', 'executed', 'failed'));
