"""Peewee migrations -- 002_access.py.

Identity and access: the per-person admin flag, hashed one-time email codes and the
requests newcomers send to admins when REGISTRATION=approve.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Add Person.is_admin, RegistrationCode and AccessRequest."""

    migrator.add_fields('person', is_admin=pw.BooleanField(default=False))

    @migrator.create_model
    class RegistrationCode(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        chat_id = pw.BigIntegerField(index=True)
        email = pw.CharField(max_length=254)
        salt = pw.CharField(max_length=64)
        code_hash = pw.CharField(max_length=64)
        expires_at = pw.DateTimeField()
        used_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "registrationcode"

    @migrator.create_model
    class AccessRequest(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        telegram_id = pw.BigIntegerField(index=True)
        email = pw.CharField(max_length=254)
        name = pw.CharField(default='', max_length=200)
        username = pw.CharField(default='', max_length=64)
        known = pw.BooleanField(default=False)
        status = pw.CharField(default='pending', index=True, max_length=16)
        decided_by = pw.ForeignKeyField(column_name='decided_by_id', field='id', model=migrator.orm['person'], null=True, on_delete='SET NULL')
        decided_by_name = pw.CharField(default='', max_length=200)
        decided_at = pw.DateTimeField(null=True)
        notices = pw.TextField(default='[]')

        class Meta:
            table_name = "accessrequest"

    # At most one pending request per Telegram account, even when two messages race.
    migrator.sql(
        "CREATE UNIQUE INDEX accessrequest_one_pending_per_account ON accessrequest "
        "(telegram_id) WHERE status = 'pending'"
    )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop the access tables and the admin flag."""

    migrator.remove_model('accessrequest')

    migrator.remove_model('registrationcode')

    migrator.remove_fields('person', 'is_admin')
