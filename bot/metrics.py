"""The operators' `/metrics`, in Prometheus' text format (prometheus-client).

`PrometheusMetrics` implements the domain's Metrics port (bot.domain.metrics) with counters and
histograms in a registry of its own (several bots may run in one process, as in the tests), and
reads the gauges that describe the whole bot from the database at scrape time (`render`): tasks
by state (one GROUP BY), the queue, the provider's slots in use. With several instances on one
PostgreSQL database, what each instance did carries an `instance` label (its id in /stats); the
gauges read from the database are the same from every instance and carry none.

`MetricsPage` is the route (an optional bearer token, METRICS_TOKEN); `metrics_server` serves it
on a port of its own (METRICS_HOST:METRICS_PORT) with the web server's guards.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.domain.failures import Failure
from bot.domain.records import TaskState
from bot.web.server import WebServer

log = logging.getLogger(__name__)

PREFIX = "lumabot"
METRICS_PATH = "/metrics"
# The metrics server of its own (METRICS_PORT) serves one scraper or two.
# The longest a scrape waits for the database (Prometheus' own scrape timeout is 10 s).
SCRAPE_DATABASE_SECONDS = 2.0
# The database's gauges are read at most this often (Prometheus scrapes every 15 s by default).
SNAPSHOT_SECONDS = 5.0
METRICS_MAX_CONNECTIONS = 32

_M = TypeVar("_M", bound=MetricWrapperBase)

# Seconds. A provider works minutes on a video; a delivery takes seconds (a large upload, a
# minute); one HTTP request to the provider or to Telegram well under a second, an upload more.
PROCESSING_BUCKETS = (15, 30, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 3600)
DELIVERY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LATENESS_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
ROUND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

TASK_OUTCOMES = (
    TaskState.DELIVERED,
    TaskState.UNDELIVERABLE,
    TaskState.FAILED,
    TaskState.UNKNOWN,
    TaskState.CANCELLED,
)
DELIVERY_KINDS = ("video", "document", "link")
BROADCAST_RESULTS = ("sent", "blocked", "failed")


class _Family(Generic[_M]):
    """A metric and its children by label values (cached: `labels()` takes a lock and builds a
    tuple each call), the instance's label first when it has one."""

    def __init__(self, metric: _M, instance: tuple[str, ...]) -> None:
        self._metric = metric
        self._instance = instance
        self._children: dict[tuple[str, ...], _M] = {}

    def __call__(self, *values: str) -> _M:
        child = self._children.get(values)
        if child is None:
            labels = self._instance + values
            child = self._metric.labels(*labels) if labels else self._metric
            self._children[values] = child
        return child


@dataclass
class _Snapshot:
    """What the last scrape read from the database."""

    by_state: dict[TaskState, int] = field(default_factory=dict)
    at_provider: int = 0
    seconds: float = 0.0
    ok: bool = False


class _DatabaseGauges(Collector):
    """The gauges read from the database at scrape time (`PrometheusMetrics.render` reads them
    just before the registry is collected)."""

    def __init__(self, max_at_provider: int) -> None:
        self.snapshot = _Snapshot()
        self._max_at_provider = max_at_provider

    def collect(self) -> Iterable[GaugeMetricFamily]:
        snapshot = self.snapshot
        up = GaugeMetricFamily(
            f"{PREFIX}_database_up", "1 when the scrape's database queries answered"
        )
        up.add_metric([], 1.0 if snapshot.ok else 0.0)
        yield up
        took = GaugeMetricFamily(
            f"{PREFIX}_scrape_database_seconds", "Time the scrape's database queries took"
        )
        took.add_metric([], snapshot.seconds)
        yield took
        limit = GaugeMetricFamily(
            f"{PREFIX}_provider_slots_limit", "Tasks at the provider at once at most"
        )
        limit.add_metric([], float(self._max_at_provider))
        yield limit
        if not snapshot.ok:
            return
        tasks = GaugeMetricFamily(
            f"{PREFIX}_tasks", "Tasks in each state, all instances together", labels=["state"]
        )
        for state in TaskState:
            tasks.add_metric([state.value], float(snapshot.by_state.get(state, 0)))
        yield tasks
        queue = GaugeMetricFamily(
            f"{PREFIX}_queue_length", "Tasks waiting in the queue for a provider slot"
        )
        queue.add_metric([], float(snapshot.by_state.get(TaskState.QUEUED, 0)))
        yield queue
        slots = GaugeMetricFamily(
            f"{PREFIX}_provider_slots_in_use",
            "Tasks at the provider, or being sent to it (of MAX_CONCURRENT_TASKS)",
        )
        slots.add_metric([], float(snapshot.at_provider))
        yield slots


