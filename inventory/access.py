"""Identity and access: the admin role, one-time email codes with lock-outs, admin approvals."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee as pw

from inventory import audit, people
from inventory.errors import (
    AlreadyDecided,
    CodeExpired,
    EmailTaken,
    Locked,
    NotAllowed,
    NotFound,
    RegistrationRefused,
    WrongCode,
)
from inventory.rows import tuples
from models import AccessRequest, AuditLog, Person, RegistrationCode, db

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=15)
LOCK_PERIOD = timedelta(hours=1)
MAX_WRONG_CODES = 5
MAX_CODES_PER_HOUR = 3

CODE_FAILED = "registration.code_failed"
CODE_OK = "registration.code_ok"
LOCKED = "registration.locked"
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


# --- the role ----------------------------------------------------------------------------------


def is_admin(person: Person | None, telegram_id: int, bootstrap_ids: Iterable[int]) -> bool:
    """The one admin check: a bootstrap id (ADMIN_IDS) or an active person with the admin flag."""
    if telegram_id in bootstrap_ids:
        return True
    return person is not None and person.deleted_at is None and bool(person.is_admin)


def admin_chat_ids(bootstrap_ids: Iterable[int]) -> list[int]:
    """Telegram chats of every admin: ADMIN_IDS plus active people with the flag."""
    flagged = tuples(Person.select(Person.telegram_id)
                     .where(Person.is_admin & Person.deleted_at.is_null()
                            & ~Person.telegram_id.is_null()))
    return sorted(set(bootstrap_ids) | {tid for (tid,) in flagged})


def active_by_chat(chat_ids: Iterable[int]) -> dict[int, Person]:
    """The active people registered with these Telegram chats, by chat id."""
    rows = Person.select().where(Person.telegram_id.in_(list(chat_ids))
                                 & Person.deleted_at.is_null())
    return {person.telegram_id: person for person in rows if person.telegram_id is not None}


def set_admin(person_id: int, granted: bool, *, actor: Person | None, now: datetime,
              bootstrap_ids: Iterable[int]) -> Person:
    """Grant or take away admin rights of a registered person (audited, race-safe)."""
    person = Person.get_or_none((Person.id == person_id) & Person.deleted_at.is_null())
    if person is None:
        raise NotFound(person_id=person_id)
    if person.telegram_id is None:
        raise NotAllowed(reason="unregistered")
    if not granted and person.telegram_id in set(bootstrap_ids):
        raise NotAllowed(reason="bootstrap")
    if not granted and actor is not None and actor.id == person.id:
        raise NotAllowed(reason="self")
    with db.atomic():
        done = (Person.update(is_admin=granted, updated_at=now)
                .where((Person.id == person.id) & Person.deleted_at.is_null()
                       & (Person.is_admin != granted))
                .execute())
        if done:
            audit.record("person.admin_granted" if granted else "person.admin_revoked",
                         actor=actor, person=person, now=now)
    person.is_admin = granted
    return person


# --- lock-out per chat ---------------------------------------------------------------------------


def _event(action: str, chat_id: int, now: datetime, **details: Any) -> None:
    """An audit row under the chat's Telegram id (a stranger has no Person yet)."""
    AuditLog.create(action=action, actor_telegram_id=chat_id, created_at=now, updated_at=now,
                    details=json.dumps(details))


def _recent(chat_id: int, now: datetime) -> list[tuple[str, datetime]]:
    """This chat's code events of the last LOCK_PERIOD, newest first."""
    return list(tuples(
        AuditLog.select(AuditLog.action, AuditLog.created_at)
        .where((AuditLog.actor_telegram_id == chat_id)
               & AuditLog.action.in_((CODE_FAILED, CODE_OK, LOCKED))
               & (AuditLog.created_at > now - LOCK_PERIOD) & (AuditLog.created_at <= now))
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc()))
    )


def locked_until(chat_id: int, now: datetime) -> datetime | None:
    """When this chat may try again, if it is locked now."""
    for action, created_at in _recent(chat_id, now):
        if action == LOCKED:
            return created_at + LOCK_PERIOD
    return None


def _lock(chat_id: int, now: datetime, reason: str) -> datetime:
    """Lock the chat for LOCK_PERIOD and void its codes."""
    _event(LOCKED, chat_id, now, reason=reason)
    RegistrationCode.update(used_at=now).where(
        (RegistrationCode.chat_id == chat_id) & RegistrationCode.used_at.is_null()).execute()
    logger.warning("registration from chat %s locked for an hour: %s", chat_id, reason)
    return now + LOCK_PERIOD


def wrong_codes(chat_id: int, now: datetime) -> int:
    """Wrong codes in a row within the period, since the last right code or lock."""
    count = 0
    for action, _ in _recent(chat_id, now):
        if action != CODE_FAILED:
            break
        count += 1
    return count


