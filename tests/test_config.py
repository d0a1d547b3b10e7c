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
        ({"credit_packs": "10"}, "CREDIT_PACKS: '10' should be credits:stars"),
        ({"credit_packs": "10:0"}, "a pack is 1 to 1000000 credits for 1 to 100000 Stars"),
        ({"credit_packs": "10:50,10:60"}, "CREDIT_PACKS must not have two packs"),
        ({"credit_packs": ",".join(f"{n}:{n}" for n in range(1, 10))}, "at most 8 packs"),
        ({"task_price_by_mode": "fast:3"}, "TASK_PRICE_BY_MODE: 'fast' is not a mode"),
        ({"task_price": -1}, "TASK_PRICE"),
        ({"payments": "stars"}, "PAYMENTS=stars needs CREDIT_PACKS"),
        ({"payments": "paypal"}, "PAYMENTS"),
    ],
)
def test_bad_values_are_refused_with_their_name(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_env_file=None, **(REQUIRED | overrides))


def test_payments_are_off_by_default_and_read_packs_and_prices() -> None:
    assert load_settings(_env_file=None, **REQUIRED).payments == "off"
    settings = load_settings(
        _env_file=None,
        **REQUIRED,
        payments="stars",
        credit_packs="50:225, 10:50",
        task_price="12",
        task_price_by_mode="flex_1:8; adhere_2:15",
        free_tasks_per_day="1",
    )
    assert [(p.credits, p.stars) for p in settings.credit_packs] == [(10, 50), (50, 225)]
    assert settings.prices.of("flex_1") == 8
    assert settings.prices.of("adhere_2") == 15
    assert settings.prices.of("reimagine_1") == 12
    assert settings.prices.of(None) == 12
    assert settings.free_tasks_per_day == 1


def test_secrets_never_show_in_the_settings_repr() -> None:
    settings = load_settings(_env_file=None, **REQUIRED, kie_webhook_hmac_key="hmac-secret")
    shown = repr(settings)
    assert "123:abc" not in shown
    assert "hmac-secret" not in shown
    assert set(settings.secrets()) == {"123:abc", "key", "hmac-secret"}
