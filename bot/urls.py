"""The paths of the bot's web server, shared by the server and the code that hands them out."""

from __future__ import annotations

TELEGRAM_WEBHOOK_PATH = "/telegram"
CALLBACK_ROUTE = "/callbacks/{provider}/{token}"
HEALTH_PATH = "/healthz"
MEDIA_ROUTE = "/media/{token}"


def callback_url(public_url: str, provider: str, token: str) -> str:
    return public_url + CALLBACK_ROUTE.format(provider=provider, token=token)


def media_url(public_url: str, token: str) -> str:
    return public_url + MEDIA_ROUTE.format(token=token)
