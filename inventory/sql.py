"""Small SQL building blocks on peewee's public API (no underscore names of peewee)."""

from __future__ import annotations

import peewee as pw

LIKE_ESCAPE = "\\"

# Driver exceptions (sqlite3, psycopg2) raised as peewee's IntegrityError, OperationalError…
# for calls peewee does not run itself, such as cursor.executemany. Every driver's errors are
# (or derive from) the DB-API's (PEP 249) classes, which peewee's ExceptionWrapper matches by
# name, as it does for its own queries.
DRIVER_ERRORS = pw.ExceptionWrapper({
    "DatabaseError": pw.DatabaseError,
    "DataError": pw.DataError,
    "IntegrityError": pw.IntegrityError,
    "InterfaceError": pw.InterfaceError,
    "InternalError": pw.InternalError,
    "NotSupportedError": pw.NotSupportedError,
    "OperationalError": pw.OperationalError,
    "ProgrammingError": pw.ProgrammingError,
})


def escape_like(text: str) -> str:
    """Text with LIKE's wildcards (% and _) and the escape character taken literally."""
    return (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")
            .replace("_", LIKE_ESCAPE + "_"))


def substring_pattern(needle: str) -> str:
    """A LIKE pattern that matches the needle anywhere in the text, wildcards taken literally."""
    return "%" + escape_like(needle) + "%"


def like_pattern(pattern: str) -> pw.Node:
    """A LIKE pattern built with escape_like, with its ESCAPE clause (same SQL on both databases).

    It is only matched against text columns, whose converter leaves a string as it is.
    """
    return pw.NodeList((pw.Value(pattern), pw.SQL("ESCAPE"), pw.Value(LIKE_ESCAPE)))
