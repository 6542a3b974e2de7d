"""`python -m playground`: the real bot on a local Bot API emulator, with a chat page."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from playground.app import DEFAULT_PORT, Playground

logger = logging.getLogger("playground")

BANNER = """
  devtrack PLAYGROUND: the real bot on a local Telegram emulator, with sample data.
  Nothing here talks to Telegram; the database is {db}.
  Open {url}   (Ctrl-C stops it)
"""


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m playground", description=__doc__)
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("PLAYGROUND_PORT") or DEFAULT_PORT),
                        help="port on 127.0.0.1, 0 picks a free one (default: PLAYGROUND_PORT "
                             "or %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"),
                        help="where playground.db and the log live (default %(default)s)")
    parser.add_argument("--delay-ms", type=float, default=0.0,
                        help="latency the emulator adds to every Bot API answer")
    parser.add_argument("--reset", action="store_true",
                        help="start from the sample inventory again (empties playground.db)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run until Ctrl-C or SIGTERM."""
    args = build_parser().parse_args(argv)
    if args.reset:
        for suffix in ("", "-wal", "-shm"):
            (args.data_dir / f"playground.db{suffix}").unlink(missing_ok=True)
    playground = Playground(data_dir=args.data_dir, port=args.port, delay=args.delay_ms / 1000)
    try:
        playground.start()
    except OSError as exc:
        print(f"playground: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc} "
              "(another playground running? try --port 8081)", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(BANNER.format(url=playground.url, db=playground.db_path), flush=True)
    stop.wait()
    logger.info("stopping the playground")
    playground.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