def code_failed(chat_id: int, now: datetime, *, source: str) -> int:
    """Count a failed guess (a wrong email code or a stray DEVELOPER_CODE); attempts left."""
    until = None
    with db.atomic():
        _event(CODE_FAILED, chat_id, now, source=source)
        count = wrong_codes(chat_id, now)
        if count >= MAX_WRONG_CODES:
            until = _lock(chat_id, now, "wrong codes")
    if until is not None:
        raise Locked(until=until)  # raised after the commit: the lock must stay
    return MAX_WRONG_CODES - count


# --- email codes ---------------------------------------------------------------------------------


def _digest(salt: str, chat_id: int, email: str, code: str) -> str:
    """HMAC-SHA256 of the code, bound to the chat and the email."""
    message = f"{chat_id}:{email}:{code}".encode()
    return hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()


@dataclass
class IssuedCode:
    """A code to mail (code is None when nothing may be sent: the reply is the same)."""

    id: int
    email: str
    code: str | None
    expires_at: datetime


def may_receive_code(telegram_id: int, email: str) -> bool:
    """Whether a code may go to this email for this account (never told to the person)."""
    person = Person.get_or_none(Person.email == email)
    if people.deleted_account(telegram_id):
        return False
    if person is None:
        return True
    return person.deleted_at is None and person.telegram_id in (None, telegram_id)


def issue_code(chat_id: int, email: str, *, now: datetime) -> IssuedCode:
    """Store a new hashed code for the chat (Locked after MAX_CODES_PER_HOUR in an hour)."""
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    with db.atomic():
        until = locked_until(chat_id, now)
        if until is None:
            sent = (RegistrationCode.select()
                    .where((RegistrationCode.chat_id == chat_id)
                           & (RegistrationCode.created_at > now - LOCK_PERIOD)).count())
            if sent >= MAX_CODES_PER_HOUR:
                until = _lock(chat_id, now, "too many codes")
        if until is None:
            # Only the newest code of a chat is valid.
            RegistrationCode.update(used_at=now).where(
                (RegistrationCode.chat_id == chat_id)
                & RegistrationCode.used_at.is_null()).execute()
            row = RegistrationCode.create(chat_id=chat_id, email=email, salt=salt,
                                          code_hash=_digest(salt, chat_id, email, code),
                                          expires_at=now + CODE_TTL, created_at=now,
                                          updated_at=now)
            deliver = may_receive_code(chat_id, email)
    if until is not None:
        raise Locked(until=until)  # after the commit: the lock must stay
    if not deliver:
        logger.info("registration code for chat %s not mailed: address not eligible", chat_id)
    return IssuedCode(row.id, email, code if deliver else None, row.expires_at)


def drop_code(code_id: int) -> None:
    """Forget a code that could not be mailed: it does not count towards the hourly limit."""
    RegistrationCode.delete().where(RegistrationCode.id == code_id).execute()


def check_code(chat_id: int, typed: str, *, now: datetime) -> str:
    """The email the chat proved with this code; WrongCode, CodeExpired or Locked otherwise."""
    until = locked_until(chat_id, now)
    if until is not None:
        raise Locked(until=until)
    row = (RegistrationCode.select()
           .where((RegistrationCode.chat_id == chat_id) & RegistrationCode.used_at.is_null())
           .order_by(RegistrationCode.id.desc()).first())
    if row is None or row.expires_at <= now:
        if row is not None:
            RegistrationCode.update(used_at=now).where(RegistrationCode.id == row.id).execute()
        raise CodeExpired()
    digits = "".join(ch for ch in typed if not ch.isspace())
    if not hmac.compare_digest(_digest(row.salt, chat_id, row.email, digits), row.code_hash):
        raise WrongCode(left=code_failed(chat_id, now, source="email"))
    with db.atomic():
        # Single use: of two messages racing with the same code only one gets the row.
        used = (RegistrationCode.update(used_at=now)
                .where((RegistrationCode.id == row.id) & RegistrationCode.used_at.is_null())
                .execute())
        if not used:
            raise CodeExpired()
        _event(CODE_OK, chat_id, now)
    return row.email


# --- approval by an admin ------------------------------------------------------------------------


def pending_request(telegram_id: int) -> AccessRequest | None:
    """The request this account is waiting on, if any."""
    return AccessRequest.get_or_none((AccessRequest.telegram_id == telegram_id)
                                     & (AccessRequest.status == PENDING))


