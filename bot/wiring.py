"""Building the running bot's services from the settings, in one place.

`build_services` makes every client, store and service, gives each its collaborators and
callbacks at construction (nothing is patched on afterwards) and returns them in `Services`;
`BotApp` (bot.app) only starts and stops them, in order. The operator's settings reach the
services as small typed policies (`TrackingPolicy`, `QuotaPolicy`), not as loose numbers.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from telegram import Bot
from telegram.ext import Application

from bot.config import Settings
from bot.delivery import TelegramOutbox
from bot.domain.capabilities import Capabilities
from bot.domain.file_host import FileHost
from bot.domain.health import Heartbeat
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.provider import Provider
from bot.domain.ratelimit import LimiterFactory, StartLimiter
from bot.domain.translation import Translator
from bot.instances import InstanceLife
from bot.logs.redaction import Redactor
from bot.logs.report_throttle import ReportThrottle
from bot.metrics import MetricsPage, PrometheusMetrics, metrics_server
from bot.net.netguard import GuardedClient, system_resolver
from bot.net.ratelimit import WindowLimiter
from bot.net.results import ResultFetcher
from bot.net.retry import Backoff
from bot.providers.http import HttpProvider
from bot.providers.kie import KieProvider
from bot.providers.kie_files import KieFileHost
from bot.providers.luma import LumaProvider
from bot.providers.segmind import SegmindProvider
from bot.providers.translator import ChatTranslator, max_tokens_for
from bot.readiness import Readiness
from bot.runtime import Runtime
from bot.sends import SharedSends
from bot.services.access import AccessService
from bot.services.admin import AdminService
from bot.services.broadcast import BroadcastService
from bot.services.drafts import DraftService
from bot.services.languages import UserLanguages
from bot.services.maintenance import Maintenance
from bot.services.media import MediaStore
from bot.services.money import MoneyAdmin
from bot.services.payments import MissedPayments, PaymentService
from bot.services.preflight import Preflight
from bot.services.prompts import PromptReader
from bot.services.tasks.lifecycle import TaskLifecycle
from bot.services.tasks.policy import QuotaPolicy, TrackingPolicy
from bot.services.tasks.ports import TaskPorts
from bot.services.tasks.queries import UserTasks
from bot.services.tasks.tracker import Tracker
from bot.services.uploads import UploadService
from bot.stars import TelegramStars
from bot.web import WebEndpoints, WebServer
from storage.broadcasts import BroadcastRepository
from storage.db import Database, Dialect
from storage.drafts import DraftRepository
from storage.instances import BROADCASTS_LEASE, InstanceRepository, Lease, LeaseRepository
from storage.invoices import InvoiceRepository
from storage.ledger import LedgerRepository
from storage.media import MediaRepository
from storage.rates import SharedWindowLimiter
from storage.state import StateRepository
from storage.tasks import Owner, TaskRepository
from storage.users import UserRepository

LINK_TIMEOUT = httpx.Timeout(120.0, connect=15.0)
# Several instances: the broadcast sender's lease, renewed every third of it.
SENDER_LEASE_SECONDS = 6.0
TELEGRAM_FILES_TIMEOUT = httpx.Timeout(30.0, connect=15.0)
WEBHOOK_SECRET_KEY = "telegram_webhook_secret"  # noqa: S105 (a bot_state key, not a secret)

log = logging.getLogger(__name__)


_KIE_NAMES = {"kie": "KIE.ai", "apikley": "Apikley"}


def create_provider(
    settings: Settings, limiter: LimiterFactory = WindowLimiter, metrics: Metrics = NO_METRICS
) -> Provider:
    """The provider client that PROVIDER names, set up from the settings; `limiter` keeps its
    submit rate (one shared by every instance, when several share the database); `metrics` is
    told of its requests."""
    key = settings.provider_api_key.get_secret_value()
    backoff = Backoff(attempts=4, base_delay=settings.provider_retry_delay_seconds)
    timeout = settings.provider_timeout_seconds
    match settings.provider:
        case "kie" | "apikley":
            return KieProvider(
                name=settings.provider,
                display_name=_KIE_NAMES[settings.provider],
                base_url=settings.provider_url,
                api_key=key,
                timeout=timeout,
                backoff=backoff,
                webhook_hmac_key=settings.kie_webhook_hmac_key.get_secret_value(),
                watermark=settings.watermark,
                limiter=limiter,
                metrics=metrics,
            )
        case "segmind":
            return SegmindProvider(
                base_url=settings.provider_url,
                api_key=key,
                timeout=timeout,
                backoff=backoff,
                metrics=metrics,
            )
        case "luma":
            return LumaProvider(
                base_url=settings.provider_url,
                api_key=key,
                model=settings.luma_model,
                timeout=timeout,
                backoff=backoff,
                metrics=metrics,
            )
        case "sandbox":
            # Here, not at the top: it loads PyAV (FFmpeg's libraries, about 20 MB resident).
            from bot.providers.sandbox import SandboxProvider

            return SandboxProvider(
                work_dir=settings.data_folder / "sandbox",
                allow_loopback=settings.allow_loopback_urls,
            )


def build_metrics(settings: Settings, instance_id: str) -> PrometheusMetrics | None:
    """The metrics /metrics shows, when it is served (webhook mode, or METRICS_PORT set); None
    otherwise, and nothing is counted. Several instances may share a PostgreSQL database: what
    each one does then carries its id."""
    if not (settings.webhook_mode or settings.metrics_port):
        return None
    shared = settings.database.startswith(("postgresql://", "postgres://"))
    return PrometheusMetrics(
        instance=instance_id if shared else None, max_at_provider=settings.max_concurrent_tasks
    )


def serve_metrics_apart(settings: Settings, metrics: PrometheusMetrics) -> WebServer | None:
    """The server of /metrics alone at METRICS_HOST:METRICS_PORT, when the port is set (then
    the web server of webhook mode does not serve it); OSError when it cannot listen."""
    if not settings.metrics_port:
        return None
    return metrics_server(
        _metrics_page(settings, metrics),
        settings.metrics_host,
        settings.metrics_port,
        header_timeout=settings.web_header_timeout_seconds,
        send_timeout=settings.web_send_timeout_seconds,
    )


def _metrics_page(settings: Settings, metrics: PrometheusMetrics) -> MetricsPage:
    return MetricsPage(metrics, settings.metrics_token.get_secret_value())


def tracking_policy(settings: Settings, capabilities: Capabilities) -> TrackingPolicy:
    callbacks = settings.webhook_mode and capabilities.supports_callbacks
    return TrackingPolicy(
        first_check_delay=(
            settings.safety_poll_delay_seconds if callbacks else settings.poll_interval_seconds
        ),
        check_interval=(
            settings.safety_poll_interval_seconds if callbacks else settings.poll_interval_seconds
        ),
        task_timeout=settings.task_timeout_seconds,
        status_edit_interval=settings.status_edit_interval_seconds,
        max_at_provider=settings.max_concurrent_tasks,
        result_retention=capabilities.result_retention_hours * 3600,
        retry_delay=5 * settings.provider_retry_delay_seconds,
        callback_base_url=settings.public_url if callbacks else None,
    )


def quota_policy(settings: Settings) -> QuotaPolicy:
    return QuotaPolicy(
        max_active_per_user=settings.max_active_tasks_per_user,
        daily_limit=settings.daily_task_limit,
        admin_ids=settings.admin_ids,
        prices=settings.prices if settings.payments == "stars" else None,
        free_tasks_per_day=settings.free_tasks_per_day,
    )


@dataclass(frozen=True, slots=True)
class Clients:
    """The provider and the HTTP clients: opened here, closed by BotApp.stop."""

    provider: Provider
    links: GuardedClient  # users' links: public addresses only, every redirect checked
    # The provider's result links: guarded alike, but looked up apart from users' links (in
    # asyncio's pool: a user's slow DNS never holds up a delivery).
    result_links: GuardedClient
    # The operator's own Telegram server (it may be a local Bot API server): not guarded.
    telegram_files: httpx.AsyncClient
    translator: Translator | None  # TRANSLATOR_URL's, when set
    file_host: FileHost | None  # where uploads go without a public address (KIE's)

    async def aclose(self) -> None:
        await self.provider.aclose()
        if self.file_host is not None:
            await self.file_host.aclose()
        if self.translator is not None:
            await self.translator.aclose()
        for client in (self.links, self.result_links):
            await client.aclose()
        await self.telegram_files.aclose()


def open_clients(
    settings: Settings, db: Database | None = None, metrics: Metrics = NO_METRICS
) -> Clients:
    """`db`: on PostgreSQL, the provider's submit rate is kept in it, for every instance;
    `metrics`: told of the provider's requests."""
    limiter: LimiterFactory = WindowLimiter
    if db is not None and db.dialect is Dialect.POSTGRESQL:
        shared = db

        def limiter(count: int, period: float) -> StartLimiter:
            return SharedWindowLimiter(shared, f"submits:{settings.provider}", count, period)

    provider = create_provider(settings, limiter, metrics)
    return Clients(
        provider=provider,
        links=GuardedClient(
            timeout=LINK_TIMEOUT,
            allow_loopback=settings.allow_loopback_urls,
            lookups_in_flight=settings.link_lookups_in_flight,
        ),
        result_links=GuardedClient(
            timeout=LINK_TIMEOUT,
            allow_loopback=settings.allow_loopback_urls,
            resolver=system_resolver,
        ),
        telegram_files=httpx.AsyncClient(
            timeout=TELEGRAM_FILES_TIMEOUT, headers={"Accept-Encoding": "identity"}
        ),
        translator=create_translator(settings, provider.capabilities.max_prompt_chars),
        file_host=create_file_host(settings),
    )


