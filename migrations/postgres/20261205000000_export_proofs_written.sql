-- A filtered export writes its rows, then reads its range a second time
-- for the inclusion proof of each row it wrote: the proofs written so far
-- are that pass's progress (0 for a contiguous export, which has one
-- range proof).
ALTER TABLE exports ADD COLUMN proofs_written BIGINT NOT NULL DEFAULT 0;
