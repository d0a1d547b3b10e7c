"""/language: choosing the language the bot speaks to a user in."""

from __future__ import annotations

from bot.texts.i18n import gettext

__all__ = [
    "button_language_auto",
    "language_chosen",
    "language_menu",
    "toast_language_chosen",
]


def language_menu(current: str) -> str:
    """`current` is the name of the language in force, in itself ("English", "Русский")."""
    return gettext(
        "🌐 Which language should I speak to you in? Now: <b>{current}</b>.\n"
        "“Like my Telegram” follows your Telegram app's language."
    ).format(current=current)


def button_language_auto() -> str:
    # TRANSLATORS: a button (at most 64 bytes): speak the language the user's Telegram app is in.
    return gettext("Like my Telegram")


def language_chosen(current: str) -> str:
    return gettext("🌐 From now on I speak <b>{current}</b> to you.").format(current=current)


def toast_language_chosen(current: str) -> str:
    # TRANSLATORS: a short pop-up (at most 200 characters) after a language button is pressed.
    return gettext("Language: {current}").format(current=current)
