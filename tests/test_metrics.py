"""/metrics (issue 17): Prometheus' text format from the running bot, what it counts, who may
read it, and that the Grafana dashboard in deploy/ queries only metrics the bot exposes."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bot.app import BotApp
from bot.config import Settings, load_settings
from bot.metrics import SCRAPE_DATABASE_SECONDS
from tests.database import StoppablePostgres
from tests.fakes.kie import FakeKie
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Chat
from tests.test_webhook import free_port, submitted, webhook_settings


@pytest.fixture(autouse=True)
def fresh_database_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each scrape here reads the database (the bot keeps a read for SNAPSHOT_SECONDS)."""
    monkeypatch.setattr("bot.metrics.SNAPSHOT_SECONDS", 0.0)


ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "bot.json"
TOKEN = "metrics-test-token-0123456789"


async def scrape(url: str, token: str | None = None) -> list[Sample]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def metrics_url(app: BotApp) -> str:
    settings = app.settings
    if settings.metrics_port:
        return f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
    return f"{settings.public_url}/metrics"


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_task_from_submit_to_delivery_is_counted_in_webhook_mode(
    start_bot: Callable[..., Any],
    telegram: FakeTelegram,
    kie: FakeKie,
    chat: Chat,
    engine: str,
) -> None:
    app: BotApp = await start_bot(**webhook_settings())
    url = metrics_url(app)
    before = await scrape(url)
    assert value(before, "lumabot_tasks_submitted_total") == 0
    assert value(before, "lumabot_tasks", state="queued") == 0
    assert value(before, "lumabot_database_up") == 1

    task = await submitted(chat, kie)
    kie.complete(task.task_id, success_flag=1, result_size=300_000)
    response = await kie.send_callback(task.task_id)
    assert response.status_code == 200
    await telegram.wait_for("sendVideo")

    async def delivered() -> bool:
        samples = await scrape(url)
        return value(samples, "lumabot_tasks", state="delivered") == 1

    await wait_until(delivered)
    after = await scrape(url)
    assert value(after, "lumabot_tasks_submitted_total") == 1
    assert value(after, "lumabot_tasks_finished_total", outcome="delivered") == 1
    assert value(after, "lumabot_deliveries_total", kind="video") == 1
    assert value(after, "lumabot_task_processing_seconds_count") == 1
    assert value(after, "lumabot_task_delivery_seconds_count") == 1
    assert value(after, "lumabot_queue_length") == 0
    assert value(after, "lumabot_provider_slots_in_use") == 0
    assert value(after, "lumabot_provider_slots_limit") == app.settings.max_concurrent_tasks
    assert value(after, "lumabot_provider_requests_total", endpoint="submit", outcome="ok") == 1
    assert value(after, "lumabot_provider_request_seconds_count", endpoint="submit") == 1
    assert value(after, "lumabot_telegram_calls_total", method="sendVideo", outcome="ok") == 1
    assert value(after, "lumabot_telegram_calls_total", method="setWebhook", outcome="ok") == 1
    assert value(after, "lumabot_tracker_round_database_seconds_count") > 0
    # Shown from the start; a callback needs no status check, so none was late.
    assert value(after, "lumabot_tracker_check_lateness_seconds_count") == 0
    assert value(after, "lumabot_tasks_failed_total") == 0
    # Several instances may share PostgreSQL: what each does carries its id; the database's
    # gauges (the same from every instance) do not.
    counted = [s for s in after if s.name == "lumabot_tasks_submitted_total"]
    gauges = [s for s in after if s.name == "lumabot_tasks"]
    if engine == "postgresql":
        assert {s.labels.get("instance") for s in counted} == {app.instance_id}
    else:
        assert all("instance" not in s.labels for s in counted)
    assert all("instance" not in s.labels for s in gauges)


