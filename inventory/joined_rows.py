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


def _accessor(model: type[pw.Model], name: str) -> object:
    """The class attribute `name` of the model, as stored (not through its __get__)."""
    for klass in model.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def fast_process_row(wrapper: pw.ModelCursorWrapper) -> Callable[[Row], pw.Model] | None:
    """A process_row for this initialized wrapper that builds what peewee's would; None where
    the wrapper holds something it does not handle (dicts, aliases of columns, properties)."""
    if type(wrapper) is not pw.ModelCursorWrapper:
        return None
    # What peewee's initialize() worked out (not in its stubs): the same for every cursor.
    mapped: Any = wrapper
    constructors = mapped._constructor_list
    if not all(is_model for _, _, is_model in constructors):
        return None
    keys = [key for key, _, _ in constructors]
    models: list[type[pw.Model]] = [constructor for _, constructor, _ in constructors]
    slot_of = {key: slot for slot, key in enumerate(keys)}
    columns: list[list[tuple[int, str, Any]]] = [[] for _ in keys]
    for index, key, column, converter in mapped._row_spec:
        slot = slot_of.get(key)
        if slot is None:
            return None
        field = models[slot]._meta.fields.get(column)
        accessor = _accessor(models[slot], column)
        if field is None or type(accessor) not in _PLAIN_ACCESSORS:
            return None
        columns[slot].append((index, column, converter))
    links = mapped.src_to_dest
    reachable = mapped._dest_reachable
    root = slot_of[wrapper.model]

    def process_row(row: Row) -> pw.Model:
        """The root model of one row, its joined models attached as peewee attaches them."""
        objects: dict[Any, Any] = {}
        instances: list[Any] = []
        set_keys = set()
        for key, model, spec in zip(keys, models, columns, strict=True):
            instance = model(__no_default__=True)
            data = instance.__data__
            for index, name, converter in spec:
                value = row[index]
                if value is not None:
                    set_keys.add(key)
                data[name] = converter(value) if converter is not None else value
            objects[key] = instance
            instances.append(instance)
        # The joins, as peewee's process_row links them (no dict sources here).
        for src, attr, dest, _is_dict, is_outer, is_fk in links:
            source: Any = objects.get(src)
            joined = objects.get(dest)
            if joined is None and dest not in objects:
                continue
            assign = False
            if dest not in set_keys and dest in reachable:
                assign = bool(reachable[dest] & set_keys)
            if dest not in set_keys and not assign:
                if not is_outer:
                    continue
                joined = None
            if src not in set_keys and dest not in set_keys and is_outer:
                continue
            if is_fk and joined is None:
                source.__rel__[attr] = None
            else:
                setattr(source, attr, joined)
        for instance in instances:
            instance._dirty.clear()
        return instances[root]

    return process_row
