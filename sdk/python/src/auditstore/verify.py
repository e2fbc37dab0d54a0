"""Verification, trusting nothing of the server's (docs/SDK.md §6): leaf
hashes from an event's content (FORMAT.md §2–4, RFC 8785 JCS with the
`rfc8785` package), C2SP signed checkpoints against a pinned key (§10, the
signature by `cryptography`'s Ed25519), RFC 9162 inclusion and consistency
proofs (§7, §8) and evidence files (§12)."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

import rfc8785

from .codec import _from_base64, _hash, _sha256, from_hex
from .errors import VerificationError
from .note import (
    Checkpoint,
    VerifierKey,
    check_origin,
    ledger_of_origin,
    parse_verifier_key,
    verify_checkpoint,
)

__all__ = [
    "Checkpoint",
    "Evidence",
    "VerifierKey",
    "check_origin",
    "from_hex",
    "jcs",
    "leaf_hash",
    "ledger_of_origin",
    "normalise_time",
    "parse_verifier_key",
    "verify_checkpoint",
    "verify_consistency",
    "verify_event",
    "verify_evidence",
    "verify_inclusion",
]

#: Integers beyond ±(2^53 − 1) are doubles to JCS (FORMAT.md §3).
_SAFE = 2**53 - 1


def _as_doubles(value: Any) -> Any:
    # An integer JSON number beyond 2^53 is the nearest double to JCS; Python
    # keeps it exact, so it is rounded here as RFC 8785 §3.2.2.3 reads it.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > _SAFE:
        return float(value)
    if isinstance(value, dict):
        return {k: _as_doubles(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_doubles(v) for v in value]
    return value


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical JSON, as UTF-8 bytes."""
    try:
        return rfc8785.dumps(_as_doubles(value))
    except rfc8785.CanonicalizationError as e:
        raise VerificationError(f"not canonicalisable JSON: {e}") from e