async def test_the_token_is_required_when_set_and_never_logged(
    start_bot: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    app: BotApp = await start_bot(**webhook_settings(metrics_token=TOKEN))
    url = metrics_url(app)
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 401
        for wrong in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer"):
            answer = await client.get(url, headers={"Authorization": wrong})
            assert answer.status_code == 401, wrong
            assert answer.headers["www-authenticate"].startswith("Bearer")
    assert value(await scrape(url, TOKEN), "lumabot_database_up") == 1
    assert TOKEN in app.settings.secrets()  # redacted from every log line
    assert TOKEN not in caplog.text


async def test_polling_mode_serves_metrics_on_its_own_port_only_when_set(
    start_bot: Callable[..., Any],
    make_settings: Callable[..., Settings],
    telegram: FakeTelegram,
    chat: Chat,
) -> None:
    assert BotApp(make_settings()).metrics is None  # off by default in polling: nothing counted

    port = free_port()
    app: BotApp = await start_bot(metrics_port=port)
    assert app.metrics is not None
    url = f"http://127.0.0.1:{port}/metrics"
    # A 429 is counted with its method, and the call tried again is counted too.
    telegram.fail_next(
        "sendMessage", error_code=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    await chat.card()
    samples = await scrape(url)
    assert (
        value(samples, "lumabot_telegram_calls_total", method="sendMessage", outcome="retry_after")
        == 1
    )
    assert value(samples, "lumabot_telegram_calls_total", method="sendMessage", outcome="ok") >= 1
    # Long polling's getUpdates is neither rate-limited nor counted (it waits on purpose).
    assert value(samples, "lumabot_telegram_calls_total", method="getUpdates") == 0


async def test_a_failed_task_is_counted_by_its_reason(
    start_bot: Callable[..., Any], telegram: FakeTelegram, kie: FakeKie, chat: Chat
) -> None:
    app: BotApp = await start_bot(metrics_port=free_port())
    url = metrics_url(app)
    await chat.press(await chat.card(), "Submit")
    (task,) = await kie.wait_for_task()
    kie.complete(task.task_id, success_flag=3, error_message="content policy")

    async def failed() -> bool:
        samples = await scrape(url)
        return value(samples, "lumabot_tasks_finished_total", outcome="failed") == 1

    await wait_until(failed)
    samples = await scrape(url)
    assert value(samples, "lumabot_tasks_failed_total", reason="generation_failed") == 1
    assert value(samples, "lumabot_tasks", state="failed") == 1
    assert value(samples, "lumabot_provider_requests_total", endpoint="status", outcome="ok") >= 1


async def test_with_metrics_port_in_webhook_mode_the_web_server_does_not_serve_them(
    start_bot: Callable[..., Any],
) -> None:
    port = free_port()
    app: BotApp = await start_bot(**webhook_settings(metrics_port=port))
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{app.settings.public_url}/metrics")).status_code == 404
    assert value(await scrape(metrics_url(app)), "lumabot_database_up") == 1


@pytest.mark.engines("postgresql")
async def test_a_scrape_goes_on_without_the_database_when_it_is_away(
    server: StoppablePostgres,  # first: stopped after the bot
    start_bot: Callable[..., Any],
) -> None:
    app: BotApp = await start_bot(database_url=server.url, metrics_port=free_port())
    url = metrics_url(app)
    assert value(await scrape(url), "lumabot_database_up") == 1
    server.stop()
    started = time.monotonic()
    samples = await scrape(url)  # not held for DATABASE_RETRY_SECONDS (30 s)
    assert time.monotonic() - started < SCRAPE_DATABASE_SECONDS + 2
    assert value(samples, "lumabot_database_up") == 0
    assert not [s for s in samples if s.name == "lumabot_tasks"]  # no figures rather than 0s
    assert [s for s in samples if s.name == "lumabot_tasks_submitted_total"]  # counters still
    server.start()
    assert value(await scrape(url), "lumabot_database_up") == 1


def test_metrics_settings_have_their_defaults() -> None:
    settings = load_settings(_env_file=None, telegram_bot_token="1:x", provider="sandbox")
    assert settings.metrics_port is None
    assert settings.metrics_host == "127.0.0.1"
    assert settings.metrics_token.get_secret_value() == ""
    settings = load_settings(
        _env_file=None, telegram_bot_token="1:x", provider="sandbox", metrics_port=""
    )
    assert settings.metrics_port is None


# --- the dashboard ------------------------------------------------------------------------

# What an expression names that is not a metric: PromQL's functions, aggregations, keywords.
_PROMQL_WORDS = frozenset(
    (
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "rate",
        "irate",
        "increase",
        "delta",
        "idelta",
        "deriv",
        "histogram_quantile",
        "label_replace",
        "label_join",
        "abs",
        "ceil",
        "floor",
        "round",
        "clamp",
        "clamp_min",
        "clamp_max",
        "vector",
        "scalar",
        "time",
        "sort",
        "sort_desc",
        "absent",
        "absent_over_time",
        "avg_over_time",
        "sum_over_time",
        "max_over_time",
        "min_over_time",
        "count_over_time",
        "last_over_time",
        "changes",
        "resets",
        "predict_linear",
        "timestamp",
        "inf",
        "nan",
        "le",
        "",
    )
)


def dashboard_exprs() -> list[str]:
    exprs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if key == "expr" and isinstance(item, str):
                    exprs.append(item)
                else:
                    walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(DASHBOARD.read_text()))
    return exprs


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (label matchers, `by (...)` lists, strings and
    durations taken out first)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", text)  # label lists
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {n for n in names if n not in _PROMQL_WORDS and not n.startswith("$")}


def test_the_dashboard_parses_and_names_its_metrics() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 10
    names = set().union(*(metric_names(e) for e in exprs))
    assert "lumabot_tasks" in names
    assert all(n.startswith(("lumabot_", "process_")) for n in names), names


async def test_every_metric_the_dashboard_queries_is_one_the_bot_exposes(
    start_bot: Callable[..., Any],
) -> None:
    app: BotApp = await start_bot(**webhook_settings())
    async with httpx.AsyncClient() as client:
        response = await client.get(metrics_url(app))
    exposed: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
        }.get(family.type, ("",))
        exposed |= {family.name + suffix for suffix in suffixes}
        exposed |= {s.name for s in family.samples}
    queried = set().union(*(metric_names(e) for e in dashboard_exprs()))
    assert queried <= exposed, sorted(queried - exposed)