def _plain_http(url: str) -> bool:
    """An http:// address off this machine (a key sent there travels unencrypted)."""
    host = urlsplit(url).hostname or ""
    return url.startswith("http://") and host not in ("localhost", "127.0.0.1", "::1")


def create_file_host(settings: Settings) -> FileHost | None:
    """KIE's File Upload API for videos users send, with PROVIDER=kie (or apikley, given
    KIE_UPLOAD_URL); None for the other providers."""
    if not settings.file_upload_url:
        return None
    if _plain_http(settings.file_upload_url):
        log.warning("KIE_UPLOAD_URL is plain http: the provider key travels unencrypted")
    return KieFileHost(
        base_url=settings.file_upload_url,
        api_key=settings.provider_api_key.get_secret_value(),
        timeout=settings.provider_timeout_seconds,
    )


def create_translator(settings: Settings, max_prompt_chars: int) -> Translator | None:
    """The prompt translator the operator configured, if any (the operator's own address: not
    guarded like users' links)."""
    if not settings.translator_url:
        return None
    if _plain_http(settings.translator_url):
        log.warning("TRANSLATOR_URL is plain http: its key and the prompts travel unencrypted")
    return ChatTranslator(
        url=settings.translator_url,
        api_key=settings.translator_api_key.get_secret_value(),
        model=settings.translator_model.strip(),
        timeout=settings.translator_timeout_seconds,
        max_tokens=max_tokens_for(max_prompt_chars),
    )


