"""Local verification against the published vectors, each with a tampered
twin: every event's leaf hash (docs/vectors/events.json), the shared RFC 8785
vectors, the RFC 6962 inclusion and consistency proofs of
transparency-dev/merkle (good ones verify, `wantErr` ones fail), the time
normalisation examples of FORMAT.md §2 and the signed note of §10."""

import base64
import copy
import json
from pathlib import Path

import pytest

from auditstore import (
    VerificationError,
    jcs,
    leaf_hash,
    normalise_time,
    parse_verifier_key,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "vectors"
VECTORS = json.loads((ROOT / "docs" / "vectors" / "events.json").read_text(encoding="utf-8"))


def test_every_vector_event_hashes_to_its_leaf_hash_and_every_twin_differs():
    assert len(VECTORS["events"]) >= 10
    for vector in VECTORS["events"]:
        event = vector["event"]
        assert leaf_hash(event) == vector["leaf_hash"], event["id"]
        twins = [dict(event, action=event["action"] + "x"), dict(event, actor=dict(event["actor"], id="someone-else"))]
        twins.append(dict(event, metadata=dict(event.get("metadata") or {}, added=True)))
        for twin in twins:
            assert leaf_hash(twin) != vector["leaf_hash"]


def test_the_shared_rfc8785_vectors_canonicalise_byte_for_byte():
    inputs = sorted((SHARED / "jcs" / "input").iterdir())
    assert len(inputs) >= 5
    for path in inputs:
        value = json.loads(path.read_text(encoding="utf-8"))
        assert jcs(value) == (SHARED / "jcs" / "output" / path.name).read_bytes(), path.name


def test_integers_beyond_two_to_the_53_hash_as_doubles():
    # FORMAT.md §3: stored before the I-JSON rule, they hash as the nearest double.
    assert jcs({"n": 9007199254740993}) == b'{"n":9007199254740992}'
    assert jcs({"n": 12345678901234567}) == b'{"n":12345678901234568}'
    assert jcs({"n": 9007199254740991}) == b'{"n":9007199254740991}'


def _b64hex(text):
    return base64.b64decode(text).hex()


def _load(kind):
    files = sorted(p for p in (SHARED / "rfc6962" / kind).rglob("*.json"))
    assert len(files) == 98
    return [(p, json.loads(p.read_text())) for p in files]


def test_rfc6962_inclusion_vectors():
    good = bad = 0
    for path, v in _load("inclusion"):
        try:
            verify_inclusion(
                v["leafIdx"],
                v["treeSize"],
                _b64hex(v["leafHash"]),
                [_b64hex(p) for p in v["proof"] or []],
                _b64hex(v["root"]),
            )
            failed = False
        except VerificationError:
            failed = True
        assert failed == v.get("wantErr", False), f"{path}: {v['desc']}"
        good, bad = good + (not failed), bad + failed
    assert good and bad


def test_rfc6962_consistency_vectors():
    good = bad = 0
    for path, v in _load("consistency"):
        try:
            verify_consistency(
                v["size1"], v["size2"], _b64hex(v["root1"]), _b64hex(v["root2"]), [_b64hex(p) for p in v["proof"] or []]
            )
            failed = False
        except VerificationError:
            failed = True
        assert failed == v.get("wantErr", False), f"{path}: {v['desc']}"
        good, bad = good + (not failed), bad + failed
    assert good and bad


@pytest.mark.parametrize(
    "given, normalised",
    [
        ("2026-11-26T12:30:00.123456789+02:30", "2026-11-26T10:00:00.123Z"),
        ("2026-12-31T20:00:00.9999-05:00", "2027-01-01T01:00:00.999Z"),
        ("2026-11-26T10:00:01Z", "2026-11-26T10:00:01.000Z"),
        ("1999-12-31T23:59:59.9999999Z", "1999-12-31T23:59:59.999Z"),
        ("2016-12-31t23:59:60.5z", "2016-12-31T23:59:59.999Z"),
        ("0000-01-01T00:30:00+00:00", "0000-01-01T00:30:00.000Z"),
        ("2024-02-29T23:00:00-01:00", "2024-03-01T00:00:00.000Z"),
    ],
)
def test_times_normalise_as_format_2_says(given, normalised):
    assert normalise_time(given) == normalised


@pytest.mark.parametrize(
    "bad",
    [
        "yesterday",
        "2026-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "0000-01-01T00:00:00+01:00",
        "9999-12-31T23:30:00-01:00",
        "2026-11-26T24:00:00Z",
        "2026-11-26 10:00:00Z",
    ],
)
def test_bad_times_are_refused(bad):
    with pytest.raises(VerificationError):
        normalise_time(bad)


KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
NOTE = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_the_reference_signed_note_verifies_with_its_key_and_not_once_altered():
    # Its body is not a checkpoint, so only the signature part passes.
    with pytest.raises(VerificationError, match="checkpoint body|tree size|root"):
        verify_checkpoint(NOTE, KEY)
    with pytest.raises(VerificationError, match="does not verify"):
        verify_checkpoint(NOTE.replace("answer", "answers"), KEY)
    with pytest.raises(VerificationError, match="key id"):
        parse_verifier_key(KEY.replace("c74f20a3", "c74f20a4"))


def _key_for(name, point):
    import hashlib

    raw = b"\x01" + point
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex()
    return f"{name}+{key_id}+{base64.b64encode(raw).decode()}"


def test_small_order_and_non_canonical_keys_are_refused():
    for point in (b"\x01" + bytes(31), bytes(32), bytes.fromhex("ec" + "ff" * 30 + "7f"), b"\xff" * 31 + b"\x7f"):
        with pytest.raises(VerificationError, match="small-order or non-canonical"):
            parse_verifier_key(_key_for("weak", point))
    # The twin: a key of the same shape that is a real point passes.
    assert parse_verifier_key(KEY).name == "PeterNeumann"


def test_notes_with_other_control_characters_are_refused():
    for control in ("\x7f", "\x85", "\x00"):
        with pytest.raises(VerificationError, match="malformed note"):
            verify_checkpoint(NOTE.replace("answer", "ans" + control + "wer"), KEY)


def test_parties_with_members_no_hash_covers_are_refused():
    event = copy.deepcopy(VECTORS["events"][0]["event"])
    event["actor"]["role"] = "admin"
    with pytest.raises(VerificationError, match="other than type, id and name"):
        leaf_hash(event)
    event = copy.deepcopy(VECTORS["events"][0]["event"])
    event["resource"]["name"] = 7
    with pytest.raises(VerificationError, match="name must be a string"):
        leaf_hash(event)