# --- docker compose --profile monitoring -----------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_the_monitoring_profile_starts_prometheus_and_grafana_with_the_dashboard() -> None:
    compose = load_yaml(ROOT / "docker-compose.yml")
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):  # a file or folder of the repository
                assert (ROOT / source).exists(), source
            else:
                assert source in compose["volumes"], source
    assert "profiles" not in services["bot"]  # `docker compose up` still starts the bot alone
    bot_env = services["bot"]["environment"]
    port = int(bot_env["METRICS_PORT"])
    assert bot_env["METRICS_HOST"] == "0.0.0.0"  # noqa: S104 (inside the compose network)
    assert not any(str(port) in p for p in services["bot"].get("ports", []))  # not published

    # Prometheus scrapes the bot where the bot serves /metrics.
    prometheus_mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"])
    config_source = next(s for s, t in prometheus_mounts.items() if t.endswith("prometheus.yml"))
    config = load_yaml(ROOT / config_source)
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"bot:{port}"]
    assert job["job_name"] == "lumabot"  # the dashboard's process panels select job="lumabot"

    # Grafana: the datasource the dashboard names, and the dashboards' folder it reads.
    grafana_mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    provisioning = ROOT / next(s for s, t in grafana_mounts.items() if t.endswith("provisioning"))
    (source,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    (provider,) = load_yaml(provisioning / "dashboards" / "lumabot.yml")["providers"]
    dashboards_folder = provider["options"]["path"]
    assert grafana_mounts["./deploy/grafana/dashboards"] == dashboards_folder
    assert DASHBOARD.parent == ROOT / "deploy" / "grafana" / "dashboards"

    dashboard = json.loads(DASHBOARD.read_text())
    uids = {
        target["datasource"]["uid"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }
    assert uids == {source["uid"]}
