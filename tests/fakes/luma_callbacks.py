"""The callbacks the fake Luma sends: by hand (`send`) or queued as states change (`queue`).

Luma POSTs the Generation JSON to `callback_url`, unsigned, with a 5 s timeout, retrying 3 times
100 ms apart when the answer is not a success. Queued callbacks are delivered in order by a
background worker (`start`, `stop`), with those retries; `drain` waits until all were delivered
(or gave up). Every attempt, by hand or automatic, is recorded in `sent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

import httpx

__all__ = ["CALLBACK_TIMEOUT_S", "LumaCallbacks", "SentCallback"]

CALLBACK_TIMEOUT_S = 5.0
CALLBACK_RETRIES = 3
CALLBACK_RETRY_DELAY_S = 0.1

_JSON = {"Content-Type": "application/json"}


@dataclass
class SentCallback:
    """One callback POST attempt the fake made (by hand or automatically)."""

    generation_id: str
    url: str
    body: bytes
    state: str | None  # the Generation's state in the body (None for an unparsable override)
    attempt: int  # 1 for the first try, 2.. for Luma's retries
    automatic: bool
    status_code: int | None = None  # None when the request itself failed
    error: str | None = None  # the transport error, if any


@dataclass
class _Callback:
    generation_id: str
    url: str
    body: bytes
    state: str | None


class LumaCallbacks:
    def __init__(self) -> None:
        self.sent: list[SentCallback] = []
        self._queue: asyncio.Queue[_Callback] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._worker = asyncio.create_task(self._deliver_all())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    def queue(self, generation_id: str, url: str, body: bytes, state: str) -> None:
        self._queue.put_nowait(_Callback(generation_id, url, body, state))

    async def drain(self, timeout: float) -> None:
        """Wait until every queued callback was delivered (or gave up)."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"fake Luma: callbacks not delivered within {timeout}s; "
                f"{self._queue.qsize()} still queued, attempts so far: "
                f"{[(c.generation_id, c.state, c.status_code, c.error) for c in self.sent]}"
            ) from None

    async def send(
        self, generation_id: str, url: str, body: bytes, *, timeout: float
    ) -> httpx.Response:
        """POST once, by hand, and return the response."""
        callback = _Callback(generation_id, url, body, _state_of(body))
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await self._post(client, callback, attempt=1, automatic=False)

    async def _deliver_all(self) -> None:
        while True:
            callback = await self._queue.get()
            try:
                await self._deliver(callback)
            finally:
                self._queue.task_done()

    async def _deliver(self, callback: _Callback) -> None:
        async with httpx.AsyncClient(timeout=CALLBACK_TIMEOUT_S) as client:
            for attempt in range(1, CALLBACK_RETRIES + 2):
                with contextlib.suppress(httpx.HTTPError):
                    response = await self._post(client, callback, attempt=attempt, automatic=True)
                    if response.is_success:
                        return
                if attempt <= CALLBACK_RETRIES:
                    await asyncio.sleep(CALLBACK_RETRY_DELAY_S)

    async def _post(
        self, client: httpx.AsyncClient, callback: _Callback, *, attempt: int, automatic: bool
    ) -> httpx.Response:
        """One attempt, recorded in `sent`; a transport error is recorded and raised."""
        sent = SentCallback(
            callback.generation_id, callback.url, callback.body, callback.state, attempt, automatic
        )
        self.sent.append(sent)
        try:
            response = await client.post(callback.url, content=callback.body, headers=_JSON)
        except httpx.HTTPError as exc:
            sent.error = repr(exc)
            raise
        sent.status_code = response.status_code
        return response


def _state_of(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    state = parsed.get("state") if isinstance(parsed, dict) else None
    return state if isinstance(state, str) else None
