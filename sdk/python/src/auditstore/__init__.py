"""The AuditStore client (docs/SDK.md): record audit events through a
bounded background queue with idempotent retries, read them back, and
verify them against a pinned checkpoint key, trusting nothing of the
server's. Middleware in `auditstore.asgi` and `auditstore.django`."""

from .aio import AsyncClient
from .batches import Report
from .client import Client
from .config import DROP, Block, Config, uuidv7
from .errors import (
    AuditStoreError,
    ClosedError,
    ForkError,
    NetworkError,
    ProblemError,
    QueueFullError,
    RollbackError,
    VerificationError,
)
from .tracker import AsyncCheckpointTracker, CheckpointTracker, FileStore, MemoryStore, Store
from .verify import (
    Checkpoint,
    Evidence,
    VerifierKey,
    jcs,
    leaf_hash,
    normalise_time,
    parse_verifier_key,
    verify_checkpoint,
    verify_consistency,
    verify_event,
    verify_evidence,
    verify_inclusion,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncCheckpointTracker",
    "AsyncClient",
    "AuditStoreError",
    "Block",
    "Checkpoint",
    "CheckpointTracker",
    "Client",
    "ClosedError",
    "Config",
    "DROP",
    "Evidence",
    "FileStore",
    "ForkError",
    "MemoryStore",
    "NetworkError",
    "ProblemError",
    "QueueFullError",
    "Report",
    "RollbackError",
    "Store",
    "VerificationError",
    "VerifierKey",
    "jcs",
    "leaf_hash",
    "normalise_time",
    "parse_verifier_key",
    "uuidv7",
    "verify_checkpoint",
    "verify_consistency",
    "verify_event",
    "verify_evidence",
    "verify_inclusion",
]
