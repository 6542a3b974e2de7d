"""Queue holds told to people: «held for you until…», «your hold ran out», and applying expiry.

Shared by the bot (a card or list read passes run-out holds on) and the reminder job.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from config import Config
from handlers import texts
from inventory import queue
from inventory.clock import local_time
from notices import Button, Buttons, Delivery, Sender, button

if TYPE_CHECKING:
    from models import Device

logger = logging.getLogger(__name__)

DEVICE_NAME_IN_BUTTON = 40


def hold_buttons(device_id: int) -> Buttons:
    """The hold message: «Взять» (the usual take dialogue) and «Отказаться»."""
    return [[button(texts.BTN_TAKE, "take", device_id)],
            [button(texts.BTN_DECLINE_HOLD, "hdx", device_id)]]


def card_button(device: Device) -> Button:
    """A button that opens a device card."""
    label = texts.BUTTON_DEVICE.format(number=device.number,
                                       name=device.name[:DEVICE_NAME_IN_BUTTON])
    return button(label, "card", device.id)


def send_hold_offer(sender: Sender, offer: queue.Offer, config: Config) -> Delivery:
    """Tell the person a freed device is held for them until a local time, with the buttons."""
    until = texts.fmt_time(local_time(offer.until, config))
    text = texts.HOLD_OFFER.format(**texts.device_title(offer.device), until=until)
    delivery = sender.send(offer.person, text, hold_buttons(offer.device.id))
    logger.info("hold offer for device %s to person %s: %s", offer.device.number,
                offer.person.id, delivery.value)
    return delivery


def send_hold_lapsed(sender: Sender, lapse: queue.Lapse, config: Config) -> Delivery:
    """Tell the person their hold ran out, with the card to join the queue again."""
    until = texts.fmt_time(local_time(lapse.until, config))
    device = lapse.device
    return sender.send(lapse.person, texts.HOLD_LAPSED.format(**texts.device_title(device),
                                                              until=until),
                       [[card_button(device)]])


def expire_and_tell(sender: Sender, config: Config, now: datetime,
                    device_id: int | None = None) -> int:
    """Pass run-out holds on, tell whose hold lapsed and who now has one; returns the offers."""
    lapsed: list[queue.Lapse] = []
    offers = queue.expire_holds(now, config.hold_hours, device_id=device_id, lapsed=lapsed)
    for lapse in lapsed:
        send_hold_lapsed(sender, lapse, config)
    for offer in offers:
        send_hold_offer(sender, offer, config)
    return len(offers)
