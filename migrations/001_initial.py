"""Peewee migrations -- 001_initial.py.

Some examples (model - class or model name)::

    > Model = migrator.orm['table_name']            # Return model in current state by name
    > Model = migrator.ModelClass                   # Return model in current state by name

    > migrator.sql(sql)                             # Run custom SQL
    > migrator.run(func, *args, **kwargs)           # Run python function with the given args
    > migrator.create_model(Model)                  # Create a model (could be used as decorator)
    > migrator.remove_model(model, cascade=True)    # Remove a model
    > migrator.add_fields(model, **fields)          # Add fields (allow_not_null=True skips default)
    > migrator.change_fields(model, **fields)       # Change fields
    > migrator.remove_fields(model, *field_names, cascade=True)
    > migrator.rename_field(model, old_field_name, new_field_name)
    > migrator.rename_table(model, new_table_name)
    > migrator.add_index(model, *col_names, unique=False)
    > migrator.add_not_null(model, *field_names)
    > migrator.add_default(model, field_name, default)
    > migrator.add_constraint(model, name, sql)
    > migrator.drop_index(model, *col_names)
    > migrator.drop_not_null(model, *field_names)
    > migrator.drop_constraints(model, *constraints)

"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Create the whole initial schema."""

    @migrator.create_model
    class Person(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        telegram_id = pw.BigIntegerField(null=True, unique=True)
        email = pw.CharField(max_length=254, unique=True)
        name = pw.CharField(default='', max_length=200)
        username = pw.CharField(default='', index=True, max_length=64)
        comment = pw.TextField(default='')
        reachable = pw.BooleanField(default=True)
        deleted_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "person"

    @migrator.create_model
    class Category(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        name = pw.CharField(max_length=100, unique=True)

        class Meta:
            table_name = "category"

    @migrator.create_model
    class Device(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        number = pw.IntegerField(unique=True)
        name = pw.CharField(max_length=200)
        category = pw.ForeignKeyField(column_name='category_id', field='id', model=migrator.orm['category'], on_delete='RESTRICT')
        serial = pw.CharField(max_length=200, unique=True)
        registered_on = pw.DateField(null=True)
        firmware = pw.CharField(default='', max_length=200)
        comment = pw.TextField(default='')
        search_text = pw.TextField(default='', index=True)

        class Meta:
            table_name = "device"

    @migrator.create_model
    class AuditLog(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        actor = pw.ForeignKeyField(column_name='actor_id', field='id', model=migrator.orm['person'], null=True, on_delete='SET NULL')
        actor_telegram_id = pw.BigIntegerField(null=True)
        action = pw.CharField(index=True, max_length=64)
        device = pw.ForeignKeyField(column_name='device_id', field='id', model=migrator.orm['device'], null=True, on_delete='SET NULL')
        person = pw.ForeignKeyField(column_name='person_id', field='id', model=migrator.orm['person'], null=True, on_delete='SET NULL')
        details = pw.TextField(default='{}')

        class Meta:
            table_name = "auditlog"

    @migrator.create_model
    class DialogState(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        chat_id = pw.BigIntegerField(unique=True)
        state = pw.CharField(max_length=64, null=True)
        data = pw.TextField(default='{}')

        class Meta:
            table_name = "dialogstate"

    @migrator.create_model
    class Handover(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        device = pw.ForeignKeyField(column_name='device_id', field='id', model=migrator.orm['device'], on_delete='CASCADE')
        from_person = pw.ForeignKeyField(column_name='from_person_id', field='id', model=migrator.orm['person'], on_delete='CASCADE')
        to_person = pw.ForeignKeyField(column_name='to_person_id', field='id', model=migrator.orm['person'], on_delete='CASCADE')
        status = pw.CharField(default='pending', index=True, max_length=16)

        class Meta:
            table_name = "handover"

    @migrator.create_model
    class Loan(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        device = pw.ForeignKeyField(column_name='device_id', field='id', model=migrator.orm['device'], on_delete='CASCADE')
        person = pw.ForeignKeyField(column_name='person_id', field='id', model=migrator.orm['person'], on_delete='RESTRICT')
        taken_at = pw.DateTimeField()
        due_date = pw.DateField(null=True)
        place = pw.CharField(default='', max_length=200)
        returned_at = pw.DateTimeField(index=True, null=True)
        assigned_by = pw.ForeignKeyField(column_name='assigned_by_id', field='id', model=migrator.orm['person'], null=True, on_delete='SET NULL')
        reminded_on = pw.DateField(null=True)

        class Meta:
            table_name = "loan"

    @migrator.create_model
    class QueueEntry(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        device = pw.ForeignKeyField(column_name='device_id', field='id', model=migrator.orm['device'], on_delete='CASCADE')
        person = pw.ForeignKeyField(column_name='person_id', field='id', model=migrator.orm['person'], on_delete='CASCADE')
        joined_at = pw.DateTimeField()
        hold_until = pw.DateTimeField(null=True)

        class Meta:
            table_name = "queueentry"
            indexes = [(('device', 'person'), True)]

    # Partial unique indexes (peewee-migrate cannot express them): one open loan per device,
    # one pending handover per device. Both SQLite and PostgreSQL support them.
    migrator.sql(
        "CREATE UNIQUE INDEX loan_one_open_per_device ON loan (device_id) WHERE returned_at IS NULL"
    )
    migrator.sql(
        "CREATE UNIQUE INDEX handover_one_pending_per_device ON handover (device_id) "
        "WHERE status = 'pending'"
    )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop the whole schema."""

    migrator.remove_model('queueentry')

    migrator.remove_model('loan')

    migrator.remove_model('handover')

    migrator.remove_model('dialogstate')

    migrator.remove_model('auditlog')

    migrator.remove_model('device')

    migrator.remove_model('category')

    migrator.remove_model('person')
