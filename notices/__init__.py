"""Notifications sent outside a conversation (reminders, digests, holds), free of Telegram.

Renderers here return text and button specs; a `Sender` delivers them: the bot's Notifier
(`outbox/notifier.py`), the reminder job's sender (`jobs/sender.py`) or a printer. Nothing in
this package imports telebot; templates come from the text layer (`handlers/texts.py`,
`handlers/fit.py`), which imports nothing else of handlers/.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from models import Person

Button = tuple[str, str]  # label, callback data
Buttons = list[list[Button]]  # rows of buttons
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit


class Delivery(enum.Enum):
    """What happened to one notification."""

    SENT = "sent"
    SKIPPED = "skipped"
    UNREACHABLE = "unreachable"
    FAILED = "failed"


@dataclass
class Notice:
    """One message: text and its buttons."""

    text: str
    buttons: Buttons = field(default_factory=list)


class Sender(Protocol):
    """Delivers notifications: the Notifier, the job's sender, or a printer for --dry-run."""

    def send(self, person: Person, text: str, buttons: Buttons | None = None) -> Delivery:
        """Send to a person."""

    def send_chat(self, chat_id: int, text: str, buttons: Buttons | None = None) -> Delivery:
        """Send to a bare chat id (an admin who never registered)."""


def pack(*parts: object) -> str:
    """Callback data from parts: `prefix:arg:arg` (Telegram allows 64 bytes)."""
    data = ":".join(str(p) for p in parts)
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        raise ValueError(f"callback data too long: {data!r}")
    return data


def button(label: str, *parts: object) -> Button:
    """A button spec whose press sends `prefix:arg:arg` to the bot."""
    return label, pack(*parts)
