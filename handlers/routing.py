"""Tables that route button presses and dialogue steps to handler functions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telebot import types

from handlers import texts
from handlers.context import Ctx
from inventory.errors import AlreadyReturned, DomainError, NotFound, NotHolder

logger = logging.getLogger(__name__)

CallbackFn = Callable[[Ctx, list[str]], Any]
StepFn = Callable[[Ctx, types.Message], Any]

ROLE_USER, ROLE_ADMIN, ROLE_DEVELOPER = "user", "admin", "developer"

# Errors a button or a dialogue step meets when the world changed since it began.
OUTDATED: dict[type[DomainError], str] = {
    NotFound: texts.DEVICE_GONE,
    AlreadyReturned: texts.ALREADY_RETURNED,
    NotHolder: texts.NOT_HOLDER,
}


def outdated_text(err: DomainError, default: str) -> str:
    """What to tell a person whose button or dialogue was overtaken by events."""
    return OUTDATED.get(type(err), default)


@dataclass(frozen=True)
class CallbackRoute:
    """A button prefix, its handler and the role it needs."""

    fn: CallbackFn
    role: str


class Routes:
    """Callback prefixes and dialogue states of one bot."""

    def __init__(self) -> None:
        self.callbacks: dict[str, CallbackRoute] = {}
        self.steps: dict[str, tuple[StepFn, str]] = {}
        # States whose step reads photos, stickers and files itself (a caption, a re-ask).
        self.media_steps: set[str] = set()

    def callback(self, prefix: str, fn: CallbackFn, role: str = ROLE_USER) -> None:
        """Route callback data `prefix:arg:arg` to fn(ctx, args)."""
        if prefix in self.callbacks:
            raise ValueError(f"callback prefix {prefix!r} registered twice")
        self.callbacks[prefix] = CallbackRoute(fn, role)

    def step(self, state: str, fn: StepFn, role: str = ROLE_USER, *, media: bool = False) -> None:
        """Route messages of a chat in dialogue state `state` to fn(ctx, message).

        Without `media` the step gets text only; anything else is answered by the catch-all.
        """
        if state in self.steps:
            raise ValueError(f"dialogue state {state!r} registered twice")
        self.steps[state] = (fn, role)
        if media:
            self.media_steps.add(state)


def allowed(ctx: Ctx, role: str) -> bool:
    """Whether the sender has the role a route needs."""
    if role == ROLE_ADMIN:
        return ctx.is_admin
    if role == ROLE_DEVELOPER:
        return ctx.is_developer
    return True


def pack(*parts: Any) -> str:
    """Callback data from parts (Telegram allows 64 bytes)."""
    data = ":".join(str(p) for p in parts)
    if len(data.encode()) > 64:
        raise ValueError(f"callback data too long: {data!r}")
    return data
