"""Every handler module in the one order that matters, and register_all that wires them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import (
    admin_add,
    admin_assign,
    admin_edit,
    admin_import,
    admin_users,
    approvals,
    browse,
    callbacks,
    common,
    devtools,
    export_admin,
    fallback,
    handover,
    labels,
    lending,
    queue,
    registration,
    reminders,
)
from handlers.middleware import ContextMiddleware

if TYPE_CHECKING:
    from dispatch import DevtrackBot

# Order matters: pyTelegramBotAPI runs the first handler whose filters match.
MODULES = [
    registration,  # first: an unregistered person only ever gets the registration dialogue
    approvals,  # REGISTRATION=approve: the admins' «Одобрить» / «Отклонить» (a button route)
    common,  # /start, /help, /cancel and the dialogue «Отмена» button
    browse,  # /all, /categories, /mine, cards, search paging
    lending,  # take, return, change due date / place
    queue,  # /wishlist, «В очередь», holds for the next in line (card lines, expiry, after return)
    handover,  # «Передать коллеге» and the colleague's answer (card lines after the queue's)
    devtools,  # hidden developer tools; a stray DEVELOPER_CODE is caught before the search

    # Admin tools: commands and the document handler carry an is_admin filter, so anyone else
    # falls through to the catch-all search; the document handler must precede the catch-all.
    admin_add,  # /add dialogue
    admin_import,  # a CSV/XLSX document from an admin: preview, then import
    admin_edit,  # /edit, card «Изменить»: fields, history, delete
    admin_assign,  # assign to / take off a person
    admin_users,  # /users
    labels,  # /labels: QR label PDFs
    export_admin,  # /export: devices and loan history as XLSX/CSV

    reminders,  # «Продлить на неделю» from the daily reminder (its «Вернуть» is lending's)
    callbacks,  # every button press, routed by its prefix through bot.routes
    fallback,  # last: dialogue steps, then plain text as a search
]


def register_all(bot: DevtrackBot) -> None:
    """Install the middleware and every handler module, catch-all last."""
    bot.setup_middleware(ContextMiddleware(bot))
    for module in MODULES:
        module.register(bot)