TaskCounts = Callable[[], Awaitable[dict[TaskState, int]]]
AtProvider = Callable[[], Awaitable[int]]


class PrometheusMetrics:
    """The Metrics port over prometheus-client; `render()` is a scrape."""

    def __init__(
        self,
        *,
        instance: str | None = None,
        max_at_provider: int = 0,
    ) -> None:
        """`instance`: this instance's id, when several may share the database (its label)."""
        self.registry = CollectorRegistry(auto_describe=True)
        self._task_counts: TaskCounts | None = None
        self._at_provider: AtProvider | None = None
        self._reading: asyncio.Future[None] | None = None  # the database read in flight
        self._read_at = -SNAPSHOT_SECONDS  # time.monotonic() of the last read
        self._gauges = _DatabaseGauges(max_at_provider)
        self.registry.register(self._gauges)
        ProcessCollector(registry=self.registry)  # the process's CPU time, memory, open files
        base = ("instance",) if instance else ()
        own = (instance,) if instance else ()
        registry = self.registry

        def counter(name: str, doc: str, labels: Sequence[str] = ()) -> _Family[Counter]:
            return _Family(
                Counter(f"{PREFIX}_{name}", doc, (*base, *labels), registry=registry), own
            )

        def histogram(
            name: str, doc: str, buckets: Sequence[float], labels: Sequence[str] = ()
        ) -> _Family[Histogram]:
            metric = Histogram(
                f"{PREFIX}_{name}", doc, (*base, *labels), registry=registry, buckets=buckets
            )
            return _Family(metric, own)

        self._submitted = counter("tasks_submitted", "Tasks made from a card (Submit)")
        self._finished = counter(
            "tasks_finished", "Tasks that reached an end state, by outcome", ("outcome",)
        )
        self._failed = counter("tasks_failed", "Tasks that failed, by reason", ("reason",))
        self._processing = histogram(
            "task_processing_seconds",
            "From the provider's acceptance to its result, of delivered tasks",
            PROCESSING_BUCKETS,
        )
        self._delivery = histogram(
            "task_delivery_seconds",
            "From the provider's result to the chat, of delivered tasks",
            DELIVERY_BUCKETS,
        )
        self._deliveries = counter("deliveries", "Results sent into chats, by kind", ("kind",))
        self._provider_requests = counter(
            "provider_requests",
            "HTTP requests to the provider, by endpoint and outcome (ok, or the failure)",
            ("endpoint", "outcome"),
        )
        self._provider_seconds = histogram(
            "provider_request_seconds",
            "Time of one HTTP request to the provider",
            REQUEST_BUCKETS,
            ("endpoint",),
        )
        self._telegram_calls = counter(
            "telegram_calls",
            "Bot API calls, by method and outcome (ok, retry_after for a 429, or the error)",
            ("method", "outcome"),
        )
        self._telegram_seconds = histogram(
            "telegram_call_seconds", "Time of one Bot API call", REQUEST_BUCKETS, ("method",)
        )
        self._rounds = histogram(
            "tracker_round_database_seconds",
            "Time the database statements of one tracker round took",
            ROUND_BUCKETS,
        )
        self._lateness = histogram(
            "tracker_check_lateness_seconds",
            "How long after it was due the tracker started a status check (the oldest first: "
            "late checks mean it cannot keep POLL_INTERVAL_SECONDS)",
            LATENESS_BUCKETS,
        )
        self._broadcast = counter(
            "broadcast_messages", "Messages broadcasts sent, by result", ("result",)
        )
        self._uploads = counter(
            "uploads",
            "Files users sent, by kind (video, image; file: not downloaded) and outcome",
            ("kind", "outcome"),
        )
        # Known label values start at 0, so that rates and sums see them before the first one.
        self._submitted()
        for outcome in TASK_OUTCOMES:
            self._finished(outcome.value)
        for failure in Failure:
            self._failed(failure.value)
        for kind in DELIVERY_KINDS:
            self._deliveries(kind)
        for result in BROADCAST_RESULTS:
            self._broadcast(result)
        self._processing()
        self._delivery()
        self._rounds()

    # --- the Metrics port ------------------------------------------------------------------

    def task_submitted(self) -> None:
        self._submitted().inc()

    def task_finished(self, outcome: str, failure: str | None = None) -> None:
        self._finished(outcome).inc()
        if failure is not None:
            self._failed(failure).inc()

    def task_delivered(
        self, kind: str, processing_seconds: float | None, delivery_seconds: float | None
    ) -> None:
        self._deliveries(kind).inc()
        if processing_seconds is not None:
            self._processing().observe(max(processing_seconds, 0.0))
        if delivery_seconds is not None:
            self._delivery().observe(max(delivery_seconds, 0.0))

    def provider_request(self, endpoint: str, outcome: str, seconds: float) -> None:
        self._provider_requests(endpoint, outcome).inc()
        self._provider_seconds(endpoint).observe(seconds)

    def telegram_call(self, method: str, outcome: str, seconds: float) -> None:
        self._telegram_calls(method, outcome).inc()
        self._telegram_seconds(method).observe(seconds)

    def tracker_round(self, database_seconds: float) -> None:
        self._rounds().observe(database_seconds)

    def check_started(self, lateness_seconds: float) -> None:
        self._lateness().observe(lateness_seconds)

    def broadcast_message(self, result: str) -> None:
        self._broadcast(result).inc()

    def upload(self, kind: str, outcome: str) -> None:
        self._uploads(kind, outcome).inc()

    # --- a scrape ---------------------------------------------------------------------------

    def read_from_database(self, *, task_counts: TaskCounts, at_provider: AtProvider) -> None:
        """Where each scrape reads the gauges of the whole bot (given once the database is
        open): tasks by state, and tasks at the provider."""
        self._task_counts = task_counts
        self._at_provider = at_provider

    async def render(self) -> bytes:
        """The metrics in Prometheus' text format, with the database's gauges read at most once
        every SNAPSHOT_SECONDS: scrapes in flight share one read, and a burst of requests
        (the page may be public) never turns into a burst of queries."""
        await self._fresh_snapshot()
        return generate_latest(self.registry)

    async def _fresh_snapshot(self) -> None:
        if self._reading is None:
            if time.monotonic() - self._read_at < SNAPSHOT_SECONDS:
                return
            self._reading = asyncio.ensure_future(self._read_snapshot())
        reading = self._reading
        try:
            await asyncio.shield(reading)
        finally:
            if reading.done() and self._reading is reading:
                self._reading = None

    async def _read_snapshot(self) -> None:
        snapshot = _Snapshot()
        started = time.perf_counter()
        try:
            # A database that is away would hold the scrape past Prometheus' own timeout
            # (statements wait up to DATABASE_RETRY_SECONDS): the counters go without it, and
            # lumabot_database_up says so.
            async with asyncio.timeout(SCRAPE_DATABASE_SECONDS):
                if self._task_counts is not None:
                    snapshot.by_state = await self._task_counts()
                if self._at_provider is not None:
                    snapshot.at_provider = await self._at_provider()
            snapshot.ok = self._task_counts is not None
        except Exception as exc:  # the counters are still worth a scrape
            log.debug("/metrics without the database's figures: %r", exc)
        snapshot.seconds = time.perf_counter() - started
        self._gauges.snapshot = snapshot
        self._read_at = time.monotonic()


