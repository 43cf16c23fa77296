"""Frozen records made and copied without their dataclass `__init__`, where a run makes them
by the tens of thousands (the journal's invoices, and their copies with what allocation and
the ledger add).

A frozen dataclass's `__init__` sets each field through `object.__setattr__`; for a record
that is only its fields (no `__post_init__`, no slots, every field an `__init__` argument),
filling its `__dict__` at once gives the same object (equal, same hash, same pickle, fields
in the same order) two to four times faster. A class that is not such a record gets its
ordinary constructor.

The price is memory: a record made so holds its `__dict__` as an object of its own (64 bytes
more), which a record made by `__init__` only gets once something reads its `__dict__` (a
copy does). So these are for records that are copied anyway: at 20,000 clients a run makes
~80,000 invoices three times over (read, allocated, shown).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import itemgetter
from typing import Any, TypeVar

T = TypeVar("T")


def plain_record(cls: type) -> bool:
    """Is an instance of `cls` exactly its `__dict__` of `__init__` arguments?"""
    return (dataclasses.is_dataclass(cls) and "__slots__" not in cls.__dict__
            and not hasattr(cls, "__post_init__")
            and all(f.init for f in dataclasses.fields(cls)))


def maker(cls: type[T], *taken: str) -> Callable[..., T]:
    """A function of the values of the fields `taken` (every field, in order, if none are
    named) that makes `cls` with the other fields their defaults; a wrong count raises."""
    fields = dataclasses.fields(cls)
    names = tuple(f.name for f in fields)
    taken = taken or names
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    if len(set(taken)) != len(taken) or not set(taken) <= set(names):
        raise TypeError(f"{cls.__name__} has not the fields {taken}")
    required = {f.name for f in fields if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}
    if not required <= set(taken):
        raise TypeError(f"{cls.__name__} needs {sorted(required - set(taken))}")
    if not plain_record(cls) or any(f.default_factory is not dataclasses.MISSING
                                    for f in fields):
        def construct(*values: Any) -> T:
            return cls(**dict(zip(taken, values, strict=True)))
        return construct
    new = object.__new__
    if taken == names:
        def make_all(*values: Any) -> T:
            record = new(cls)
            record.__dict__.update(zip(names, values, strict=True))
            return record
        return make_all
    # every field in field order, the record's `__dict__` as __init__ makes it (which keeps it
    # sharing its keys with the class's other records: a dict in another order is twice as big)
    rest = tuple(defaults[name] for name in names if name not in taken)
    pick = itemgetter(*(taken.index(name) if name in taken
                        else len(taken) + [n for n in names if n not in taken].index(name)
                        for name in names))

    def make(*values: Any) -> T:
        if len(values) != len(taken):
            raise ValueError(f"{cls.__name__}: {len(values)} values for {len(taken)} fields")
        record = new(cls)
        record.__dict__.update(zip(names, pick(values + rest), strict=True))
        return record

    return make


def copier(cls: type[T]) -> Callable[..., T]:
    """`dataclasses.replace(record, **changes)` for records of `cls` (an unknown field raises)."""
    if not plain_record(cls):
        return dataclasses.replace
    names = frozenset(f.name for f in dataclasses.fields(cls))
    new = object.__new__

    def copy(record: T, /, **changes: Any) -> T:
        if not changes.keys() <= names:
            raise TypeError(f"{cls.__name__} has no field {sorted(changes.keys() - names)}")
        result = new(cls)
        fields = result.__dict__
        fields.update(record.__dict__)
        fields.update(changes)
        return result

    return copy
