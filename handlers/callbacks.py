"""Button presses: one handler routes callback data `prefix:args` through bot.routes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telebot import types

from handlers import texts
from handlers.context import ctx_of
from handlers.routing import Args, BadButton, allowed, outdated_text
from inventory.errors import DomainError
from inventory.numbers import button_argument

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)


def on_callback(call: types.CallbackQuery) -> None:
    """Route a button; unknown, forged or forbidden data get the same short alert."""
    ctx = ctx_of(call)
    prefix, _, rest = (call.data or "").partition(":")
    route = ctx.bot.routes.callbacks.get(prefix)
    if route is None or not allowed(ctx, route.role):
        logger.info("unroutable callback from %s: %r", ctx.user_id, (call.data or "")[:64])
        ctx.answer(texts.STALE_BUTTON, alert=True)
        return
    try:
        route.fn(ctx, Args(button_argument(arg) for arg in rest.split(":")) if rest else Args())
    except BadButton:
        # Forged or mangled arguments behind a known prefix. Anything else a handler raises
        # is a real error: the middleware logs it and tells the person.
        logger.info("bad callback arguments from %s: %r", ctx.user_id, (call.data or "")[:64])
        ctx.answer(texts.STALE_BUTTON, alert=True)
    except DomainError as err:
        ctx.answer(outdated_text(err, texts.STALE_BUTTON), alert=True)


def register(bot: DevtrackBot) -> None:
    """Wire the callback router."""
    bot.register_callback_query_handler(on_callback, func=lambda call: True)
