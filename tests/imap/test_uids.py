# -*- test-case-name: tests.imap.test_uids -*-
"""
Tests for L{msync.imap.uids}: UID ranges and sets as IMAP writes them, and
the cover of a set by ranges.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import LocalProtocolError
from msync.imap.commands import Command, StoreMode
from msync.imap.uids import MAX_UID, MAX_UID_SET_CHARS, UIDCover, UIDRange, UIDSet, split_by_uid_set
from tests.imap.test_commands import NONE


class UIDSetTests(SynchronousTestCase):
    """
    L{UIDRange}, L{UIDSet} and L{split_by_uid_set}.
    """

    def test_compaction(self) -> None:
        """
        UIDs compact into the fewest ranges, whatever their order.
        """
        rows: list[tuple[list[int], bytes]] = [
            ([1], b"1"),
            ([1, 2], b"1:2"),
            ([1, 2, 3, 4, 5, 7, 9, 10, 11, 12], b"1:5,7,9:12"),
            ([12, 9, 7, 1, 5, 3, 2, 4, 11, 10, 9], b"1:5,7,9:12"),
            ([4294967295], b"4294967295"),
            ([1, 3, 5], b"1,3,5"),
        ]
        for uids, expected in rows:
            self.assertEqual(UIDSet.of(uids).encode(), expected)

    def test_ranges(self) -> None:
        """
        Ranges encode as single UIDs, C{a:b} or C{a:*}.
        """
        self.assertEqual(UIDRange(7, 7).encode(), b"7")
        self.assertEqual(UIDRange(7, 9).encode(), b"7:9")
        self.assertEqual(UIDRange(7, None).encode(), b"7:*")
        self.assertEqual(UIDSet((UIDRange(1, 3), UIDRange(9, None))).encode(), b"1:3,9:*")

    def test_invalid(self) -> None:
        """
        UIDs outside 1..2**32-1, reversed ranges, inner C{*} and empty sets
        are refused.
        """
        self.assertRaises(LocalProtocolError, UIDRange, 0, 1)
        self.assertRaises(LocalProtocolError, UIDRange, 5, 4)
        self.assertRaises(LocalProtocolError, UIDRange, 1, 2**32)
        self.assertRaises(LocalProtocolError, UIDSet.of, [0])
        self.assertRaises(LocalProtocolError, UIDSet, (UIDRange(1, None), UIDRange(5, 5)))
        self.assertRaises(LocalProtocolError, UIDSet.of([]).encode)
        self.assertRaises(LocalProtocolError, Command.uid_fetch, UIDSet(()), (b"FLAGS",))

    def test_split(self) -> None:
        """
        Splitting keeps every part within the limit, in order, losing
        nothing.
        """
        uids = list(range(1, 3000, 2))
        whole = UIDSet.of(uids)
        parts = whole.split()
        self.assertGreater(len(parts), 1)
        for part in parts:
            self.assertLessEqual(len(part.encode()), MAX_UID_SET_CHARS)
        self.assertEqual(tuple(r for part in parts for r in part.ranges), whole.ranges)
        self.assertEqual(UIDSet.of([1, 3, 5, 7]).split(4), (UIDSet.of([1, 3]), UIDSet.of([5, 7])))
        self.assertEqual(UIDSet.of([1, 3, 5]).split(5), (UIDSet.of([1, 3, 5]),))
        self.assertEqual(UIDSet.of([]).split(), ())

    def test_too_long_for_one_command(self) -> None:
        """
        A single command refuses a set longer than the limit.
        """
        long = UIDSet.of(range(1, 3000, 2))
        self.assertRaises(LocalProtocolError, Command.uid_fetch, long, (b"FLAGS",))

    def test_split_commands(self) -> None:
        """
        L{split_by_uid_set} builds one command per part, each line under
        1000 octets.
        """
        commands = split_by_uid_set(
            range(1, 3000, 2), lambda part: Command.uid_fetch(part, (b"UID", b"FLAGS"))
        )
        self.assertGreater(len(commands), 1)
        for command in commands:
            (line,) = command.encode(b"A9999", NONE)
            self.assertLess(len(line), 1000)
        self.assertEqual(
            split_by_uid_set([5, 6, 7], lambda part: Command.uid_copy(part, "Trash")),
            (Command.uid_copy(UIDRange(5, 7), "Trash"),),
        )
        self.assertEqual(split_by_uid_set([], lambda part: Command.uid_expunge(part)), ())


class UIDCoverTests(SynchronousTestCase):
    """
    L{UIDCover}: membership and overlap of UID sets, C{*} included.
    """

    def test_membership(self) -> None:
        """
        A cover contains exactly the UIDs its ranges name; C{n:*} names
        every UID from n up; overlapping or unordered ranges merge.
        """
        rows: list[tuple[UIDSet | UIDRange, list[int], list[int]]] = [
            (UIDRange(5, 5), [5], [4, 6]),
            (UIDRange(3, 9), [3, 7, 9], [1, 2, 10]),
            (UIDRange(7, None), [7, 8, MAX_UID], [1, 6]),
            (UIDSet.of([1, 2, 3, 10, 12]), [1, 3, 10, 12], [4, 9, 11, 13]),
            (UIDSet((UIDRange(4, 8), UIDRange(2, 5), UIDRange(20, None))), [2, 8, 25], [1, 9]),
        ]
        for uids, inside, outside in rows:
            cover = UIDCover.of(uids)
            for uid in inside:
                self.assertIn(uid, cover, (uids, uid))
            for uid in outside:
                self.assertNotIn(uid, cover, (uids, uid))
            self.assertEqual(cover.open, uids.encode().endswith(b"*"))
        self.assertEqual(UIDCover.of(UIDSet((UIDRange(4, 8), UIDRange(2, 5)))).firsts, (2,))

    def test_overlap(self) -> None:
        """
        Two covers overlap exactly when some UID is in both.
        """
        rows: list[tuple[UIDSet | UIDRange, UIDSet | UIDRange, bool]] = [
            (UIDRange(1, 5), UIDRange(5, 9), True),
            (UIDRange(1, 5), UIDRange(6, 9), False),
            (UIDSet.of([1, 3, 5]), UIDSet.of([2, 4, 6]), False),
            (UIDSet.of([1, 3, 5]), UIDSet.of([2, 5]), True),
            (UIDRange(10, None), UIDRange(3, 9), False),
            (UIDRange(10, None), UIDSet.of([3, 4000]), True),
        ]
        for one, other, expected in rows:
            self.assertEqual(UIDCover.of(one).overlaps(UIDCover.of(other)), expected)
            self.assertEqual(UIDCover.of(other).overlaps(UIDCover.of(one)), expected)

    @given(
        st.lists(st.integers(1, 60), max_size=12),
        st.lists(st.integers(1, 60), max_size=12),
    )
    def test_overlap_agrees_with_sets(self, one: list[int], other: list[int]) -> None:
        """
        Overlap and membership agree with Python sets of the same UIDs.
        """
        covers = UIDCover.of(UIDSet.of(one)), UIDCover.of(UIDSet.of(other))
        self.assertEqual(covers[0].overlaps(covers[1]), bool(set(one) & set(other)))
        self.assertEqual([uid in covers[0] for uid in range(62)], [u in one for u in range(62)])

    def test_commands_keep_their_uids(self) -> None:
        """
        UID commands keep the UIDs they address, which do not take part in
        equality: commands equal on the wire are equal.
        """
        uids = UIDSet.of([5, 6, 7])
        self.assertEqual(Command.uid_fetch(uids, (b"FLAGS",)).uids, uids)
        self.assertEqual(Command.uid_store(uids, StoreMode.ADD, (b"\\Seen",)).uids, uids)
        self.assertEqual(Command.uid_move(uids, "Trash").uids, uids)
        self.assertEqual(Command.uid_copy(uids, "Trash"), Command.uid_copy(UIDRange(5, 7), "Trash"))
        self.assertIsNone(Command.noop().uids)
