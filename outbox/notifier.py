"""The one way to message people through the Bot API: retries, rate limits, blocked users."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from telebot import TeleBot, types
from telebot.apihelper import ApiHTTPException, ApiTelegramException

from inventory import people
from notices import Buttons, Delivery

if TYPE_CHECKING:
    from models import Person

logger = logging.getLogger(__name__)

# Telegram answers 400 for chats that no longer exist; like 403 the person cannot be reached.
UNREACHABLE_400 = ("chat not found", "user is deactivated", "bot was blocked")
# Telegram's answer to an edit that changes nothing: the screen is already right.
NOT_MODIFIED = "message is not modified"

T = TypeVar("T")
# A keyboard as telebot builds it, or as button specs from notices/ (rows of label + data).
Keyboard = types.InlineKeyboardMarkup | Buttons | None


def keyboard(markup: Keyboard) -> types.InlineKeyboardMarkup | None:
    """The Bot API keyboard for button specs (a telebot keyboard passes through)."""
    if markup is None or isinstance(markup, types.InlineKeyboardMarkup):
        return markup
    built = types.InlineKeyboardMarkup()
    for row in markup:
        if row:
            built.row(*[types.InlineKeyboardButton(label, callback_data=data)
                        for label, data in row])
    return built


class Pacer:
    """Spaces sends at most `rate` per second across threads (Telegram allows ~30/s)."""

    def __init__(self, rate: float | None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.sleep, self.clock = sleep, clock
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next send slot."""
        if not self.interval:
            return
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self.sleep(slot - now)


