"""The catch-all: a dialogue step if the chat is in one, otherwise plain text is a search."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from telebot import types

from handlers import browse, texts
from handlers.context import Ctx, ctx_of
from handlers.registration import help_text
from handlers.routing import StepFn, allowed, outdated_text
from inventory.errors import DomainError

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)

# Everything a person can send in a private chat; what is not text gets a short explanation.
CONTENT_TYPES = ["text", "document", "photo", "sticker", "voice", "video", "video_note",
                 "animation", "audio", "contact", "location", "venue", "poll", "dice", "game",
                 "story", "invoice"]
COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]+)(?:@\S+)?(?:\s|$)")


def known_commands(bot: DevtrackBot) -> set[str]:
    """Every command some handler answers (for some role)."""
    found: set[str] = set()
    for handler in bot.message_handlers:
        found.update(c.lower() for c in handler["filters"].get("commands") or ())
    return found


def on_message(message: types.Message) -> None:
    """Dialogue step, or search."""
    ctx = ctx_of(message)
    state = ctx.dialog.state or ""
    step = ctx.bot.routes.steps.get(state)
    is_text = message.content_type == "text"
    if step is not None and allowed(ctx, step[1]) and (
            is_text or state in ctx.bot.routes.media_steps):
        run_step(ctx, step[0], message)
        return
    text = (message.text or "").strip()
    if not is_text or not text:
        ctx.send(texts.UNSUPPORTED_MESSAGE)
        if state and (step is None or allowed(ctx, step[1])):
            ctx.repeat_question()
        return
    search_or_command(ctx, text)


def run_step(ctx: Ctx, step: StepFn, message: types.Message) -> None:
    """A dialogue step; a domain refusal means the world moved on since the dialogue began."""
    try:
        step(ctx, message)
    except DomainError as err:
        # The device was returned, deleted or handed on while the dialogue went on.
        ctx.dialog.clear()
        ctx.send(outdated_text(err, texts.DIALOG_OUTDATED))


def search_or_command(ctx: Ctx, text: str) -> None:
    """Plain text outside a dialogue: an unknown command gets the help, anything else a search."""
    if ctx.dialog.state:
        ctx.dialog.clear()
    command = COMMAND_RE.match(text)
    if command and command[1].lower() not in known_commands(ctx.bot):
        ctx.send(texts.UNKNOWN_COMMAND + "\n\n" + help_text(ctx))
        return
    # A command this person may not use reads as a failed search, so it reveals nothing.
    browse.search(ctx, text)


def register(bot: DevtrackBot) -> None:
    """Wire the catch-all (must be registered last)."""
    bot.register_message_handler(on_message, func=lambda m: True, content_types=CONTENT_TYPES)
