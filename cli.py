"""What the command-line entry points share: loading the configuration, one-line errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from dotenv import load_dotenv

from config import Config, ConfigError, load_config

EXIT_CONFIG = 2  # a configuration error: no retry can fix it


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def environment(environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """The variables a command reads: environ as given, or `.env` loaded into the environment."""
    if environ is None:
        load_dotenv()
        return os.environ
    return environ


def config_or_report(prog: str, environ: Mapping[str, str] | None = None,
                     **options: Any) -> Config | None:
    """The configuration (from `.env` + the environment when environ is None), or None.

    Every problem is printed on its own line as `prog: problem`; the caller exits EXIT_CONFIG.
    """
    try:
        return load_config(environment(environ), **options)
    except ConfigError as err:
        for problem in err.problems:
            print(f"{prog}: {problem}", file=sys.stderr)
        return None
