"""Verification throughput (scripts/bench-sdk.sh): reads the fixture the
Rust SDK's `verify_proofs` example wrote (AUDITSTORE_VERIFY_FIXTURE), checks
its checkpoint's signature once, then for BENCH_SECS (5) seconds verifies
inclusion proofs as an application does: the leaf hash computed from the
event's content, the proof against the signed root. Prints proofs per second
as a JSON line; exits 1 if any proof does not verify."""

import json
import os
import sys
import time

from auditstore import VerificationError, verify_checkpoint, verify_event

fixture = json.load(open(os.environ["AUDITSTORE_VERIFY_FIXTURE"], encoding="utf-8"))
secs = float(os.environ.get("BENCH_SECS", "5"))
checkpoint = verify_checkpoint(fixture["checkpoint"], fixture["verifier_key"])
items = fixture["items"]
started = time.monotonic()
proofs = 0
try:
    while time.monotonic() - started < secs:
        for item in items:
            verify_event(item["event"], item["proof"], checkpoint)
            proofs += 1
except VerificationError as e:
    print(f"a proof did not verify: {e}", file=sys.stderr)
    sys.exit(1)
seconds = time.monotonic() - started
print(
    json.dumps({"client": "python", "proofs": proofs, "seconds": seconds, "proofs_per_second": round(proofs / seconds)})
)
