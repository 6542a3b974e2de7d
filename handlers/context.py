"""Per-update context: who is writing, their role, their dialogue, and reply helpers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from telebot import types

from config import Config
from inventory import access, dialogs, session
from inventory.clock import local_date

if TYPE_CHECKING:
    from dispatch import DevtrackBot
    from models import DialogState, Person
    from worker_pool import Pending

logger = logging.getLogger(__name__)

T = TypeVar("T")
ASKED = "_asked"  # dialogue data: the last question, repeated after a message that is not text


@dataclass
class Dialog:
    """The dialogue a chat is in, persisted in the database on every change."""

    chat_id: int
    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, chat_id: int) -> Dialog:
        """Read the chat's dialogue (one query)."""
        state, data = dialogs.load(chat_id)
        return cls(chat_id, state, data)

    @classmethod
    def from_row(cls, chat_id: int, row: DialogState | None) -> Dialog:
        """The dialogue stored in row (None: not in a dialogue)."""
        state, data = dialogs.unpack(row)
        return cls(chat_id, state, data)

    @classmethod
    def in_state(cls, state: str) -> list[Dialog]:
        """Every chat's dialogue that is in this state (start-up checks)."""
        return [cls(*stored) for stored in dialogs.in_state(state)]

    def set(self, state: str | None, **data: Any) -> None:
        """Enter a state with fresh data."""
        self.state, self.data = state, dict(data)
        self._save()

    def update(self, state: str | None = None, **data: Any) -> None:
        """Move to another state keeping (and extending) the data."""
        if state is not None:
            self.state = state
        self.data.update(data)
        self._save()

    def clear(self) -> None:
        """Leave the dialogue."""
        if self.state is None and not self.data:
            return
        self.state, self.data = None, {}
        self._save()

    def clear_with(self, change: Callable[[], T]) -> T:
        """Leave the dialogue and run the change it ends with one commit (see dialogs.save_with).

        The dialogue is left even when the change is refused (the refusal is raised).
        """
        self.state, self.data = None, {}
        return dialogs.save_with(self.chat_id, None, {}, change)

    def _save(self) -> None:
        """Store the dialogue at once: a restart loses nothing."""
        dialogs.save(self.chat_id, self.state, self.data)


@dataclass
class Ctx:
    """Everything a handler needs about the current update."""

    bot: DevtrackBot
    config: Config
    now: datetime
    user: types.User
    chat_id: int
    person: Person | None
    dialog: Dialog
    callback: types.CallbackQuery | None = None
    answered: bool = False
    interrupted: str | None = None
    prompt: tuple[str, types.InlineKeyboardMarkup | None] | None = None
    # Whether a queue hold was due when the update came in (None: not looked up); a screen
    # that reads before anything in the update writes goes by it (browse.before_read).
    holds_due: bool | None = None
    # Bot API calls of this update running on the bot's reply pool (the button's answer).
    pending: list[Pending] = field(default_factory=list)

    @property
    def me(self) -> Person:
        """The registered sender. Handlers after registration.py only see registered people
        (registration is first in MODULES and takes everyone else), so None here is a bug."""
        if self.person is None:
            raise RuntimeError(f"unregistered user {self.user.id} in a registered-only handler")
        return self.person

    @property
    def user_id(self) -> int:
        """Telegram id of the sender."""
        return self.user.id

    @property
    def is_admin(self) -> bool:
        """Whether the sender is an admin: ADMIN_IDS or the flag set from /users."""
        return access.is_admin(self.person, self.user.id, self.config.admin_ids)

    @property
    def is_developer(self) -> bool:
        """Whether the sender is a developer."""
        return self.config.is_developer(self.user.id)

    @property
    def today(self) -> date:
        """Today's date in the configured time zone."""
        return local_date(self.now, self.config)

    def send(self, text: str,
             markup: types.InlineKeyboardMarkup | None = None) -> types.Message | None:
        """Send an HTML message to the current chat (None: Telegram would not take it)."""
        self.prompt = (text, markup)
        self.answer()
        return self.reply(lambda: self.bot.send_message(self.chat_id, text, reply_markup=markup))

    def show(self, text: str, markup: types.InlineKeyboardMarkup | None = None) -> None:
        """Edit the message the pressed button belongs to, or send a new one."""
        message = self.callback.message if self.callback else None
        if message is None:
            self.send(text, markup)
            return
        self.prompt = (text, markup)
        self.answer()
        self.reply(lambda: self.bot.edit_message_text(text, self.chat_id, message.message_id,
                                                      reply_markup=markup))

    def remember_question(self) -> None:
        """Keep the last message of a dialogue, to repeat it after a sticker or a GIF."""
        if not self.dialog.state or self.prompt is None:
            return
        text, markup = self.prompt
        asked: dict[str, Any] = {"text": text,
                                 "markup": json.loads(markup.to_json()) if markup else None}
        if self.dialog.data.get(ASKED) != asked:
            self.dialog.update(None, **{ASKED: asked})

    def repeat_question(self) -> None:
        """Send the dialogue's last question again, with its buttons."""
        asked = self.dialog.data.get(ASKED)
        if not asked:
            return
        markup = asked.get("markup")
        self.send(asked["text"],
                  types.InlineKeyboardMarkup.de_json(markup) if markup else None)

    def answer(self, text: str | None = None, *, alert: bool = False) -> None:
        """Answer the pressed button once (stops the spinner).

        send() and show() call it before the visible reply, so the spinner stops alongside it:
        on a threaded bot the answer goes out on the reply pool, in parallel with the reply,
        and `settle()` waits for it at the end of the update.
        """
        if self.callback is None or self.answered:
            return
        self.answered = True
        callback_id = self.callback.id

        def call() -> None:
            # A button answered too late (400 "query is too old") is no reason to fail.
            self.reply(lambda: self.bot.answer_callback_query(callback_id, text,
                                                              show_alert=alert), strict=False)

        self.alongside(call)

    def notify(self, person: Person, text: str,
               markup: types.InlineKeyboardMarkup | None = None) -> None:
        """Tell another person (notifier rules), in parallel with this update's own reply.

        Used where the outcome of the delivery changes nothing on the screen; `settle()` waits
        for it before the update ends.
        """
        self.alongside(lambda: self.bot.notifier.send(person, text, markup))

    def alongside(self, call: Callable[[], object]) -> None:
        """Run a Bot API call on the bot's reply pool (at once without one); settle() waits."""
        pool = getattr(self.bot, "reply_pool", None)
        if pool is None:
            call()
            return

        def run() -> None:
            try:
                call()
            finally:
                # Marking a person unreachable opens a connection on the pool's thread.
                session.close_quietly()

        self.pending.append(pool.submit(run))

    def settle(self) -> None:
        """Wait for the calls this update started on the reply pool."""
        while self.pending:
            try:
                self.pending.pop().result()
            except Exception:  # noqa: BLE001 - the answer is not worth failing the update
                logger.exception("answering the button failed")

    def reply(self, call: Callable[[], T], *, strict: bool = True) -> T | None:
        """Any Bot API call answering this update, under the notifier's retry rules."""
        return self.bot.notifier.reply(self.chat_id, call, strict=strict)


def ctx_of(update: Any) -> Ctx:
    """The context the middleware attached to an update."""
    return update.devtrack_ctx
