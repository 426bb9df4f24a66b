"""
Tests for L{msync.sync.journal}: journal v4 lines, parsing and replay,
checked against journals written by mbsync 1.4.4 (C{-Tj} keeps them).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import StateError
from msync.model import Flags, Side
from msync.sync import journal
from msync.sync.journal import (
    AssignTuid,
    AssignUid,
    ExpireUnborn,
    JournalOp,
    KillRecord,
    LoseTuid,
    MakePlaceholder,
    NewRecord,
    SetFindUid,
    SetFlags,
    SetMaxExpiredFarUid,
    SetMaxUid,
    SetStatus,
    Trashed,
    UidValidities,
    UpgradePlaceholder,
    apply_op,
    format_journal_line,
    parse_journal,
    replay,
)
from msync.sync.state import Status, SyncRecord, SyncState
from msync.sync.statetext import format_state, parse_state

SCENARIOS = Path(__file__).parent / "data" / "journals"

OP_ROWS: list[tuple[bytes, JournalOp]] = [
    (b"| 1795402043 1795402044\n", UidValidities(1795402043, 1795402044)),
    (b"+ 3 0\n", NewRecord(3, 0)),
    (b"# 3 0 7MDRDw4wDen/\n", AssignTuid(3, 0, "7MDRDw4wDen/")),
    (b"& 1 0\n", LoseTuid(1, 0)),
    (b"< 2 2 0\n", AssignUid(2, 2, Side.FAR, 0)),
    (b"> 3 0 3\n", AssignUid(3, 0, Side.NEAR, 3)),
    (b"* 1 1 16\n", SetFlags(1, 1, Flags.SEEN)),
    (b"~ 5 3 3\n", SetStatus(5, 3, Status.EXPIRE | Status.EXPIRED)),
    (b"_ 0 1\n", MakePlaceholder(0, 1)),
    (b"^ 3 1 2 2\n", UpgradePlaceholder(3, 1, Flags.FLAGGED, Flags.FLAGGED)),
    (b"- 5 0\n", KillRecord(5, 0)),
    (b"= 1 0\n", ExpireUnborn(1, 0)),
    (b"N 0 3\n", SetMaxUid(Side.FAR, 3)),
    (b"N 1 4\n", SetMaxUid(Side.NEAR, 4)),
    (b"F 1 2\n", SetFindUid(Side.NEAR, 2)),
    (b"T 0 1\n", Trashed(Side.FAR, 1)),
    (b"! 6\n", SetMaxExpiredFarUid(6)),
]


def scenario(name: str) -> tuple[SyncState, bytes, bytes | None]:
    """
    The state before, the journal and the state mbsync wrote after it.
    """
    directory = SCENARIOS / name
    before = directory / "state.before"
    after = directory / "state.after"
    state = parse_state(before.read_bytes(), str(before)) if before.exists() else SyncState()
    return (
        state,
        (directory / "journal").read_bytes(),
        (after.read_bytes() if after.exists() else None),
    )


class LineTests(SynchronousTestCase):
    """
    Every op of the v4 table, both ways.
    """

    def test_format(self) -> None:
        """
        Each op formats to mbsync's line.
        """
        for line, op in OP_ROWS:
            self.assertEqual(format_journal_line(op), line)

    def test_parse(self) -> None:
        """
        Each line parses to its op; ops are in file order.
        """
        text = b"4\n" + b"".join(line for line, _ in OP_ROWS)
        self.assertEqual(parse_journal(text, "j"), [op for _, op in OP_ROWS])

    def test_every_op_in_real_journals(self) -> None:
        """
        The real journals contain every op code, and each re-formats to
        its original bytes.
        """
        codes = set()
        for directory in sorted(SCENARIOS.iterdir()):
            data = (directory / "journal").read_bytes()
            ops = parse_journal(data, "j")
            self.assertEqual(b"4\n" + b"".join(map(format_journal_line, ops)), data)
            codes |= {line[:1] for line in data.splitlines()[1:]}
        self.assertEqual(codes, {bytes([c]) for c in b"|+#&<>*~_^-=NFT!"} - {b""})

    @given(
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.sampled_from(list(Side)),
        st.integers(0, 63),
    )
    def test_pull_lines(self, far: int, near: int, side: Side, bits: int) -> None:
        """
        The lines of a pull's operations, made by type, are the match
        statement's (the general path, used for every other operation).
        """
        ops: list[JournalOp] = [
            NewRecord(far, near),
            AssignTuid(far, near, "AbCdEfGh+/12"),
            AssignUid(far, near, side, near),
            SetFlags(far, near, Flags(bits)),
        ]
        fast = [format_journal_line(op) for op in ops]
        by_type = journal._PULL_LINES
        journal._PULL_LINES = {}
        try:
            general = [format_journal_line(op) for op in ops]
        finally:
            journal._PULL_LINES = by_type
        self.assertEqual(general, fast)
        self.assertEqual(fast[2][:1], b"<" if side is Side.FAR else b">")

    @given(st.sampled_from([op for _, op in OP_ROWS]))
    def test_round_trip(self, op: JournalOp) -> None:
        """
        parse(format(op)) == op.
        """
        self.assertEqual(parse_journal(b"4\n" + format_journal_line(op), "j"), [op])


class JournalErrorTests(SynchronousTestCase):
    """
    Invalid journals fail where mbsync 1.4.4 fails, with its message.
    """

    rows = [
        (b"4", "incomplete journal header in J"),
        (b"5\n", "incompatible journal version (got 5, expected 4) in J"),
        (b"44\n", "incompatible journal version (got 44, expected 4) in J"),
        (b"4\n+ 1 0", "incomplete journal entry at J:2"),
        (b"4\n+ 1\n", "malformed journal entry at J:2"),
        (b"4\n^ 1 2 3\n", "malformed journal entry at J:2"),
        (b"4\n# 1 2 short\n", "malformed journal entry at J:2"),
        (b"4\n# 1 2 thirteenchars\n", "malformed journal entry at J:2"),
        (b"4\n# 1 2\n", "malformed journal entry at J:2"),
        (b"4\n!\n", "malformed journal entry at J:2"),
        (b"4\nN 2 5\n", "malformed journal entry at J:2"),
        (b"4\nZ 1 2 3\n", "unrecognized journal entry at J:2"),
        (b"4\nZ 1\n", "malformed journal entry at J:2"),
        (b"4\n+ 1 0\n" + b"+ " + b"1" * 130 + b" 0\n", "incomplete journal entry at J:3"),
    ]

    def test_rows(self) -> None:
        """
        Each invalid journal raises StateError with the expected message.
        """
        for data, message in self.rows:
            error = self.assertRaises(StateError, parse_journal, data, "J")
            self.assertEqual(str(error), message, data)

    def test_empty(self) -> None:
        """
        An empty journal has nothing to replay (mbsync skips it).
        """
        self.assertEqual(parse_journal(b"", "J"), [])

    def test_unknown_pair(self) -> None:
        """
        An op on a pair no record has fails naming file and line.
        """
        ops = parse_journal(b"4\n+ 1 0\n* 1 0 16\n- 2 0\n", "J")
        error = self.assertRaises(StateError, replay, SyncState(), ops, "J")
        self.assertEqual(str(error), "journal entry at J:4 refers to non-existing sync state entry")


class ReplayTests(SynchronousTestCase):
    """
    Replaying real journals reproduces the state mbsync wrote.
    """

    def test_real_scenarios(self) -> None:
        """
        state.before + journal == state.after (mbsync's .new) for every
        scenario: initial sync, flags, expunge, expiry, placeholders and
        their upgrade, trash, crash recovery with a lost TUID.
        """
        checked = 0
        for directory in sorted(SCENARIOS.iterdir()):
            state, journal, after = scenario(directory.name)
            replay(state, parse_journal(journal, "j"), "j")
            if after is not None:
                self.assertEqual(format_state(state), after, directory.name)
                checked += 1
        self.assertGreaterEqual(checked, 12)

    def test_crash_leaves_tuid(self) -> None:
        """
        A run killed after journaling a TUID leaves a pending record that
        carries it (the next run then logs C{&} when the copy is missing).
        """
        state, journal, _ = scenario("crash-after-tuid")
        replay(state, parse_journal(journal, "j"))
        first = state.by_far(1)
        assert first is not None
        self.assertEqual(first.tuid, "deKM2TEMT7zO")
        self.assertEqual(first.status, Status.PENDING)
        self.assertEqual(state.find_uid[Side.FAR], 0)
        self.assertEqual(state.find_uid[Side.NEAR], 0)

    def test_truncation_at_every_byte(self) -> None:
        """
        A journal cut at any byte either replays its complete lines (cut
        at a line end) or is rejected as incomplete at the cut line, as
        mbsync 1.4.4 does (verified by truncating a real journal).
        """
        for name in ("flags-delete-expunge", "placeholder-upgrade", "tuid-lost"):
            _, journal, _ = scenario(name)
            for cut in range(len(journal) + 1):
                data = journal[:cut]
                state, _, _ = scenario(name)
                if cut == 0:
                    self.assertEqual(parse_journal(data, "J"), [])
                elif data.endswith(b"\n"):
                    replay(state, parse_journal(data, "J"), "J")
                else:
                    line = data.count(b"\n") + 1
                    expected = (
                        "incomplete journal header in J"
                        if line == 1
                        else f"incomplete journal entry at J:{line}"
                    )
                    error = self.assertRaises(StateError, parse_journal, data, "J")
                    self.assertEqual(str(error), expected)

    def test_upgrade_splits_record(self) -> None:
        """
        C{^} moves the placeholder UID to a new record right after the
        upgraded one, which becomes pending; C{*} on it ends purging.
        """
        state = SyncState()
        state.append(SyncRecord(3, 1, Flags.NONE, Status.DUMMY_F))
        state.append(SyncRecord(7, 7))
        ops = parse_journal(b"4\n^ 3 1 2 18\n", "j")
        replay(state, ops)
        upgraded, placeholder, other = state.records
        self.assertEqual((upgraded.far_uid, upgraded.near_uid), (0, 1))
        self.assertEqual(upgraded.status, Status.PENDING)
        self.assertTrue(upgraded.upgrading)
        self.assertEqual(upgraded.pending_flags, Flags.FLAGGED)
        self.assertEqual(upgraded.flags, Flags.FLAGGED | Flags.SEEN)
        self.assertEqual((placeholder.far_uid, placeholder.near_uid), (3, 0))
        self.assertTrue(placeholder.purging)
        self.assertEqual(other.far_uid, 7)
        apply_op(state, SetFlags(3, 0, Flags.DELETED))
        self.assertFalse(placeholder.purging)

    def test_assign_uid_bumps_max(self) -> None:
        """
        C{<}/C{>} raise the side's max UID only for the next UID, and clear
        PENDING and the TUID.
        """
        state = SyncState(max_pulled_uid=4, max_pushed_uid=2)
        ops = parse_journal(b"4\n+ 0 9\n# 0 9 abcdefghijkl\n< 0 9 5\n+ 7 0\n> 7 0 9\n", "j")
        replay(state, ops)
        first, second = state.records
        self.assertEqual((first.far_uid, first.status, first.tuid), (5, Status.NONE, None))
        self.assertEqual(state.max_pulled_uid, 5)
        self.assertEqual(state.max_pushed_uid, 2)
        self.assertEqual(second.near_uid, 9)

    def test_header_ops(self) -> None:
        """
        C{|}, C{N}, C{F}, C{T}, C{!} and C{=} change the header values.
        """
        state = SyncState()
        state.append(SyncRecord(12, 0))
        ops = parse_journal(
            b"4\n| 8 9\nN 0 3\nN 1 4\nF 0 5\nT 1 6\nT 1 7\n! 10\n= 12 0\n_ 0 0\n", "j"
        )
        self.assertRaises(StateError, replay, state, ops)
        self.assertEqual((state.far_uid_validity, state.near_uid_validity), (8, 9))
        self.assertEqual((state.max_pulled_uid, state.max_pushed_uid), (3, 4))
        self.assertEqual(state.find_uid[Side.FAR], 5)
        self.assertEqual(state.trashed[Side.NEAR], [6, 7])
        self.assertEqual(state.max_expired_far_uid, 12)
        self.assertTrue(state.records[0].dead)

    def test_killed_records_stay_addressable(self) -> None:
        """
        As in mbsync, a killed record can still be addressed by later ops
        in the same journal, and is not written.
        """
        state = SyncState()
        replay(state, parse_journal(b"4\n+ 1 0\n- 1 0\n* 1 0 16\n", "j"))
        self.assertEqual(state.records[0].flags, Flags.SEEN)
        self.assertNotIn(b"1 0", format_state(state))

    def test_placeholder_op(self) -> None:
        """
        C{_} marks the empty side's copy as the placeholder, status PENDING.
        """
        state = SyncState()
        replay(state, parse_journal(b"4\n+ 0 1\n_ 0 1\n+ 2 0\n_ 2 0\n", "j"))
        self.assertEqual(
            [r.status for r in state],
            [Status.PENDING | Status.DUMMY_F, Status.PENDING | Status.DUMMY_N],
        )
