"""
Tests for L{msync.records}: a L{record} behaves as the frozen, slotted
dataclass it replaces.
"""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError, asdict, dataclass, field, fields, replace

from twisted.trial.unittest import SynchronousTestCase

from msync.records import mutable_record, record


@record
class _Made:
    name: str
    size: int = 0
    secret: bytes = field(default=b"", repr=False)
    note: str = field(default="", compare=False)
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class _Dataclass:
    name: str
    size: int = 0
    secret: bytes = field(default=b"", repr=False)
    note: str = field(default="", compare=False)
    tags: tuple[str, ...] = field(default_factory=tuple)


@record
class _Checked:
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low above high")


@record
class _OwnRepr:
    value: str

    def __repr__(self) -> str:
        return "<hidden>"


class RecordTests(SynchronousTestCase):
    """
    L{record} against C{@dataclass(frozen=True, slots=True)}.
    """

    def test_repr(self) -> None:
        """
        The C{repr} is the dataclass's: C{repr=False} fields are left out.
        """
        made = _Made("a", 2, b"pw", "n", ("x",))
        reference = _Dataclass("a", 2, b"pw", "n", ("x",))
        self.assertEqual(repr(made), repr(reference).replace("_Dataclass", "_Made"))
        self.assertNotIn("pw", repr(made))
        self.assertEqual(repr(_OwnRepr("v")), "<hidden>")

    def test_equality_and_hash(self) -> None:
        """
        Equal on the compared fields only; other classes are not equal;
        the hash follows equality.
        """
        one = _Made("a", 1, note="first")
        self.assertEqual(one, _Made("a", 1, note="second"))
        self.assertEqual(hash(one), hash(_Made("a", 1, note="second")))
        self.assertNotEqual(one, _Made("a", 2))
        self.assertNotEqual(one, _Made("a", 1, secret=b"s"))
        self.assertNotEqual(one, _Dataclass("a", 1))
        self.assertEqual(len({one, _Made("a", 1), _Made("b")}), 2)
        self.assertEqual(_OwnRepr("v"), _OwnRepr("v"))
        self.assertNotEqual(_OwnRepr("v"), _OwnRepr("w"))
        self.assertEqual(len({_OwnRepr("v"), _OwnRepr("v"), _OwnRepr("w")}), 2)

    def test_dataclass_functions(self) -> None:
        """
        L{fields}, L{replace} and L{asdict} work; C{__match_args__} is set;
        the default factory runs per instance.
        """
        made = _Made("a", 1)
        self.assertEqual(
            [each.name for each in fields(made)], ["name", "size", "secret", "note", "tags"]
        )
        self.assertEqual(replace(made, size=5), _Made("a", 5))
        self.assertEqual(asdict(made)["name"], "a")
        self.assertEqual(_Made.__match_args__, ("name", "size", "secret", "note", "tags"))
        self.assertEqual(made.tags, ())

    def test_frozen_slotted_picklable(self) -> None:
        """
        Fields cannot be set or deleted, there is no C{__dict__}, and a
        record survives pickling.
        """
        made = _Made("a", 1)
        with self.assertRaises(FrozenInstanceError):
            made.size = 2  # type: ignore[misc]
        with self.assertRaises(FrozenInstanceError):
            del made.size
        self.assertFalse(hasattr(made, "__dict__"))
        self.assertEqual(pickle.loads(pickle.dumps(made)), made)

    def test_post_init(self) -> None:
        """
        C{__post_init__} runs after the fields are set, also for
        L{replace}.
        """
        self.assertEqual(_Checked(1, 2).high, 2)
        with self.assertRaises(ValueError):
            _Checked(3, 2)
        with self.assertRaises(ValueError):
            replace(_Checked(1, 2), low=5)

    def test_unsupported_fields(self) -> None:
        """
        A field the record cannot make (C{init=False}) is refused at once.
        """
        with self.assertRaises(TypeError):

            @record
            class _Bad:
                value: int = field(default=0, init=False)

    def test_init_compiled_on_first_use(self) -> None:
        """
        A record's C{__init__} is compiled at its first instantiation and
        replaces the stand-in on the class; wrong arguments are refused
        before and after.
        """

        @record
        class _Late:
            first: int
            second: str = "x"

        stand_in = _Late.__init__
        with self.assertRaises(TypeError):
            _Late()  # type: ignore[call-arg]
        self.assertIsNot(_Late.__init__, stand_in)
        self.assertEqual(_Late.__init__.__qualname__, stand_in.__qualname__)
        self.assertEqual(_Late(1), _Late(1, "x"))
        self.assertEqual(_Late(first=2, second="y").second, "y")
        with self.assertRaises(TypeError):
            _Late(1, "x", 3)  # type: ignore[call-arg]

    def test_shape_shared(self) -> None:
        """
        Records with as many fields (and factories at the same places)
        share one compiled body; each takes its own field names as
        keywords, its own defaults and factories, and sets its own fields.
        """

        @record
        class _One:
            left: int
            right: str = "r"

        @record
        class _Two:
            top: str
            bottom: int = 7

        one, two = _One(right="x", left=1), _Two("t")
        self.assertEqual((one.left, one.right, two.top, two.bottom), (1, "x", "t", 7))
        self.assertEqual(_One.__init__.__code__.co_code, _Two.__init__.__code__.co_code)
        self.assertEqual(_One.__init__.__code__.co_varnames, ("self", "left", "right"))
        with self.assertRaisesRegex(TypeError, "multiple values for argument .top."):
            _Two("t", top="u")  # type: ignore[misc]
        with self.assertRaisesRegex(TypeError, "'top'"):
            _Two()  # type: ignore[call-arg]
        fresh = _Made("n")
        self.assertIsNot(fresh.tags, None)
        self.assertEqual(_Made("n", tags=("a",)).tags, ("a",))

    def test_default_order(self) -> None:
        """
        A field without default after one with a default is refused, as a
        dataclass refuses it.
        """
        with self.assertRaises(TypeError):

            @record
            class _Bad:
                first: int = 0
                second: int  # type: ignore[misc]