@dataclass(frozen=True, slots=True)
class Services:
    """Everything BotApp starts and stops; `runtime` is what the handlers reach."""

    db: Database
    clients: Clients
    outbox: TelegramOutbox
    media: MediaStore
    lifecycle: TaskLifecycle
    tracker: Tracker
    broadcasts: BroadcastService
    runtime: Runtime
    instance: InstanceLife
    # PAYMENTS=stars: payments Telegram took whose update was lost, found and credited.
    missed_payments: MissedPayments | None = None

    @property
    def tasks_shared(self) -> bool:
        """Whether other instances may share the database (PostgreSQL)."""
        return self.lifecycle.ports.tasks.shared


@dataclass(frozen=True, slots=True)
class _Stores:
    """The database, and the repositories and stores several services share."""

    db: Database
    tasks: TaskRepository
    users: UserRepository
    languages: UserLanguages
    maintenance: Maintenance
    media: MediaStore


def build_services(
    settings: Settings,
    bot: Bot,
    db: Database,
    clients: Clients,
    redact: Redactor,
    instance_id: str,
    metrics: PrometheusMetrics | None = None,
) -> Services:
    """Every service of one running bot, wired together (nothing started yet); `metrics`:
    what they count, and the database's figures read at each scrape."""
    capabilities = clients.provider.capabilities
    stores = _stores(settings, db, instance_id)
    counts: Metrics = NO_METRICS
    if metrics is not None:
        counts = metrics
        tasks, timeout = stores.tasks, settings.task_timeout_seconds
        metrics.read_from_database(
            task_counts=lambda: tasks.count_by_state(since=0.0),
            at_provider=lambda: tasks.count_at_provider(unknown_since=time.time() - timeout),
        )
    outbox = _outbox(settings, bot, clients, redact, stores, instance_id)
    tracker_wakeup = asyncio.Event()  # the stages wake the tracker when work is due now
    ports = TaskPorts(
        tasks=stores.tasks,
        users=stores.users,
        outbox=outbox,
        uploads=stores.media,
        provider=clients.provider,
        wake_tracker=tracker_wakeup.set,
        language_of=stores.languages.of,
        credits=LedgerRepository(db) if settings.payments == "stars" else None,
        metrics=counts,
    )
    lifecycle = TaskLifecycle(
        ports,
        tracking=tracking_policy(settings, capabilities),
        quota=quota_policy(settings),
        maintenance=stores.maintenance,
    )
    broadcasts = BroadcastService(
        BroadcastRepository(
            db, allowlist=settings.access_mode == "allowlist", admin_ids=settings.admin_ids
        ),
        stores.users,
        outbox,
        rate=settings.broadcast_rate,
        language_of=stores.languages.of,
        sender=(
            Lease(LeaseRepository(db), BROADCASTS_LEASE, instance_id, SENDER_LEASE_SECONDS)
            if stores.tasks.shared
            else None
        ),
        metrics=counts,
    )
    tracker = Tracker(
        lifecycle=lifecycle,
        tasks=stores.tasks,
        concurrency=settings.tracker_concurrency,
        wakeup=tracker_wakeup,
        metrics=counts,
    )
    runtime = _runtime(settings, clients, stores, lifecycle, outbox, broadcasts, bot, counts)
    return Services(
        db=stores.db,
        clients=clients,
        outbox=outbox,
        media=stores.media,
        lifecycle=lifecycle,
        tracker=tracker,
        broadcasts=broadcasts,
        runtime=runtime,
        instance=InstanceLife(
            instance_id=instance_id,
            mode="webhook" if settings.webhook_mode else "polling",
            instances=InstanceRepository(db),
            leases=LeaseRepository(db),
            recovery=lifecycle.recovery,
            timeout=settings.instance_timeout_seconds,
            shared=stores.tasks.shared,
            in_hand=tracker.in_hand,
        ),
        missed_payments=(
            None
            if runtime.payments is None
            else MissedPayments(
                runtime.payments,
                TelegramStars(bot),
                StateRepository(db),
                outbox,
                outbox,
                stores.languages.of,
            )
        ),
    )


