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
from msync.sync.statefile import SystemCalls
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
        if fd in self.journals and data != b"4\n":
            self.written += 1
            if self.written == self.line:
                raise OSError(5, "simulated crash")
        super().write(fd, data)


class CrashTests(SynchronousTestCase):
    """
    Interrupted syncs converge to the uninterrupted result.
    """

    def prepare(self, variant: Variant) -> Pair:
        pair = Pair.create(self.mktemp(), variant)
        populate(pair.far, FAR, big=["d", "g"])
        populate(pair.near, NEAR)
        pair.reopen()
        pair.write_state(BEFORE)
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
        for variant in VARIANTS:
            for label, pair_options in OPTIONS:
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
        for variant in VARIANTS:
            for label, pair_options in OPTIONS:
                expected, _, lines = self.reference(variant, pair_options)
                self.assertGreater(lines, 5)
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
