"""Builds the python-telegram-bot Application, and starts and stops the bot's services.

The services are built in bot.wiring. `BotApp.start()` opens the database, builds them,
settles what a previous run left half-done, starts the tracker and begins taking updates: by
long polling, or, when PUBLIC_URL is set, through the web server that also receives provider
callbacks. `stop()` undoes it all in reverse.
`python -m bot` and the tests run the bot through this one class.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, Defaults

import handlers
from bot.config import Settings
from bot.domain.cancelling import cancel_and_wait
from bot.domain.capabilities import Capabilities
from bot.domain.metrics import NO_METRICS, Metrics
from bot.instances import new_instance_id
from bot.logs.redaction import Redactor
from bot.net.pacing import SendPacer
from bot.runtime import BOT_DATA_KEY
from bot.sends import SHARED_TRY_SECONDS, SharedSends
from bot.services.media import MediaStore
from bot.updates import PerChatUpdateProcessor
from bot.urls import TELEGRAM_WEBHOOK_PATH
from bot.web import WebServer
from bot.wiring import (
    Clients,
    Services,
    build_metrics,
    build_services,
    build_web_server,
    open_clients,
    serve_metrics_apart,
    webhook_secret,
)
from handlers.menus import set_command_menus
from storage.db import Database, DatabaseUnavailableError
from storage.send_turns import SharedSendTurns

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.PRE_CHECKOUT_QUERY,  # PAYMENTS=stars: Telegram asks before taking a payment
]
CONCURRENT_UPDATES = 64
MEDIA_SWEEP_SECONDS = 600
SHUTDOWN_GRACE_SECONDS = 5.0
LONG_POLL_SECONDS = 10


def build_application(settings: Settings, metrics: Metrics | None = None) -> Application:  # type: ignore[type-arg]
    """`metrics`: told of every Bot API call (None: not counted)."""
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        # A local server's getFile gives a path on its disk, read from there (not a URL).
        .local_mode(settings.telegram_local_mode)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        # Keeps within Telegram's flood limits and waits out `retry_after` answers.
        .rate_limiter(
            # Telegram allows about 30 messages a second. The pacer (bot.net.pacing) keeps
            # TELEGRAM_SENDS_PER_SECOND on a schedule and no more than
            # TELEGRAM_SENDS_IN_ANY_SECOND arriving in any second, however the requests bunch
            # on the way; AIORateLimiter, its own overall limit off, keeps the group limit and
            # the retries.
            SharedSends(
                AIORateLimiter(overall_max_rate=0, max_retries=3),
                SendPacer(
                    TELEGRAM_SENDS_PER_SECOND,
                    window_count=TELEGRAM_SENDS_IN_ANY_SECOND,
                    catch_up=SEND_CATCH_UP_SECONDS,
                ),
                metrics,
            )
        )
        # Users' updates run side by side; each chat's in order.
        .concurrent_updates(PerChatUpdateProcessor(CONCURRENT_UPDATES))
    )
    if settings.webhook_mode:
        builder = builder.updater(None)  # updates arrive through bot.web instead
    application = builder.build()
    handlers.register(application, settings.admin_ids, payments=settings.payments == "stars")
    return application


TELEGRAM_SENDS_PER_SECOND = 25
# The most sends that may reach Telegram in any one second: its documented limit. The pacer
# counts a send from its start to its answer, so this holds however requests bunch on the way;
# the schedule (TELEGRAM_SENDS_PER_SECOND) stays under it, and a send that takes long to answer
# (over 0.2 s) slows the pacing below the schedule rather than risk more.
TELEGRAM_SENDS_IN_ANY_SECOND = 30
# How far ahead of its schedule the pacer may run: after a spell with nothing to send (results
# not ready yet, the machine busy), up to this many seconds' worth of sends are made up for, at
# most TELEGRAM_SENDS_IN_ANY_SECOND a second (issue 18: lost time was otherwise never made up).
SEND_CATCH_UP_SECONDS = 1.0


class StartupError(Exception):
    """The bot cannot start until the operator fixes something; the message says what."""


class BotApp:
    def __init__(self, settings: Settings, redact: Redactor | None = None) -> None:
        self.settings = settings
        self._redact = redact or Redactor(settings.secrets())
        self._instance_id = new_instance_id()
        # /metrics (webhook mode, or METRICS_PORT); None: nothing counted.
        self.metrics = build_metrics(settings, self._instance_id)
        self._metrics_server: WebServer | None = None
        self.application = build_application(settings, self.metrics)
        self._db: Database | None = None
        self._clients: Clients | None = None
        self._services: Services | None = None
        self._web: WebServer | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._missed_payments: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def instance_id(self) -> str | None:
        """This instance's name in the database (once started)."""
        return self._services.instance.id if self._services is not None else None

    async def start(self) -> None:
        """Start everything; a problem the operator must fix raises StartupError (one line)."""
        settings = self.settings
        try:
            self._db = db = await Database.open(
                settings.database,
                pool_size=settings.database_pool_size,
                retry_seconds=settings.database_retry_seconds,
            )
        except DatabaseUnavailableError as exc:
            raise StartupError(f"DATABASE_URL: {exc}") from exc
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
        self._clients = clients = open_clients(settings, db, self.metrics or NO_METRICS)
        self._log_start(clients.provider.capabilities)
        services = build_services(
            settings,
            self.application.bot,
            db,
            clients,
            self._redact,
            self._instance_id,
            self.metrics,
        )
        self._services = services
        await self._start_metrics_server()
        if services.tasks_shared:  # other instances may share the database
            processor = self.application.update_processor
            if isinstance(processor, PerChatUpdateProcessor):
                processor.hold_chats_across_instances(db.exclusive)
            sends = self.application.bot.rate_limiter
            if isinstance(sends, SharedSends):
                sends.share(
                    SharedSendTurns(
                        db,
                        "telegram",
                        sends.rules,
                        owner=self._instance_id,
                        owner_timeout=self.settings.instance_timeout_seconds,
                        try_timeout=SHARED_TRY_SECONDS,
                    )
                )
        self.application.bot_data[BOT_DATA_KEY] = services.runtime
        await self._start_services(services)

    async def _start_metrics_server(self) -> None:
        """/metrics on METRICS_HOST:METRICS_PORT, when set."""
        if self.metrics is None:
            return
        try:
            self._metrics_server = serve_metrics_apart(self.settings, self.metrics)
        except OSError as exc:
            raise StartupError(str(exc)) from exc
        if self._metrics_server is not None:
            await self._metrics_server.start()
            log.info(
                "Metrics at http://%s:%d/metrics",
                self.settings.metrics_host,
                self.settings.metrics_port,
            )
        elif not self.settings.metrics_token.get_secret_value():
            log.warning(
                "/metrics is served on the web server without METRICS_TOKEN: anyone who "
                "reaches it can read the bot's figures"
            )

    def _log_start(self, capabilities: Capabilities) -> None:
        me = self.application.bot.bot
        log.info(
            "Bot @%s (id %d) starting with provider %s",
            me.username,
            me.id,
            capabilities.display_name,
        )
        if capabilities.offline:
            log.warning(
                "SANDBOX MODE: videos are edited on this machine with simple effects; "
                "no provider is used and nothing is paid. Users are told so in /start."
            )

    async def _start_services(self, services: Services) -> None:
        """In order: what the last run left half-done is settled before the tracker starts,
        and updates are taken last, once everything they reach is running."""
        services.outbox.remove_leftover_downloads()
        self._housekeeping = asyncio.create_task(
            self._sweep_media(services.media), name="media-sweep"
        )
        # Registered first: an instance starting beside it must not take this one for dead.
        await services.instance.register()
        await services.lifecycle.recovery.recover()
        services.instance.start()
        await set_command_menus(
            self.application.bot,
            self.settings.admin_ids,
            services.runtime.languages.of,
            services.runtime.capabilities,
            payments=services.runtime.payments is not None,
        )
        services.tracker.start()
        if services.missed_payments is not None:
            self._missed_payments = asyncio.create_task(
                services.missed_payments.run(), name="missed-payments"
            )
        await services.broadcasts.resume()
        await self.application.start()
        if self.settings.webhook_mode:
            await self._start_webhook(services)
        elif services.tasks_shared:
            # Several instances: the one holding the polling lease polls, the others wait.
            services.instance.lead_polling(self._start_polling, self._stop_polling)
        else:
            await self._start_polling()

    @staticmethod
    async def _sweep_media(media: MediaStore) -> None:
        """Delete expired uploads now and then (their URLs already answer 404)."""
        while True:
            try:
                await media.sweep()
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

    async def _stop_polling(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def _start_webhook(self, services: Services) -> None:
        secret = await webhook_secret(self.settings, services.db)
        self._redact.add(secret)
        try:
            self._web = build_web_server(
                self.settings, self.application, services, secret, self.metrics
            )
        except OSError as exc:
            raise StartupError(str(exc)) from exc
        await self._web.start()
        await self._set_webhook(secret)

    async def _set_webhook(self, secret: str) -> None:
        settings = self.settings
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
        if self._services is not None:
            await self._services.instance.stop_leading()  # another instance polls from now
        await self._stop_polling()
        if self._web is not None:
            await self._web.stop()  # waits for callbacks in progress
        if self._metrics_server is not None:
            await self._metrics_server.stop()
        # Ended before the database closes under them.
        await cancel_and_wait(
            *(job for job in (self._housekeeping, self._missed_payments) if job is not None)
        )
        if self._services is not None:
            await self._stop_services(self._services)
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        if self._clients is not None:
            await self._clients.aclose()
        if self._db is not None:
            await self._db.close()
        log.info("Bot stopped")

    async def _stop_services(self, services: Services) -> None:
        await services.broadcasts.stop()  # resumed at the next start
        await services.tracker.stop(
            grace=SHUTDOWN_GRACE_SECONDS,
            submit_grace=self.settings.provider_timeout_seconds + SHUTDOWN_GRACE_SECONDS,
        )
        await services.outbox.stop()  # after the tracker: its last reports are counted too
        await services.instance.stop()  # what it still holds is free for the others at once
