# -*- test-case-name: tests.test_records -*-
"""
L{record}: C{@dataclass(frozen=True, slots=True)} for less start-up work;
L{mutable_record}: C{@dataclass(slots=True)}.

A frozen dataclass compiles six methods per class when its module is
imported (C{__init__}, C{__repr__}, C{__eq__}, C{__hash__},
C{__setattr__}, C{__delattr__}), a mutable one three, each from source
text (parsed and compiled: about 0.15 ms each); a run's configuration,
command line, report and model values are a few dozen classes, so that
was a visible part of a no-op run. L{record} reads the fields from the
class's annotations itself, makes the constructor at the class's first
instantiation from code shared by every class with as many fields
(compiled once per shape, its parameters renamed per class), shares
equality, hash, C{repr}, the frozen guards and pickling between classes,
and has the dataclass machinery describe the fields (for
L{dataclasses.fields} and L{dataclasses.replace}) only when something
first looks (a few classes per run). (L{msync.imap.values._value} is no
dataclass at all.)

Invariants:
  - The class is a real dataclass (L{dataclasses.fields},
    L{dataclasses.replace}, L{dataclasses.asdict} and C{__match_args__}
    work as before); equality, hash and C{repr} are what the dataclass
    would have made: fields with C{compare=False} take no part in equality
    and hash, fields with C{repr=False} are not shown, a method the class
    defines itself is kept; C{__post_init__} runs after the fields are set.
  - Fields with C{init=False} or C{kw_only} are refused (C{TypeError}).
  - Imports nothing from msync (layer 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, field
from operator import attrgetter
from types import CellType, CodeType, FunctionType, MemberDescriptorType
from typing import Any, NoReturn, TypeVar, dataclass_transform

_C = TypeVar("_C", bound=type)


def equality(names: tuple[str, ...]) -> tuple[Callable[..., object], Callable[..., int]]:
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


def shown_repr(names: tuple[str, ...]) -> Callable[[object], str]:
    """
    A C{repr} showing the fields C{names}: C{Class(name=value, ...)}.
    """

    def repr_(self: object) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    return repr_


def frozen_guard(self: object, name: str, value: object = None) -> NoReturn:
    """
    C{__setattr__} and C{__delattr__} of a frozen record.
    """
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def getstate(self: object) -> tuple[object, ...]:
    """
    C{__getstate__} of a slotted record: its fields' values, in order.
    """
    return tuple(getattr(self, name) for name in self.__match_args__)  # type: ignore[attr-defined]


def setstate(self: object, state: tuple[object, ...]) -> None:
    """
    C{__setstate__} of a slotted record (L{getstate}'s inverse).
    """
    for name, value in zip(self.__match_args__, state, strict=True):  # type: ignore[attr-defined]
        object.__setattr__(self, name, value)


def _template(count: int, post_init: bool) -> CodeType:
    """
    The code of an C{__init__} taking C{count} arguments after C{self}
    (named C{_0}, C{_1}, ...), setting each field through its free variable
    C{__s<i>} and calling C{__post_init__} if C{post_init}. Compiled once
    per shape: classes of one shape share it (L{install_init} renames its
    parameters).
    """
    key = (count, post_init)
    code = _TEMPLATES.get(key)
    if code is not None:
        return code
    body = [f"  __s{index}(self, _{index})" for index in range(count)]
    if post_init:
        body.append("  self.__post_init__()")
    source = (
        f"def __make__({', '.join(f'__s{index}' for index in range(count))}):\n"
        f" def __init__(self{''.join(f', _{index}' for index in range(count))}):\n"
        + "\n".join(" " + line for line in body or ["  pass"])
        + "\n return __init__\n"
    )
    scope: dict[str, Any] = {}
    exec(source, {}, scope)  # noqa: S102 (a dataclass's own way to make __init__)
    code = next(each for each in scope["__make__"].__code__.co_consts if isinstance(each, CodeType))
    _TEMPLATES[key] = code
    return code


_TEMPLATES: dict[tuple[int, bool], CodeType] = {}

Setter = Callable[[object, object], None]


def _setter(cls: type, name: str) -> Setter:
    """
    What sets field C{name} of a C{cls} instance, past a frozen guard: its
    slot's descriptor (C{object.__setattr__} with the name otherwise).
    """
    for klass in cls.__mro__:
        found = klass.__dict__.get(name)
        if found is not None:
            if isinstance(found, MemberDescriptorType):
                return found.__set__
            break

    def set_field(instance: object, value: object) -> None:
        object.__setattr__(instance, name, value)

    return set_field


def _factory_setter(setter: Setter, factory: Callable[[], object]) -> Setter:
    """
    What sets a field with a default factory: the factory's value when
    the argument is absent (the default is L{dataclasses.MISSING}).
    """

    def set_made(instance: object, value: object) -> None:
        setter(instance, factory() if value is MISSING else value)

    return set_made


def install_init(cls: type, every: Sequence[tuple[str, Any, Any]], post_init: bool = False) -> None:
    """
    Give C{cls} the C{__init__} of a dataclass with the fields C{every}
    (name, default, default factory; L{dataclasses.MISSING} for none), in
    order, calling C{__post_init__} last if C{post_init}. It is made at the
    class's first instantiation (a class a run never instantiates costs
    nothing) from the code shared by every class with as many fields:
    nothing is compiled for a shape seen before. Its parameters are the
    field names, its defaults the fields' defaults (L{dataclasses.MISSING}
    for a factory's), and it sets each field through the slot's descriptor
    (past a frozen class's guard), a factory's field through a function
    that calls the factory when the argument is absent.

    @raise TypeError: a field without default follows one with a default.
    """
    names = tuple(name for name, _, _ in every)
    defaults: list[Any] = []
    for name, default, factory in every:
        if factory is not MISSING:
            defaults.append(MISSING)
        elif default is not MISSING:
            defaults.append(default)
        elif defaults:
            raise TypeError(f"{cls.__qualname__}: non-default argument {name!r} follows default")
    qualname = f"{cls.__qualname__}.__init__"

    def first_init(self: object, *args: object, **kwargs: object) -> None:
        template = _template(len(names), post_init)
        code = template.replace(co_varnames=("self", *names), co_qualname=qualname)
        setters: dict[str, Setter] = {}
        for index, (name, _, factory) in enumerate(every):
            setter = _setter(cls, name)
            if factory is not MISSING:
                setter = _factory_setter(setter, factory)
            setters[f"__s{index}"] = setter
        closure = tuple(CellType(setters[name]) for name in code.co_freevars)
        init = FunctionType(code, _INIT_GLOBALS, "__init__", tuple(defaults) or None, closure)
        init.__qualname__ = qualname
        type.__setattr__(cls, "__init__", init)
        init(self, *args, **kwargs)

    first_init.__qualname__ = qualname
    type.__setattr__(cls, "__init__", first_init)


_INIT_GLOBALS: dict[str, Any] = {"__builtins__": __builtins__}


@dataclass_transform(eq_default=True, frozen_default=True, field_specifiers=(field,))
def record(cls: _C) -> _C:
    """
    Make C{cls} what C{@dataclass(frozen=True, slots=True)} makes of it:
    the dataclass machinery only describes the fields (no method compiled),
    then one C{__init__} is made (the code a frozen dataclass's is,
    calling C{__post_init__} if the class has one) and the rest is shared.

    @raise TypeError: a field is made with C{field(init=False)} or
        C{kw_only}, which a record does not support.
    """
    return _made(cls, frozen=True)


@dataclass_transform(eq_default=True, field_specifiers=(field,))
def mutable_record(cls: _C) -> _C:
    """
    Make C{cls} what C{@dataclass(slots=True)} makes of it, as L{record}
    does for a frozen one: fields may be set, and instances are not
    hashable (unless the class defines C{__hash__}).

    @raise TypeError: as L{record}.
    """
    return _made(cls, frozen=False)


def _made(cls: _C, frozen: bool) -> _C:
    """
    L{record} (C{frozen}) or L{mutable_record}.
    """
    own = cls.__dict__
    namespace = dict(own)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    annotations = own.get("__annotations__", {})
    every, shown, compared, originals = take_fields(cls.__qualname__, annotations, namespace)
    names = tuple(name for name, _, _ in every)
    eq, hash_ = equality(tuple(compared))
    eq.__qualname__ = f"{cls.__qualname__}.__eq__"
    hash_.__qualname__ = f"{cls.__qualname__}.__hash__"
    if "__eq__" not in own:
        namespace["__eq__"] = eq
    if not frozen:
        # A mutable dataclass with equality is unhashable.
        if "__hash__" not in own or ("__eq__" in own and own["__hash__"] is None):
            namespace["__hash__"] = None
    elif own.get("__hash__") is None:
        # Absent, or None because the class defines __eq__: the dataclass's.
        namespace["__hash__"] = hash_
    if "__repr__" not in own:
        shown_fields = shown_repr(tuple(shown))
        shown_fields.__qualname__ = f"{cls.__qualname__}.__repr__"
        namespace["__repr__"] = shown_fields
    namespace.update(
        __slots__=names,
        __match_args__=names,
        __getstate__=getstate,
        __setstate__=setstate,
        __dataclass_fields__=_Described(annotations, originals, frozen),
        __dataclass_params__=_Described(annotations, originals, frozen),
    )
    if frozen:
        namespace.update(__setattr__=frozen_guard, __delattr__=frozen_guard)
    made = type(cls)(cls.__name__, cls.__bases__, namespace)
    made.__qualname__ = cls.__qualname__
    install_init(made, every, post_init=hasattr(cls, "__post_init__"))
    return made


def take_fields(
    qualname: str, annotations: dict[str, Any], namespace: dict[str, Any]
) -> tuple[list[tuple[str, Any, Any]], list[str], list[str], dict[str, Any]]:
    """
    The fields a class body declares, as a dataclass reads them: every
    annotation but a C{ClassVar}, its default (a plain value or a
    L{field}) taken out of C{namespace}, where slots will take its place.

    @param qualname: the class's name, for the error.
    @return: C{(name, default, factory)} per field in order (L{MISSING}
        where there is none: the form L{install_init} takes), the names
        C{repr} shows, the names equality compares, and each field's
        default as written.
    @raise TypeError: for a C{field(init=False)} or C{kw_only} field.
    """
    every: list[tuple[str, Any, Any]] = []
    shown: list[str] = []
    compared: list[str] = []
    originals: dict[str, Any] = {}
    for name, kind in annotations.items():
        if str(kind).startswith(("ClassVar", "typing.ClassVar")):
            continue
        default: Any = namespace.pop(name, MISSING)
        originals[name] = default
        factory: Any = MISSING
        if isinstance(default, Field):
            if not default.init or default.kw_only is True:
                raise TypeError(f"{qualname}.{name}: init=False or kw_only in a record")
            if default.repr:
                shown.append(name)
            if default.compare:
                compared.append(name)
            default, factory = default.default, default.default_factory
        else:
            shown.append(name)
            compared.append(name)
        every.append((name, default, factory))
    return every, shown, compared, originals


class _Described:
    """
    A record's C{__dataclass_fields__} and C{__dataclass_params__} (what
    L{dataclasses.fields}, L{dataclasses.replace} and
    L{dataclasses.is_dataclass} read), made by the dataclass machinery at
    the first look, on a stand-in class with the record's annotations and
    defaults, and then kept on the record's class: describing the fields
    is most of a dataclass's cost, and few records are ever looked at so.
    """

    def __init__(self, annotations: dict[str, Any], defaults: dict[str, Any], frozen: bool):
        self._annotations = annotations
        self._defaults = {name: value for name, value in defaults.items() if value is not MISSING}
        self._frozen = frozen
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, instance: object, owner: type) -> object:
        namespace = dict(self._defaults)
        # A __doc__, or the dataclass would make one (with inspect.signature).
        namespace.update(
            __annotations__=self._annotations, __module__=owner.__module__, __doc__="stand-in"
        )
        stand_in = type(owner.__name__, (), namespace)
        # Not frozen=True: that would compile the stand-in's guards.
        dataclass(init=False, repr=False, eq=False, match_args=False)(stand_in)
        stand_in.__dataclass_params__.frozen = self._frozen  # type: ignore[attr-defined]
        for name in ("__dataclass_fields__", "__dataclass_params__"):
            type.__setattr__(owner, name, getattr(stand_in, name))
        return getattr(owner, self._name)
