# -*- test-case-name: tests.sync.test_state -*-
"""
Tests for L{msync.sync.state}: the sync state model and its lookups.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.model import Side
from msync.sync.state import Status, SyncRecord, SyncState


class ModelTests(SynchronousTestCase):
    """
    The indexes follow record changes.
    """

    def test_lookups_follow_changes(self) -> None:
        """
        Changing UIDs or killing a record updates the UID and pair lookups.
        """
        state = SyncState()
        record = state.append(SyncRecord(1, 0))
        self.assertIs(state.by_far(1), record)
        self.assertIsNone(state.by_near(0))
        record.near_uid = 5
        self.assertIs(state.by_near(5), record)
        self.assertIs(state.by_pair(1, 5), record)
        self.assertIsNone(state.by_pair(1, 0))
        record.set_uid(Side.FAR, 2)
        self.assertIsNone(state.by_far(1))
        self.assertIs(state.by_uid(Side.FAR, 2), record)
        record.status = Status.DEAD
        self.assertIsNone(state.by_far(2))
        self.assertIs(state.by_pair(2, 5), record)
        state.purge_dead()
        self.assertEqual(len(state), 0)
        self.assertIsNone(state.by_pair(2, 5))

    def test_by_pair_search_order(self) -> None:
        """
        With duplicate pairs, the search starts at the given record and
        wraps around, as mbsync's replay does.
        """
        state = SyncState()
        first = state.append(SyncRecord(0, 0, status=Status.DEAD))
        middle = state.append(SyncRecord(1, 1))
        last = state.append(SyncRecord(0, 0, status=Status.DEAD))
        self.assertIs(state.by_pair(0, 0), first)
        self.assertIs(state.by_pair(0, 0, middle), last)
        self.assertIs(state.by_pair(0, 0, last), last)

    def test_insert_after(self) -> None:
        """
        insert_after keeps list order; a record belongs to one state.
        """
        state = SyncState()
        a = state.append(SyncRecord(1, 1))
        state.append(SyncRecord(2, 2))
        b = state.insert_after(a, SyncRecord(3, 0))
        self.assertEqual([r.far_uid for r in state.records], [1, 3, 2])
        self.assertRaises(ValueError, SyncState().append, b)

    def test_side_accessors(self) -> None:
        """
        Header values are reachable by Side.
        """
        state = SyncState(1, 2, 3, 4)
        self.assertEqual([state.uid_validity(s) for s in Side], [1, 2])
        state.set_max_uid(Side.NEAR, 9)
        self.assertEqual([state.max_uid(s) for s in Side], [3, 9])
        self.assertEqual(Status.dummy(Side.NEAR), Status.DUMMY_N)