_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Days since 1970-01-01 in the proleptic Gregorian calendar (years 0000
    # on, which `datetime` cannot hold).
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def _month_days(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def normalise_time(text: Any) -> str:
    """`occurred_at` as FORMAT.md §2 normalises it: UTC, exactly three
    fractional digits, truncated; a leap second becomes .999."""
    m = _TIME.fullmatch(text) if isinstance(text, str) else None
    if not m:
        raise VerificationError(f"occurred_at {text!r} is not an RFC 3339 date-time")
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac, offset = m.group(7), m.group(8)
    if not (1 <= mo <= 12 and 1 <= d <= _month_days(y, mo) and h <= 23 and mi <= 59 and s <= 60):
        raise VerificationError(f"occurred_at {text!r} is not a valid date-time")
    leap = s == 60
    ms = 999 if leap else int(((frac or ".")[1:] + "000")[:3])
    shift = 0
    if offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        shift = sign * (int(offset[1:3]) * 60 + int(offset[4:6])) * 60_000
    total = (((_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + (59 if leap else s)) * 1000 + ms - shift
    days, rest = divmod(total, 86_400_000)
    year, month, day = _civil_from_days(days)
    if not 0 <= year <= 9999:
        raise VerificationError(f"occurred_at {text!r} is outside years 0000–9999")
    hh, rest = divmod(rest, 3_600_000)
    mm, rest = divmod(rest, 60_000)
    ss, ms = divmod(rest, 1000)
    return f"{year:04d}-{month:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}Z"


def _party(value: Any, what: str) -> Dict[str, Any]:
    # Exactly the members the entry commits to: anything else would be
    # content no hash covers (FORMAT.md §1, §4).
    if not isinstance(value, dict) or not isinstance(value.get("type"), str) or not isinstance(value.get("id"), str):
        raise VerificationError(f"{what} must have a type and an id")
    if set(value) - {"type", "id", "name"}:
        raise VerificationError(f"{what} has members other than type, id and name")
    if "name" in value and not isinstance(value["name"], str):
        raise VerificationError(f"{what}'s name must be a string")
    return dict(value)


def leaf_hash(event: Dict[str, Any]) -> str:
    """The RFC 9162 §2.1.1 leaf hash (lowercase hex) of an event, from its
    content: `id`, `actor`, `action`, `resource`, `occurred_at`, `metadata`
    (FORMAT.md §4). Other members (`seq`, `received_at`…) are no part of it."""
    if not isinstance(event, dict):
        raise VerificationError("an event is a JSON object")
    if not isinstance(event.get("id"), str):
        raise VerificationError("the event has no id, so no leaf hash")
    if not isinstance(event.get("action"), str):
        raise VerificationError("the event has no action")
    metadata = event.get("metadata", {})
    if not isinstance(metadata, dict):
        raise VerificationError("metadata is an object")
    entry = jcs(
        {
            "id": event["id"],
            "actor": _party(event.get("actor"), "actor"),
            "action": event["action"],
            "resource": _party(event.get("resource"), "resource"),
            "occurred_at": normalise_time(event.get("occurred_at")),
            "metadata_hash": _sha256(jcs(metadata)).hex(),
        }
    )
    return _sha256(b"\x00" + entry).hex()


def _node(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right)


def verify_inclusion(index: int, size: int, leaf: str, proof: Sequence[str], root: str) -> None:
    """RFC 9162 §2.1.3.2: `leaf` (hex) is leaf `index` of the tree of `size`
    whose root is `root` (hex), by `proof` (hex hashes)."""
    if not 0 <= index < size:
        raise VerificationError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, _hash(leaf)
    for p in map(_hash, proof):
        if sn == 0:
            raise VerificationError("the inclusion proof is too long")
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the inclusion proof is too short")
    if not hmac.compare_digest(r, _hash(root)):
        raise VerificationError("the inclusion proof does not lead to the signed root")


def verify_consistency(old_size: int, new_size: int, old_root: str, new_root: str, proof: Sequence[str]) -> None:
    """RFC 9162 §2.1.4.2: the tree of `old_size` with `old_root` is a prefix
    of the tree of `new_size` with `new_root`."""
    if old_size > new_size:
        raise VerificationError(f"the tree shrank from {old_size} to {new_size}")
    if old_size == 0:
        raise VerificationError("no consistency proof from the empty tree")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise VerificationError("two different trees of one size")
        return
    if not proof:
        raise VerificationError("an empty consistency proof")
    path = [_hash(p) for p in proof]
    if old_size & (old_size - 1) == 0:
        path.insert(0, _hash(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("the consistency proof is too long")
        if fn % 2 == 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or not hmac.compare_digest(fr, _hash(old_root)) or not hmac.compare_digest(sr, _hash(new_root)):
        raise VerificationError("the consistency proof does not join the two trees")


_EVIDENCE_MEMBERS = {"action", "actor", "id", "metadata", "occurred_at", "resource"}


@dataclass(frozen=True)
class Evidence:
    """What a verified evidence file proves: `event` is entry `seq` of
    `ledger` in the tree of `tree_size` its checkpoint signs."""

    ledger: str
    seq: int
    tree_size: int
    event: Dict[str, Any]
    checkpoint: Checkpoint


def verify_evidence(text: Union[str, bytes], verifier: Union[str, VerifierKey]) -> Evidence:
    """An evidence file (FORMAT.md §12, C2SP tlog-proof) verified offline
    against the pinned key."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise VerificationError("an evidence file is UTF-8") from e
    lines = text.split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        raise VerificationError("not a tlog-proof file")
    extra = re.fullmatch(r"extra ([A-Za-z0-9+/=]+)", lines[1] if len(lines) > 1 else "")
    index = re.fullmatch(r"index (0|[1-9][0-9]*)", lines[2] if len(lines) > 2 else "")
    if not extra or not index:
        raise VerificationError("a malformed evidence file")
    proof: List[str] = []
    at = 3
    while at < len(lines) and lines[at] != "":
        hash_ = _from_base64(lines[at])
        if len(hash_) != 32 or len(proof) >= 64:
            raise VerificationError("a malformed proof line")
        proof.append(hash_.hex())
        at += 1
    if at >= len(lines):
        raise VerificationError("the proof must end with an empty line")
    checkpoint = verify_checkpoint("\n".join(lines[at + 1 :]), verifier)
    raw = _from_base64(extra.group(1))
    try:
        event = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise VerificationError("the extra data is not JSON") from e
    if not isinstance(event, dict) or jcs(event) != raw:
        raise VerificationError("the extra data is not the canonical JSON of the event")
    # One encoding per event: exactly the normalised event's members, its
    # time already normalised.
    if set(event) != _EVIDENCE_MEMBERS or normalise_time(event["occurred_at"]) != event["occurred_at"]:
        raise VerificationError("the extra data is not a normalised event")
    seq = int(index.group(1))
    verify_inclusion(seq, checkpoint.tree_size, leaf_hash(event), proof, checkpoint.root)
    return Evidence(checkpoint.ledger, seq, checkpoint.tree_size, event, checkpoint)


def verify_event(event: Dict[str, Any], proof: Sequence[str], checkpoint: Checkpoint) -> str:
    """An event proven entry `event["seq"]` of the signed tree: its leaf hash
    computed here (never the one the server sent) and the inclusion proof
    against the checkpoint's root. Answers the leaf hash."""
    if event.get("tombstoned"):
        raise VerificationError(f"event {event.get('id')} is a tombstone: its content is archived")
    local = leaf_hash(event)
    sent: Optional[str] = event.get("leaf_hash")
    if sent is not None and sent != local:
        raise VerificationError(f"event {event.get('id')}'s content does not hash to the leaf hash it came with")
    seq = event.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise VerificationError("the event has no seq")
    verify_inclusion(seq, checkpoint.tree_size, local, proof, checkpoint.root)
    return local
