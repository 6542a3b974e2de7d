"""The playground's sample inventory, written through the domain functions like a real office."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from inventory import catalog, loans, people, queue
from inventory.admin_people import person_for_email
from inventory.devices import ensure_categories
from models import Device, Person
from playground.identities import ADMIN, COLLEAGUE, DEVELOPER, EMPLOYEE, Identity

logger = logging.getLogger(__name__)

SEED = 49  # fixed: every reset builds the same office

# (category, name, serial prefix, firmware)
MODELS: tuple[tuple[str, str, str, str], ...] = (
    ("Онлайн-касса", "Эвотор 7.3", "0030720", "4.9.11"),
    ("Онлайн-касса", "Эвотор 5i", "0050430", "4.9.11"),
    ("Онлайн-касса", "Эвотор Power", "0090110", "4.8.3"),
    ("Онлайн-касса", "АТОЛ Sigma 10", "SG10-", "2.14.0"),
    ("Онлайн-касса", "АТОЛ Sigma 8", "SG08-", "2.14.0"),
    ("Онлайн-касса", "Меркурий 185Ф", "185F", ""),
    ("Онлайн-касса", "MSPOS-K", "MSK", "1.7.2"),
    ("Онлайн-касса", "Дримкас-Ф", "DKF", "3.2"),
    ("Онлайн-касса", "Касатка", "KST", ""),
    ("Фискальный регистратор", "АТОЛ 30Ф", "0049150", "5.8.14"),
    ("Фискальный регистратор", "АТОЛ 55Ф", "0049320", "5.8.14"),
    ("Фискальный регистратор", "АТОЛ 22 v2 Ф", "0049760", "5.8.2"),
    ("Фискальный регистратор", "Штрих-М-02Ф", "0002911", "A4.2"),
    ("Фискальный регистратор", "Вики Принт 57 Ф", "VP57-", "665.2.1"),
    ("Фискальный регистратор", "Пирит 2Ф", "PR2F", "665.4.0"),
    ("Терминал эквайринга", "Ingenico IWL220", "IWL", "Telium 2"),
    ("Терминал эквайринга", "Ingenico Move/5000", "MV5K", "Tetra 11.16"),
    ("Терминал эквайринга", "Verifone VX520", "VX5-", "QT5200"),
    ("Терминал эквайринга", "PAX S300", "S300-", "Prolin 2.8"),
    ("Терминал эквайринга", "PAX D230", "D230-", "Prolin 2.8"),
    ("Весы", "Масса-К ВПМ-15.2-Ф", "VPM", ""),
    ("Весы", "CAS AD-H", "CASAD", ""),
    ("Весы", "Штрих-Принт М", "SHPM", "3.4"),
    ("Весы", "Mertech M-ER 326", "MER326-", ""),
    ("Принтер кухонный", "АТОЛ RP-326", "RP326-", ""),
    ("Принтер кухонный", "Xprinter XP-Q260", "XPQ", ""),
    ("Принтер кухонный", "Epson TM-T20III", "X4SM", ""),
    ("Принтер кухонный", "Sewoo LK-T21", "LKT", ""),
    ("Планшет", "iPad 10.2 (2021)", "DMPG", "iPadOS 17.6"),
    ("Планшет", "Samsung Galaxy Tab A8", "R9PT", "Android 14"),
    ("Планшет", "Samsung Galaxy Tab S6 Lite", "R52W", "Android 14"),
    ("Планшет", "Lenovo Tab M10", "HGT", "Android 12"),
    ("Планшет", "Huawei MatePad T10s", "AGS3", "EMUI 12"),
    ("Планшет", "Xiaomi Pad 6", "XP6-", "HyperOS 1.0"),
    ("Сканер", "Honeywell 1450g", "21160B", ""),
    ("Сканер", "Zebra DS2208", "S19", ""),
    ("Сканер", "Mertech 2310 P2D", "M2310-", ""),
    ("Сканер", "Datalogic QuickScan QD2430", "G22", ""),
    ("Сканер", "АТОЛ SB2109 BT", "SB21", ""),
    ("Сканер", "Newland HR32", "HR32-", ""),
)
FIRST_NUMBER = 11  # sticker numbers 11..50, so the README's ?start=49 opens a device

COMMENTS = {
    "Эвотор Power": "Демо-стенд для клиентов, не выдавать на выезд",
    "PAX S300": "Без блока питания",
    "Mertech M-ER 326": "Поверка до 01.2028",
    "iPad 10.2 (2021)": "С чехлом и зарядкой",
}

# People known only by email (an import brought them): they hold devices but have no chat.
OFFLINE = ("sergey.ivanov@example.com", "olga.petrova@example.com")


@dataclass(frozen=True)
class Sample:
    """What the seed wrote, for the page and the tests."""

    devices: int
    loans: int
    overdue: int
    queued: int


def _register(identity: Identity, now: datetime) -> Person:
    """A registered account, as if the person had answered the bot's email question."""
    assert identity.email is not None
    return people.register(identity.user_id, identity.email, name=identity.name,
                           username=identity.username, domains=(), now=now)


