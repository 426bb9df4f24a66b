# -*- test-case-name: tests.sync.test_copyrun -*-
"""
Tests for L{msync.sync.copyrun}: the order of stores and journal lines when
the target answers late, out of order and in batches, and what a failing
copy does to the others.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import MessageError, StoreUnavailable
from msync.model import Flags
from msync.stores.interface import IMessageSource
from msync.stores.memorystore import MemoryMailbox
from msync.sync.statelock import SystemCalls
from tests.sync.scenarios import Pair, contents, options, populate


class _Journal(SystemCalls):
    """
    System calls that keep every write to the journal, with how many
    stores had answered when it was made.
    """

    def __init__(self, answered: list[int]) -> None:
        self.answered = answered
        self.journal_fds: set[int] = set()
        self.writes: list[tuple[int, bytes]] = []

    def open(self, path: str, flags: int, mode: int = 0o666) -> int:
        fd = super().open(path, flags, mode)
        if path.endswith(".journal"):
            self.journal_fds.add(fd)
        return fd

    def write(self, fd: int, data: bytes) -> None:
        if fd in self.journal_fds:
            self.writes.append((len(self.answered), data))
        super().write(fd, data)


class _HeldStores:
    """
    The near box's stores made at once but answered only when the test
    says, as a batch writer answers a batch (last to first).
    """

    def __init__(self, case: SynchronousTestCase) -> None:
        self.called: list[bytes] = []
        self.held: list[tuple[Deferred[int | None], Deferred[int | None]]] = []
        self.answered: list[int] = []
        real = MemoryMailbox.store

        def store(
            box: MemoryMailbox, message: IMessageSource, flags: Flags, date: Any = None
        ) -> Deferred[int | None]:
            if box._store.name != "near":
                return real(box, message, flags, date)
            made = real(box, message, flags, date)
            self.called.append(b"".join(message.held()))  # type: ignore[attr-defined]
            answer: Deferred[int | None] = Deferred()
            self.held.append((made, answer))
            return answer

        case.patch(MemoryMailbox, "store", store)

    def answer(self, count: int, error: Exception | None = None, at: int = -1) -> None:
        """
        Answer the first C{count} stores held, last to first (the one at
        C{at} with C{error}).
        """
        batch, self.held = self.held[:count], self.held[count:]
        for index in reversed(range(len(batch))):
            made, answer = batch[index]
            uid = cast("int | None", made.result) if error is None or index != at else None
            self.answered.append(index)
            if error is not None and index == at:
                answer.errback(Failure(error))
            else:
                answer.callback(uid)


def _far(count: int) -> list[tuple[int, str, str]]:
    return [(uid, "", f"m{uid}") for uid in range(1, count + 1)]


class CopyOrderTests(SynchronousTestCase):
    """
    Stores are called in source order; a copy's journal line is written
    only after its store answered, in source order, and the lines of
    copies answered together go out in one write.
    """

    def prepared(self, count: int) -> tuple[Pair, _HeldStores, _Journal]:
        pair = Pair.create(self.mktemp())
        populate(pair.far, _far(count))
        populate(pair.near, [])
        pair.reopen()
        stores = _HeldStores(self)
        return pair, stores, _Journal(stores.answered)

    def test_lines_after_answers(self) -> None:
        """
        With 40 copies answered in batches of 16, last to first: the
        stores are called in UID order, no C{>} line is written before its
        store answered, the C{>} lines come in UID order, each batch's in
        one write, and the result is the same as answered at once.
        """
        pair, stores, journal = self.prepared(40)
        syncing = pair.start(options(), system=journal)
        self.assertNoResult(syncing)
        answered = 0
        while stores.held:
            self.assertNoResult(syncing)
            before = len(journal.writes)
            count = min(16, len(stores.held))
            stores.answer(count)
            answered += count
            copies = [data for _, data in journal.writes[before:] if data.startswith(b">")]
            # Each batch's lines in one write, only the batch's.
            self.assertLessEqual(len(copies), 1)
            if copies:
                self.assertEqual(copies[0].count(b"\n"), count)
        self.successResultOf(syncing)
        self.assertEqual(len(stores.called), 40)
        self.assertEqual(
            [data.split(b"\n")[-2] for data in stores.called],
            [f"body of m{uid}".encode() for uid in range(1, 41)],
        )
        lines = [
            line
            for _, data in journal.writes
            for line in data.split(b"\n")
            if line.startswith(b">")
        ]
        self.assertEqual(
            [int(line.split()[1]) for line in lines],
            list(range(1, 41)),
        )
        for done, data in journal.writes:
            for line in data.split(b"\n"):
                if line.startswith(b">"):
                    # The copy of far UID n is the nth store: it and every
                    # one before it had answered.
                    self.assertGreaterEqual(done, int(line.split()[1]))
        self.assertEqual(contents(pair.near), [(uid, "", f"m{uid}") for uid in range(1, 41)])

    def test_no_line_before_its_answer(self) -> None:
        """
        While the first store of a batch has not answered, none of the
        batch's copies is journaled (a later one answered first waits for
        it: lines go in source order).
        """
        pair, stores, journal = self.prepared(3)
        syncing = pair.start(options(), system=journal)
        self.assertEqual(len(stores.held), 3)
        # Answer the second and third only.
        first = stores.held.pop(0)
        stores.answer(2)
        self.assertFalse(any(data.startswith(b">") for _, data in journal.writes))
        stores.held.insert(0, first)
        stores.answer(1)
        self.successResultOf(syncing)
        copies = [data for _, data in journal.writes if data.startswith(b">")]
        self.assertEqual(copies, [b"> 1 0 1\n> 2 0 2\n> 3 0 3\n"])

    def test_refused_copy_alone(self) -> None:
        """
        A store failing with L{MessageError} gives up that copy only (its
        record is killed, with mbsync's warning); the others of its batch
        are journaled.
        """
        pair, stores, journal = self.prepared(4)
        syncing = pair.start(options(), system=journal)
        stores.answer(4, MessageError("no room"), at=1)
        self.successResultOf(syncing)
        self.assertIn(
            "Warning: near side refuses to store message 2 from far side.",
            [text for _, text in pair.notices],
        )
        lines = b"".join(data for _, data in journal.writes)
        self.assertIn(b"> 1 0 1\n- 2 0\n> 3 0 3\n> 4 0 4\n", lines)

    def test_other_error_stops_after_earlier(self) -> None:
        """
        Any other error fails the pair, after the copies before it were
        journaled; the copies after it are not.
        """
        pair, stores, journal = self.prepared(4)
        syncing = pair.start(options(), system=journal)
        stores.answer(4, StoreUnavailable("gone"), at=2)
        self.failureResultOf(syncing, StoreUnavailable)
        lines = b"".join(data for _, data in journal.writes)
        self.assertIn(b"> 1 0 1\n> 2 0 2\n", lines)
        self.assertNotIn(b"> 3 0", lines)
        self.assertNotIn(b"> 4 0", lines)
        self.assertEqual(self.flushLoggedErrors(), [])
