"""`make run` asks this whether a bot token is configured: exit 0 yes (run the bot), 1 no."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values


def has_token(environ: Mapping[str, str], dotenv_path: Path) -> bool:
    """Whether BOT_TOKEN is set in the environment or in the .env file."""
    if (environ.get("BOT_TOKEN") or "").strip():
        return True
    if not dotenv_path.is_file():
        return False
    return bool((dotenv_values(dotenv_path).get("BOT_TOKEN") or "").strip())


if __name__ == "__main__":
    sys.exit(0 if has_token(os.environ, Path(".env")) else 1)
