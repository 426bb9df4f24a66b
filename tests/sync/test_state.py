# -*- test-case-name: tests.sync.test_state -*-
"""
Tests for L{msync.sync.state}: the sync state model and its lookups.
"""

from __future__ import annotations

import random
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
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

    def test_live_and_dead_pair(self) -> None:
        """
        A live record and a dead one with the same pair: replay finds the
        first from where it starts, a live operation the live one.
        """
        for far, near in ((7, 0), (0, 9), (7, 9)):
            state = SyncState()
            dead = state.append(SyncRecord(far, near, status=Status.DEAD))
            live = state.append(SyncRecord(far, near))
            self.assertIs(state.by_pair(far, near), dead)
            self.assertIs(state.by_pair(far, near, live), live)
            self.assertIs(state.by_pair(far, near, prefer_live=True), live)
            self.assertIs(state.by_pair(far, near, dead, prefer_live=True), live)

    @given(
        st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.booleans()), max_size=8),
        st.booleans(),
    )
    @settings(max_examples=200, deadline=None)
    def test_by_pair_rule(self, records: list[tuple[int, int, bool]], prefer_live: bool) -> None:
        """
        For any records (duplicates, dead ones, UID-less ones), every pair
        and every start: the first record with the pair from the start on,
        wrapping around (with C{prefer_live}, among the live ones if any).
        """
        state = SyncState()
        made = [
            state.append(SyncRecord(far, near, status=Status.DEAD if dead else Status(0)))
            for far, near, dead in records
        ]
        for far in range(3):
            for near in range(3):
                for begin in range(len(made) + 1):
                    start = made[begin] if begin < len(made) else None
                    matches = [r for r in made if (r.far_uid, r.near_uid) == (far, near)]
                    if prefer_live and any(not r.dead for r in matches):
                        matches = [r for r in matches if not r.dead]
                    first = begin if start is not None else 0
                    order = made[first:] + made[:first]
                    expected = next((r for r in order if any(r is m for m in matches)), None)
                    found = state.by_pair(far, near, start, prefer_live=prefer_live)
                    self.assertIs(found, expected, (far, near, begin))

    def test_duplicate_uids(self) -> None:
        """
        Live records sharing a UID (a broken state) are all found: the
        first in list order by UID, each by its pair, the next one once
        the first is killed, and none once all are gone.
        """
        state = SyncState()
        first = state.append(SyncRecord(3, 4))
        second = state.append(SyncRecord(3, 5))
        self.assertIs(state.by_far(3), first)
        self.assertIs(state.by_pair(3, 4), first)
        self.assertIs(state.by_pair(3, 5), second)
        self.assertIsNone(state.by_pair(3, 6))
        first.status = Status.DEAD
        self.assertIs(state.by_far(3), second)
        self.assertIs(state.by_pair(3, 4), first)
        self.assertIs(state.by_pair(3, 4, prefer_live=True), first)
        second.far_uid = 0
        self.assertIsNone(state.by_far(3))
        self.assertIs(state.by_near(5), second)
        self.assertIs(state.by_pair(0, 5), second)
        state.purge_dead()
        self.assertEqual(list(state), [second])

    def test_records_without_uids(self) -> None:
        """
        A live record left without any UID is still found by its pair
        (C{0 0}), before a dead one with the same pair when live ones are
        preferred, and by no UID.
        """
        state = SyncState()
        dead = state.append(SyncRecord(0, 0, status=Status.DEAD))
        record = state.append(SyncRecord(7, 0))
        record.far_uid = 0
        self.assertIsNone(state.by_far(7))
        self.assertIs(state.by_pair(0, 0), dead)
        self.assertIs(state.by_pair(0, 0, prefer_live=True), record)
        record.near_uid = 9
        self.assertIs(state.by_pair(0, 0, prefer_live=True), dead)
        self.assertIs(state.by_pair(0, 9), record)

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


class IndexChurnTests(SynchronousTestCase):
    """
    A change keeping one of a live record's UIDs changes only the other
    side's index, leaving both exactly as taking the record out and
    putting it back did (buckets of duplicates included).
    """

    def test_random_changes_match_reindexing(self) -> None:
        """
        The same random UID and status changes on two states, one through
        the records' setters, one by unindexing and reindexing by hand
        (the former behaviour), leave identical indexes after every change.
        """
        rng = random.Random(5)
        fast, slow = SyncState(), SyncState()
        for uid in range(1, 41):
            far, near = rng.choice([(uid, 0), (uid, uid), (0, uid), (uid % 7 + 1, uid)])
            fast.append(SyncRecord(far, near))
            slow.append(SyncRecord(far, near))
        for _ in range(2000):
            position = rng.randrange(len(fast.records))
            which = rng.randrange(4)
            uid = rng.choice([0, rng.randint(1, 12), rng.randint(1, 60)])
            status = rng.choice([Status.NONE, Status.PENDING, Status.DEAD, Status.EXPIRE])
            mine, other = fast.records[position], slow.records[position]
            far, near, bits = other.far_uid, other.near_uid, other.status
            if which == 0:
                mine.far_uid = uid
                far = uid
            elif which == 1:
                mine.near_uid = uid
                near = uid
            elif which == 2:
                mine.status = status
                bits = status
            else:
                mine.near_uid = mine.near_uid
            slow._unindex(other)
            other._far, other._near, other._bits = far, near, bits.value
            slow._index(other)
            self.assertEqual(mine.values(), other.values())
            for index in ("_far", "_near", "_odd"):
                self.assertEqual(
                    _buckets(getattr(fast, index), fast), _buckets(getattr(slow, index), slow)
                )

    def test_copy_uid_leaves_far_index_alone(self) -> None:
        """
        A copy's near UID arriving leaves the far index's dictionary as it
        was (no entry taken out and put back): the same object, the same
        size, while the near index gains the UID.
        """
        state = SyncState()
        records = [
            state.append(SyncRecord(uid, 0, status=Status.PENDING)) for uid in range(1, 2001)
        ]
        far_index = state._far
        size = sys.getsizeof(far_index)
        for record in records:
            record.near_uid = record.far_uid + 10
            record.status = Status.NONE
        self.assertIs(state._far, far_index)
        self.assertEqual(sys.getsizeof(far_index), size)
        self.assertIs(state.by_near(11), records[0])
        self.assertIs(state.by_far(2000), records[-1])
        self.assertEqual(len(state._near), 2000)


def _buckets(index: dict[Any, Any], state: SyncState) -> dict[Any, list[int]]:
    """
    An index with each record replaced by its position in C{state}.
    """
    position = {id(record): at for at, record in enumerate(state.records)}
    return {
        key: [position[id(r)] for r in (bucket if isinstance(bucket, list) else [bucket])]
        for key, bucket in index.items()
    }
