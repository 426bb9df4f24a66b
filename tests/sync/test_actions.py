"""
Tests for L{msync.sync.actions.CopyPlan}: the copies of a run in columns
give back exactly the copies put in, in order, each once.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.model import ALL_FLAGS, Flags, Side
from msync.sync.actions import CopyMessage, CopyPlan
from msync.sync.state import SyncRecord

TOP = 2**32 - 1


def fields(copy: CopyMessage) -> tuple[object, ...]:
    return (copy.target, copy.uid, copy.flags, copy.placeholder, copy.size, copy.record)


class CopyPlanTests(SynchronousTestCase):
    """
    L{CopyPlan} round trips.
    """

    def test_empty(self) -> None:
        """
        An empty plan is false, iterates nothing and has nothing to take.
        """
        plan = CopyPlan(Side.NEAR)
        self.assertEqual(len(plan), 0)
        self.assertFalse(plan)
        self.assertEqual(list(plan), [])
        self.assertRaises(IndexError, plan.take)

    def test_round_trip(self) -> None:
        """
        Every field of every copy comes back as put in (no size, size 0, a
        big size, every flag, a placeholder, UID 1 and 2**32-1, the same
        UID twice), by iteration and by taking, in order.
        """
        records = [SyncRecord(uid, 0) for uid in range(1, 6)]
        wanted = [
            (Side.NEAR, 1, Flags.NONE, False, None, records[0]),
            (Side.NEAR, 7, ALL_FLAGS, True, 0, records[1]),
            (Side.NEAR, 7, Flags.SEEN | Flags.FLAGGED, False, 5 * 2**30, records[2]),
            (Side.NEAR, TOP, Flags.DELETED, False, 12, records[3]),
            (Side.NEAR, 9, Flags.DRAFT, True, None, records[4]),
        ]
        plan = CopyPlan(Side.NEAR)
        for _, uid, flags, placeholder, size, record in wanted:
            plan.append(uid, flags, placeholder, size, record)
        self.assertEqual(len(plan), 5)
        self.assertEqual([fields(copy) for copy in plan], wanted)
        self.assertEqual(len(plan), 5)
        taken = []
        while plan:
            copy = plan.take()
            self.assertIsInstance(copy, CopyMessage)
            self.assertIsInstance(copy.flags, Flags)
            taken.append(fields(copy))
            self.assertEqual([fields(copy) for copy in plan], wanted[len(taken) :])
        self.assertEqual(taken, wanted)
        self.assertRaises(IndexError, plan.take)

    def test_one(self) -> None:
        """
        A plan of one copy: taken once, then empty, and usable again.
        """
        record = SyncRecord(0, 3)
        plan = CopyPlan(Side.FAR)
        plan.append(3, Flags.SEEN, False, 100, record)
        copy = plan.take()
        self.assertEqual(fields(copy), (Side.FAR, 3, Flags.SEEN, False, 100, record))
        self.assertEqual(len(plan), 0)
        plan.append(4, Flags.NONE, False, None, record)
        self.assertEqual([c.uid for c in plan], [4])

    def test_taken_records_are_let_go(self) -> None:
        """
        Once taken, a copy's record is no longer held by the plan.
        """
        records = [SyncRecord(uid, 0) for uid in range(1, 4)]
        plan = CopyPlan(Side.NEAR)
        for record in records:
            plan.append(record.far_uid, Flags.NONE, False, None, record)
        plan.take()
        self.assertNotIn(records[0], [r for r in plan._records if r is not None])
        self.assertEqual(sum(r is not None for r in plan._records), 2)
