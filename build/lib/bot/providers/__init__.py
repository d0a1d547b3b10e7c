"""Providers of Luma Modify Video, one module each, behind bot.providers.base.Provider."""

from __future__ import annotations

from bot.config import Settings
from bot.providers.base import Provider
from bot.providers.kie import KieProvider
from bot.retry import Backoff

_DISPLAY_NAMES = {"kie": "KIE.ai", "apikley": "Apikley"}


def create_provider(settings: Settings) -> Provider:
    """The provider client that PROVIDER names, set up from the settings."""
    if settings.provider in ("kie", "apikley"):
        return KieProvider(
            name=settings.provider,
            display_name=_DISPLAY_NAMES[settings.provider],
            base_url=settings.provider_url,
            api_key=settings.provider_api_key.get_secret_value(),
            timeout=settings.provider_timeout_seconds,
            backoff=Backoff(attempts=4, base_delay=settings.provider_retry_delay_seconds),
            webhook_hmac_key=settings.kie_webhook_hmac_key.get_secret_value(),
        )
    raise ValueError(f"unknown provider {settings.provider!r}")
