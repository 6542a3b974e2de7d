"""The catch-all: a dialogue step if the chat is in one, otherwise plain text is a search."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telebot import types

from handlers import browse, texts
from handlers.context import ctx_of
from handlers.routing import allowed, outdated_text
from inventory.errors import DomainError

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)


def on_message(message: types.Message) -> None:
    """Dialogue step, or search."""
    ctx = ctx_of(message)
    step = ctx.bot.routes.steps.get(ctx.dialog.state or "")
    if step is not None and allowed(ctx, step[1]):
        try:
            step[0](ctx, message)
        except DomainError as err:
            # The device was returned, deleted or handed on while the dialogue went on.
            ctx.dialog.clear()
            ctx.send(outdated_text(err, texts.DIALOG_OUTDATED))
        return
    if ctx.dialog.state:
        ctx.dialog.clear()
    text = (message.text or "").strip()
    if not text:
        ctx.send(texts.UNSUPPORTED_MESSAGE)
        return
    browse.search(ctx, text)


def register(bot: DevtrackBot) -> None:
    """Wire the catch-all (must be registered last)."""
    bot.register_message_handler(on_message, func=lambda m: True,
                                 content_types=["text", "document", "photo", "sticker", "voice",
                                                "video", "audio", "contact", "location"])
