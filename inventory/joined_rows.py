"""Joined result rows turned into models without setting each column through its descriptor.

peewee's `ModelCursorWrapper.process_row` sets every column of every joined model with
`setattr` (a Python-level descriptor call) and records it as dirty, only to clear that again.
For a page of devices with their loan, holder, hold and handover that was a tenth of the bot's
CPU under load. `fast_process_row` builds the same models by filling each one's data dict
directly, and links the joined models exactly as peewee does. It is only used where it gives
the same result: every source a model, every column one of its fields under its own name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import peewee as pw

logger = logging.getLogger(__name__)

Row = tuple[Any, ...]

# Accessors whose __set__ on a new instance only stores the value (and marks it dirty).
_PLAIN_ACCESSORS = (pw.FieldAccessor, pw.ForeignKeyAccessor)
_NOTHING: frozenset[Any] = frozenset()


def fast_process_row(wrapper: pw.ModelCursorWrapper) -> Callable[[Row], pw.Model] | None:
    """A process_row for this initialized wrapper that builds what peewee's would; None where
    the wrapper holds something it does not handle (dicts, columns that are no plain field)."""
    if type(wrapper) is not pw.ModelCursorWrapper:
        return None
    # What peewee's initialize() worked out (not in its stubs): the same for every cursor.
    mapped: Any = wrapper
    # Per joined source: its key, its model, and its columns (index in the row, name, converter).
    plan: list[tuple[Any, type[pw.Model], list[tuple[int, str, Any]]]] = []
    for key, constructor, is_model in mapped._constructor_list:
        if not is_model:
            return None
        plan.append((key, constructor, []))
    slot_of = {key: slot for slot, (key, _, _) in enumerate(plan)}
    for index, key, column, converter in mapped._row_spec:
        slot = slot_of.get(key)
        if slot is None:
            return None
        field = plan[slot][1]._meta.fields.get(column)
        if field is None or field.accessor_class not in _PLAIN_ACCESSORS:
            return None
        plan[slot][2].append((index, column, converter))
    links = mapped.src_to_dest
    reachable = mapped._dest_reachable
    root = slot_of[wrapper.model]

    def process_row(row: Row) -> pw.Model:
        """The root model of one row, its joined models attached as peewee attaches them."""
        objects: dict[Any, Any] = {}
        instances: list[Any] = []
        set_keys = set()
        for key, model, columns in plan:
            instance = model(__no_default__=True)
            data = instance.__data__
            for index, name, converter in columns:
                value = row[index]
                if value is not None:
                    set_keys.add(key)
                # A column selected with coerce(False) has no converter.
                data[name] = value if converter is None else converter(value)
            objects[key] = instance
            instances.append(instance)
        # The joins, as peewee's process_row links them: a model with no value of its own is
        # attached empty when something joined beyond it has one, else not at all (inner join)
        # or as None (outer join, when its source has a value).
        for src, attr, dest, _is_dict, is_outer, is_fk in links:
            joined = objects[dest]
            if dest not in set_keys:
                if is_outer and src not in set_keys:
                    continue
                if not reachable.get(dest, _NOTHING) & set_keys:
                    if not is_outer:
                        continue
                    joined = None
            if is_fk and joined is None:
                objects[src].__rel__[attr] = None
            else:
                setattr(objects[src], attr, joined)
        for instance in instances:
            instance._dirty.clear()
        return instances[root]

    return process_row
