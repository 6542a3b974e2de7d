"""Database schema: every table devtrack needs, and the database connection factory."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

import peewee as pw

from pg_db import RecentlyUsedPool
from sqlite_db import SerialSqliteDatabase

logger = logging.getLogger(__name__)

db = pw.DatabaseProxy()

# Partial unique indexes live in the migrations as SQL, because peewee-migrate cannot
# describe them: at most one open loan per device, one pending handover per device, one pending
# access request per Telegram account.
PARTIAL_INDEXES = ("loan_one_open_per_device", "handover_one_pending_per_device",
                   "accessrequest_one_pending_per_account")


def fold_text(text: str) -> str:
    """Lower case, «ё» as «е», single spaces: the form search compares (SQL: devtrack_fold)."""
    return " ".join(text.lower().replace("ё", "е").split())


def utcnow() -> datetime:
    """Current UTC time as a naive datetime: the database stores naive UTC everywhere."""
    return datetime.now(UTC).replace(tzinfo=None)


class BaseModel(pw.Model):
    """Common base: created/updated timestamps filled automatically."""

    # Attributes peewee creates at run time, declared for the type checker only (a bare
    # annotation is no field: the schema does not change). Every table has the automatic id.
    id: pw.AutoField[int]

    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = db

    def save(self, *args: Any, **kwargs: Any) -> int:
        """Save the row, stamping updated_at."""
        if self.get_id() is not None and not kwargs.get("force_insert"):
            self.updated_at = utcnow()
        return super().save(*args, **kwargs)

    @classmethod
    def update(cls, __data: dict | None = None, **update: Any) -> pw.ModelUpdate:
        """UPDATE query that also stamps updated_at."""
        data: dict[Any, Any] = {**(__data or {}), **update}
        if cls.updated_at not in data and "updated_at" not in data:
            data[cls.updated_at] = utcnow()
        return super().update(data)


class Category(BaseModel):
    """A kind of device (online cash register, scanner, ...)."""

    name = pw.CharField(max_length=100, unique=True)
    # Count columns that queries select under these aliases (devices.category_counts,
    # devtools.category_choices); peewee sets them on the rows it returns.
    total: int
    held: int
    free: int | None


class Device(BaseModel):
    """A physical device with a numbered sticker."""

    number = pw.IntegerField(unique=True)
    name = pw.CharField(max_length=200)
    category = pw.ForeignKeyField(Category, backref="devices", on_delete="RESTRICT")
    category_id: pw.ForeignKeyField[int]
    serial = pw.CharField(max_length=200, unique=True)
    registered_on = pw.DateField(null=True)
    firmware = pw.CharField(max_length=200, default="")
    comment = pw.TextField(default="")
    # Lower-cased, «ё»→«е» copy of name + serial: one portable LIKE serves search on both databases.
    search_text = pw.TextField(default="", index=True)
    # When a QR label was last printed for it (/labels); NULL: «Без наклеек» offers it.
    labelled_at = pw.DateTimeField(null=True)


class Person(BaseModel):
    """An employee: registered (telegram_id set) or known only by email from an import."""

    telegram_id = pw.BigIntegerField(null=True, unique=True)
    # Stored lower-cased, so the unique index is case-insensitive on every database.
    email = pw.CharField(max_length=254, unique=True)
    name = pw.CharField(max_length=200, default="")
    username = pw.CharField(max_length=64, default="", index=True)
    comment = pw.TextField(default="")
    reachable = pw.BooleanField(default=True)
    deleted_at = pw.DateTimeField(null=True)
    # The private chat the predecessor bot knew for this person (kept by the switch-over import).
    chat_id = pw.BigIntegerField(null=True)
    # Granted from /users; ADMIN_IDS are admins regardless (inventory.access.is_admin).
    is_admin = pw.BooleanField(default=False)
    # Set by reminders' digest query: how many devices the person holds.
    held: int


class Loan(BaseModel):
    """One period of a person holding a device; returned_at is NULL while it is held."""

    device = pw.ForeignKeyField(Device, backref="loans", on_delete="CASCADE")
    person = pw.ForeignKeyField(Person, backref="loans", on_delete="RESTRICT")
    device_id: pw.ForeignKeyField[int]
    person_id: pw.ForeignKeyField[int]
    taken_at = pw.DateTimeField(default=utcnow)
    due_date = pw.DateField(null=True)
    place = pw.CharField(max_length=200, default="")
    returned_at = pw.DateTimeField(null=True, index=True)
    assigned_by = pw.ForeignKeyField(Person, null=True, backref="assigned_loans",
                                     on_delete="SET NULL")
    reminded_on = pw.DateField(null=True)
    assigned_by_id: pw.ForeignKeyField[int | None]
    # Not columns: loans.take lists the people whose hold an admin's assignment ended, and
    # after a plain take the line left behind (for the card).
    holds_cleared: list[Person]
    queue_after: list[QueueEntry] | None


class QueueEntry(BaseModel):
    """A person waiting for a device; hold_until is set while the freed device is held for them."""

    device = pw.ForeignKeyField(Device, backref="queue", on_delete="CASCADE")
    # Set by queue.wishlist's query: how many people are ahead in line.
    ahead: int
    person = pw.ForeignKeyField(Person, backref="queue_entries", on_delete="CASCADE")
    device_id: pw.ForeignKeyField[int]
    person_id: pw.ForeignKeyField[int]
    joined_at = pw.DateTimeField(default=utcnow)
    hold_until = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("device", "person"), True),)


# A handover waiting for the colleague's answer (the partial unique index names it too).
HANDOVER_PENDING = "pending"


class Handover(BaseModel):
    """A holder's offer to pass a device directly to a colleague."""

    device = pw.ForeignKeyField(Device, backref="handovers", on_delete="CASCADE")
    from_person = pw.ForeignKeyField(Person, backref="handovers_out", on_delete="CASCADE")
    to_person = pw.ForeignKeyField(Person, backref="handovers_in", on_delete="CASCADE")
    device_id: pw.ForeignKeyField[int]
    from_person_id: pw.ForeignKeyField[int]
    to_person_id: pw.ForeignKeyField[int]
    status = pw.CharField(max_length=16, default=HANDOVER_PENDING, index=True)


