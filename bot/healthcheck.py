"""`python -m bot.healthcheck`: exit 0 when the bot in this container is healthy, 1 if not.

For container healthchecks (docker-compose.yml). In webhook mode it asks the bot's own
`/healthz` (which checks the database); with long polling the bot serves no HTTP, so the
container's main process being alive is all there is to check, and it exits 0.
"""

from __future__ import annotations

import sys
import urllib.request

from bot.config import ConfigError, load_settings
from bot.urls import HEALTH_PATH


def main() -> int:
    try:
        settings = load_settings(need_telegram=False)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if not settings.webhook_mode:
        return 0
    url = f"http://127.0.0.1:{settings.web_port}{HEALTH_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return 0 if answer.status == 200 else 1
    except OSError as exc:  # refused, timed out, or an HTTP error status (503)
        print(f"{HEALTH_PATH}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
