-- The filter index in blocks (store/src/ledger/term_blocks.rs). A stored
-- term now leads with its event's block, seq >> 16, as six bytes big
-- endian, so the rows one indexing batch writes land in the subtree of the
-- block it covers instead of all over the ledger's B-tree: the pages a
-- batch dirties, each written to the WAL and again to the database, no
-- longer grow with the ledger. PostgreSQL keeps its layout.

CREATE TABLE event_terms_blocked (
    ledger INTEGER NOT NULL,
    term   BLOB NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (ledger, term, seq)
) WITHOUT ROWID;
INSERT INTO event_terms_blocked (ledger, term, seq)
    SELECT ledger, unhex(printf('%012X', seq >> 16) || hex(term)), seq FROM event_terms
    ORDER BY ledger, seq >> 16, term, seq;
DROP TABLE event_terms;
ALTER TABLE event_terms_blocked RENAME TO event_terms;
