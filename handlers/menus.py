"""Telegram's own surfaces, in every language the bot speaks: everyone's command menu and the
bot's descriptions (by the Telegram app's language), and each admin's and each user's own menu
(by the language they chose).

Telegram picks the most specific menu: a chat's own, then the one for the app's language, then
the default (English here).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.error import TelegramError

from bot import texts
from bot.domain.capabilities import Capabilities
from bot.texts import i18n

log = logging.getLogger(__name__)


async def set_command_menus(
    bot: Bot,
    admin_ids: frozenset[int],
    language_of: Callable[[int], Awaitable[str]],
    capabilities: Capabilities,
    *,
    payments: bool = False,
) -> None:
    """At start: the menus and descriptions of every language, and each admin's menu
    (`payments`: PAYMENTS=stars, whose commands are listed too)."""
    for code in i18n.available_languages():
        # The source language's texts are the default, for any app language without its own.
        language_code = None if code == i18n.SOURCE_LANGUAGE else code
        with i18n.speaking(code):
            await _set_language_surfaces(bot, language_code, capabilities, payments)
    for admin_id in admin_ids:
        with i18n.speaking(await language_of(admin_id)):
            await set_admin_menu(bot, admin_id, payments=payments)


async def _set_language_surfaces(
    bot: Bot, language_code: str | None, capabilities: Capabilities, payments: bool
) -> None:
    """Everyone's menu and the bot's descriptions, in the language in force."""
    await bot.set_my_commands(
        _commands(texts.commands(payments=payments)),
        scope=BotCommandScopeAllPrivateChats(),
        language_code=language_code,
    )
    try:
        await bot.set_my_description(
            texts.bot_description(capabilities), language_code=language_code
        )
        await bot.set_my_short_description(
            texts.bot_short_description(), language_code=language_code
        )
    except TelegramError as exc:  # the menus matter more; the descriptions can wait a restart
        log.warning("Could not set the bot's descriptions (%r): %s", language_code, exc)


async def set_admin_menu(bot: Bot, admin_id: int, *, payments: bool = False) -> None:
    """The admin's own menu, in the language in force: everyone's commands and the admins'."""
    menu = _commands((*texts.commands(payments=payments), *texts.admin_commands(payments=payments)))
    try:
        await bot.set_my_commands(menu, scope=BotCommandScopeChat(admin_id))
    except TelegramError as exc:  # the admin has not started the bot yet: set at /start
        log.info("No admin command menu for %d yet: %s", admin_id, exc)


async def set_own_menu(
    bot: Bot, user_id: int, *, is_admin: bool, chosen: bool, payments: bool = False
) -> None:
    """After /language: a menu in the language chosen, or (back to "like my Telegram") the one
    of the app's language. An admin keeps an own menu either way."""
    if is_admin:
        await set_admin_menu(bot, user_id, payments=payments)
        return
    scope = BotCommandScopeChat(user_id)
    try:
        if chosen:
            await bot.set_my_commands(_commands(texts.commands(payments=payments)), scope=scope)
        else:
            await bot.delete_my_commands(scope=scope)
    except TelegramError as exc:  # the menu is a convenience: the choice itself is stored
        log.info("Could not set the command menu of %d: %s", user_id, exc)


def _commands(pairs: tuple[tuple[str, str], ...]) -> list[BotCommand]:
    return [BotCommand(name, description) for name, description in pairs]
