"""People: registration by work email, lookup by Telegram id."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime

import peewee as pw

from inventory import audit, queue
from inventory.errors import DomainNotAllowed, EmailTaken, InvalidEmail, RegistrationRefused
from inventory.prepared import Prepared
from models import DialogState, Person, db

logger = logging.getLogger(__name__)

EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-']+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+$")


def normalize_email(text: str) -> str:
    """Lower-cased, trimmed email; raises InvalidEmail when it is not one."""
    email = text.strip().lower()
    if email.startswith("mailto:"):
        email = email[len("mailto:"):]
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InvalidEmail(text=text)
    return email


def check_domain(email: str, domains: Iterable[str]) -> None:
    """Refuse an email outside the allowed domains (empty list allows any)."""
    allowed = tuple(domains)
    domain = email.rsplit("@", 1)[1]
    if allowed and domain not in allowed:
        raise DomainNotAllowed(email=email, domains=allowed)


def by_telegram_id(telegram_id: int) -> Person | None:
    """The active person with this Telegram id, if registered."""
    return Person.get_or_none(
        (Person.telegram_id == telegram_id) & Person.deleted_at.is_null()
    )


_WITH_DIALOG = Prepared(lambda telegram_id, chat_id, now: (
    Person.select(Person, DialogState, queue.holds_due(now).alias("holds_due"))
    .join(DialogState, pw.JOIN.LEFT_OUTER, on=(DialogState.chat_id == chat_id),
          attr="stored_dialog")
    .where((Person.telegram_id == telegram_id) & Person.deleted_at.is_null())
    .limit(1)))


def with_dialog(telegram_id: int, chat_id: int,
                now: datetime) -> tuple[Person | None, DialogState | None, bool | None]:
    """The active person, the chat's stored dialogue and whether a queue hold is due.

    Every update needs the first two, and most screens would ask the queue next
    (queue.holds_due): one statement for a registered person. Someone not registered (rare)
    costs a second query and gets None for the holds (not looked up).
    """
    rows = _WITH_DIALOG.rows(telegram_id, chat_id, now)
    found = rows[0] if rows else None
    if found is None:
        return None, DialogState.get_or_none(DialogState.chat_id == chat_id), None
    # None without a stored dialogue (outer join, no row); SQLite answers EXISTS with 0 or 1.
    return found, found.stored_dialog, bool(found.holds_due)


def deleted_account(telegram_id: int) -> bool:
    """Whether an admin deleted the person registered with this Telegram account."""
    return Person.select().where((Person.telegram_id == telegram_id)
                                 & ~Person.deleted_at.is_null()).exists()


def register(
    telegram_id: int,
    email_text: str,
    *,
    name: str,
    username: str,
    domains: Iterable[str],
    now: datetime,
) -> Person:
    """Register a Telegram account under a work email, linking an import-only person.

    A person an admin deleted stays out (RegistrationRefused), by email and by Telegram account:
    only an admin restores them, from /users.
    """
    email = normalize_email(email_text)
    check_domain(email, domains)
    try:
        with db.atomic():
            person = Person.get_or_none(Person.email == email)
            if (person is not None and person.deleted_at is not None) or deleted_account(
                    telegram_id):
                raise RegistrationRefused(email=email)
            if person is not None and person.telegram_id not in (None, telegram_id):
                raise EmailTaken(email=email)
            # An older record of this account under another email steps aside.
            Person.update(telegram_id=None).where(
                (Person.telegram_id == telegram_id) & (Person.email != email)
            ).execute()
            if person is None:
                person = Person.create(telegram_id=telegram_id, email=email, name=name,
                                       username=username, created_at=now, updated_at=now)
                action = "person.registered"
            else:
                person.telegram_id = telegram_id
                person.name = name or person.name
                person.username = username
                person.reachable = True
                person.save()
                action = "person.linked"
            audit.record(action, actor=person, person=person, now=now)
    except pw.IntegrityError as exc:
        # Two accounts raced for the same email: the loser is told it is taken.
        raise EmailTaken(email=email) from exc
    return person


def refresh_profile(person: Person, *, name: str, username: str) -> None:
    """Keep the stored Telegram name and @username current (one UPDATE, only on change)."""
    if person.name != name or person.username != username:
        Person.update(name=name, username=username).where(Person.id == person.id).execute()
        person.name, person.username = name, username


def by_email(email: str) -> Person | None:
    """The person with this (normalised) email, deleted or not."""
    return Person.get_or_none(Person.email == email)


def by_username(username: str) -> Person | None:
    """The person with this Telegram @username (without the @), ignoring case."""
    return Person.get_or_none(pw.fn.LOWER(Person.username) == username.lower())


def active(person_id: int) -> Person | None:
    """The person with this id unless deleted."""
    return Person.get_or_none((Person.id == person_id) & Person.deleted_at.is_null())


def registered(person_id: int) -> Person | None:
    """The person with this id if they use the bot (registered, not deleted)."""
    return Person.get_or_none((Person.id == person_id) & ~Person.telegram_id.is_null()
                              & Person.deleted_at.is_null())


def set_reachable(person: Person, reachable: bool) -> None:
    """Store whether the bot can write to the person (a 403 says it cannot)."""
    Person.update(reachable=reachable).where(Person.id == person.id).execute()
    person.reachable = reachable
