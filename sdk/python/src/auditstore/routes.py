"""The requests of docs/SDK.md §2 and §5, written once for both clients:
each function names a call (method, route, query, body) and what of the
answer it returns; `Client` sends it blocking, `AsyncClient` awaiting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import quote

#: The listing filters the server takes (README, GET …/events).
FILTERS = ("actor_type", "actor_id", "action", "resource_type", "resource_id", "from", "to", "limit")


def _identity(answer: Any) -> Any:
    return answer


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: Optional[Dict[str, Any]] = None
    body: Any = None
    as_: str = "json"
    pick: Callable[[Any], Any] = _identity


def _ledger(ledger: str) -> str:
    return f"/ledgers/{quote(ledger, safe='')}"


def append(ledger: str, texts: List[bytes]) -> Call:
    """A batch from its events' JSON as `config.prepare` made it."""
    return Call("POST", f"{_ledger(ledger)}/events", body=b'{"events":[' + b",".join(texts) + b"]}")


def get_event(ledger: str, event_id: str) -> Call:
    return Call("GET", f"{_ledger(ledger)}/events/{quote(event_id, safe='')}")


def list_events(ledger: str, filters: Mapping[str, Any], cursor: Optional[str]) -> Call:
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ValueError(f"unknown filters: {', '.join(sorted(unknown))}")
    params = {k: str(v) for k, v in filters.items() if v is not None}
    if cursor:
        params["cursor"] = cursor
    return Call("GET", f"{_ledger(ledger)}/events", params=params)


def checkpoint_note(ledger: str, tree_size: Optional[int]) -> Call:
    params = None if tree_size is None else {"tree_size": tree_size}
    return Call("GET", f"{_ledger(ledger)}/checkpoint", params=params, as_="text")


def inclusion_proof(ledger: str, seq: int, tree_size: Optional[int]) -> Call:
    params: Dict[str, Any] = {"seq": seq}
    if tree_size is not None:
        params["tree_size"] = tree_size
    return Call("GET", f"{_ledger(ledger)}/proofs/inclusion", params=params, pick=lambda a: a["proof"])


def consistency_proof(ledger: str, start: int, end: Optional[int]) -> Call:
    params: Dict[str, Any] = {"from": start}
    if end is not None:
        params["to"] = end
    return Call("GET", f"{_ledger(ledger)}/proofs/consistency", params=params, pick=lambda a: a["proof"])


def integrity(ledger: str) -> Call:
    return Call("GET", f"{_ledger(ledger)}/integrity")


def evidence(ledger: str, event_id: str) -> Call:
    return Call("GET", f"{_ledger(ledger)}/events/{quote(event_id, safe='')}/evidence", as_="text")


def start_export(ledger: str, request: Mapping[str, Any]) -> Call:
    return Call("POST", f"{_ledger(ledger)}/exports", body=dict(request))


def export_status(ledger: str, export_id: str) -> Call:
    return Call("GET", f"{_ledger(ledger)}/exports/{quote(export_id, safe='')}")


def download_path(ledger: str, export_id: str) -> str:
    return f"{_ledger(ledger)}/exports/{quote(export_id, safe='')}/download"
