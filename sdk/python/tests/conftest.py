"""A live AuditStore for the tests: the test command (scripts/test.sh)
starts the suite's server binary on a fresh data directory, bootstraps an
account and passes its URL, admin key and self-signed certificate. Each test
gets a ledger and keys of its own."""

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

# The SDK of this working tree, for these tests and the interpreters they start.
SOURCE = str(Path(__file__).resolve().parents[1] / "src")
sys.path.insert(0, SOURCE)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SOURCE, os.environ.get("PYTHONPATH")) if p)


@dataclass
class Live:
    base: str
    ca: str
    admin: str
    ledger: str
    writer: str
    reader: str
    verifier_key: str


@pytest.fixture
def live() -> Live:
    base = os.environ.get("AUDITSTORE_TEST_URL")
    admin = os.environ.get("AUDITSTORE_TEST_ADMIN_KEY")
    ca = os.environ.get("AUDITSTORE_TEST_CA")
    if not (base and admin and ca):
        pytest.fail(
            "AUDITSTORE_TEST_URL, AUDITSTORE_TEST_ADMIN_KEY and AUDITSTORE_TEST_CA: run these tests with `make test`"
        )
    import ssl

    context = ssl.create_default_context(cafile=ca)
    with httpx.Client(base_url=f"{base}/v1", verify=context, headers={"authorization": f"Bearer {admin}"}) as http:

        def post(path, body):
            response = http.post(path, json=body)
            assert response.is_success, f"{path}: {response.status_code} {response.text}"
            return response.json()

        name = f"py-{secrets.token_hex(4)}"
        ledger = post("/ledgers", {"name": name})["id"]
        writer = post("/keys", {"name": f"{name}-w", "permission": "write", "ledgers": [ledger]})["secret"]
        reader = post("/keys", {"name": f"{name}-r", "permission": "read", "ledgers": [ledger]})["secret"]
        verifier_key = http.get("/checkpoint-key").text.strip()
    return Live(base, ca, admin, ledger, writer, reader, verifier_key)


def invoice(n: int) -> dict:
    return {
        "actor": {"type": "user", "id": f"u_{n % 5}"},
        "action": "invoice.updated",
        "resource": {"type": "invoice", "id": f"inv_{n}"},
        "metadata": {"n": n},
    }
