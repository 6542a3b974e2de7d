"""One middleware per update: database connection, current person, role and dialogue."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telebot.handler_backends import BaseMiddleware, CancelUpdate

from handlers import texts
from handlers.context import Ctx, Dialog
from inventory import people, session
from inventory.session import close_quietly, database_down

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)


def display_name(user: Any) -> str:
    """First and last name of a Telegram user."""
    return " ".join(p for p in (user.first_name, user.last_name) if p).strip()


class ContextMiddleware(BaseMiddleware):
    """Opens the connection, loads person + dialogue, closes the connection afterwards."""

    def __init__(self, bot: DevtrackBot) -> None:
        super().__init__()
        self.bot = bot
        self.update_sensitive = False
        self.update_types = ["message", "callback_query"]

    def pre_process(self, update: Any, data: dict) -> CancelUpdate | None:
        """Attach a Ctx to the update; updates from groups and channels are ignored."""
        message = update.message if hasattr(update, "data") else update
        scrub_nul(update)
        if message is not None and message.chat.type != "private":
            # devtrack is a personal assistant: it never talks in groups.
            return CancelUpdate()
        try:
            session.open_connection()
            user = update.from_user
            chat_id = message.chat.id if message is not None else user.id
            now = self.bot.clock()
            person, stored, holds_due = people.with_dialog(user.id, chat_id, now)
            if person is not None:
                people.refresh_profile(person, name=display_name(user),
                                       username=user.username or "")
            dialog = Dialog.from_row(chat_id, stored)
            ctx = Ctx(
                bot=self.bot,
                config=self.bot.config,
                now=now,
                user=user,
                chat_id=chat_id,
                person=person,
                dialog=dialog,
                callback=update if hasattr(update, "data") else None,
                holds_due=holds_due,
            )
            text = getattr(update, "text", None) or ""
            if person is not None and text.startswith("/") and dialog.state:
                # A command ends the dialogue the person was in.
                ctx.interrupted = dialog.state
                dialog.clear()
            update.devtrack_ctx = ctx
            data["ctx"] = ctx
        except Exception as exc:
            close_quietly()
            logger.exception("could not prepare the update (database down?)")
            text = texts.DB_UNAVAILABLE if database_down(exc) else texts.ERROR
            chat_id = update.from_user.id
            try:
                # Needs no database: the notifier's retry rules, no person row.
                self.bot.notifier.reply(chat_id, lambda: self.bot.send_message(chat_id, text),
                                        strict=False)
            except Exception:  # noqa: BLE001 - nothing more we can do
                logger.exception("could not tell the person about the failure")
            raise
        return None

    def post_process(self, update: Any, data: dict, exception: Exception | None) -> None:
        """Tell the person about a failure, answer a forgotten button, close the connection."""
        ctx: Ctx | None = data.get("ctx")
        try:
            if ctx is not None and exception is not None:
                tell_failure(ctx, exception)
            elif ctx is not None:
                ctx.answer()
                ctx.remember_question()
            if ctx is not None:
                ctx.settle()
        finally:
            close_quietly()


def scrub_nul(update: Any) -> None:
    """Read U+0000 as an unknown character: PostgreSQL cannot store or compare it."""
    for name in ("text", "caption", "data"):
        value = getattr(update, name, None)
        if isinstance(value, str) and "\x00" in value:
            setattr(update, name, value.replace("\x00", "\ufffd"))


def tell_failure(ctx: Ctx, exc: BaseException | None = None) -> None:
    """Say in Russian that something went wrong, without raising again."""
    down = exc is not None and database_down(exc)
    try:
        if ctx.callback is not None and not ctx.answered:
            ctx.answer(texts.DB_UNAVAILABLE_SHORT if down else texts.ERROR_SHORT, alert=True)
        else:
            ctx.send(texts.DB_UNAVAILABLE if down else texts.ERROR)
    except Exception:  # noqa: BLE001 - the original error is already logged
        logger.exception("could not tell the person about the failure")
