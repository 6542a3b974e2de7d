"""Domain errors: raised by inventory functions, turned into Russian texts by handlers."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure of a domain operation."""

    def __init__(self, **details: Any) -> None:
        super().__init__(f"{type(self).__name__}({details})")
        self.details = details


class NotFound(DomainError):
    """The device, person or record does not exist (any more)."""


class InvalidEmail(DomainError):
    """The text is not an email address."""


class DomainNotAllowed(DomainError):
    """The email is outside EMAIL_DOMAINS."""


class EmailTaken(DomainError):
    """Another Telegram account already registered this email."""


class AlreadyTaken(DomainError):
    """Someone holds the device already; details: holder (Person)."""


class NotHolder(DomainError):
    """Only the holder may do this."""


class AlreadyReturned(DomainError):
    """The loan was closed already."""


class Unsettled(DomainError):
    """The device's holds may be out of date: settle them, then ask again; details: device_id."""


class HeldForQueue(DomainError):
    """The freed device is held for the next person in its queue; details: person, until."""


class InvalidDate(DomainError):
    """The text is not a date we understand."""


class PastDate(DomainError):
    """The date lies in the past."""


class DateTooFar(DomainError):
    """A due date beyond the accepted horizon; details: value, limit."""


class InvalidValue(DomainError):
    """A field value fails validation; details: field, reason."""


class Conflict(DomainError):
    """A unique value is already used; details: field, other."""


class NotAllowed(DomainError):
    """The action is not allowed in the current state; details: reason."""


class DeviceFree(DomainError):
    """The device is free with nobody waiting: take it instead of queueing."""


class AlreadyHolder(DomainError):
    """The person already holds the device."""


class AlreadyQueued(DomainError):
    """The person already waits for the device; details: position, hold_until."""


class NotQueued(DomainError):
    """The person does not wait for the device (any more)."""


class NoHold(DomainError):
    """The device is not held for this person (the hold ended or passed on)."""


class SelfHandover(DomainError):
    """A holder tried to hand a device over to themselves."""


class HandoverPending(DomainError):
    """A handover of the device is already waiting for an answer; details: handover."""


class HandoverGone(DomainError):
    """The handover was answered, cancelled or overtaken by events."""


class RegistrationRefused(DomainError):
    """An admin deleted this person (by email or Telegram account): they stay out."""


class Locked(DomainError):
    """Registration from this chat is locked; details: until."""


class WrongCode(DomainError):
    """The email code does not match; details: left (attempts before the lock)."""


class CodeExpired(DomainError):
    """The email code is older than its lifetime (or none is waiting)."""


class AlreadyDecided(DomainError):
    """Another admin answered the access request first; details: request."""
