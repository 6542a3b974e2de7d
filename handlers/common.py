"""/start, /help and /cancel for registered people."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telebot import types

from handlers import browse, texts
from handlers.context import Ctx, ctx_of
from handlers.registration import send_help
from handlers.routing import Args, BadButton

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)


def on_start(message: types.Message) -> None:
    """/start: help, or the deep-linked device card."""
    ctx = ctx_of(message)
    parts = (message.text or "").split(maxsplit=1)
    if len(parts) == 2:
        browse.open_payload(ctx, parts[1])
        return
    ctx.send(texts.ALREADY_REGISTERED.format(email=texts.e(ctx.me.email)))
    send_help(ctx)


def on_help(message: types.Message) -> None:
    """/help."""
    send_help(ctx_of(message))


def on_cancel(message: types.Message) -> None:
    """/cancel: leave the current dialogue with nothing saved."""
    ctx = ctx_of(message)
    # The middleware has already left the dialogue, as it does for every command.
    ctx.send(texts.CANCELLED if ctx.interrupted else texts.NOTHING_TO_CANCEL)


def on_dialog_button(ctx: Ctx, args: Args) -> None:
    """dlg:cancel — the «Отмена» button of any dialogue."""
    if args != ["cancel"]:
        raise BadButton("unknown dialogue button")
    message = ctx.callback.message if ctx.callback else None
    if message is not None:
        ctx.reply(lambda: ctx.bot.edit_message_reply_markup(ctx.chat_id, message.message_id,
                                                            reply_markup=None))
    if not ctx.dialog.state:
        ctx.answer(texts.NOTHING_TO_CANCEL)
        return
    ctx.dialog.clear()
    ctx.send(texts.CANCELLED)


def register(bot: DevtrackBot) -> None:
    """Wire the common commands."""
    bot.register_message_handler(on_start, commands=["start"])
    bot.register_message_handler(on_help, commands=["help"])
    bot.register_message_handler(on_cancel, commands=["cancel"])
    bot.routes.callback("dlg", on_dialog_button)
