"""The command menus: everyone's, and each admin's own with the admin commands."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.error import TelegramError

from bot import texts

log = logging.getLogger(__name__)


async def set_command_menus(bot: Bot, admin_ids: frozenset[int]) -> None:
    user_menu = [BotCommand(name, description) for name, description in texts.commands()]
    await bot.set_my_commands(user_menu, scope=BotCommandScopeAllPrivateChats())
    for admin_id in admin_ids:
        await set_admin_menu(bot, admin_id)


async def set_admin_menu(bot: Bot, admin_id: int) -> None:
    """The admin's own menu: everyone's commands and the admin commands."""
    commands = [BotCommand(n, d) for n, d in (*texts.commands(), *texts.admin_commands())]
    try:
        await bot.set_my_commands(commands, scope=BotCommandScopeChat(admin_id))
    except TelegramError as exc:  # the admin has not started the bot yet: set at /start
        log.info("No admin command menu for %d yet: %s", admin_id, exc)
