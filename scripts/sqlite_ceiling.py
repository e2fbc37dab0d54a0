#!/usr/bin/env python3
"""SQLite's bulk-insert ceiling measured as issue 13 first measured it: Python's
sqlite3 module, WAL with synchronous=FULL, the events table with its primary
key and unique id index, executemany in 10,000-row transactions.

Usage: sqlite_ceiling.py CONTENTS DB SCHEMA, where CONTENTS holds one event's
JSON a line (the benchmark's rows) and SCHEMA the SQL that creates the table
(the benchmark passes the one its Rust ceiling uses). Prints "<rows/s> <rows
per CPU-second>".
"""
import os
import sqlite3
import sys
import time

BATCH = 10_000


def time_ordered_id() -> str:
    """A UUIDv7-shaped id (milliseconds first), like the clients' ids."""
    h = f"{time.time_ns() // 1_000_000:012x}7{os.urandom(10).hex()[:19]}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def main() -> None:
    contents_path, db_path, schema = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(contents_path, "rb") as f:
        contents = [line.rstrip(b"\n") for line in f if line.strip()]
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(contents), BATCH):
        rows = []
        for seq in range(start, min(start + BATCH, len(contents))):
            placeholder = int(time.time() * 1000).to_bytes(8, "big") * 4
            rows.append(("ldg_ceiling", seq, time_ordered_id(), seq, seq, contents[seq], placeholder, placeholder))
        db.execute("BEGIN")
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("COMMIT")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    db.close()
    print(f"{len(contents) / wall:.0f} {len(contents) / max(cpu, 0.001):.0f}")
    os.remove(db_path)


if __name__ == "__main__":
    main()
