"""Where a chat's dialogue is stored: one DialogState row per chat (state + JSON data)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from inventory import jsontext
from inventory.errors import DomainError
from inventory.prepared import execute
from models import DialogState, db, utcnow

logger = logging.getLogger(__name__)

T = TypeVar("T")
Stored = tuple[int, str | None, dict[str, Any]]  # chat id, state, data


def load(chat_id: int) -> tuple[str | None, dict[str, Any]]:
    """The chat's state and data (one query); (None, {}) outside a dialogue."""
    return unpack(DialogState.get_or_none(DialogState.chat_id == chat_id))


def unpack(row: DialogState | None) -> tuple[str | None, dict[str, Any]]:
    """State and data of a stored row; (None, {}) outside a dialogue."""
    if row is None or row.state is None:
        return None, {}
    return row.state, json.loads(row.data or "{}")


def in_state(state: str) -> list[Stored]:
    """Every chat whose dialogue is in this state (start-up checks)."""
    rows = DialogState.select().where(DialogState.state == state).order_by(DialogState.id)
    return [(row.chat_id, row.state, json.loads(row.data or "{}")) for row in rows]


def _upsert_sql(param: str) -> str:
    """The chat row's upsert, in the SQL both databases share (ON CONFLICT ... EXCLUDED)."""
    table = DialogState._meta.table_name
    chat, state, data, created, updated = (f'"{f.column_name}"' for f in (
        DialogState.chat_id, DialogState.state, DialogState.data, DialogState.created_at,
        DialogState.updated_at))
    return (f'INSERT INTO "{table}" ({chat}, {state}, {data}, {created}, {updated}) '
            f"VALUES ({', '.join([param] * 5)}) ON CONFLICT ({chat}) DO UPDATE SET "
            f"{state} = EXCLUDED.{state}, {data} = EXCLUDED.{data}, {updated} = EXCLUDED.{updated}")


def save(chat_id: int, state: str | None, data: dict[str, Any]) -> None:
    """Upsert the chat's row."""
    # Written out rather than built with peewee: peewee compiled the same upsert on every
    # step of every dialogue (and on PostgreSQL read back the id nobody uses).
    now = DialogState.updated_at.db_value(utcnow())
    execute(_upsert_sql(db.obj.param), [chat_id, state, jsontext.dumps(data), now, now])


def save_with(chat_id: int, state: str | None, data: dict[str, Any],
              change: Callable[[], T]) -> T:
    """Save the dialogue and run the change it leads to in one transaction (one commit).

    A change refused with a DomainError is rolled back together with the dialogue, which is
    then saved on its own, and the refusal is raised: the refusal pays a second transaction so
    that the change needs no savepoint (two statements fewer on every success).
    """
    try:
        with db.atomic():
            save(chat_id, state, data)
            return change()
    except DomainError:
        save(chat_id, state, data)
        raise