def request_access(telegram_id: int, email: str, *, name: str, username: str,
                   now: datetime) -> AccessRequest | None:
    """A new pending request for admins, or None when it may not be made (told the same).

    Locked after MAX_CODES_PER_HOUR requests of one account in an hour.
    """
    if not may_receive_code(telegram_id, email):
        logger.info("access request from %s not forwarded: address not eligible", telegram_id)
        return None
    asked = (AccessRequest.select()
             .where((AccessRequest.telegram_id == telegram_id)
                    & (AccessRequest.created_at > now - LOCK_PERIOD)).count())
    if asked >= MAX_CODES_PER_HOUR:
        # Rejected three times this hour: admins are not asked again until it passes.
        raise Locked(until=now + LOCK_PERIOD)
    known = Person.select().where((Person.email == email)
                                  & Person.telegram_id.is_null()).exists()
    try:
        with db.atomic():
            request = AccessRequest.create(telegram_id=telegram_id, email=email, name=name,
                                           username=username, known=known, created_at=now,
                                           updated_at=now)
            AuditLog.create(action="access.requested", actor_telegram_id=telegram_id,
                            created_at=now, updated_at=now,
                            details=json.dumps({"email": email, "known": known}))
    except pw.IntegrityError:
        # A second message of the same account raced this one: its request stands.
        return None
    return request


def held_count(email: str) -> int:
    """How many devices the import-only person with this email holds."""
    from models import Loan

    return (Loan.select().join(Person)
            .where((Person.email == email) & Loan.returned_at.is_null()).count())


def save_notices(request_id: int, notices: list[tuple[int, int]]) -> None:
    """Remember the admins' copies of a request, to edit them once it is decided."""
    AccessRequest.update(notices=json.dumps(notices)).where(
        AccessRequest.id == request_id).execute()


def notices_of(request: AccessRequest) -> list[tuple[int, int]]:
    """The admins' copies of a request: (chat id, message id)."""
    return [(int(c), int(m)) for c, m in json.loads(request.notices)]


@dataclass
class Decision:
    """The outcome of the first admin's answer."""

    request: AccessRequest
    person: Person | None


def decide(request_id: int, approve: bool, *, actor: Person | None, actor_name: str,
           actor_telegram_id: int, now: datetime, domains: Iterable[str] = ()) -> Decision:
    """Approve or reject a pending request; the first answer wins (AlreadyDecided after).

    The conditional UPDATE on status is the race guard: of two admins answering at once only
    one changes the row. An approval whose email was registered or deleted meanwhile voids the
    request instead (NotAllowed, reason email_unavailable).
    """
    status = APPROVED if approve else REJECTED
    with db.atomic():
        done = (AccessRequest.update(status=status, decided_by=actor, decided_by_name=actor_name,
                                     decided_at=now, updated_at=now)
                .where((AccessRequest.id == request_id) & (AccessRequest.status == PENDING))
                .execute())
        request = AccessRequest.get_or_none(AccessRequest.id == request_id)
        if request is None:
            raise NotFound(request_id=request_id)
        if not done:
            raise AlreadyDecided(request=request)
        person = None
        if approve:
            try:
                person = people.register(request.telegram_id, request.email, name=request.name,
                                         username=request.username, domains=domains, now=now)
            except (EmailTaken, RegistrationRefused):
                AccessRequest.update(status=REJECTED).where(
                    AccessRequest.id == request_id).execute()
                request.status = REJECTED
        void = approve and person is None  # register() returns a person or raises
        AuditLog.create(action="access.void" if void else f"access.{status}", actor=actor,
                        actor_telegram_id=actor_telegram_id, person=person, created_at=now,
                        updated_at=now,
                        details=json.dumps({"request": request_id, "email": request.email,
                                            "telegram_id": request.telegram_id,
                                            "known": request.known}))
    logger.info("access request %s %s by %s", request_id, "void" if void else status,
                actor_telegram_id)
    if void:
        raise NotAllowed(reason="email_unavailable", request=request)
    return Decision(request, person)


# --- deleted people ------------------------------------------------------------------------------


def deleted_people(page: int = 1,
                   page_size: int = 8) -> tuple[list[Person], int, int, int]:
    """People an admin deleted, newest deletion first: (page rows, page, pages, total)."""
    query = Person.select().where(~Person.deleted_at.is_null())
    total = query.count()
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    rows = list(query.order_by(Person.deleted_at.desc(), Person.id.desc())
                .paginate(page, page_size))
    return rows, page, pages, total


def deleted_person(person_id: int) -> Person:
    """A deleted person; NotFound when the id is unknown or the person is active."""
    person = Person.get_or_none((Person.id == person_id) & ~Person.deleted_at.is_null())
    if person is None:
        raise NotFound(person_id=person_id)
    return person


def restore(person_id: int, *, actor: Person | None, now: datetime) -> Person:
    """Let a deleted person back in (audited; only an admin does it)."""
    with db.atomic():
        done = (Person.update(deleted_at=None, updated_at=now)
                .where((Person.id == person_id) & ~Person.deleted_at.is_null()).execute())
        if not done:
            raise NotFound(person_id=person_id)
        person = Person.get_by_id(person_id)
        audit.record("person.restored", actor=actor, person=person, now=now)
    return person
