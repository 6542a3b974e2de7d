"""The database connection of one unit of work (an update, a job run) and how it fails."""

from __future__ import annotations

import logging

import peewee as pw

from models import db

logger = logging.getLogger(__name__)


def open_connection() -> None:
    """Take a connection for this thread (reusing an open one).

    peewee's pool pings a PostgreSQL connection on checkout and replaces a dead one (after a
    database restart), so the first query afterwards can trust it.
    """
    db.connect(reuse_if_open=True)


def close_quietly() -> None:
    """Give the connection back; a dead one (database down) must not raise here."""
    if db.is_closed() and not db.in_transaction():
        # Nothing to give back (a reply thread that only called the Bot API): peewee's close
        # takes a lock every thread shares, and under load the threads queued on it.
        return
    try:
        db.close()
    except Exception:  # noqa: BLE001 - the connection is gone either way
        logger.warning("could not close the database connection", exc_info=True)


def database_down(exc: BaseException) -> bool:
    """Whether a failure means the database cannot be reached (refused, dropped, locked)."""
    return isinstance(exc, (pw.OperationalError, pw.InterfaceError))
