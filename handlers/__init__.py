"""Telegram handlers: updates in, calls of inventory/ and templates out.

Importing the package loads no handler: the text layer (texts.py, fit.py) is used without
telebot by notices/ and the jobs. The ordered list of modules is handlers/registry.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dispatch import DevtrackBot


def register_all(bot: DevtrackBot) -> None:
    """Install the middleware and every handler module, catch-all last (handlers/registry.py)."""
    from handlers.registry import register_all as wire  # the modules load here, not on import

    wire(bot)
