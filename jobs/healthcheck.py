"""Liveness check: the bot's heartbeat file exists and was touched recently.

The bot calls touch_heartbeat() after every getUpdates cycle (long poll timeout 10 s), so a file
older than HEARTBEAT_MAX_AGE seconds means the polling loop is stuck or dead. Kubernetes runs
`python -m jobs.healthcheck` as an exec liveness probe; docker compose as the bot's healthcheck.
Standard library only, so the probe starts fast and never touches the database or Telegram.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_HEARTBEAT_FILE = "data/heartbeat"
DEFAULT_MAX_AGE = 120.0


def touch_heartbeat(path: str) -> None:
    """Create the heartbeat file (and its parent directories) or update its mtime to now."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(exist_ok=True)
    os.utime(target)


def heartbeat_age(path: str, now: float | None = None) -> float:
    """Seconds since the heartbeat file was last touched; raises OSError if it is missing."""
    mtime = os.stat(path).st_mtime
    current = time.time() if now is None else now
    return max(0.0, current - mtime)


def _max_age(raw: str) -> float:
    """Parse HEARTBEAT_MAX_AGE: a positive finite number of seconds."""
    value = float(raw)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(raw)
    return value


def check(path: str, max_age: float, now: float | None = None) -> str | None:
    """None when the heartbeat is fresh, otherwise a one-line description of the problem."""
    try:
        age = heartbeat_age(path, now)
    except FileNotFoundError:
        return f"unhealthy: heartbeat file {path} does not exist (HEARTBEAT_FILE)"
    except OSError as exc:
        return f"unhealthy: cannot read heartbeat file {path}: {exc.strerror or exc}"
    if age > max_age:
        return (
            f"unhealthy: heartbeat file {path} is {age:.0f}s old, older than "
            f"HEARTBEAT_MAX_AGE={max_age:g}s; the polling loop looks stuck"
        )
    return None


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Exit status 0 when the heartbeat is fresh, 1 (with one line on stderr) otherwise."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m jobs.healthcheck",
        description="Exit 0 if the bot's heartbeat file is fresh, 1 otherwise.",
    )
    parser.add_argument(
        "--file",
        default=env.get("HEARTBEAT_FILE") or DEFAULT_HEARTBEAT_FILE,
        help="heartbeat file (env HEARTBEAT_FILE, default %(default)s)",
    )
    parser.add_argument(
        "--max-age",
        default=env.get("HEARTBEAT_MAX_AGE") or str(DEFAULT_MAX_AGE),
        help="maximum age in seconds (env HEARTBEAT_MAX_AGE, default 120)",
    )
    args = parser.parse_args(argv)
    try:
        max_age = _max_age(str(args.max_age))
    except ValueError:
        print(
            f"unhealthy: HEARTBEAT_MAX_AGE={args.max_age!r} is not a positive number of seconds",
            file=sys.stderr,
        )
        return 1
    problem = check(args.file, max_age)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
