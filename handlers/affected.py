"""Telling the people an admin's or developer's change took something from: nobody uninformed."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from config import Config
from handlers import render, texts
from inventory.admin_people import PersonDeleted
from notices.holds import send_hold_offer
from outbox.notifier import Notifier

if TYPE_CHECKING:
    from models import Device, Person

logger = logging.getLogger(__name__)


def _title(device: Device | dict[str, Any]) -> dict[str, Any]:
    """Template arguments naming a device (a row or a deleted device's snapshot)."""
    if isinstance(device, dict):
        return {"number": device["number"], "name": texts.e(device["name"])}
    return {"number": device.number, "name": texts.e(device.name)}


def device_deleted(notifier: Notifier, waiting: Iterable[tuple[Person, Device | dict]]) -> int:
    """Tell everyone who queued for (or had a hold on) a deleted device; returns how many."""
    told = 0
    for person, device in waiting:
        notifier.send(person, texts.NOTIFY_DEVICE_DELETED.format(**_title(device)))
        told += 1
    return told


def holds_cleared(notifier: Notifier, people: Iterable[Person], device: Device,
                  holder: Person) -> None:
    """Tell the people whose hold an admin's assignment ended that they wait in line again."""
    for person in people:
        if person.id != holder.id:
            notifier.send(person, texts.NOTIFY_HOLD_ASSIGNED.format(
                **_title(device), holder=render.person_name(holder)))


def person_deleted(notifier: Notifier, config: Config, result: PersonDeleted) -> None:
    """A deleted person's hold went to the next in line, their offers are void: tell both."""
    for offer in result.offers:
        send_hold_offer(notifier, offer, config)
    for handover in result.voided:
        notifier.send(handover.from_person, texts.NOTIFY_HANDOVER_PERSON_DELETED.format(
            **_title(handover.device), person=render.person_name(handover.to_person)))