class AuditLog(BaseModel):
    """Every change: who did what to which device or person; survives deletions."""

    actor = pw.ForeignKeyField(Person, null=True, backref="+", on_delete="SET NULL")
    actor_telegram_id = pw.BigIntegerField(null=True)
    action = pw.CharField(max_length=64, index=True)
    device = pw.ForeignKeyField(Device, null=True, backref="+", on_delete="SET NULL")
    person = pw.ForeignKeyField(Person, null=True, backref="+", on_delete="SET NULL")
    details = pw.TextField(default="{}")
    actor_id: pw.ForeignKeyField[int | None]
    device_id: pw.ForeignKeyField[int | None]
    person_id: pw.ForeignKeyField[int | None]


class DialogState(BaseModel):
    """The dialogue a chat is in, so a restart in the middle of a dialogue loses nothing."""

    chat_id = pw.BigIntegerField(unique=True)
    state = pw.CharField(max_length=64, null=True)
    data = pw.TextField(default="{}")


class RegistrationCode(BaseModel):
    """A one-time email code: only its salted HMAC is stored; used_at makes it single-use."""

    chat_id = pw.BigIntegerField(index=True)
    email = pw.CharField(max_length=254)
    salt = pw.CharField(max_length=64)
    code_hash = pw.CharField(max_length=64)
    expires_at = pw.DateTimeField()
    used_at = pw.DateTimeField(null=True)


class AccessRequest(BaseModel):
    """A newcomer waiting for an admin (REGISTRATION=approve); the first decision wins."""

    telegram_id = pw.BigIntegerField(index=True)
    email = pw.CharField(max_length=254)
    name = pw.CharField(max_length=200, default="")
    username = pw.CharField(max_length=64, default="")
    # The email belongs to a person known from an import: the admin must see that.
    known = pw.BooleanField(default=False)
    status = pw.CharField(max_length=16, default="pending", index=True)
    decided_by = pw.ForeignKeyField(Person, null=True, backref="+", on_delete="SET NULL")
    decided_by_id: pw.ForeignKeyField[int | None]
    decided_by_name = pw.CharField(max_length=200, default="")
    decided_at = pw.DateTimeField(null=True)
    # JSON [[chat_id, message_id], ...] of the admins' copies, edited once it is decided.
    notices = pw.TextField(default="[]")


class DeviceCount(pw.Model):
    """Devices per category, one row per category that has any (n > 0).

    Derived data: migration 008 creates the table, and triggers on `device` keep it exact
    (every INSERT, DELETE and change of category_id), so nothing writes it from Python. Not in
    MODELS: dumps leave it out and a restore's INSERTs count it back up.
    """

    category = pw.ForeignKeyField(Category, primary_key=True, backref="+", on_delete="CASCADE")
    category_id: pw.ForeignKeyField[int]
    n = pw.IntegerField()

    class Meta:
        database = db
        table_name = "devicecount"


MODELS: list[type[BaseModel]] = [
    Category,
    Device,
    Person,
    Loan,
    QueueEntry,
    Handover,
    AuditLog,
    DialogState,
    RegistrationCode,
    AccessRequest,
]
# Tables the migrations create beside the models' and triggers fill: a wipe drops them too.
DERIVED_MODELS: list[type[pw.Model]] = [DeviceCount]


def make_database(url: str) -> pw.Database:
    """Build a peewee database from a DATABASE_URL (postgresql:// or sqlite:///)."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql"):
        if not parsed.hostname and not parsed.path.strip("/"):
            raise ValueError("no database name")
        # Connections just returned skip the pool's SELECT 1: see pg_db.py.
        return RecentlyUsedPool(
            unquote(parsed.path.lstrip("/")),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname,
            port=parsed.port or 5432,
            max_connections=32,
            stale_timeout=300,
            timeout=10,
        )
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError("expected sqlite:///path/to/file.db")
        # Writers take turns (BEGIN IMMEDIATE, FIFO in-process): see sqlite_db.py.
        database = SerialSqliteDatabase(
            path,
            pragmas={"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000},
        )
        # Search matches category names in SQL (PostgreSQL has it from migration 007).
        database.register_function(fold_text, "devtrack_fold", 1, deterministic=True)
        return database
    raise ValueError(f"unsupported scheme {parsed.scheme!r}")


def init_db(url: str) -> pw.Database:
    """Point the shared proxy at the database named by url and return it."""
    database = make_database(url)
    db.initialize(database)
    return database
