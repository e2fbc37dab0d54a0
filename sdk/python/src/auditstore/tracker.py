"""The checkpoint tracker (docs/SDK.md §7): the last checkpoint verified per
ledger, kept in a store, and every newer one proven consistent with it (RFC
9162 §2.1.4) before it replaces it. Two trees of one size raise
`ForkError`, a smaller tree `RollbackError`."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Protocol

try:
    import fcntl
except ImportError:  # Windows: the stores of one process still take turns.
    fcntl = None  # type: ignore[assignment]

from .errors import ForkError, RollbackError, VerificationError
from .verify import Checkpoint, check_origin, verify_checkpoint, verify_consistency

if TYPE_CHECKING:
    from .aio import AsyncClient
    from .client import Client

Stored = Dict[str, Any]


class Store(Protocol):
    """Where a tracker keeps `{tree_size, root, note}` per ledger."""

    def load(self, ledger: str) -> Optional[Stored]: ...

    def save(self, ledger: str, checkpoint: Stored) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._map: Dict[str, Stored] = {}

    def load(self, ledger: str) -> Optional[Stored]:
        return self._map.get(ledger)

    def save(self, ledger: str, checkpoint: Stored) -> None:
        self._map[ledger] = checkpoint


# One lock per file for every FileStore of this process, whichever thread
# or spelling of the path it was made with.
_file_locks: Dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


@contextmanager
def _file_turn(path: str) -> Iterator[None]:
    """Holds the file's turn to save: the process's lock of that path, then
    an exclusive `flock` of `<file>.lock` beside it, so processes sharing the
    file take turns too. The operating system lets it go when the process
    ends, a crash included."""
    key = os.path.realpath(path)
    with _file_locks_guard:
        lock = _file_locks.setdefault(key, threading.Lock())
    with lock:
        if fcntl is None:
            yield
            return
        with open(key + ".lock", "a", encoding="utf-8") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            yield


class FileStore:
    """A JSON file of `{ledger: {tree_size, root, note}}`, replaced atomically:
    written to a temporary file beside it, flushed to disk and renamed, so a
    crash leaves the old or the new one. Saves take turns across the threads
    and processes sharing the file, so none loses another's ledger."""

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.path = os.fspath(path)

    def _read(self) -> Dict[str, Stored]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise VerificationError(f"{self.path} is not a checkpoint store")
        return data

    def load(self, ledger: str) -> Optional[Stored]:
        # No lock: the file is only ever replaced whole, by a rename.
        return self._read().get(ledger)

    def save(self, ledger: str, checkpoint: Stored) -> None:
        # Each save rewrites the whole file from what it read, so two at once
        # would lose one ledger.
        with _file_turn(self.path):
            data = self._read()
            data[ledger] = checkpoint
            folder = os.path.dirname(os.path.abspath(self.path))
            fd, temporary = tempfile.mkstemp(dir=folder, prefix=".checkpoints-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f, indent=2)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                if os.path.exists(temporary):
                    os.unlink(temporary)
                raise


def _stored(seen: Checkpoint) -> Stored:
    return {"tree_size": seen.tree_size, "root": seen.root, "note": seen.note}


def _judge(ledger: str, stored: Optional[Stored], seen: Checkpoint) -> Optional[int]:
    """What a newly seen checkpoint needs: None when it is stored as it is
    (nothing stored yet, or the same tree), else the stored size a
    consistency proof must start from. Raises on a fork or a rollback."""
    if not stored or stored["tree_size"] == 0:
        return None
    if seen.tree_size < stored["tree_size"]:
        raise RollbackError(ledger, stored["tree_size"], seen.tree_size)
    if seen.tree_size == stored["tree_size"]:
        if seen.root != stored["root"]:
            raise ForkError(ledger, seen.tree_size, stored["root"], seen.root, stored.get("note", ""), seen.note)
        return None
    return int(stored["tree_size"])


def _newer(stored: Optional[Stored], seen: Checkpoint) -> bool:
    return stored is None or int(stored["tree_size"]) < seen.tree_size


def _prove(ledger: str, stored: Stored, seen: Checkpoint, proof: List[str]) -> None:
    try:
        verify_consistency(stored["tree_size"], seen.tree_size, stored["root"], seen.root, proof)
    except VerificationError as e:
        raise ForkError(
            ledger,
            stored["tree_size"],
            stored["root"],
            f"{seen.root} at size {seen.tree_size} ({e})",
            stored.get("note", ""),
            seen.note,
        ) from None


class CheckpointTracker:
    """For `Client`: `update(ledger)` fetches the latest checkpoint and tracks it."""

    def __init__(self, client: Client, store: Optional[Store] = None) -> None:
        self.client = client
        self.store: Store = store if store is not None else MemoryStore()
        self._lock = threading.Lock()

    def stored(self, ledger: str) -> Optional[Stored]:
        return self.store.load(ledger)

    def update(self, ledger: str) -> Checkpoint:
        return self.track(ledger, self.client.checkpoint_note(ledger))

    def track(self, ledger: str, note: str) -> Checkpoint:
        """Checks `note` (its signature, then consistency with what is stored)
        and stores it when it is newer. One call at a time, so two threads
        cannot store an older tree over a newer one."""
        seen = verify_checkpoint(note, self.client.pinned_key())
        check_origin(seen, ledger)
        with self._lock:
            stored = self.store.load(ledger)
            since = _judge(ledger, stored, seen)
            if since is not None and stored is not None:
                _prove(ledger, stored, seen, self.client.consistency_proof(ledger, since, seen.tree_size))
            if _newer(stored, seen):
                self.store.save(ledger, _stored(seen))
        return seen


class AsyncCheckpointTracker:
    """For `AsyncClient`; the store's calls are quick local ones."""

    def __init__(self, client: AsyncClient, store: Optional[Store] = None) -> None:
        self.client = client
        self.store: Store = store if store is not None else MemoryStore()
        # Made in the running loop (on Python 3.9 a lock binds to a loop when made).
        self._lock: Optional[asyncio.Lock] = None

    async def update(self, ledger: str) -> Checkpoint:
        return await self.track(ledger, await self.client.checkpoint_note(ledger))

    async def track(self, ledger: str, note: str) -> Checkpoint:
        seen = verify_checkpoint(note, self.client.pinned_key())
        check_origin(seen, ledger)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            stored = self.store.load(ledger)
            since = _judge(ledger, stored, seen)
            if since is not None and stored is not None:
                _prove(ledger, stored, seen, await self.client.consistency_proof(ledger, since, seen.tree_size))
            if _newer(stored, seen):
                self.store.save(ledger, _stored(seen))
        return seen
