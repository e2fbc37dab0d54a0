"""The blocking client against a live AuditStore (see conftest.py)."""

import base64
import json
import re
import zipfile

import pytest
from conftest import invoice

from auditstore import (
    CheckpointTracker,
    Client,
    FileStore,
    ForkError,
    MemoryStore,
    ProblemError,
    RollbackError,
    VerificationError,
    jcs,
    leaf_hash,
    verify_checkpoint,
    verify_evidence,
    verify_inclusion,
)


def other_key(name):
    """A valid verifier key of the same name that did not sign anything."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = b"\x01" + Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex()
    return f"{name}+{key_id}+{base64.b64encode(raw).decode()}"


UUIDV7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_recorded_events_are_delivered_in_batches_and_flushed_on_close(live):
    client = Client(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca, batch_size=400)
    for n in range(2500):
        client.record(invoice(n))
    report = client.close(60)
    assert (report.delivered, report.failed, report.pending) == (2500, 0, 0)
    with pytest.raises(Exception, match="closed"):
        client.record(invoice(0))
    with Client(live.base, live.reader, ca_certificate=live.ca) as reader:
        ids = [e["id"] for e in reader.events(live.ledger, limit=500)]
        assert len(ids) == 2500 and len(set(ids)) == 2500
        assert all(UUIDV7.match(i) for i in ids)
        assert len(reader.list_events(live.ledger, resource_id="inv_7")["events"]) == 1


def test_a_flush_returns_only_once_what_was_recorded_before_it_is_committed(live):
    client = Client(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca, flush_interval=60)
    for n in range(30):
        client.record(invoice(n))
    report = client.flush(30)
    assert (report.delivered, report.pending) == (30, 0)
    # Acknowledged means stored: a reader sees all of it at once.
    with Client(live.base, live.reader, ca_certificate=live.ca) as reader:
        assert len(list(reader.events(live.ledger))) == 30
    client.close()


def test_appends_answer_their_hashes_and_reads_verify_against_the_pinned_key(live):
    writer = Client(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca)
    appended = writer.append([invoice(n) for n in range(5)])
    assert len(appended["events"]) == 5
    reader = Client(live.base, live.reader, ca_certificate=live.ca, verifier_key=live.verifier_key)
    first = appended["events"][0]
    event, checkpoint = reader.get_verified_event(live.ledger, first["id"])
    assert leaf_hash(event) == first["leaf_hash"]
    assert reader.get_event(live.ledger, first["id"], verify=True)["seq"] == first["seq"]
    assert checkpoint.tree_size >= 5
    proof = reader.inclusion_proof(live.ledger, event["seq"], checkpoint.tree_size)
    verify_inclusion(event["seq"], checkpoint.tree_size, leaf_hash(event), proof, checkpoint.root)
    # Tampered twins: the event, a proof hash, the root, the signed size.
    altered = dict(event, metadata={"n": 99})
    with pytest.raises(VerificationError, match="signed root"):
        verify_inclusion(event["seq"], checkpoint.tree_size, leaf_hash(altered), proof, checkpoint.root)
    if proof:
        with pytest.raises(VerificationError):
            verify_inclusion(
                event["seq"],
                checkpoint.tree_size,
                first["leaf_hash"],
                [leaf_hash(altered)] + proof[1:],
                checkpoint.root,
            )
    with pytest.raises(VerificationError):
        verify_inclusion(event["seq"], checkpoint.tree_size, first["leaf_hash"], proof, leaf_hash(altered))
    size = checkpoint.tree_size
    with pytest.raises(VerificationError, match="does not verify"):
        verify_checkpoint(checkpoint.note.replace(f"\n{size}\n", f"\n{size + 1}\n"), live.verifier_key)
    # The signature with one byte flipped, and another key of the same name.
    body, signature = checkpoint.note.rsplit("\n\n", 1)
    prefix, blob = signature.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[10] ^= 1
    flipped = f"{body}\n\n{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(VerificationError, match="does not verify"):
        verify_checkpoint(flipped, live.verifier_key)
    with pytest.raises(VerificationError, match="no signature by the pinned key"):
        verify_checkpoint(checkpoint.note, other_key(live.verifier_key.split("+")[0]))
    # Evidence, offline, and its twins.
    evidence = reader.evidence(live.ledger, first["id"])
    verified = verify_evidence(evidence, live.verifier_key)
    assert (verified.ledger, verified.seq, verified.event["id"]) == (live.ledger, first["seq"], first["id"])
    with pytest.raises(VerificationError):
        verify_evidence(
            evidence.replace(f"\nindex {first['seq']}\n", f"\nindex {first['seq'] + 1}\n"), live.verifier_key
        )
    other = reader.evidence(live.ledger, appended["events"][1]["id"])

    def extra(text):
        return next(line for line in text.split("\n") if line.startswith("extra "))

    with pytest.raises(VerificationError):
        verify_evidence(evidence.replace(extra(evidence), extra(other)), live.verifier_key)
    with pytest.raises(VerificationError, match="no signature by the pinned key"):
        verify_evidence(evidence, other_key(live.verifier_key.split("+")[0]))
    # The event in the file with content no hash covers: refused as such.
    content = json.loads(base64.b64decode(extra(evidence)[len("extra ") :]))
    for tampered, why in (
        (dict(content, actor=dict(content["actor"], role="admin")), "other than type, id and name"),
        (dict(content, injected=True), "not a normalised event"),
        ({k: v for k, v in content.items() if k != "metadata"}, "not a normalised event"),
        (dict(content, occurred_at=content["occurred_at"].replace("Z", "+00:00")), "not a normalised event"),
    ):
        line = "extra " + base64.b64encode(jcs(tampered)).decode()
        with pytest.raises(VerificationError, match=why):
            verify_evidence(evidence.replace(extra(evidence), line), live.verifier_key)
    writer.close()
    reader.close()


def test_the_tracker_proves_every_newer_checkpoint_and_refuses_forks_and_rollbacks(live, tmp_path):
    writer = Client(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca)
    reader = Client(live.base, live.reader, ca_certificate=live.ca, verifier_key=live.verifier_key)
    writer.append([invoice(n) for n in range(3)])
    path = tmp_path / "checkpoints.json"
    tracker = CheckpointTracker(reader, FileStore(path))
    first = tracker.update(live.ledger)
    writer.append([invoice(n) for n in range(3, 10)])
    second = tracker.update(live.ledger)
    assert second.tree_size > first.tree_size
    again = CheckpointTracker(reader, FileStore(path))
    assert again.stored(live.ledger)["tree_size"] == second.tree_size
    assert json.loads(path.read_text())[live.ledger]["note"] == second.note
    with pytest.raises(RollbackError):
        again.track(live.ledger, first.note)
    same_size = MemoryStore()
    same_size.save(live.ledger, {"tree_size": second.tree_size, "root": "ab" * 32, "note": ""})
    with pytest.raises(ForkError):
        CheckpointTracker(reader, same_size).track(live.ledger, second.note)
    smaller = MemoryStore()
    smaller.save(live.ledger, {"tree_size": 3, "root": "ab" * 32, "note": ""})
    with pytest.raises(ForkError, match="^FORK"):
        CheckpointTracker(reader, smaller).track(live.ledger, second.note)
    # What did not verify was not stored.
    assert smaller.load(live.ledger)["tree_size"] == 3
    writer.close()
    reader.close()


def test_an_export_is_started_waited_for_with_progress_and_downloaded_checked(live, tmp_path):
    writer = Client(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca)
    writer.append([invoice(n) for n in range(50)])
    reader = Client(live.base, live.reader, ca_certificate=live.ca)
    started = reader.start_export(live.ledger, "jsonl")
    progress = []
    done = reader.wait_export(live.ledger, started["id"], poll=0.1, on_progress=lambda w, t: progress.append((w, t)))
    assert done["events_written"] == 50 and progress[-1] == (50, 50)
    path = tmp_path / "export.zip"
    digest = reader.download_export(live.ledger, started["id"], str(path))
    assert digest == done["sha256"]
    assert zipfile.is_zipfile(path)
    # An export whose file is not what it reported is refused and not kept.
    real = reader.export_status
    reader.export_status = lambda ledger, export_id: dict(real(ledger, export_id), sha256="00" * 32)
    with pytest.raises(VerificationError, match="SHA-256"):
        reader.download_export(live.ledger, started["id"], str(tmp_path / "tampered.zip"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.zip"]
    writer.close()
    reader.close()


def test_errors_are_typed_problems_and_never_show_the_key(live):
    secret = live.writer.split("_", 2)[2]
    client = Client(live.base, live.writer + "x", ledger=live.ledger, ca_certificate=live.ca, max_retries=0)
    with pytest.raises(ProblemError) as caught:
        client.append([invoice(1)])
    assert caught.value.status == 401
    shown = f"{caught.value} {caught.value!r} {client} {client!r} {client.config} {vars(caught.value)}"
    assert secret not in shown, shown
    writer = Client(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca)
    with pytest.raises(ProblemError) as caught:
        writer.append([{"actor": {"type": "user"}, "action": "x.y"}])
    assert caught.value.status == 400 and caught.value.field
    client.close()
    writer.close()
