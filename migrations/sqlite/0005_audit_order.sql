-- Audit events list newest first even within one second: an insertion sequence.
ALTER TABLE audit_events ADD COLUMN seq INTEGER;
CREATE INDEX audit_events_seq ON audit_events (seq);
