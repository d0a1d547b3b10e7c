"""What the fake provider servers (FakeKie, FakeSegmind, FakeLuma) have in common.

A `FakeProvider` is a starlette app served on loopback (`url` is its root) that

* records every request it receives in `requests` (`Recorded`, JSON bodies parsed);
* serves each finished item's result as a streamed MP4 at `/files/{id}.mp4` (GET and HEAD, no key
  needed; each GET counts in `file_downloads[id]`; see tests/fakes/result_files.py);
* answers any other path with its provider's 404 (`_not_found_answer`);
* checks every submit in the same order: the key (`_auth_error`), a JSON object sent as JSON
  (else `_bad_body_answer`), the rate limit (`rate_limit`, else `_rate_limit_answer`); then the
  fake reads the body (`_accept_submit`);
* counts the status polls of an item and says when `complete_after_polls` completes it (`_poll`);
* plays faults scripted for its submit endpoint (tests/fakes/faults.py), FIFO, each consumed by
  the request it affects: a canned answer, a hang (optionally after handling the request
  normally; the wait ends early when the client disconnects or the fake stops) or a dropped
  connection. A scripted fault comes before normal handling, even before the key check, but the
  request is still recorded. `ScriptedAnswers` is the same for endpoints that only ever get
  canned answers: every fake has them for its status endpoint (`_status_faults`).

A fake supplies its submit path and other routes, its items (tasks, jobs, generations, by id in
submission order), the hooks named above, what a hang without accept answers (`_hang_answer`) and
the size of an item's result file, if it has one (`_result_size`). The public methods stay on
each fake, under that provider's names and signatures; they delegate to the helpers here (a fake
whose submit endpoint has another name gives `hang_next_submit` and `close_next_submit` that name
too).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypedDict, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tests.fakes.faults import Answer, DropConnection, ScriptedAnswers, SubmitFault, park
from tests.fakes.result_files import result_response
from tests.fakes.server import LoopbackServer, StartStop

__all__ = [
    "FakeProvider",
    "Item",
    "Options",
    "Recorded",
    "require_positive",
]

_HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Item(Protocol):
    polls: int  # status polls seen for this item


ItemT = TypeVar("ItemT", bound=Item)


class Options(TypedDict, total=False):
    """What every fake may be given at construction, besides its key."""

    complete_after_polls: int | None  # complete an item on its N-th status poll (default never)
    result_size: int  # bytes of each item's result file (default 200_000)
    rate_limit: tuple[int, float] | None  # at most N submits in S seconds (default no limit)


def require_positive(name: str, value: int | None) -> None:
    """A constructor check: an optional count such as `complete_after_polls` must be >= 1."""
    if value is not None and value < 1:
        raise ValueError(f"{name} must be >= 1")


# ---------------------------------------------------------------------- recorded requests


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case header names
    json: Any  # parsed JSON body or None
    raw: bytes  # the raw body
    at: float  # time.monotonic()


# ---------------------------------------------------------------------- the base class


class FakeProvider(StartStop, Generic[ItemT]):
    """The plumbing of a fake provider API; see the module docstring."""

    _label: ClassVar[str]
    _noun: ClassVar[str]

    def __init_subclass__(cls, *, label: str, noun: str, **kwargs: Any) -> None:
        """`label`: the provider in messages ("fake KIE: ..."); `noun`: what a submit creates
        ("task", "job", "generation")."""
        super().__init_subclass__(**kwargs)
        cls._label, cls._noun = label, noun

    def __init__(
        self,
        api_key: str,
        *,
        submit_path: str,
        routes: Sequence[BaseRoute],
        items: dict[str, ItemT],
        complete_after_polls: int | None = None,
        result_size: int = 200_000,
        rate_limit: tuple[int, float] | None = None,
    ) -> None:
        """`routes`: the fake's own, besides the submit endpoint (POST `submit_path`); `items`:
        the fake's dict of them (its `tasks`, `jobs`, `generations`), which the base reads."""
        require_positive("complete_after_polls", complete_after_polls)
        self.api_key = api_key
        self.complete_after_polls = complete_after_polls
        self.result_size = result_size
        self.rate_limit = rate_limit
        self.submit_path = submit_path

        self.requests: list[Recorded] = []
        self.file_downloads: dict[str, int] = {}
        self._items = items

        self._submit_faults: deque[SubmitFault] = deque()
        self._status_faults = ScriptedAnswers()
        self._submit_times: deque[float] = deque()
        self._stopping = asyncio.Event()

        self.app = Starlette(
            routes=[
                Route(submit_path, self._submit, methods=["POST"]),
                *routes,
                Route("/files/{name}", self._file, methods=["GET", "HEAD"]),
                Route("/{path:path}", self._not_found, methods=_HTTP_METHODS),
            ]
        )
        self._server = LoopbackServer(self.app)
        self.url: str = self._server.url

    # ------------------------------------------------------------------ what a fake supplies

    def _auth_error(self, request: Request) -> Response | None:
        """The provider's refusal when the request lacks the right key, else None."""
        raise NotImplementedError

    def _bad_body_answer(self, problem: str) -> Response:
        """The provider's answer to a POST whose body is not a JSON object sent as JSON."""
        raise NotImplementedError

    def _rate_limit_answer(self, retry_after: int) -> Response:
        """The provider's answer to a submit over `rate_limit` (`retry_after`: seconds)."""
        raise NotImplementedError

    def _accept_submit(self, body: dict[str, Any]) -> Response:
        """The answer to a submit that passed the common checks: the fake checks the fields and
        creates an item, or refuses."""
        raise NotImplementedError

    def _not_found_answer(self) -> Response:
        """The provider's 404 for an unknown path."""
        raise NotImplementedError

    def _hang_answer(self) -> Response:
        """What a submit gets after a scripted hang without accept (no item is created)."""
        raise NotImplementedError

    def _result_size(self, item_id: str) -> int | None:
        """The size of the item's result file, or None when it has none to serve (yet)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        self._stopping.set()  # wakes requests parked by a scripted hang
        await self._server.stop()

    # ------------------------------------------------------------------ inspection

    def result_url(self, item_id: str) -> str:
        """Where the item's result file is served (once it has one)."""
        return f"{self.url}/files/{item_id}.mp4"

    def submit_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == self.submit_path]

    def _polls(self, prefix: str, item_id: str | None, suffix: str = "") -> list[Recorded]:
        """The GET requests to `{prefix}/{id}{suffix}`, for `item_id` or for any one id."""

        def wanted(rec: Recorded) -> bool:
            rest = rec.path.removeprefix(prefix + "/")
            if rec.method != "GET" or rest == rec.path or not rest.endswith(suffix):
                return False
            rest = rest.removesuffix(suffix)
            return rest != "" and "/" not in rest and (item_id is None or rest == item_id)

        return [r for r in self.requests if wanted(r)]

    def _get(self, item_id: str) -> ItemT:
        items = self._items
        if item_id not in items:
            raise KeyError(f"fake {self._label}: no {self._noun} {item_id!r}; known: {list(items)}")
        return items[item_id]

    def _only(self) -> ItemT:
        items = self._items
        assert len(items) == 1, f"expected exactly one {self._noun}, got {len(items)}: {items}"
        return next(iter(items.values()))

    async def _wait_for_items(self, count: int = 1, timeout: float = 10.0) -> list[ItemT]:
        """Wait until at least `count` items exist; returns all in submission order."""
        items = self._items
        await self._wait(lambda: len(items) >= count, timeout, f"{count} {self._noun}(s)")
        return list(items.values())

    async def _wait_for_requests(
        self, match: Callable[[Recorded], bool], where: str, count: int, timeout: float
    ) -> list[Recorded]:
        """Wait until at least `count` recorded requests `match`; returns them in order."""

        def matching() -> list[Recorded]:
            return [r for r in self.requests if match(r)]

        await self._wait(
            lambda: len(matching()) >= count, timeout, f"{count} request(s) to {where}"
        )
        return matching()

    async def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                seen = [f"{r.method} {r.path}" for r in self.requests]
                raise AssertionError(
                    f"fake {self._label}: timed out after {timeout}s waiting for {what}; "
                    f"{self._noun}s={len(self._items)}, requests seen: {seen}"
                )
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ submits and polls

    def _handle_submit(self, request: Request, rec: Recorded) -> Response:
        """The normal answer to a submit: the checks every fake makes, then `_accept_submit`."""
        refused = self._post_error(request, rec)
        if refused is not None:
            return refused
        retry_after = self._rate_limited()
        if retry_after is not None:
            return self._rate_limit_answer(retry_after)
        return self._accept_submit(rec.json)

    def _post_error(self, request: Request, rec: Recorded) -> Response | None:
        """What a POST gets instead of the normal answer (the key check's refusal, or the answer
        to a body that is not a JSON object), or None."""
        refused = self._auth_error(request)
        if refused is not None:
            return refused
        problem = self._json_object_problem(request, rec)
        return None if problem is None else self._bad_body_answer(problem)

    def _poll(self, item: ItemT, *, running: bool) -> bool:
        """Count a status poll of `item`; True when it is still `running` and this is the poll
        `complete_after_polls` completes it on."""
        item.polls += 1
        due = self.complete_after_polls
        return running and due is not None and item.polls >= due

    # ------------------------------------------------------------------ submit faults

    def _refuse_next(self, answer: Answer, times: int) -> None:
        """The next `times` submit requests get `answer()`; no item is created."""
        self._submit_faults.extend(SubmitFault(answer) for _ in range(times))

    def hang_next_submit(self, seconds: float, *, accept: bool = True, times: int = 1) -> None:
        """Sleep `seconds` before answering the next submit request(s).

        accept=True: the request is handled normally at once (the item is created if the request
        is valid, so the provider "got it") and that answer is sent after the delay.
        accept=False: nothing is created and the answer after the delay is the provider's
        server-error answer (see the fake's `_hang_answer`).
        If the client disconnects (or the fake stops) during the delay, the wait ends early.
        """
        fault = SubmitFault(self._hang_answer, hang_seconds=seconds, accept=accept)
        self._submit_faults.extend(fault for _ in range(times))

    def close_next_submit(self, *, times: int = 1) -> None:
        """Drop the connection of the next submit request(s) without a complete answer."""
        self._submit_faults.extend(SubmitFault(DropConnection) for _ in range(times))

    async def _submit(self, request: Request) -> Response:
        """The submit route: record, then a scripted fault if one is queued, else normal."""
        rec = await self._record(request)
        fault = self._submit_faults.popleft() if self._submit_faults else None
        if fault is None:
            return self._handle_submit(request, rec)
        if fault.hang_seconds is None:
            return fault.answer()
        response = self._handle_submit(request, rec) if fault.accept else fault.answer()
        await park(request, fault.hang_seconds, self._stopping)
        return response

    # ------------------------------------------------------------------ request checks

    async def _record(self, request: Request) -> Recorded:
        raw = await request.body()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        rec = Recorded(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
            raw=raw,
            at=time.monotonic(),
        )
        self.requests.append(rec)
        return rec

    async def _record_checked(
        self, request: Request, faults: ScriptedAnswers | None = None
    ) -> Response | None:
        """Record the request, then what it gets instead of the normal answer: a scripted answer
        from `faults`, else the key check's refusal; None when it may be handled normally."""
        await self._record(request)
        scripted = faults.next() if faults is not None else None
        return scripted if scripted is not None else self._auth_error(request)

    def _has_bearer_key(self, request: Request) -> bool:
        """`Authorization: Bearer <api_key>` (the scheme in any case)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        )

    @staticmethod
    def _json_object_problem(request: Request, rec: Recorded) -> str | None:
        """Why the body is not a JSON object sent as application/json, or None when it is."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return "Content-Type must be application/json"
        if not isinstance(rec.json, dict):
            return "The request body must be a JSON object"
        return None

    def _rate_limited(self) -> int | None:
        """Count a submit against `rate_limit` (at most N in a sliding window of S seconds).

        Returns None when it is within the limit (and counts it), else the seconds until a
        submit would be allowed again (a Retry-After value, at least 1; not counted).
        """
        if self.rate_limit is None:
            return None
        limit, window = self.rate_limit
        now = time.monotonic()
        while self._submit_times and now - self._submit_times[0] >= window:
            self._submit_times.popleft()
        if len(self._submit_times) >= limit:
            return max(1, math.ceil(window - (now - self._submit_times[0])))
        self._submit_times.append(now)
        return None

    # ------------------------------------------------------------------ shared routes

    async def _file(self, request: Request) -> Response:
        await self._record(request)
        name: str = request.path_params["name"]
        item_id = name.removesuffix(".mp4")
        size = self._result_size(item_id) if name.endswith(".mp4") else None
        if size is None:
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        if request.method == "GET":
            self.file_downloads[item_id] = self.file_downloads.get(item_id, 0) + 1
        return result_response(request, size)

    async def _not_found(self, request: Request) -> Response:
        await self._record(request)
        return self._not_found_answer()
