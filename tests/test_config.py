"""Settings: defaults, what is cleaned up, and what is refused with a clear sentence."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import ConfigError, load_settings

REQUIRED: dict[str, Any] = {"telegram_bot_token": "123:abc", "provider_api_key": "key"}


def test_defaults_match_the_documented_ones() -> None:
    settings = load_settings(_env_file=None, **REQUIRED)
    assert settings.provider == "kie"
    assert settings.provider_url == "https://api.kie.ai"
    assert settings.telegram_base_url == "https://api.telegram.org/bot"
    assert (settings.poll_interval_seconds, settings.task_timeout_seconds) == (15, 1800)
    assert (settings.max_active_tasks_per_user, settings.daily_task_limit) == (2, 10)
    assert not settings.webhook_mode


def test_keys_are_stripped_and_admin_ids_parsed() -> None:
    settings = load_settings(
        _env_file=None,
        telegram_bot_token=" 123:abc\n",
        provider_api_key="  key\n",
        admin_ids="1, 2;3",
        provider="apikley",
    )
    assert settings.telegram_bot_token.get_secret_value() == "123:abc"
    assert settings.provider_api_key.get_secret_value() == "key"
    assert settings.admin_ids == {1, 2, 3}
    assert settings.provider_url == "https://api.apikley.ru"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"provider_api_key": "two words"}, "PROVIDER_API_KEY must not contain spaces"),
        ({"provider_api_key": "   "}, "PROVIDER_API_KEY is required"),
        ({"max_active_tasks_per_user": 0}, "MAX_ACTIVE_TASKS_PER_USER"),
        ({"public_url": "https://bot.example.com/?x=1"}, "PUBLIC_URL must be a plain root URL"),
    ],
)
def test_bad_values_are_refused_with_their_name(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_env_file=None, **(REQUIRED | overrides))


def test_secrets_never_show_in_the_settings_repr() -> None:
    settings = load_settings(_env_file=None, **REQUIRED, kie_webhook_hmac_key="hmac-secret")
    shown = repr(settings)
    assert "123:abc" not in shown
    assert "hmac-secret" not in shown
    assert set(settings.secrets()) == {"123:abc", "key", "hmac-secret"}