@mutable_record
class _Mutable:
    name: str
    items: list[str] = field(default_factory=list)
    count: int = 0


@dataclass(slots=True)
class _MutableDataclass:
    name: str
    items: list[str] = field(default_factory=list)
    count: int = 0


class MutableRecordTests(SynchronousTestCase):
    """
    L{mutable_record} against C{@dataclass(slots=True)}.
    """

    def test_like_dataclass(self) -> None:
        """
        Same C{repr}, equality on the fields, unhashable, fields settable,
        a fresh factory value per instance, slotted, picklable, and the
        dataclass functions work.
        """
        made, reference = _Mutable("a"), _MutableDataclass("a")
        self.assertEqual(repr(made), repr(reference).replace("_MutableDataclass", "_Mutable"))
        self.assertEqual(made, _Mutable("a", [], 0))
        self.assertNotEqual(made, _Mutable("a", count=1))
        self.assertIsNone(_Mutable.__hash__)
        made.count = 3
        made.items.append("x")
        self.assertEqual((made.count, _Mutable("b").items), (3, []))
        self.assertFalse(hasattr(made, "__dict__"))
        with self.assertRaises(AttributeError):
            made.other = 1  # type: ignore[attr-defined]
        self.assertEqual(pickle.loads(pickle.dumps(made)), made)
        self.assertEqual(replace(made, name="c").name, "c")
        self.assertEqual([each.name for each in fields(made)], ["name", "items", "count"])

    def test_described_at_first_look(self) -> None:
        """
        A record's fields are described (by the dataclass machinery) at
        the first look, whichever function looks first, and then kept.
        """
        from dataclasses import is_dataclass

        @record
        class _Fresh:
            first: int
            second: list[int] = field(default_factory=list, compare=False)

        described = _Fresh.__dict__["__dataclass_fields__"]
        self.assertTrue(is_dataclass(_Fresh(1)))
        self.assertIsNot(_Fresh.__dict__["__dataclass_fields__"], described)
        self.assertEqual(replace(_Fresh(1, [2]), first=3), _Fresh(3, [2]))
        second = fields(_Fresh)[1]
        self.assertEqual((second.name, second.compare), ("second", False))
        self.assertIs(second.default_factory, list)
        self.assertTrue(_Fresh.__dataclass_params__.frozen)  # type: ignore[attr-defined]
        self.assertFalse(_Mutable.__dataclass_params__.frozen)  # type: ignore[attr-defined]
