"""Every sentence the bot says, to users, to admins and on the command line, in one package.
Messages are HTML (the command line's are plain text); user text is escaped here.

One module a concern, so that each sentence is found, and will be translated, beside the ones
it is read with:
- formatting: limits, budgets and the helpers that make texts fit them;
- start: /start, /help, the menu, refusals outside a request, the apology;
- checks: what is wrong with a link, an upload or a prompt;
- card: the confirmation card, its buttons and toasts, the limits at Submit;
- tasks: a task for its user: status card, result, failures, /tasks and /status;
- reports: reports to the admins, sent unasked;
- admin: replies to the admins' commands, access decisions, broadcasts;
- money: the admins' side of payments (/refund, /grant, /payments, /reconcile, balances);
- payments: buying credits with Telegram Stars (/buy, the invoice, /paysupport, /terms);
- cli: what `python -m bot modify` prints on a terminal.

Every public name is re-exported here: callers write `texts.name(...)` (`from bot import texts`).
Every sentence is a function, so that it is said in the language in force (bot.texts.i18n).
"""

from __future__ import annotations

from bot.texts.admin import *  # noqa: F403
from bot.texts.card import *  # noqa: F403
from bot.texts.checks import *  # noqa: F403
from bot.texts.cli import *  # noqa: F403
from bot.texts.formatting import *  # noqa: F403
from bot.texts.language import *  # noqa: F403
from bot.texts.money import *  # noqa: F403
from bot.texts.payments import *  # noqa: F403
from bot.texts.reports import *  # noqa: F403
from bot.texts.start import *  # noqa: F403
from bot.texts.tasks import *  # noqa: F403
