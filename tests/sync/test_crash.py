# -*- test-case-name: tests.sync.test_crash -*-
"""
Crash tests for L{msync.sync.engine}: a sync with copies both ways, flag
changes, deletions, trash and expunges is interrupted at every single store
operation (before and after its effect) and at every journal line; a rerun
on reopened stores must end exactly where an uninterrupted run ends: no
message lost, none duplicated, the same flags and the same state.

"Where an uninterrupted run ends" is the fixpoint of uninterrupted runs:
mbsync itself needs a second run to settle one case (a new message copied
to the other side and then expunged on its own side is orphaned only when
the next run finds it gone), and an interrupted run followed by a rerun
has made that second pass already. So the reference is synced twice, and
an interrupted run is followed by a rerun (which must not duplicate
anything) and one more sync.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import StateError, StoreError, StoreUnavailable
from msync.model import LineEnding, Side
from msync.stores.memorystore import FailurePoint, MemoryStore
from msync.sync.options import PairOptions
from msync.sync.statelock import SystemCalls
from tests.sync.scenarios import (
    BOX,
    Pair,
    Variant,
    contents,
    normalize,
    options,
    populate,
    state,
)

FAR = [(1, "S", "a"), (2, "", "b"), (4, "F", "d"), (5, "T", "e"), (6, "", "g")]
NEAR = [(1, "", "a"), (2, "T", "b"), (3, "S", "c"), (4, "", "f"), (5, "R", "h")]
BEFORE = state(3, 3, "1 1", "2 2", "3 3")

OPTIONS = [
    ("expunge both", options(expunge="both")),
    ("trash and remote trash", options(expunge="both", far_trash="Trash", near_trash="Trash")),
    (
        "remote trash, placeholders",
        options(expunge="far", near_trash="Trash", near_trash_remote_new=True, near_max_size=1024),
    ),
    ("no expunge", options()),
]

VARIANTS = [
    Variant(),
    Variant(LineEnding.LF, LineEnding.LF, far_uidplus=False, near_uidplus=False),
]


@dataclass(frozen=True)
class Outcome:
    """
    Everything a sync leaves behind, in comparable form.
    """

    far: list[tuple[int, str, bytes]]
    near: list[tuple[int, str, bytes]]
    far_trash: list[tuple[str, bytes]]
    near_trash: list[tuple[str, bytes]]
    state: str | None


def _box(store: MemoryStore) -> list[tuple[int, str, bytes]]:
    return [
        (message.uid, message.flags.letters(), normalize(message.data))
        for message in store.messages(BOX)
    ]


def _trash(store: MemoryStore) -> list[tuple[str, bytes]]:
    # TrashRemoteNew copies are untracked, as in mbsync: a crash between the
    # append and its "T" journal line makes the rerun append it again. So
    # Trash boxes are compared as sets (a duplicate there loses nothing).
    if "Trash" not in store.boxes():
        return []
    trashed = store.messages("Trash")
    return sorted({(message.flags.letters(), normalize(message.data)) for message in trashed})


def outcome(pair: Pair) -> Outcome:
    """
    What C{pair} holds now.
    """
    return Outcome(
        _box(pair.far), _box(pair.near), _trash(pair.far), _trash(pair.near), pair.read_state()
    )


class _JournalAbort(SystemCalls):
    """
    System calls that fail writing the Nth journal line, as if the process
    died right before it.
    """

    def __init__(self, line: int) -> None:
        self.line = line
        self.written = 0
        self.journals: set[int] = set()

    def open(self, path: str, flags: int, mode: int = 0o666) -> int:
        fd = super().open(path, flags, mode)
        if path.endswith(".journal"):
            self.journals.add(fd)
        return fd

    def close(self, fd: int) -> None:
        self.journals.discard(fd)
        super().close(fd)

    def write(self, fd: int, data: bytes) -> None:
        if fd in self.journals and data not in (b"4\n", b"5\n"):
            self.written += 1
            if self.written == self.line:
                raise OSError(5, "simulated crash")
        super().write(fd, data)


class CrashTests(SynchronousTestCase):
    """
    Interrupted syncs converge to the uninterrupted result.
    """

    far = FAR
    near = NEAR
    before = BEFORE
    big = ["d", "g"]
    option_sets = OPTIONS
    variants = VARIANTS

    def prepare(self, variant: Variant) -> Pair:
        pair = Pair.create(self.mktemp(), variant)
        populate(pair.far, self.far, big=self.big)
        populate(pair.near, self.near)
        pair.reopen()
        pair.write_state(self.before)
        return pair

    def reference(
        self, variant: Variant, pair_options: PairOptions
    ) -> tuple[Outcome, dict[Side, int], int]:
        """
        The uninterrupted run: its outcome, operation counts and journal lines.
        """
        pair = self.prepare(variant)
        system = _JournalAbort(0)
        self.successResultOf(pair.start(pair_options, system=system))
        counts = {Side.FAR: len(pair.far.operations), Side.NEAR: len(pair.near.operations)}
        pair.reopen()
        pair.sync(self, pair_options)
        result = outcome(pair)
        # The fixpoint: a third sync changes nothing.
        pair.reopen()
        pair.sync(self, pair_options)
        self.assertEqual(outcome(pair), result)
        return result, counts, system.written

    def converge(
        self, pair: Pair, pair_options: PairOptions, expected: Outcome, where: str
    ) -> None:
        """
        Rerun on reopened stores until a run succeeds; it must end at
        C{expected}.
        """
        pair.reopen()
        pair.sync(self, pair_options)
        for store in (pair.far, pair.near):
            bodies = [normalize(message.data) for message in store.messages(BOX)]
            self.assertEqual(len(bodies), len(set(bodies)), f"{where}: duplicates")
        pair.reopen()
        pair.sync(self, pair_options)
        self.assertEqual(outcome(pair), expected, where)

    def test_store_failures(self) -> None:
        """
        Failing any store operation, before or after its effect, and
        rerunning gives the uninterrupted result.
        """
        for variant in self.variants:
            for label, pair_options in self.option_sets:
                expected, counts, _ = self.reference(variant, pair_options)
                for side in Side:
                    for point in FailurePoint:
                        for number in range(1, counts[side] + 1):
                            pair = self.prepare(variant)
                            store = pair.far if side is Side.FAR else pair.near
                            store.fail_operation(number, StoreUnavailable, point)
                            where = f"{label}, {variant}: {side.label} op {number} {point.value}"
                            self.failureResultOf(pair.start(pair_options), StoreError)
                            self.converge(pair, pair_options, expected, where)

    def test_journal_aborts(self) -> None:
        """
        Aborting before any journal line and rerunning gives the
        uninterrupted result.
        """
        for variant in self.variants:
            for label, pair_options in self.option_sets:
                expected, _, lines = self.reference(variant, pair_options)
                # Several steps to abort at (isync 1.5 journals no max
                # UIDs and no purge at the end: fewer lines than 1.4).
                self.assertGreater(lines, 4)
                for line in range(1, lines + 1):
                    pair = self.prepare(variant)
                    where = f"{label}, {variant}: journal line {line}"
                    self.failureResultOf(
                        pair.start(pair_options, system=_JournalAbort(line)), StateError
                    )
                    self.assertTrue(os.path.exists(pair.paths.new) or line == 1, where)
                    self.converge(pair, pair_options, expected, where)

    def test_reference_outcome(self) -> None:
        """
        The crash scenario itself does what mbsync does: copies both ways,
        flags and deletions propagated, deleted messages expunged.
        """
        pair = self.prepare(Variant())
        pair.sync(self, options(expunge="both"))
        self.assertEqual(
            contents(pair.far),
            [(1, "S", "a"), (4, "F", "d"), (6, "", "g"), (7, "", "f"), (8, "R", "h")],
        )
        self.assertEqual(
            contents(pair.near),
            [(1, "S", "a"), (4, "", "f"), (5, "R", "h"), (6, "F", "d"), (7, "", "g")],
        )


# isync 1.5: unpaired old messages both ways (far 3-5, near 4 and 6), a
# new one (far 7), deleted ones paired, unpaired and solo (far 6, its
# near copy expunged before); the big far d becomes a
# placeholder where MaxSize says so.
FAR15 = [
    (1, "S", "a"),
    (2, "T", "b"),
    (3, "", "c"),
    (4, "F", "d"),
    (5, "S", "e"),
    (6, "T", "g"),
    (7, "S", "i"),
]
NEAR15 = [(1, "S", "a"), (2, "", "b"), (4, "S", "f"), (6, "T", "h")]
OLD_BOTH = "pull pull-old push push-old"

OPTIONS15 = [
    (
        "1.5 Sync Old, ExpungeSolo both",
        options(OLD_BOTH, far_expunge_solo=True, near_expunge_solo=True, isync15=True),
    ),
    (
        "1.5 ExpireSide Far, MaxMessages 3",
        options(OLD_BOTH, expunge="far", max_messages=3, expire_side=Side.FAR, isync15=True),
    ),
    (
        "1.5 placeholders, Sync Old",
        options(OLD_BOTH, expunge="near", near_max_size=1024, isync15=True),
    ),
]


class Crash15Tests(CrashTests):
    """
    The same for isync 1.5's sync semantics (C{ExpungeSolo} needs UIDPLUS).
    """

    far = FAR15
    near = NEAR15
    before = state(6, 6, "1 1 S", "2 2", "6 0 T")
    big = ["d"]
    option_sets = OPTIONS15
    variants = [Variant()]

    def test_reference_outcome(self) -> None:
        """
        The old messages are copied both ways, the deleted near 6 too (as
        1.5 does: only C{Expunge} dooms them); the paired deleted far 2
        (its near partner not deleted) is kept, and so is near 6, paired now;
        the solo far 6 is expunged.
        """
        pair = self.prepare(Variant())
        pair.sync(self, OPTIONS15[0][1])
        self.assertEqual(
            contents(pair.far),
            [
                (1, "S", "a"),
                (2, "T", "b"),
                (3, "", "c"),
                (4, "F", "d"),
                (5, "S", "e"),
                (7, "S", "i"),
                (8, "S", "f"),
                (9, "T", "h"),
            ],
        )
        self.assertEqual(
            contents(pair.near),
            [
                (1, "S", "a"),
                (2, "T", "b"),
                (4, "S", "f"),
                (6, "T", "h"),
                (7, "", "c"),
                (8, "F", "d"),
                (9, "S", "e"),
                (10, "S", "i"),
            ],
        )
