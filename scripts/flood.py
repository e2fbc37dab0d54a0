#!/usr/bin/env python3
"""Flood load generator (a benchmark, not a test): starts a release `auditstore` on a fresh
SQLite data directory, floods it for a while as an attacker would, and reports the answers and
the server's peak memory (VmHWM, from /proc). Per-address throttles are raised out of the way,
as they would be for an attack from many addresses; the defences measured are the ones that
hold whatever the address.

  sign-in: parallel dashboard sign-ins (each one an argon2id hash of 19 MiB)
  append:  parallel appends of 4 MiB batches with one write key

Usage: scripts/flood.py {sign-in|append} [--binary B] [--workers N] [--secs S]
"""

import argparse
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/auditstore/target"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, binary, data_dir, serve_args):
        self.port = free_port()
        env = dict(os.environ)
        # Out of the way: an attack from many addresses is not slowed by them.
        for name in ["AUTH_FAILURES_PER_MINUTE", "SIGN_INS_PER_MINUTE", "ANONYMOUS_REQUESTS_PER_MINUTE"]:
            env[f"AUDITSTORE_{name}"] = "1000000"
        env["AUDITSTORE_RATE_LIMIT_PER_KEY"] = "100000"
        env["AUDITSTORE_RATE_LIMIT_PER_LEDGER"] = "100000"
        env["RUST_LOG"] = "error"
        boot = subprocess.run(
            [binary, "admin", "bootstrap", "--account", "acme", "--log-format", "json", "--data-dir", data_dir],
            env=env, capture_output=True, check=True,
        )
        self.admin = json.loads(boot.stdout)["admin_key"]
        self.process = subprocess.Popen(
            [binary, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{self.port}",
             "--site-root", "/nonexistent-site", *serve_args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE  # its own self-signed certificate
        for _ in range(200):
            try:
                self.request("GET", "/healthz")
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the server did not start")

    def connection(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=120)

    def request(self, method, path, body=None, headers=None, conn=None):
        conn = conn or self.connection()
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def form(**fields):
    return urllib.parse.urlencode(fields)


def sign_in_worker(server, deadline, answers):
    conn = server.connection()
    status, headers, body = server.request(
        "POST", "/api/session_info", body="", conn=conn,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    csrf = json.loads(body)["csrf"]
    cookies = "; ".join(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie")
    attempt = form(csrf=csrf, email="nobody@example.com", password="not the password", code="000000")
    while time.time() < deadline:
        try:
            status, _, _ = server.request(
                "POST", "/api/login", body=attempt, conn=conn,
                headers={"content-type": "application/x-www-form-urlencoded", "cookie": cookies},
            )
        except (OSError, http.client.HTTPException):
            status = "error"
            conn = server.connection()
        answers[status] += 1


def append_body():
    """A full batch: 1000 events, just under the 4 MiB body limit."""
    events = [
        {"actor": {"type": "user", "id": f"user-{i % 1000}"}, "action": "document.viewed",
         "resource": {"type": "document", "id": f"doc-{i}"}, "occurred_at": "2026-12-01T10:00:00Z",
         "metadata": {"padding": "x" * 3900}}
        for i in range(1000)
    ]
    body = json.dumps({"events": events}).encode()
    assert 4_000_000 < len(body) <= 4 * 1024 * 1024, len(body)
    return body


def append_worker(server, deadline, answers, ledger, key, body):
    conn = server.connection()
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    while time.time() < deadline:
        try:
            status, _, _ = server.request("POST", f"/v1/ledgers/{ledger}/events", body=body, headers=headers, conn=conn)
        except (OSError, http.client.HTTPException):
            # A refused append is answered before its body is read and its
            # connection closed, so the client sees its send fail.
            status = "refused, connection closed"
            conn = server.connection()
        answers[status] += 1
        if status != 201:
            time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["sign-in", "append"])
    parser.add_argument("--binary", default=os.path.join(TARGET, "release", "auditstore"))
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--secs", type=float, default=20)
    parser.add_argument("--serve-arg", action="append", default=[], help="an extra argument of `serve`")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        server = Server(args.binary, data_dir, args.serve_arg)
        try:
            idle_kib = status_kib(server.process.pid, "VmRSS")
            answers = Counter()
            deadline = time.time() + args.secs
            if args.kind == "sign-in":
                work = lambda: sign_in_worker(server, deadline, answers)
            else:
                auth = {"authorization": f"Bearer {server.admin}", "content-type": "application/json"}
                _, _, body = server.request("POST", "/v1/ledgers", json.dumps({"name": "flood"}), auth)
                ledger = json.loads(body)["id"]
                _, _, body = server.request("POST", "/v1/keys", json.dumps({"name": "w", "permission": "write"}), auth)
                key = json.loads(body)["secret"]
                payload = append_body()
                work = lambda: append_worker(server, deadline, answers, ledger, key, payload)
            threads = [threading.Thread(target=work) for _ in range(args.workers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            peak_kib = status_kib(server.process.pid, "VmHWM")
        finally:
            server.stop()
    summary = {
        "kind": args.kind,
        "binary": args.binary,
        "workers": args.workers,
        "secs": args.secs,
        "idle_rss_mib": round(idle_kib / 1024, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "answers": {str(k): v for k, v in sorted(answers.items(), key=lambda kv: str(kv[0]))},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
