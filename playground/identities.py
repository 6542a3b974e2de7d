"""Who you can be in the playground: five Telegram accounts, each with its own chat."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

DEVELOPER_CODE = "2468"  # shown on the page: the playground has nothing to protect


@dataclass(frozen=True)
class Identity:
    """A Telegram account of the playground; email None means not registered yet."""

    key: str
    label: str
    user_id: int
    first_name: str
    last_name: str
    username: str
    email: str | None
    note: str

    @property
    def name(self) -> str:
        """Full name as the bot stores it."""
        return f"{self.first_name} {self.last_name}"

    def as_json(self) -> dict[str, Any]:
        """The identity for the page."""
        return {**asdict(self), "name": self.name}


NEWCOMER = Identity("newcomer", "Newcomer", 700001, "Олег", "Новиков", "oleg_novikov", None,
                    "not registered yet: the bot asks for a work email")
EMPLOYEE = Identity("employee", "Employee", 700002, "Анна", "Смирнова", "anna_smirnova",
                    "anna.smirnova@example.com", "holds three devices, one of them overdue")
COLLEAGUE = Identity("colleague", "Second employee", 700003, "Дмитрий", "Козлов", "dkozlov",
                     "dmitry.kozlov@example.com",
                     "waits in a queue; try queues and handovers with the employee")
ADMIN = Identity("admin", "Admin", 700004, "Елена", "Волкова", "elena_volkova",
                 "elena.volkova@example.com", "in ADMIN_IDS: /add, /edit, /users, file import")
DEVELOPER = Identity("developer", "Developer", 700005, "Максим", "Орлов", "maxim_orlov",
                     "maxim.orlov@example.com",
                     f"in DEVELOPER_IDS: /dev (exports, dumps, wipe); code {DEVELOPER_CODE}")

IDENTITIES: tuple[Identity, ...] = (NEWCOMER, EMPLOYEE, COLLEAGUE, ADMIN, DEVELOPER)
BY_ID = {identity.user_id: identity for identity in IDENTITIES}