class MetricsPage:
    """GET /metrics; with a token, only for `Authorization: Bearer <token>` (else 401)."""

    def __init__(self, metrics: PrometheusMetrics, token: str = "") -> None:
        self._metrics = metrics
        self._token = token.encode()

    def allowed(self, authorization: str) -> bool:
        if not self._token:
            return True
        scheme, _, given = authorization.partition(" ")
        # Compared in constant time, whatever the scheme (no early answer to time).
        same = hmac.compare_digest(given.strip().encode(), self._token)
        return same and scheme.lower() == "bearer"

    async def respond(self, request: Request) -> Response:
        if not self.allowed(request.headers.get("authorization", "")):
            return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        body = await self._metrics.render()
        return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def route(self) -> Route:
        return Route(METRICS_PATH, self.respond, methods=["GET"])


def metrics_server(
    page: MetricsPage, host: str, port: int, *, header_timeout: float, send_timeout: float
) -> WebServer:
    """/metrics alone on METRICS_HOST:METRICS_PORT, guarded as the web server is; OSError when
    it cannot listen there."""
    return WebServer(
        Starlette(routes=[page.route()]),
        host,
        port,
        max_connections=METRICS_MAX_CONNECTIONS,
        header_timeout=header_timeout,
        body_timeout=header_timeout,
        send_timeout=send_timeout,
        settings_named="METRICS_HOST, METRICS_PORT",
    )
