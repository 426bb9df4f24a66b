# -*- test-case-name: tests.test_records -*-
"""
L{record}: C{@dataclass(frozen=True, slots=True)} for less start-up work.

A frozen dataclass compiles six methods per class when its module is
imported (C{__init__}, C{__repr__}, C{__eq__}, C{__hash__},
C{__setattr__}, C{__delattr__}); a run's configuration, command line,
report and model values are a few dozen classes, so that is a visible
part of a no-op run. L{record} lets the dataclass compile only the three
that depend on the class (the constructor and the frozen guards) and gives
it shared equality, hash and C{repr} over its fields.

Invariants:
  - The class is a real dataclass (L{dataclasses.fields},
    L{dataclasses.replace}, L{dataclasses.asdict} and C{__match_args__}
    work as before); equality, hash and C{repr} are what the dataclass
    would have made: fields with C{compare=False} take no part in equality
    and hash, fields with C{repr=False} are not shown, a method the class
    defines itself is kept.
  - Imports nothing from msync (layer 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, TypeVar, cast, dataclass_transform

_C = TypeVar("_C", bound=type)


def _equality(names: tuple[str, ...]) -> tuple[Callable[..., object], Callable[..., int]]:
    """
    Equality and hash over the fields C{names}, in order.
    """

    # attrgetter of two or more names gives a tuple, of one the value.
    values: Callable[[object], object] = attrgetter(*names) if names else (lambda record: ())

    def eq(self: object, other: object) -> object:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return values(self) == values(other)

    def hash_(self: object) -> int:
        return hash(values(self))

    return eq, hash_


def _shown(names: tuple[str, ...]) -> Callable[[object], str]:
    """
    A C{repr} showing the fields C{names}: C{Class(name=value, ...)}.
    """

    def repr_(self: object) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    return repr_


@dataclass_transform(eq_default=True, frozen_default=True, field_specifiers=(field,))
def record(cls: _C) -> _C:
    """
    Make C{cls} what C{@dataclass(frozen=True, slots=True)} makes of it,
    compiling only its constructor and frozen guards.
    """
    own = cls.__dict__
    made: Any = dataclass(frozen=True, slots=True, eq=False, repr=False)(cls)
    every = fields(made)
    eq, hash_ = _equality(tuple(each.name for each in every if each.compare))
    eq.__qualname__ = f"{made.__qualname__}.__eq__"
    hash_.__qualname__ = f"{made.__qualname__}.__hash__"
    if "__eq__" not in own:
        made.__eq__ = eq
    # Absent, or None because the class defines __eq__: the dataclass's.
    if own.get("__hash__") is None:
        made.__hash__ = hash_
    if "__repr__" not in own:
        shown = _shown(tuple(each.name for each in every if each.repr))
        shown.__qualname__ = f"{made.__qualname__}.__repr__"
        made.__repr__ = shown
    return cast(_C, made)
