"""Builds the python-telegram-bot Application and the services, and owns their lifecycle.

`BotApp.start()` opens the database, settles what a previous run left half-done, starts the
tracker and begins taking updates: by long polling, or, when PUBLIC_URL is set, through the web
server that also receives provider callbacks. `stop()` undoes it all in reverse.
`python -m bot` and the tests run the bot through this one class.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3

import httpx
from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, Defaults

import handlers
from bot.config import Settings
from bot.delivery import TelegramOutbox
from bot.logs.redaction import Redactor
from bot.net.netguard import GuardedClient, system_resolver
from bot.net.results import ResultFetcher
from bot.providers import create_provider
from bot.providers.base import Provider
from bot.runtime import BOT_DATA_KEY, Runtime
from bot.services.access import AccessService
from bot.services.admin import AdminService
from bot.services.broadcast import BroadcastService
from bot.services.drafts import DraftService
from bot.services.maintenance import Maintenance
from bot.services.media import MediaStore
from bot.services.preflight import Preflight
from bot.services.tasks.service import TaskPolicy, TaskService
from bot.services.tasks.tracker import Tracker
from bot.services.uploads import UploadService
from bot.updates import PerChatUpdateProcessor
from bot.urls import TELEGRAM_WEBHOOK_PATH
from bot.web import WebEndpoints, WebServer
from handlers.menus import set_command_menus
from storage.broadcasts import BroadcastRepository
from storage.db import Database
from storage.drafts import DraftRepository
from storage.media import MediaRepository
from storage.state import StateRepository
from storage.tasks import TaskRepository
from storage.users import UserRepository

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
CONCURRENT_UPDATES = 64
MEDIA_SWEEP_SECONDS = 600
SHUTDOWN_GRACE_SECONDS = 5.0
LONG_POLL_SECONDS = 10
WEBHOOK_SECRET_KEY = "telegram_webhook_secret"  # noqa: S105 (a bot_state key, not a secret)


def build_application(settings: Settings) -> Application:  # type: ignore[type-arg]
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        # Keeps within Telegram's flood limits and waits out `retry_after` answers.
        .rate_limiter(
            # Telegram allows about 30 messages a second. AIORateLimiter's default (30 per 1 s,
            # a leaky bucket) lets 30 go at once and 30 more within the same second. One at a
            # time, TELEGRAM_SENDS_PER_SECOND a second, keeps under 30 in any second also as
            # they arrive (a busy event loop sends a few late, and then close together).
            AIORateLimiter(
                overall_max_rate=1, overall_time_period=1 / TELEGRAM_SENDS_PER_SECOND, max_retries=3
            )
        )
        # Users' updates run side by side; each chat's in order.
        .concurrent_updates(PerChatUpdateProcessor(CONCURRENT_UPDATES))
    )
    if settings.webhook_mode:
        builder = builder.updater(None)  # updates arrive through bot.web instead
    application = builder.build()
    handlers.register(application, settings.admin_ids)
    return application


def task_policy(settings: Settings, provider: Provider) -> TaskPolicy:
    callbacks = settings.webhook_mode and provider.capabilities.supports_callbacks
    return TaskPolicy(
        first_check_delay=(
            settings.safety_poll_delay_seconds if callbacks else settings.poll_interval_seconds
        ),
        check_interval=(
            settings.safety_poll_interval_seconds if callbacks else settings.poll_interval_seconds
        ),
        task_timeout=settings.task_timeout_seconds,
        max_active_per_user=settings.max_active_tasks_per_user,
        daily_limit=settings.daily_task_limit,
        status_edit_interval=settings.status_edit_interval_seconds,
        admin_ids=settings.admin_ids,
        max_at_provider=settings.max_concurrent_tasks,
        result_retention=provider.capabilities.result_retention_hours * 3600,
        retry_delay=5 * settings.provider_retry_delay_seconds,
        callback_base_url=settings.public_url if callbacks else None,
    )


TELEGRAM_SENDS_PER_SECOND = 25


class StartupError(Exception):
    """The bot cannot start until the operator fixes something; the message says what."""


class BotApp:
    def __init__(self, settings: Settings, redact: Redactor | None = None) -> None:
        self.settings = settings
        self._redact = redact or Redactor(settings.secrets())
        self.application = build_application(settings)
        self._db: Database | None = None
        self._provider: Provider | None = None
        self._links: GuardedClient | None = None
        self._result_links: GuardedClient | None = None
        self._telegram_files: httpx.AsyncClient | None = None  # users' uploads, from Telegram
        self._tracker: Tracker | None = None
        self._web: WebServer | None = None
        self._broadcasts: BroadcastService | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._outbox: TelegramOutbox | None = None
        self._stopped = False

    async def start(self) -> None:
        """Start everything; a problem the operator must fix raises StartupError (one line)."""
        settings = self.settings
        try:
            self._db = await Database.open(settings.database_path)
        except (OSError, sqlite3.Error) as exc:
            raise StartupError(
                f"cannot open the database at DATABASE_PATH={settings.database_path}: {exc}"
            ) from exc
        try:
            await self.application.initialize()
        except InvalidToken as exc:
            raise StartupError(
                "Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather"
            ) from exc
        except NetworkError as exc:
            raise StartupError(
                f"cannot reach Telegram at TELEGRAM_API_URL={settings.telegram_api_url}: {exc}"
            ) from exc
        await self._start_services(self._db)

    async def _start_services(self, db: Database) -> None:
        settings = self.settings
        self._provider = provider = create_provider(settings)
        # Every link the bot fetches itself: public addresses only, every redirect checked.
        # The operator's own Telegram server (it may be a local Bot API server): not guarded.
        self._telegram_files = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=15.0), headers={"Accept-Encoding": "identity"}
        )
        self._links = links = GuardedClient(
            timeout=httpx.Timeout(120.0, connect=15.0),
            allow_loopback=settings.allow_loopback_urls,
            lookups_in_flight=settings.link_lookups_in_flight,
        )
        # The provider's result links: guarded alike, but looked up apart from users' links (in
        # asyncio's pool: a user's slow DNS never holds up a delivery).
        self._result_links = GuardedClient(
            timeout=httpx.Timeout(120.0, connect=15.0),
            allow_loopback=settings.allow_loopback_urls,
            resolver=system_resolver,
        )
        me = self.application.bot.bot
        log.info(
            "Bot @%s (id %d) starting with provider %s",
            me.username,
            me.id,
            provider.capabilities.display_name,
        )
        if provider.capabilities.offline:
            log.warning(
                "SANDBOX MODE: videos are edited on this machine with simple effects; "
                "no provider is used and nothing is paid. Users are told so in /start."
            )

        tasks = TaskRepository(db)
        outbox = TelegramOutbox(
            bot=self.application.bot,
            results=ResultFetcher(
                self._result_links,
                provider.capabilities.local_results,
                timeout=settings.result_download_timeout_seconds,
                min_rate_kbps=settings.result_min_rate_kbps,
            ),
            admin_ids=settings.admin_ids,
            upload_limit_bytes=settings.upload_limit_bytes,
            result_retention_hours=provider.capabilities.result_retention_hours,
            temp_dir=settings.database_path.parent / "tmp",
            redact=self._redact,
        )
        users = UserRepository(db)
        maintenance = Maintenance(StateRepository(db))
        self._media = media = MediaStore(
            MediaRepository(db),
            settings.database_path.parent / "media",
            max_total_bytes=settings.media_max_total_mb * 1024 * 1024,
            keep_after_task=settings.media_keep_seconds,
        )
        preflight = Preflight(
            links, provider.capabilities, timeout=settings.preflight_timeout_seconds
        )
        tracker_wakeup = asyncio.Event()  # the service wakes the tracker when work is due now
        service = TaskService(
            tasks=tasks,
            users=users,
            maintenance=maintenance,
            media=media,
            provider=provider,
            outbox=outbox,
            policy=task_policy(settings, provider),
            wake_tracker=tracker_wakeup.set,
        )
        self._tracker = Tracker(
            service=service,
            tasks=tasks,
            concurrency=settings.tracker_concurrency,
            max_at_provider=settings.max_concurrent_tasks,
            task_timeout=settings.task_timeout_seconds,
            wakeup=tracker_wakeup,
        )
        self._outbox = outbox
        self._broadcasts = BroadcastService(
            BroadcastRepository(
                db, allowlist=settings.access_mode == "allowlist", admin_ids=settings.admin_ids
            ),
            users,
            outbox,
            rate=settings.broadcast_rate,
        )
        drafts = DraftService(
            DraftRepository(db),
            capabilities=provider.capabilities,
            default_mode=settings.default_mode,
            preflight=preflight if settings.preflight_checks else None,
            media=media,
        )
        self.application.bot_data[BOT_DATA_KEY] = Runtime(
            settings=settings,
            capabilities=provider.capabilities,
            tasks=service,
            drafts=drafts,
            uploads=UploadService(
                media=media,
                preflight=preflight,
                drafts=drafts,
                capabilities=provider.capabilities,
                public_url=settings.public_url,
                download_limit_bytes=settings.download_limit_bytes,
                telegram_files=self._telegram_files,
            ),
            access=AccessService(
                users,
                allowlist=settings.access_mode == "allowlist",
                admin_ids=settings.admin_ids,
            ),
            admin=AdminService(
                users=users,
                tasks=tasks,
                service=service,
                maintenance=maintenance,
                provider=provider,
                outbox=outbox,
                max_at_provider=settings.max_concurrent_tasks,
                task_timeout=settings.task_timeout_seconds,
            ),
            broadcasts=self._broadcasts,
            outbox=outbox,
        )

        outbox.remove_leftover_downloads()
        self._housekeeping = asyncio.create_task(self._sweep_media(), name="media-sweep")
        await service.recover()
        await set_command_menus(self.application.bot, settings.admin_ids)
        self._tracker.start()
        await self._broadcasts.resume()
        await self.application.start()
        if settings.webhook_mode:
            await self._start_webhook(service, provider, db)
        else:
            await self._start_polling()

    async def _sweep_media(self) -> None:
        """Delete expired uploads now and then (their URLs already answer 404)."""
        while True:
            try:
                await self._media.sweep()
            except Exception:
                log.exception("Sweeping the uploads failed")
            await asyncio.sleep(MEDIA_SWEEP_SECONDS)

    async def _start_polling(self) -> None:
        updater = self.application.updater
        if updater is None:
            raise RuntimeError("the application was built without an updater")
        await updater.start_polling(
            timeout=LONG_POLL_SECONDS, allowed_updates=ALLOWED_UPDATES, bootstrap_retries=-1
        )
        log.info("Bot is running (long polling)")

    async def _start_webhook(self, service: TaskService, provider: Provider, db: Database) -> None:
        settings = self.settings
        secret = settings.webhook_secret.get_secret_value() or await StateRepository(db).get_or_set(
            WEBHOOK_SECRET_KEY, secrets.token_urlsafe(32)
        )
        self._redact.add(secret)
        endpoints = WebEndpoints(
            application=self.application,
            service=service,
            provider=provider,
            telegram_secret=secret,
            database_ok=db.ping,
            media=self._media,
        )
        try:
            self._web = WebServer(
                endpoints.asgi(),
                settings.web_host,
                settings.web_port,
                max_connections=settings.web_max_connections,
                header_timeout=settings.web_header_timeout_seconds,
                body_timeout=settings.web_body_timeout_seconds,
                send_timeout=settings.web_send_timeout_seconds,
            )
        except OSError as exc:
            raise StartupError(str(exc)) from exc
        await self._web.start()
        try:
            await self.application.bot.set_webhook(
                url=settings.public_url + TELEGRAM_WEBHOOK_PATH,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        except TelegramError as exc:
            raise StartupError(
                f"Telegram refused the webhook at PUBLIC_URL={settings.public_url}: {exc}"
            ) from exc
        log.info(
            "Bot is running (webhook mode at %s, listening on %s:%d)",
            settings.public_url,
            settings.web_host,
            settings.web_port,
        )

    async def stop(self) -> None:
        """Stop taking new work, let work in hand finish briefly, close everything."""
        if self._stopped:
            return
        self._stopped = True
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self._web is not None:
            await self._web.stop()  # waits for callbacks in progress
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        if self._broadcasts is not None:
            await self._broadcasts.stop()  # resumed at the next start
        if self._tracker is not None:
            await self._tracker.stop(
                grace=SHUTDOWN_GRACE_SECONDS,
                submit_grace=self.settings.provider_timeout_seconds + SHUTDOWN_GRACE_SECONDS,
            )
        if self._outbox is not None:
            await self._outbox.stop()  # after the tracker: its last reports are counted too
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        if self._provider is not None:
            await self._provider.aclose()
        for client in (self._links, self._result_links):
            if client is not None:
                await client.aclose()
        if self._telegram_files is not None:
            await self._telegram_files.aclose()
        if self._db is not None:
            await self._db.close()
        log.info("Bot stopped")