def _stores(settings: Settings, db: Database, instance_id: str) -> _Stores:
    # Several instances may share a PostgreSQL database; a SQLite file has one.
    shared = db.dialect is Dialect.POSTGRESQL
    users = UserRepository(db, remember=not shared)
    owner = Owner(instance_id, settings.instance_timeout_seconds) if shared else None
    return _Stores(
        db=db,
        tasks=TaskRepository(db, owner),
        users=users,
        languages=UserLanguages(users),
        maintenance=Maintenance(StateRepository(db)),
        media=MediaStore(
            MediaRepository(db),
            settings.data_folder / "media",
            max_total_bytes=settings.media_max_total_mb * 1024 * 1024,
            keep_after_task=settings.media_keep_seconds,
        ),
    )


def _outbox(
    settings: Settings,
    bot: Bot,
    clients: Clients,
    redact: Redactor,
    stores: _Stores,
    instance_id: str,
) -> TelegramOutbox:
    capabilities = clients.provider.capabilities
    throttle = ReportThrottle()
    shared_reports = None
    temp_dir = settings.data_folder / "tmp"
    if stores.tasks.shared:
        # Several instances: the admins' report throttle is kept for all of them together,
        # and each downloads into a folder of its own (DATA_DIR may be shared).
        shared_reports = SharedWindowLimiter(
            stores.db, "admin-reports", throttle.burst, throttle.window
        ).try_take
        temp_dir = temp_dir / re.sub(r"[^A-Za-z0-9._-]", "_", instance_id)
    return TelegramOutbox(
        bot=bot,
        results=ResultFetcher(
            clients.result_links,
            capabilities.local_results,
            timeout=settings.result_download_timeout_seconds,
            min_rate_kbps=settings.result_min_rate_kbps,
        ),
        admin_ids=settings.admin_ids,
        upload_limit_bytes=settings.upload_limit_bytes,
        result_retention_hours=capabilities.result_retention_hours,
        temp_dir=temp_dir,
        redact=redact,
        throttle=throttle,
        language_of=stores.languages.of,
        shared_reports=shared_reports,
        per_instance_temp=stores.tasks.shared,
    )