def seed(categories: tuple[str, ...], now: datetime, today: date) -> Sample:
    """Write the sample office into an empty, migrated database; `today` is the local date."""
    rng = random.Random(SEED)
    ensure_categories(categories, now)
    month_ago = now - timedelta(days=30)
    staff = {i.key: _register(i, month_ago) for i in (EMPLOYEE, COLLEAGUE, ADMIN, DEVELOPER)}
    admin = staff[ADMIN.key]
    devices: list[Device] = []
    for offset, (category, name, prefix, firmware) in enumerate(MODELS):
        registered = today - timedelta(days=rng.randint(60, 900))
        serial = prefix + "".join(rng.choice("0123456789") for _ in range(13 - len(prefix)))
        values = {
            "number": FIRST_NUMBER + offset, "name": name, "category": category,
            "serial": serial, "registered_on": registered, "firmware": firmware,
            "comment": COMMENTS.get(name, ""),
        }
        devices.append(catalog.create_device(values, actor=admin, now=month_ago))

    def number(n: int) -> Device:
        return devices[n - FIRST_NUMBER]

    def lend(n: int, person: Person, days_ago: int, due: int | None, place: str,
             *, assigned: bool = False) -> None:
        loans.take(number(n).id, person, now=now - timedelta(days=days_ago), place=place,
                   due_date=None if due is None else today + timedelta(days=due),
                   assigned_by=admin if assigned else None)

    employee, colleague = staff[EMPLOYEE.key], staff[COLLEAGUE.key]
    lend(11, employee, 14, -3, "Офис клиента, ул. Ленина 12")  # the overdue one
    lend(26, employee, 6, 1, "Склад, стеллаж 3")
    lend(49, employee, 2, 14, "")
    lend(29, colleague, 5, 0, "Кафе «Ромашка»")
    lend(40, colleague, 20, None, "Стенд тестирования")
    lend(20, admin, 3, 7, "Переговорная")
    lend(45, staff[DEVELOPER.key], 1, 5, "Стол разработки")
    for email, (n, days_ago, due) in zip(OFFLINE, ((33, 9, 4), (17, 12, 10)), strict=True):
        holder = person_for_email(email, actor=admin, now=now - timedelta(days=days_ago))
        lend(n, holder, days_ago, due, "Выезд", assigned=True)
    # A line for the employee's card terminal: the colleague first, then the admin.
    queue.join(number(26).id, colleague, now - timedelta(hours=30))
    queue.join(number(26).id, admin, now - timedelta(hours=5))
    sample = Sample(devices=len(devices), loans=9, overdue=1, queued=2)
    logger.info("playground sample written: %s", sample)
    return sample
