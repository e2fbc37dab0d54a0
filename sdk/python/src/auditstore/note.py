"""C2SP signed notes and checkpoints (FORMAT.md §10): verifier keys in the
format of golang.org/x/mod/sumdb/note, signatures checked with
`cryptography`'s Ed25519 against the pinned key, the checkpoint body parsed
strictly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .codec import _from_base64, _sha256
from .errors import VerificationError

# The eight points of small order on edwards25519 (8·P is the identity), in
# their canonical encodings: a signature "by" one of them proves nothing
# (FORMAT.md §10 has verifiers reject such keys). Encodings of y ≥ p are
# refused separately, so no other spelling of these points gets through.
_SMALL_ORDER = frozenset(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)
_P = 2**255 - 19


@dataclass(frozen=True)
class VerifierKey:
    """A parsed verifier key `<name>+<key id hex>+<base64(0x01 || key)>`
    (FORMAT.md §10, the format of golang.org/x/mod/sumdb/note)."""

    name: str
    key_id: bytes
    key: Ed25519PublicKey
    text: str


def parse_verifier_key(text: Union[str, VerifierKey]) -> VerifierKey:
    if isinstance(text, VerifierKey):
        return text
    # The base64 part may hold '+' itself: the name and id end at the first two.
    m = re.fullmatch(r"([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)", str(text).strip())
    if not m:
        raise VerificationError("a verifier key is <name>+<key id>+<base64 key>")
    name, key_id, b64 = m.groups()
    raw = _from_base64(b64)
    if len(raw) != 33 or raw[0] != 1:
        raise VerificationError("not an Ed25519 verifier key")
    if _sha256(name.encode() + b"\n" + raw)[:4].hex() != key_id:
        raise VerificationError("the verifier key id does not match its key")
    point = raw[1:]
    if point in _SMALL_ORDER or int.from_bytes(point, "little") & (2**255 - 1) >= _P:
        raise VerificationError("a small-order or non-canonical Ed25519 key")
    return VerifierKey(name, bytes.fromhex(key_id), Ed25519PublicKey.from_public_bytes(raw[1:]), m.group(0))


@dataclass(frozen=True)
class Checkpoint:
    """A signed checkpoint whose signature verified (FORMAT.md §10)."""

    origin: str
    tree_size: int
    root: str
    note: str

    @property
    def ledger(self) -> str:
        return ledger_of_origin(self.origin)


_SIGNATURE = re.compile("\u2014 (\\S+) ([A-Za-z0-9+/=]+)")


def verify_checkpoint(note: str, verifier: Union[str, VerifierKey]) -> Checkpoint:
    """A C2SP signed note (FORMAT.md §10) verified against the pinned key,
    and its checkpoint body parsed strictly."""
    key = parse_verifier_key(verifier)
    # Unicode control characters (C0 but newline, DEL, C1) are refused.
    if not isinstance(note, str) or re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", note):
        raise VerificationError("a malformed note")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationError("a note without signatures")
    text, lines = note[: split + 1], note[split + 2 :]
    if not lines.endswith("\n"):
        raise VerificationError("a signature line must end in a newline")
    signature_lines = lines[:-1].split("\n")
    if len(signature_lines) > 100:
        raise VerificationError("more than 100 signature lines")
    verified = 0
    for line in signature_lines:
        m = _SIGNATURE.fullmatch(line)
        if not m:
            raise VerificationError("a malformed signature line")
        blob = _from_base64(m.group(2))
        if m.group(1) != key.name or blob[:4] != key.key_id:
            continue
        try:
            if len(blob) != 68:
                raise InvalidSignature
            key.key.verify(blob[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise VerificationError("the checkpoint signature does not verify with the pinned key") from None
        verified += 1
    if not verified:
        raise VerificationError("no signature by the pinned key")
    body = text[:-1].split("\n")
    if len(body) < 3 or any(line == "" for line in body[3:]):
        raise VerificationError("a malformed checkpoint body")
    origin, size, root = body[:3]
    if not re.fullmatch(r"0|[1-9][0-9]*", size):
        raise VerificationError("a malformed tree size")
    root_bytes = _from_base64(root)
    if len(root_bytes) != 32:
        raise VerificationError("a malformed root")
    return Checkpoint(origin, int(size), root_bytes.hex(), note)


def ledger_of_origin(origin: str) -> str:
    """The ledger an origin `<host>/ledgers/<ledger>` names."""
    at = origin.rfind("/ledgers/")
    ledger = origin[at + len("/ledgers/") :] if at >= 0 else ""
    if not ledger or "/" in ledger:
        raise VerificationError(f"the origin {origin!r} names no ledger")
    return ledger


def check_origin(checkpoint: Checkpoint, ledger: str) -> None:
    if ledger_of_origin(checkpoint.origin) != ledger:
        raise VerificationError(f"the checkpoint is of {checkpoint.origin}, not of ledger {ledger}")
