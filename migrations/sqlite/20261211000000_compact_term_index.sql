-- The filter index, compacted. A term row named its ledger by the 36-byte
-- id and held the whole 32-byte HMAC: about 80 bytes a row, five rows an
-- event, inserted all over their B-tree, so under sustained ingest most of
-- the database's writes were index pages. A row now names its ledger by a
-- small number fixed at the ledger's creation and holds the HMAC truncated
-- to its first 16 bytes (RFC 2104 section 5; 128 bits keep collisions out
-- of reach), about 27 bytes a row.

ALTER TABLE ledgers ADD COLUMN number INTEGER;
UPDATE ledgers SET number = r.n
    FROM (SELECT id, row_number() OVER (ORDER BY created_ms, id) AS n FROM ledgers) AS r
    WHERE r.id = ledgers.id;
CREATE UNIQUE INDEX ledgers_by_number ON ledgers (number);

-- A new ledger takes the next number (SQLite has one writer, so MAX + 1 is
-- never taken twice); the number is then as fixed as the ledger's id, since
-- its term rows are found by it.
CREATE TRIGGER ledgers_numbered AFTER INSERT ON ledgers
WHEN NEW.number IS NULL
BEGIN
    UPDATE ledgers SET number = (SELECT COALESCE(MAX(number), 0) + 1 FROM ledgers) WHERE id = NEW.id;
END;
CREATE TRIGGER ledgers_number_fixed BEFORE UPDATE OF number ON ledgers
WHEN OLD.number IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a ledger''s number is immutable: its filter index is found by it');
END;

CREATE TABLE event_terms_compact (
    ledger INTEGER NOT NULL,
    term   BLOB NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (ledger, term, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO event_terms_compact (ledger, term, seq)
    SELECT l.number, substr(t.term, 1, 16), t.seq FROM event_terms t JOIN ledgers l ON l.id = t.ledger_id
    ORDER BY 1, 2, 3;
DROP TABLE event_terms;
ALTER TABLE event_terms_compact RENAME TO event_terms;
