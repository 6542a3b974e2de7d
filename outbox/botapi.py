"""Where the Bot API is: Telegram itself, a self-hosted server, or the playground's emulator."""

from __future__ import annotations

from telebot import apihelper


def configure_api_url(base_url: str) -> None:
    """Point pyTelegramBotAPI at a Bot API server (the real one, self-hosted or a test fake)."""
    base = base_url.rstrip("/")
    # telebot declares both as None (its default: api.telegram.org); a format string is what
    # it reads when they are set.
    apihelper.API_URL = base + "/bot{0}/{1}"  # type: ignore[assignment]
    apihelper.FILE_URL = base + "/file/bot{0}/{1}"  # type: ignore[assignment]
