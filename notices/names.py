"""How people and fields are named in lines of text (escaped, shortened to fit a line)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import texts
from handlers.fit import shorten

if TYPE_CHECKING:
    from models import Person

PERSON_IN_LINE = 40


def cut(value: str, limit: int) -> str:
    """A field shortened with «…» and escaped."""
    return texts.e(shorten(value, limit))


def person_name(person: Person) -> str:
    """Name and @username, or the email when no name is known (escaped)."""
    name = person.name or person.email
    if person.username:
        return texts.HOLDER_WITH_USERNAME.format(name=cut(name, PERSON_IN_LINE),
                                                 username=texts.e(person.username))
    return cut(name, PERSON_IN_LINE)


def short_name(person: Person) -> str:
    """Name or email, for one-line lists (escaped)."""
    return cut(person.name or person.email, PERSON_IN_LINE)