class Notifier:
    """Sends a message to a person and handles every Telegram failure mode."""

    def __init__(self, bot: TeleBot, *, rate: float | None = None, retries: int = 3,
                 max_retry_after: float = 60.0, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.bot = bot
        self.retries = retries
        self.max_retry_after = max_retry_after
        self.backoff = backoff
        self.sleep = sleep
        self.pacer = Pacer(rate, sleep)

    def send(self, person: Person, text: str, markup: Keyboard = None) -> Delivery:
        """Deliver text to person; the caller's action never fails because of it."""
        if person.telegram_id is None or person.deleted_at is not None:
            return Delivery.SKIPPED
        return self._deliver(person.telegram_id, text, keyboard(markup), person)

    def send_chat(self, chat_id: int, text: str, markup: Keyboard = None) -> Delivery:
        """Deliver text to a chat that may have no Person row (e.g. an unregistered admin)."""
        return self._deliver(chat_id, text, keyboard(markup), None)

    def post(self, chat_id: int, text: str,
             markup: types.InlineKeyboardMarkup | None = None) -> types.Message | None:
        """Like send_chat, but return the sent message (to edit it later), None if not sent."""
        delivery, message = self._attempt(
            lambda: self.bot.send_message(chat_id, text, reply_markup=markup), chat_id, None)
        return message if delivery is Delivery.SENT else None

    def _deliver(self, chat_id: int, text: str, markup: types.InlineKeyboardMarkup | None,
                 person: Person | None) -> Delivery:
        """Send with pacing and retries; reachability is stored only when a person is given."""
        delivery, _ = self._attempt(
            lambda: self.bot.send_message(chat_id, text, reply_markup=markup), chat_id, person)
        return delivery

    def reply(self, chat_id: int, call: Callable[[], T], *, strict: bool = True) -> T | None:
        """A reply in the current chat under the same rules: retried, never raises for Telegram.

        Returns the call's result, or None when Telegram would not take it (the person blocked
        the bot, or 429/5xx/network errors outlasted the retries): the action behind the reply
        is already saved and must not be reported as failed. An edit that changes nothing
        (400 "message is not modified", a button pressed twice) counts as delivered. Other 400s
        are our mistakes and raise (unless strict is off), so they are logged and told.
        """
        delivery, result = self._attempt(call, chat_id, None, strict=strict)
        if delivery is not Delivery.SENT:
            logger.warning("reply to chat %s not delivered: %s", chat_id, delivery.value)
        return result

    def _attempt(self, call: Callable[[], T], chat_id: int, person: Person | None, *,
                 strict: bool = False) -> tuple[Delivery, T | None]:
        """Run one Bot API call with pacing and the retry rules; (outcome, result)."""
        attempt = 0
        while True:
            attempt += 1
            self.pacer.wait()
            try:
                result = call()
            except ApiTelegramException as exc:
                outcome = self._refused(chat_id, person, exc, attempt, strict=strict)
            except (ApiHTTPException, requests.RequestException) as exc:
                outcome = self._retry_or_fail(chat_id, exc, attempt)
            except Exception:  # noqa: BLE001 - a notification must never break the action
                if strict:
                    raise
                logger.exception("notification to %s failed", _who(chat_id, person))
                return Delivery.FAILED, None
            else:
                if person is not None and not person.reachable:
                    self._set_reachable(person, True)
                return Delivery.SENT, result
            if outcome is not None:
                return outcome, None

    def _refused(self, chat_id: int, person: Person | None, exc: ApiTelegramException,
                 attempt: int, *, strict: bool) -> Delivery | None:
        """A Telegram error: an unchanged edit is sent, our own 400 raises when strict."""
        if exc.error_code == 400 and NOT_MODIFIED in str(exc.description or ""):
            return Delivery.SENT
        outcome = self._telegram_error(chat_id, person, exc, attempt)
        if outcome is Delivery.FAILED and strict and exc.error_code == 400:
            raise exc
        return outcome

    def _telegram_error(self, chat_id: int, person: Person | None, exc: ApiTelegramException,
                        attempt: int) -> Delivery | None:
        """Decide what a Telegram error means: give up, mark unreachable or retry."""
        code = exc.error_code
        description = str(exc.description or "").lower()
        if code == 403 or (code == 400 and any(s in description for s in UNREACHABLE_400)):
            logger.info("%s is unreachable: %s", _who(chat_id, person), exc.description)
            if person is not None:
                self._set_reachable(person, False)
            return Delivery.UNREACHABLE
        if code == 429:
            params: dict[str, Any] = (exc.result_json or {}).get("parameters") or {}
            wait = float(params.get("retry_after", 1))
            if attempt > self.retries + 2 or wait > self.max_retry_after:
                logger.warning("giving up on %s after 429 (retry_after=%s)",
                               _who(chat_id, person), wait)
                return Delivery.FAILED
            logger.info("429 from Telegram: waiting %.1f s", wait)
            self._count_retry("429")
            self.sleep(wait)
            return None
        if code >= 500:
            return self._retry_or_fail(chat_id, exc, attempt)
        logger.warning("Telegram refused a notification to %s: %s", _who(chat_id, person),
                       exc.description)
        return Delivery.FAILED

    def _retry_or_fail(self, chat_id: int, exc: Exception, attempt: int) -> Delivery | None:
        """Network and server errors: back off and retry a few times."""
        if attempt > self.retries:
            logger.warning("notification to chat %s failed after %d attempts: %s", chat_id,
                           attempt, type(exc).__name__)
            return Delivery.FAILED
        self._count_retry("network" if isinstance(exc, requests.RequestException) else "5xx")
        self.sleep(self.backoff * 2 ** (attempt - 1))
        return None

    def _count_retry(self, reason: str) -> None:
        """Tell the bot's metrics (when METRICS_PORT is on) that a send is being repeated."""
        metrics = getattr(self.bot, "metrics", None)
        if metrics is not None:
            metrics.notifier_retries.labels(reason).inc()

    @staticmethod
    def _set_reachable(person: Person, reachable: bool) -> None:
        """Store whether the bot can write to the person."""
        people.set_reachable(person, reachable)


def _who(chat_id: int, person: Person | None) -> str:
    """How logs name the recipient: the person's row id, else the chat id."""
    return f"person {person.id}" if person is not None else f"chat {chat_id}"
