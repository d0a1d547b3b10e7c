"""Providers of Luma Modify Video, one module each, behind bot.providers.base.Provider."""

from __future__ import annotations

from bot.config import Settings
from bot.net.retry import Backoff
from bot.providers.base import Provider
from bot.providers.kie import KieProvider
from bot.providers.luma import LumaProvider
from bot.providers.sandbox import SandboxProvider
from bot.providers.segmind import SegmindProvider

_KIE_NAMES = {"kie": "KIE.ai", "apikley": "Apikley"}


def create_provider(settings: Settings) -> Provider:
    """The provider client that PROVIDER names, set up from the settings."""
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
            )
        case "segmind":
            return SegmindProvider(
                base_url=settings.provider_url, api_key=key, timeout=timeout, backoff=backoff
            )
        case "luma":
            return LumaProvider(
                base_url=settings.provider_url,
                api_key=key,
                model=settings.luma_model,
                timeout=timeout,
                backoff=backoff,
            )
        case "sandbox":
            return SandboxProvider(
                work_dir=settings.database_path.parent / "sandbox",
                allow_loopback=settings.allow_loopback_urls,
            )
