"""
Tests for L{msync.stores.imapappend}: APPENDs grouped into MULTIAPPEND
batches, in order, with refused batches retried one by one.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import CommandFailed
from msync.imap.commands import AppendMessage
from msync.imap.session import AppendResult
from msync.stores.imapappend import AppendQueue, AppendSlot, ByteBudget


class FakeServer:
    """
    Records each APPEND sent; the test answers them.
    """

    def __init__(self) -> None:
        self.sent: list[tuple[list[bytes], Deferred[list[AppendResult]]]] = []
        self.next_uid = 1

    def send(self, messages: Sequence[AppendMessage]) -> Deferred[list[AppendResult]]:
        answer: Deferred[list[AppendResult]] = Deferred()
        self.sent.append(([each.data for each in messages], answer))
        return answer

    def batches(self) -> list[list[bytes]]:
        return [data for data, _ in self.sent]

    def store(self, index: int) -> None:
        """
        Answer batch C{index}: stored, numbered in order.
        """
        data, answer = self.sent[index]
        results = []
        for _ in data:
            results.append(AppendResult(7, self.next_uid))
            self.next_uid += 1
        answer.callback(results)

    def refuse(self, index: int) -> None:
        self.sent[index][1].errback(CommandFailed("APPEND", b"NO", None, "over quota"))


def message(data: bytes) -> AppendMessage:
    return AppendMessage(data, (b"\\Seen",))


class AppendQueueTests(SynchronousTestCase):
    """
    L{AppendQueue}.
    """

    def setUp(self) -> None:
        self.server = FakeServer()
        self.queue = AppendQueue(self.server.send, batch_messages=3, batch_bytes=10, in_flight=2)

    def test_batches_in_reservation_order(self) -> None:
        """
        Messages go in the order reserved even when read out of order;
        while two batches are out, the ready ones wait and go together.
        """
        slots = [self.queue.reserve() for _ in range(6)]
        second = slots[1].ready(message(b"b"))
        self.assertEqual(self.server.batches(), [])
        outcomes: list[Deferred[AppendResult]] = [slots[0].ready(message(b"a")), second]
        self.assertEqual(self.server.batches(), [[b"a", b"b"]])
        outcomes.append(slots[2].ready(message(b"c")))
        self.assertEqual(self.server.batches(), [[b"a", b"b"], [b"c"]])
        for index, data in ((3, b"d"), (4, b"e"), (5, b"f")):
            outcomes.append(slots[index].ready(message(data)))
        self.assertEqual(len(self.server.sent), 2)
        self.server.store(0)
        self.assertEqual(self.server.batches()[2], [b"d", b"e", b"f"])
        self.server.store(1)
        self.server.store(2)
        self.assertEqual([self.successResultOf(each).uid for each in outcomes], [1, 2, 3, 4, 5, 6])

    def test_limits(self) -> None:
        """
        A batch stops at the message and byte limits; a message over the
        byte limit goes alone.
        """
        queue = AppendQueue(self.server.send, batch_messages=3, batch_bytes=10, in_flight=1)
        first = queue.reserve()
        slots = [queue.reserve() for _ in range(6)]
        first.ready(message(b"x"))
        sizes = [4, 4, 4, 20, 1, 1]
        for slot, size in zip(slots, sizes, strict=True):
            slot.ready(message(b"m" * size))
        for index in range(5):
            self.server.store(index)
        self.assertEqual(
            [[len(data) for data in batch] for batch in self.server.batches()],
            [[1], [4, 4], [4], [20], [1, 1]],
        )

    def test_refused_batch_retried_alone(self) -> None:
        """
        A refused batch is sent again one message per command, before what
        waited behind it; only the message refused alone fails.
        """
        queue = AppendQueue(self.server.send, batch_messages=3, in_flight=1)
        slots = [queue.reserve() for _ in range(4)]
        outcomes = [slot.ready(message(b"%d" % n)) for n, slot in enumerate(slots)]
        self.assertEqual(self.server.batches(), [[b"0"]])
        self.server.store(0)
        self.assertEqual(self.server.batches()[1], [b"1", b"2", b"3"])
        self.server.refuse(1)
        self.assertEqual(self.server.batches()[2], [b"1"])
        self.server.store(2)
        self.assertEqual(self.server.batches()[3], [b"2"])
        self.server.refuse(3)
        self.assertEqual(self.server.batches()[4], [b"3"])
        self.server.store(4)
        self.assertEqual(self.successResultOf(outcomes[1]), AppendResult(7, 2))
        self.failureResultOf(outcomes[2], CommandFailed)
        self.assertEqual(self.successResultOf(outcomes[3]), AppendResult(7, 3))
        self.assertEqual(len(self.server.sent), 5)

    def test_connection_lost(self) -> None:
        """
        A lost connection fails the batch and every message waiting, ready
        or not; nothing more is sent.
        """
        queue = AppendQueue(self.server.send, in_flight=1)
        slots: list[AppendSlot] = [queue.reserve() for _ in range(3)]
        sent = slots[0].ready(message(b"a"))
        waiting = slots[1].ready(message(b"b"))
        self.server.sent[0][1].errback(ConnectionLost("gone"))
        self.failureResultOf(sent, ConnectionLost)
        self.failureResultOf(waiting, ConnectionLost)
        self.failureResultOf(slots[2].ready(message(b"c")), ConnectionLost)
        self.assertEqual(self.server.batches(), [[b"a"]])

    def test_dropped(self) -> None:
        """
        A message whose source failed leaves its place: the ones behind
        it go on.
        """
        slots = [self.queue.reserve() for _ in range(2)]
        outcome = slots[1].ready(message(b"b"))
        slots[0].drop()
        self.assertEqual(self.server.batches(), [[b"b"]])
        self.server.store(0)
        self.assertEqual(self.successResultOf(outcome), AppendResult(7, 1))


class ByteBudgetTests(SynchronousTestCase):
    """
    L{ByteBudget}: bytes granted in request order, within the limit.
    """

    def test_in_order(self) -> None:
        """
        Requests that fit are granted at once; one that does not waits, and
        so does every later one even if it would fit; a release grants the
        waiting ones in order as far as they fit.
        """
        budget = ByteBudget(10)
        self.successResultOf(budget.acquire(6))
        big, small = budget.acquire(6), budget.acquire(1)
        self.assertNoResult(big)
        self.assertNoResult(small)
        self.assertEqual(budget.held, 6)
        budget.release(6)
        self.successResultOf(big)
        self.successResultOf(small)
        self.assertEqual(budget.held, 7)

    def test_larger_than_limit(self) -> None:
        """
        A request above the limit is granted once nothing else is held.
        """
        budget = ByteBudget(10)
        self.successResultOf(budget.acquire(3))
        huge = budget.acquire(50)
        self.assertNoResult(huge)
        budget.release(3)
        self.successResultOf(huge)
        self.assertEqual(budget.held, 50)
        later = budget.acquire(1)
        self.assertNoResult(later)
        budget.release(50)
        self.successResultOf(later)
        self.assertEqual(budget.held, 1)
