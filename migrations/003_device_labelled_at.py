"""Peewee migrations -- 003_device_labelled_at.py.

device.labelled_at: when a QR label was last printed for the device (/labels). Existing devices
start with NULL: none of them has a QR label yet, so «Без наклеек» offers them all.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Add device.labelled_at."""
    migrator.add_fields('device', labelled_at=pw.DateTimeField(null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop device.labelled_at."""
    migrator.remove_fields('device', 'labelled_at')
