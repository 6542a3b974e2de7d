"""Peewee migrations -- 005_legacy_chat_id.py: person.chat_id, kept from the predecessor bot."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Add person.chat_id (NULL for everyone the switch-over import did not bring)."""
    migrator.add_fields("person", chat_id=pw.BigIntegerField(null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop person.chat_id."""
    migrator.remove_fields("person", "chat_id")
