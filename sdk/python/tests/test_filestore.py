"""The file store on its own, with no server: saves made at once through
many stores of one file, from threads and from processes, all land."""

import os
import subprocess
import sys
import threading
from pathlib import Path

from auditstore import FileStore

SRC = Path(__file__).resolve().parents[1] / "src"

# Each process saves its own ledgers through a store of its own.
CHILD = """
import sys
from auditstore import FileStore
store = FileStore(sys.argv[1])
for i in range(15):
    store.save(f"process-{sys.argv[2]}-{i}", {"tree_size": i + 1, "root": "", "note": ""})
"""


def test_saves_from_many_threads_through_many_stores_of_one_file_all_land(tmp_path):
    file = tmp_path / "checkpoints.json"
    # A third of the stores name the file through a `.` segment.
    spellings = [str(file), str(tmp_path / "." / "checkpoints.json"), str(file)]
    start = threading.Barrier(9)

    def save(thread):
        store = FileStore(spellings[thread % 3])
        start.wait()
        for i in range(10):
            store.save(f"ledger-{thread}-{i}", {"tree_size": i + 1, "root": "", "note": ""})

    threads = [threading.Thread(target=save, args=(t,)) for t in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = FileStore(file)
    missing = [f"ledger-{t}-{i}" for t in range(9) for i in range(10) if every.load(f"ledger-{t}-{i}") is None]
    assert missing == []
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".checkpoints-")], "no temporary file left"


def test_saves_from_many_processes_sharing_one_file_all_land(tmp_path):
    file = tmp_path / "checkpoints.json"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(file), str(p)], env=env) for p in range(6)]
    assert [c.wait(timeout=60) for c in children] == [0] * 6
    every = FileStore(file)
    missing = [f"process-{p}-{i}" for p in range(6) for i in range(15) if every.load(f"process-{p}-{i}") is None]
    assert missing == []
