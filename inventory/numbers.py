"""Numbers typed by people or carried in button data: ASCII digits only, within 64 bits."""

from __future__ import annotations

INT64_MAX = 2**63 - 1
# No row has this id or number: a number beyond 64 bits becomes it and is simply not found.
NO_SUCH_ID = INT64_MAX
STICKER_MAX = 2_147_483_647  # the device number column is a 32-bit integer


def ascii_digits(text: str) -> bool:
    """Whether text is one or more ASCII digits («²», «³», «①», «٣» are not)."""
    return text.isascii() and text.isdigit()


def sticker_number(text: str) -> int | None:
    """A typed sticker number («49», «№ 49», «#49»), or None if the text is not one."""
    digits = text.strip().lstrip("№#").strip()
    if not ascii_digits(digits):
        return None
    value = int(digits)
    return value if 0 < value <= STICKER_MAX else None


def button_argument(arg: str) -> str:
    """A callback argument with any integer beyond 64 bits replaced by an id no row has."""
    body = arg[1:] if arg.startswith("-") else arg
    if ascii_digits(body) and not -INT64_MAX - 1 <= int(arg) <= INT64_MAX:
        return str(NO_SUCH_ID)
    return arg
