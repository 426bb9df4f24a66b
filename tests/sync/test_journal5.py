# -*- test-case-name: tests.sync.test_journal5 -*-
"""
Tests for L{msync.sync.journal5}: msync's operations as mbsync 1.5 lines,
and 1.5 journals replayed (facts from isync 1.5.0's C{load_state}).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import StateError
from msync.model import Flags, Side
from msync.sync.journal import (
    AssignUid,
    ExpireUnborn,
    JournalOp,
    NewRecord,
    SetFlags,
    SetMaxExpiredFarUid,
    SetStatus,
    UpgradePlaceholder,
)
from msync.sync.journal5 import (
    format_line,
    needs_flags_after,
    replay_any,
    status_from_v5,
    status_to_v5,
)
from msync.sync.state import Status, SyncRecord, SyncState


class FormatTests(SynchronousTestCase):
    """
    L{format_line} in versions 4 and 5.
    """

    def test_lines(self) -> None:
        """
        Shared operations are written alike; status bits are renumbered;
        1.4-only operations become their 1.5 equivalents or nothing.
        """
        rows: list[tuple[JournalOp, bytes, bytes]] = [
            (NewRecord(3, 0), b"+ 3 0\n", b"+ 3 0\n"),
            (SetStatus(3, 0, Status.PENDING | Status.DUMMY_N), b"~ 3 0 20\n", b"~ 3 0 80\n"),
            (SetStatus(3, 4, Status.EXPIRE | Status.EXPIRED), b"~ 3 4 3\n", b"~ 3 4 6\n"),
            (
                UpgradePlaceholder(3, 4, Flags.SEEN, Flags.FLAGGED),
                b"^ 3 4 16 2\n",
                b"* 3 4 2\n^ 3 4 16\n",
            ),
            (ExpireUnborn(3, 0), b"= 3 0\n", b"~ 3 0 6\n- 3 0\n"),
            (SetMaxExpiredFarUid(9), b"! 9\n", b""),
        ]
        for op, v4, v5 in rows:
            self.assertEqual((format_line(op, "4"), format_line(op, "5")), (v4, v5), op)

    def test_flags_after_assignment(self) -> None:
        """
        In version 5 a non-zero UID assignment is followed by the record's
        flags (1.5's replay sets them to the pending flags).
        """
        self.assertEqual(needs_flags_after(AssignUid(3, 0, Side.NEAR, 7), "5"), (3, 7))
        self.assertEqual(needs_flags_after(AssignUid(0, 4, Side.FAR, 8), "5"), (8, 4))
        self.assertIsNone(needs_flags_after(AssignUid(3, 7, Side.NEAR, 0), "5"))
        self.assertIsNone(needs_flags_after(AssignUid(3, 0, Side.NEAR, 7), "4"))
        self.assertIsNone(needs_flags_after(SetFlags(3, 7, Flags.SEEN), "5"))

    def test_status_round_trip(self) -> None:
        """
        Every journaled status survives 1.5's numbering.
        """
        for bits in range(64):
            status = Status(bits)
            self.assertEqual(status_from_v5(status_to_v5(status)), status)


class ReplayTests(SynchronousTestCase):
    """
    L{replay_any} on version 5 journals as mbsync 1.5.0 writes them.
    """

    def test_pull_replayed(self) -> None:
        """
        A 1.5 pull: new record, TUID, pending flags, UID; the flags come
        from C{%}. 1.5's C{newmaxuid} follows the new records and the
        UIDs assigned next to it (L{SyncState.replay_max}); the max UIDs,
        which decide what is new in the run, do not.
        """
        state = SyncState()
        journal = (
            b"5\n| 11 22\n+ 1 0\nF 1 1\n# 1 0 ABCDEFGHIJKL\n% 1 0 16\n> 1 0 1\n"
            b"+ 2 0\n# 2 0 ABCDEFGHIJKM\n"
        )
        self.assertEqual(replay_any(state, journal, "j", "5"), "5")
        records = list(state)
        self.assertEqual(
            [(r.far_uid, r.near_uid, r.flags, r.tuid) for r in records],
            [(1, 1, Flags.SEEN, None), (2, 0, Flags.NONE, "ABCDEFGHIJKM")],
        )
        self.assertEqual((state.far_uid_validity, state.near_uid_validity), (11, 22))
        self.assertEqual((state.max_uid(Side.FAR), state.max_uid(Side.NEAR)), (0, 0))
        self.assertEqual(state.replay_max, {Side.FAR: 2, Side.NEAR: 1})
        self.assertEqual(state.find_uid[Side.NEAR], 1)

    def test_replay_max(self) -> None:
        """
        1.5's C{newmaxuid} after a replay (L{SyncState.replay_max}): it
        starts at the state's max UIDs, C{+} raises it (killed records
        too), a UID next to it follows, C{N} sets it with the max UID; the
        max UIDs follow only C{N}.
        """
        state = SyncState(max_pulled_uid=2, max_pushed_uid=7)
        journal = b"5\n+ 3 0\n- 3 0\n+ 4 0\n- 4 0\n+ 0 8\n< 0 8 5\n+ 0 9\n< 0 9 9\n"
        replay_any(state, journal, "j", "5")
        self.assertEqual((state.max_uid(Side.FAR), state.max_uid(Side.NEAR)), (2, 7))
        self.assertEqual(state.replay_max, {Side.FAR: 5, Side.NEAR: 9})
        replay_any(state, b"5\nN 1 4\n+ 6 0\n", "j", "5")
        self.assertEqual((state.max_uid(Side.FAR), state.max_uid(Side.NEAR)), (2, 4))
        self.assertEqual(state.replay_max, {Side.FAR: 6, Side.NEAR: 4})

    def test_expiry_raises_bound(self) -> None:
        """
        C{~} with 1.5's EXPIRED bit raises the expired bound to the far UID.
        """
        state = SyncState()
        state.append(SyncRecord(5, 6))
        replay_any(state, b"5\n~ 5 6 6\n", "j", "5")
        record = next(iter(state))
        self.assertEqual(record.status, Status.EXPIRE | Status.EXPIRED)
        self.assertEqual(state.max_expired_far_uid, 5)

    def test_versions(self) -> None:
        """
        Following 1.5, version 4 is replayed too; following 1.4, version 5
        is refused as mbsync 1.4 refuses it; errors name file and line.
        """
        self.assertEqual(replay_any(SyncState(), b"4\n+ 1 0\n", "j", "5"), "4")
        self.assertIsNone(replay_any(SyncState(), b"", "j", "5"))
        rows = [
            (b"5\n+ 1 0\n", "4", "incompatible journal version (got 5, expected 4) in j"),
            (b"3\n", "5", "incompatible journal version (got 3, expected 5) in j"),
            (b"5\n= 1 0\n", "5", "unrecognized journal entry at j:2"),
            (b"5\n^ 1 0\n", "5", "malformed journal entry at j:2"),
            (b"5\n* 1 1 8\n", "5", "journal entry at j:2 refers to non-existing sync state entry"),
            (b"5\n+ 1 0\n# 1 0 SHORT\n", "5", "malformed journal entry at j:3"),
            (b"5\n+ 1 0", "5", "incomplete journal entry at j:2"),
        ]
        for journal, expected, message in rows:
            error = self.assertRaises(StateError, replay_any, SyncState(), journal, "j", expected)
            self.assertEqual(str(error), message, journal)
