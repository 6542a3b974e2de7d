"""Telegram handlers; register_all wires them in the one order that matters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import browse, callbacks, common, fallback, lending, registration, reminders
from handlers.middleware import ContextMiddleware

if TYPE_CHECKING:
    from dispatch import DevtrackBot

# Order matters: pyTelegramBotAPI runs the first handler whose filters match.
MODULES = [
    registration,  # first: an unregistered person only ever gets the registration dialogue
    common,  # /start, /help, /cancel and the dialogue «Отмена» button
    browse,  # /all, /categories, /mine, cards, search paging
    lending,  # take, return, change due date / place
    reminders,  # «Продлить на неделю» from the daily reminder (its «Вернуть» is lending's)
    callbacks,  # every button press, routed by its prefix through bot.routes
    fallback,  # last: dialogue steps, then plain text as a search
]


def register_all(bot: DevtrackBot) -> None:
    """Install the middleware and every handler module, catch-all last."""
    bot.setup_middleware(ContextMiddleware(bot))
    for module in MODULES:
        module.register(bot)
