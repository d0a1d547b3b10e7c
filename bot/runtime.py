"""The services one running bot shares; handlers reach them through `runtime(context)`."""

from __future__ import annotations

from dataclasses import dataclass

from telegram.ext import ContextTypes

from bot.config import Settings
from bot.delivery import TelegramOutbox
from bot.domain.capabilities import Capabilities
from bot.services.access import AccessService
from bot.services.admin import AdminService
from bot.services.broadcast import BroadcastService
from bot.services.drafts import DraftService
from bot.services.languages import UserLanguages
from bot.services.money import MoneyAdmin
from bot.services.payments import PaymentService
from bot.services.tasks.intake import Intake
from bot.services.tasks.queries import UserTasks
from bot.services.uploads import UploadService

BOT_DATA_KEY = "runtime"


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    capabilities: Capabilities
    intake: Intake
    user_tasks: UserTasks
    drafts: DraftService
    uploads: UploadService
    access: AccessService
    admin: AdminService
    broadcasts: BroadcastService
    outbox: TelegramOutbox
    languages: UserLanguages
    payments: PaymentService | None = None  # PAYMENTS=stars
    money: MoneyAdmin | None = None  # PAYMENTS=stars: the admins' side


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    """The running bot's services (set up before the first update is handled)."""
    value = context.bot_data.get(BOT_DATA_KEY)
    if not isinstance(value, Runtime):
        raise RuntimeError("the bot's services are not set up yet")
    return value