def _runtime(
    settings: Settings,
    clients: Clients,
    stores: _Stores,
    lifecycle: TaskLifecycle,
    outbox: TelegramOutbox,
    broadcasts: BroadcastService,
    bot: Bot,
    metrics: Metrics = NO_METRICS,
) -> Runtime:
    capabilities = clients.provider.capabilities
    preflight = Preflight(clients.links, capabilities, timeout=settings.preflight_timeout_seconds)
    drafts = DraftService(
        DraftRepository(stores.db),
        capabilities=capabilities,
        default_mode=settings.default_mode,
        preflight=preflight if settings.preflight_checks else None,
        media=stores.media,
        prompts=PromptReader(
            capabilities.max_prompt_chars,
            clients.translator,
            translations_per_hour=settings.translations_per_user_per_hour,
        ),
    )
    access = AccessService(
        stores.users,
        allowlist=settings.access_mode == "allowlist",
        admin_ids=settings.admin_ids,
    )
    return Runtime(
        settings=settings,
        capabilities=capabilities,
        intake=lifecycle.intake,
        user_tasks=UserTasks(stores.tasks),
        drafts=drafts,
        uploads=UploadService(
            media=stores.media,
            preflight=preflight,
            drafts=drafts,
            capabilities=capabilities,
            public_url=settings.public_url,
            download_limit_bytes=settings.download_limit_bytes,
            telegram_files=clients.telegram_files,
            file_host=clients.file_host,
            local_files=settings.telegram_local_mode,
            metrics=metrics,
        ),
        access=access,
        admin=AdminService(
            users=stores.users,
            tasks=stores.tasks,
            intake=lifecycle.intake,
            maintenance=stores.maintenance,
            provider=clients.provider,
            outbox=outbox,
            tracking=lifecycle.policy,
            instances=InstanceRepository(stores.db),
            leases=LeaseRepository(stores.db),
            instance_timeout=settings.instance_timeout_seconds,
            shared=stores.tasks.shared,
        ),
        broadcasts=broadcasts,
        outbox=outbox,
        languages=stores.languages,
        payments=_payments(settings, stores.db, access, bot),
        money=_money(settings, stores, lifecycle, outbox, bot),
    )


def _payments(
    settings: Settings, db: Database, access: AccessService, bot: Bot
) -> PaymentService | None:
    if settings.payments != "stars":
        return None
    return PaymentService(
        invoices=InvoiceRepository(db),
        ledger=LedgerRepository(db),
        access=access,
        bank=TelegramStars(bot),
        packs=settings.credit_packs,
        prices=settings.prices,
        free_per_day=settings.free_tasks_per_day,
    )


def _money(
    settings: Settings, stores: _Stores, lifecycle: TaskLifecycle, outbox: TelegramOutbox, bot: Bot
) -> MoneyAdmin | None:
    """The admins' side of payments: refunds, grants, totals, reconciliation."""
    if settings.payments != "stars":
        return None
    return MoneyAdmin(
        ledger=LedgerRepository(stores.db),
        users=stores.users,
        tasks=stores.tasks,
        stars=TelegramStars(bot),
        messenger=outbox,
        language_of=stores.languages.of,
        show_card=lifecycle.cards.show,
    )


async def webhook_secret(settings: Settings, db: Database) -> str:
    """WEBHOOK_SECRET, else one made at the first start and kept in the database."""
    given = settings.webhook_secret.get_secret_value()
    if given:
        return given
    return await StateRepository(db).get_or_set(WEBHOOK_SECRET_KEY, secrets.token_urlsafe(32))


def build_readiness(
    application: Application,  # type: ignore[type-arg]
    services: Services,
) -> Readiness:
    """/readyz's checks: the database asked now, Telegram's and the provider's last outcomes
    (recorded by bot.sends and bot.providers.http; the sandbox has none)."""
    sends = application.bot.rate_limiter
    provider = services.clients.provider
    return Readiness(
        database_ok=services.db.ping,
        telegram=sends.heartbeat if isinstance(sends, SharedSends) else Heartbeat(),
        provider=provider.heartbeat if isinstance(provider, HttpProvider) else None,
        probe_telegram=application.bot.get_me,
    )


def build_web_server(
    settings: Settings,
    application: Application,  # type: ignore[type-arg]
    services: Services,
    secret: str,
    metrics: PrometheusMetrics | None = None,
) -> WebServer:
    """Webhook mode's server and its routes (/metrics too, unless METRICS_PORT serves it);
    OSError when WEB_HOST:WEB_PORT cannot be bound."""
    routes = []
    if metrics is not None and not settings.metrics_port:
        routes.append(_metrics_page(settings, metrics).route())
    endpoints = WebEndpoints(
        application=application,
        lifecycle=services.lifecycle,
        provider=services.clients.provider,
        telegram_secret=secret,
        database_ok=services.db.ping,
        media=services.media,
        readiness=build_readiness(application, services),
        routes=routes,
    )
    return WebServer(
        endpoints.asgi(),
        settings.web_host,
        settings.web_port,
        max_connections=settings.web_max_connections,
        header_timeout=settings.web_header_timeout_seconds,
        body_timeout=settings.web_body_timeout_seconds,
        send_timeout=settings.web_send_timeout_seconds,
    )
