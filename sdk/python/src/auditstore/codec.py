"""Hex, base64 and SHA-256 as the verifiers read them: strictly (lowercase
hex, padded base64, 32-byte hashes), every failure a `VerificationError`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from .errors import VerificationError


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def from_hex(text: Any) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(r"(?:[0-9a-f]{2})*", text):
        raise VerificationError(f"not lowercase hex: {text!r}")
    return bytes.fromhex(text)


def _hash(text: Any) -> bytes:
    raw = from_hex(text)
    if len(raw) != 32:
        raise VerificationError(f"a SHA-256 hash is 32 bytes, not {len(raw)}")
    return raw


def _from_base64(text: str) -> bytes:
    if len(text) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text):
        raise VerificationError("not base64")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise VerificationError("not base64") from e
