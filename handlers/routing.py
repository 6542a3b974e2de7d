"""Tables that route button presses and dialogue steps to handler functions."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from telebot import types

from handlers import texts
from handlers.context import Ctx
from inventory.errors import AlreadyReturned, DomainError, NotFound, NotHolder

logger = logging.getLogger(__name__)

class BadButton(Exception):
    """The button's data does not parse: forged, mangled, or from an older version of the bot."""


class Args(list[str]):
    """A button's arguments; reading one that is missing or malformed raises BadButton.

    Only these reads count as a stale button: a ValueError, IndexError or KeyError raised
    later, inside a handler or the domain, is a real error and is reported as one.
    """

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return Args(super().__getitem__(index))
        try:
            return super().__getitem__(index)
        except IndexError:
            raise BadButton(f"argument {index} missing") from None

    def int(self, index: builtins.int) -> builtins.int:
        """The argument as an integer."""
        value = self[index]
        try:
            return int(value)
        except ValueError:
            raise BadButton(f"argument {index} is not a number: {value[:20]!r}") from None

    def choice(self, index: builtins.int, choices: Container[str]) -> str:
        """The argument, which must be one of `choices`."""
        value = self[index]
        if value not in choices:
            raise BadButton(f"argument {index} is not a known choice: {value[:20]!r}")
        return value

    def date(self, index: builtins.int, fmt: str) -> date:
        """The argument as a date written in `fmt`."""
        value = self[index]
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            raise BadButton(f"argument {index} is not a date: {value[:20]!r}") from None


CallbackFn = Callable[[Ctx, Args], Any]
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
