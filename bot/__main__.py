"""`python -m bot`: run the bot until SIGINT or SIGTERM.

`python -m bot modify ...` runs one job without Telegram instead (see bot.cli), and
`python -m bot migrate-db --to postgresql://...` copies the SQLite database into PostgreSQL
(see bot.migrate_db).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from bot import cli, migrate_db
from bot.app import BotApp, StartupError
from bot.config import ConfigError, Settings, load_settings
from bot.logs.redaction import Redactor, configure_logging
from bot.logs.sentry import start_sentry

log = logging.getLogger("bot")
# The operator's commands, which run without Telegram.
COMMANDS = ("modify", "migrate-db")


async def serve(settings: Settings, redact: Redactor) -> int:
    """Run the bot until a signal; the exit status. Why it stops is logged before the stopping."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    app = BotApp(settings, redact)
    try:
        await app.start()
        await stop.wait()
        log.info("Stopping (signal received)")
        return 0
    except StartupError as exc:
        log.error("The bot cannot start: %s", exc)  # the log filter masks any secret
        return 1
    except Exception:
        log.exception("The bot stopped because of an unexpected error")
        return 1
    finally:
        await app.stop()


def main(argv: list[str]) -> int:
    command_line = bool(argv) and argv[0] in COMMANDS
    try:
        settings = load_settings(need_telegram=not command_line)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    redact = Redactor(settings.secrets())
    if command_line:
        # The command line prints its own progress.
        configure_logging("WARNING", redact, settings.log_format)
        if argv[0] == "migrate-db":
            return migrate_db.main(argv[1:], settings.database, redact)
        return cli.main(argv[1:], settings)
    configure_logging(settings.log_level, redact, settings.log_format)
    start_sentry(settings.sentry_dsn.get_secret_value(), redact)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(serve(settings, redact))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
