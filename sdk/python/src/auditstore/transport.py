"""Requests with the retry rules of docs/SDK.md §3, blocking (for `Client`
and its sender thread) and asynchronous (for `AsyncClient`), on httpx."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import threading
import time
from typing import Any, Dict, Optional, Union

import httpx

from .config import Config, retry_after
from .errors import AuditStoreError, NetworkError, ProblemError, is_retryable

Params = Optional[Dict[str, Any]]
#: What a request answers: parsed JSON, the body's text, or its bytes.
Answer = Union[Any, str, bytes]


def _outcome(response: httpx.Response, as_: str) -> Union[Answer, AuditStoreError]:
    if response.is_success:
        if as_ == "text":
            return response.text
        if as_ == "bytes":
            return response.content
        return response.json()
    wait = retry_after(response.headers.get("retry-after"))
    try:
        problem = response.json()
        if not isinstance(problem, dict):
            raise ValueError
    except ValueError:
        problem = {"title": response.reason_phrase, "detail": ""}
    problem = dict(problem, status=response.status_code)
    return ProblemError(problem, wait)


def _network(error: Exception) -> NetworkError:
    # httpx's messages name the URL and the cause, never the headers.
    return NetworkError(f"AuditStore could not be reached: {type(error).__name__}: {error}")


class _Download:
    """A download in progress: a temporary file beside its destination and
    the running SHA-256 of what was written."""

    def __init__(self, dest: str) -> None:
        folder = os.path.dirname(os.path.abspath(dest))
        fd, self.temporary = tempfile.mkstemp(dir=folder, prefix=".download-")
        self.file = os.fdopen(fd, "wb")
        self.dest = dest
        self.digest = hashlib.sha256()
        self.finished = False

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.digest.update(chunk)

    def finish(self) -> str:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temporary, self.dest)
        self.finished = True
        return self.digest.hexdigest()

    def discard(self) -> None:
        if not self.finished:
            self.file.close()
            if os.path.exists(self.temporary):
                os.unlink(self.temporary)


class Transport:
    """One connection pool per flavour, made when first used."""

    def __init__(self, config: Config, *, sync_transport: Optional[httpx.BaseTransport] = None) -> None:
        self.config = config
        self._sync: Optional[httpx.Client] = None
        self._async: Optional[httpx.AsyncClient] = None
        self._sync_transport = sync_transport
        self._lock = threading.Lock()

    def _wait(self, error: AuditStoreError, attempt: int) -> float:
        """Before retry `attempt` (1 for the first): the wait (§3), or the
        error raised when it is final."""
        if not is_retryable(error) or attempt > self.config.max_retries:
            raise error
        return self.config.backoff(attempt, getattr(error, "retry_after", None))

    def _url(self, path: str) -> str:
        return f"{self.config.base_url}/v1{path}"

    def _body(self, body: Any) -> Optional[bytes]:
        if body is None or isinstance(body, bytes):
            return body
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._sync is None:
                self._sync = httpx.Client(
                    verify=self.config.ssl_context(),
                    timeout=self.config.timeout,
                    transport=self._sync_transport,
                )
            return self._sync

    def _async_client(self) -> httpx.AsyncClient:
        if self._async is None:
            self._async = httpx.AsyncClient(verify=self.config.ssl_context(), timeout=self.config.timeout)
        return self._async

    def request(self, method: str, path: str, body: Any = None, *, params: Params = None, as_: str = "json") -> Answer:
        """Sends one request, retried as §3 says; raises the last error."""
        client = self._sync_client()
        content = self._body(body)
        headers = self.config.headers(content is not None)
        attempt = 0
        while True:
            try:
                response = client.request(method, self._url(path), content=content, headers=headers, params=params)
                result = _outcome(response, as_)
            except httpx.HTTPError as e:
                result = _network(e)
            if not isinstance(result, AuditStoreError):
                return result
            attempt += 1
            time.sleep(self._wait(result, attempt))

    async def arequest(
        self, method: str, path: str, body: Any = None, *, params: Params = None, as_: str = "json"
    ) -> Answer:
        """`request`, without blocking the event loop."""
        client = self._async_client()
        content = self._body(body)
        headers = self.config.headers(content is not None)
        attempt = 0
        while True:
            try:
                response = await client.request(
                    method, self._url(path), content=content, headers=headers, params=params
                )
                result = _outcome(response, as_)
            except httpx.HTTPError as e:
                result = _network(e)
            if not isinstance(result, AuditStoreError):
                return result
            attempt += 1
            await asyncio.sleep(self._wait(result, attempt))

    def download(self, path: str, dest: str) -> str:
        """Streams a file to `dest` (through a temporary file beside it, renamed
        once whole) and answers its SHA-256 (hex)."""
        client = self._sync_client()
        for attempt in range(self.config.max_retries + 1):
            out = _Download(dest)
            try:
                with client.stream("GET", self._url(path), headers=self.config.headers(False)) as response:
                    if response.is_success:
                        for chunk in response.iter_bytes():
                            out.write(chunk)
                        return out.finish()
                    response.read()
                    error: AuditStoreError = _outcome(response, "json")  # type: ignore[assignment]
            except httpx.HTTPError as e:
                error = _network(e)
            finally:
                out.discard()
            time.sleep(self._wait(error, attempt + 1))
        raise AssertionError("unreachable")

    async def adownload(self, path: str, dest: str) -> str:
        """`download`, without blocking the event loop on the network."""
        client = self._async_client()
        for attempt in range(self.config.max_retries + 1):
            out = _Download(dest)
            try:
                async with client.stream("GET", self._url(path), headers=self.config.headers(False)) as response:
                    if response.is_success:
                        async for chunk in response.aiter_bytes():
                            out.write(chunk)
                        return out.finish()
                    await response.aread()
                    error: AuditStoreError = _outcome(response, "json")  # type: ignore[assignment]
            except httpx.HTTPError as e:
                error = _network(e)
            finally:
                out.discard()
            await asyncio.sleep(self._wait(error, attempt + 1))
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self.close()
