# -*- test-case-name: tests.sync.test_statetext -*-
"""
Tests for L{msync.sync.statetext}: the state file format, checked against
files written by mbsync 1.4.4.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import StateError
from msync.model import Flags
from msync.sync import statetext
from msync.sync.state import Status, SyncRecord, SyncState
from msync.sync.statetext import (
    RecordLines,
    canonical_uids,
    format_merged_indexed,
    format_records_cache,
    format_state,
    parse_entry_flags,
    parse_records_cache,
    parse_state,
    split_state,
)

DATA = Path(__file__).parent / "data"
HEADER = b"FarUidValidity 1\nNearUidValidity 2\nMaxPulledUid 3\nMaxPushedUid 4\n\n"


def real_state_files() -> list[Path]:
    """
    Every state file mbsync 1.4.4 wrote in the fixtures.
    """
    files = sorted((DATA / "journals").glob("*/state.*"))
    files += [DATA / "states" / name for name in ("all-flags", "placeholders", "expired")]
    return files


def entries(state: SyncState) -> list[tuple[int, int, Flags, Status]]:
    """
    The records of C{state} as plain tuples.
    """
    return [(r.far_uid, r.near_uid, r.flags, r.status) for r in state]


class RealFileTests(SynchronousTestCase):
    """
    State files written by real mbsync 1.4.4 round-trip byte for byte.
    """

    def test_round_trip(self) -> None:
        """
        format_state(parse_state(x)) == x for every real state file.
        """
        files = real_state_files()
        self.assertGreater(len(files), 20)
        for path in files:
            data = path.read_bytes()
            self.assertEqual(format_state(parse_state(data, str(path))), data, path)

    def test_placeholders(self) -> None:
        """
        C{<} and C{>} markers become the dummy status bits.
        """
        state = parse_state((DATA / "states" / "placeholders").read_bytes(), "p")
        self.assertEqual(
            entries(state),
            [
                (3, 1, Flags.SEEN, Status.DUMMY_F),
                (1, 2, Flags.NONE, Status.DUMMY_N),
                (2, 3, Flags.NONE, Status.NONE),
            ],
        )

    def test_expired(self) -> None:
        """
        C{~} marks a record EXPIRE|EXPIRED, and the header keys are read.
        """
        state = parse_state((DATA / "states" / "expired").read_bytes(), "e")
        self.assertEqual(state.max_expired_far_uid, 5)
        self.assertEqual(state.max_pulled_uid, 7)
        self.assertEqual(state.max_pushed_uid, 4)
        self.assertEqual(entries(state)[0], (4, 1, Flags.NONE, Status.EXPIRE | Status.EXPIRED))

    def test_all_flags(self) -> None:
        """
        Every flag letter is read and written in DFPRST order.
        """
        state = parse_state((DATA / "states" / "all-flags").read_bytes(), "f")
        all_letters, from_near = state.by_far(7), state.by_near(1)
        assert all_letters is not None and from_near is not None
        self.assertEqual(all_letters.flags, Flags(63))
        self.assertEqual(from_near.flags, Flags.FLAGGED | Flags.ANSWERED | Flags.SEEN)


class LegacyTests(SynchronousTestCase):
    """
    Old state file forms mbsync 1.4 still reads.
    """

    def test_pre_1_1(self) -> None:
        """
        The single-line header is read and entries follow without a blank
        line; UID -1 is read as 4294967295, i.e. skipped.
        """
        state = parse_state((DATA / "states" / "legacy-pre-1.1").read_bytes(), "l")
        self.assertEqual((state.far_uid_validity, state.max_pulled_uid), (1795394000, 3))
        self.assertEqual((state.near_uid_validity, state.max_pushed_uid), (1795394001, 4))
        self.assertEqual(entries(state)[2], (3, 0, Flags.NONE, Status.SKIPPED))
        self.assertEqual(
            format_state(state),
            b"FarUidValidity 1795394000\nNearUidValidity 1795394001\nMaxPulledUid 3\n"
            b"MaxPushedUid 4\n\n1 1 S\n0 2 FS\n3 0 ^\n",
        )

    def test_pre_1_3(self) -> None:
        """
        Master/Slave keys, C{X} for C{~}, far UID 4294967295, and
        MaxExpiredSlaveUid converted to MaxExpiredFarUid as mbsync does.
        """
        state = parse_state((DATA / "states" / "legacy-pre-1.3").read_bytes(), "l")
        self.assertEqual(state.far_uid_validity, 7)
        self.assertEqual(state.near_uid_validity, 8)
        self.assertEqual(state.max_expired_far_uid, 3)
        self.assertEqual(
            entries(state),
            [
                (1, 0, Flags.SEEN, Status.EXPIRE | Status.EXPIRED),
                (2, 2, Flags.SEEN, Status.NONE),
                (4, 4, Flags.NONE, Status.NONE),
                (0, 5, Flags.NONE, Status.SKIPPED),
            ],
        )

    def test_legacy_max_expired_master(self) -> None:
        """
        MaxExpiredMasterUid is MaxExpiredFarUid.
        """
        state = parse_state(b"MaxExpiredMasterUid 9\n\n", "s")
        self.assertEqual(state.max_expired_far_uid, 9)


class EntryTests(SynchronousTestCase):
    """
    Entry lines, checked against mbsync 1.4.4's debug output (-Ds).
    """

    rows = [
        # (entry, far, near, flags, status) as mbsync -Ds printed them.
        (b"1 1 >~S", 1, 1, Flags.SEEN, Status.EXPIRE | Status.EXPIRED),
        (b"2 2 <^FS", 2, 2, Flags.FLAGGED | Flags.SEEN, Status.SKIPPED),
        (b"3 3 XSF", 3, 3, Flags.SEEN, Status.EXPIRE | Status.EXPIRED),
        (b"4 4 xS", 4, 4, Flags.NONE, Status.NONE),
        (b"5 5 >S", 5, 5, Flags.SEEN, Status.DUMMY_N),
        (b"4294967295 7 R", 0, 7, Flags.ANSWERED, Status.SKIPPED),
        (b"8 4294967295 <R", 8, 0, Flags.ANSWERED, Status.SKIPPED),
        (b"9 4294967295 ~R", 9, 4294967295, Flags.ANSWERED, Status.EXPIRE | Status.EXPIRED),
        (b"10 11 FSDx", 10, 11, Flags.FLAGGED | Flags.SEEN, Status.NONE),
        (b"12 13", 12, 13, Flags.NONE, Status.NONE),
        (b"12 13 S trailing", 12, 13, Flags.SEEN, Status.NONE),
        (b"  +14\t15  DT", 14, 15, Flags.DRAFT | Flags.DELETED, Status.NONE),
    ]

    def test_rows(self) -> None:
        """
        Each entry parses to mbsync's record.
        """
        for line, far, near, flags, status in self.rows:
            state = parse_state(HEADER + line + b"\n", "s")
            self.assertEqual(entries(state), [(far, near, flags, status)], line)

    def test_sequential_flags(self) -> None:
        """
        Flag letters are matched in DFPRST order and stop at the first
        out-of-order letter.
        """
        self.assertEqual(parse_entry_flags(b"DFPRST"), Flags(63))
        self.assertEqual(parse_entry_flags(b"SF"), Flags.SEEN)
        self.assertEqual(parse_entry_flags(b"FxS"), Flags.FLAGGED)

    def test_str_input(self) -> None:
        """
        Text is accepted as well as bytes.
        """
        state = parse_state((HEADER + b"1 2 S\n").decode(), "s")
        self.assertEqual(entries(state), [(1, 2, Flags.SEEN, Status.NONE)])


class ErrorTests(SynchronousTestCase):
    """
    Invalid state files fail where mbsync fails, with its message.
    """

    rows = [
        (b"", "unterminated sync state header in F"),
        (b"FarUidValidity 1\n", "unterminated sync state header in F"),
        (b"FarUidValidity 1", "incomplete sync state header entry at F:1"),
        (b"FarUidValidity 1\nBogus 2\n\n", "unrecognized sync state header entry at F:2"),
        (b"FarUidValidity x\n\n", "malformed sync state header entry at F:1"),
        (b"FarUidValidity\n\n", "malformed sync state header entry at F:1"),
        (b"1:2 3:4\n", "invalid sync state header in F"),
        (b"1 3:4:5\n", "invalid sync state header in F"),
        (HEADER + b"1 1 S\nx y\n", "invalid sync state entry at F:7"),
        (HEADER + b"1\n", "invalid sync state entry at F:6"),
        (HEADER + b"1 1 S", "incomplete sync state entry at F:6"),
        (HEADER + b"1 1 " + b"S" * 124 + b"\n", "incomplete sync state entry at F:6"),
        (HEADER + b"1 1 S\0\n", "incomplete sync state entry at F:6"),
        (b"X" * 130 + b"\n\n", "incomplete sync state header entry at F:1"),
    ]

    def test_rows(self) -> None:
        """
        Each invalid file raises StateError with mbsync's message.
        """
        for data, message in self.rows:
            error = self.assertRaises(StateError, parse_state, data, "F")
            self.assertEqual(str(error), message, data)

    def test_longest_line(self) -> None:
        """
        A 126-character line plus newline still fits mbsync's buffer.
        """
        line = b"1 1 " + b" " * 122
        self.assertEqual(len(line), 126)
        self.assertEqual(len(parse_state(HEADER + line + b"\n", "F")), 1)


class FormatTests(SynchronousTestCase):
    """
    format_state writes what mbsync writes.
    """

    def test_layout(self) -> None:
        """
        Header order, MaxExpiredFarUid only when nonzero, trailing space
        without flags, markers, dead records omitted, list order kept.
        """
        state = SyncState(5, 6, 7, 8)
        state.append(SyncRecord(9, 1, Flags.SEEN | Flags.DRAFT))
        state.append(SyncRecord(2, 0))
        state.append(SyncRecord(3, 3, status=Status.DEAD))
        state.append(SyncRecord(4, 4, Flags.FLAGGED, Status.DUMMY_N | Status.EXPIRED))
        state.append(SyncRecord(5, 5, status=Status.DUMMY_F | Status.SKIPPED))
        self.assertEqual(
            format_state(state),
            b"FarUidValidity 5\nNearUidValidity 6\nMaxPulledUid 7\nMaxPushedUid 8\n\n"
            b"9 1 DS\n2 0 \n4 4 >~F\n5 5 <^\n",
        )
        state.max_expired_far_uid = 3
        self.assertIn(b"MaxPushedUid 8\nMaxExpiredFarUid 3\n\n", format_state(state))


uids = st.integers(0, 2**32 - 1)
markers = st.sampled_from(
    [
        Status.NONE,
        Status.DUMMY_F,
        Status.DUMMY_N,
        Status.SKIPPED,
        Status.EXPIRE | Status.EXPIRED,
    ]
)


@st.composite
def states(draw: st.DrawFn) -> SyncState:
    """
    States whose every record survives a write/read cycle.
    """
    state = SyncState(draw(uids), draw(uids), draw(uids), draw(uids), draw(uids))
    for _ in range(draw(st.integers(0, 8))):
        far = draw(st.integers(0, 2**32 - 2))
        near = draw(st.integers(0, 2**32 - 2))
        state.append(SyncRecord(far, near, Flags(draw(st.integers(0, 63))), draw(markers)))
    return state


class PropertyTests(SynchronousTestCase):
    """
    Round trips over generated states.
    """

    @given(states())
    def test_parse_format(self, state: SyncState) -> None:
        """
        parse(format(s)) == s, and format(parse(format(s))) == format(s).
        """
        text = format_state(state)
        parsed = parse_state(text, "s")
        self.assertEqual(parsed, state)
        self.assertEqual(format_state(parsed), text)

    @given(st.binary(max_size=300))
    def test_garbage(self, data: bytes) -> None:
        """
        Arbitrary bytes either parse or raise StateError, nothing else.
        """
        try:
            parse_state(data, "g")
        except StateError:
            pass


class BigStateTests(SynchronousTestCase):
    """
    A state of many records (written in chunks) is every line in order.
    """

    def test_many_records(self) -> None:
        """
        10,000 records, dead ones among them, format as their lines in list
        order without the dead, and parse back to the same state.
        """
        state = SyncState(1, 2, 10_000, 10_000)
        lines = []
        for uid in range(1, 10_001):
            dead = uid % 1000 == 0
            state.append(SyncRecord(uid, uid, Flags.SEEN, Status.DEAD if dead else Status.NONE))
            if not dead:
                lines.append(f"{uid} {uid} S\n")
        text = format_state(state)
        header = b"FarUidValidity 1\nNearUidValidity 2\nMaxPulledUid 10000\nMaxPushedUid 10000\n\n"
        self.assertEqual(text, header + "".join(lines).encode())
        state.purge_dead()
        self.assertEqual(parse_state(text, "big"), state)


class SplitStateTests(SynchronousTestCase):
    """
    L{split_state}: the header parsed, the record lines kept as read.
    """

    def test_far_uids(self) -> None:
        """
        The far UID of every line, in file order, as the parsed records
        say, from the text as read or from the lines joined again.
        """
        state = SyncState(7, 9, 40, 12)
        for far, near in ((5, 3), (0, 8), (31, 0), (12, 4), (123456789, 77)):
            state.append(SyncRecord(far, near, Flags.SEEN, Status.NONE))
        text = format_state(state)
        split = split_state(text, "state")
        assert split is not None
        header, lines = split
        self.assertEqual(len(header), 0)
        expected = [record.far_uid for record in parse_state(text, "state")]
        self.assertEqual(expected, [5, 0, 31, 12, 123456789])
        self.assertEqual(list(lines.far_uids()), expected)
        self.assertEqual(list(RecordLines(lines.lines).far_uids()), expected)
        nears = [record.near_uid for record in parse_state(text, "state")]
        self.assertEqual(nears, [3, 8, 0, 4, 77])
        self.assertEqual(list(lines.near_uids()), nears)
        self.assertEqual(list(RecordLines(lines.lines).near_uids()), nears)
        self.assertFalse(lines.marked())

    def test_marked(self) -> None:
        """
        L{RecordLines.marked} finds a placeholder, skipped or expired mark
        on any line.
        """
        for status in (Status.DUMMY_F, Status.DUMMY_N, Status.SKIPPED, Status.EXPIRED):
            state = SyncState(7, 9, 40, 12)
            state.append(SyncRecord(5, 3, Flags.SEEN, Status.NONE))
            state.append(SyncRecord(6, 4, Flags.SEEN, status))
            split = split_state(format_state(state), "state")
            assert split is not None
            self.assertTrue(split[1].marked(), status)


#: Every status a record can be written with (marks and dummies combined).
_ANY_STATUS = st.sampled_from(
    [
        Status.NONE,
        Status.DUMMY_F,
        Status.DUMMY_N,
        Status.SKIPPED,
        Status.EXPIRE | Status.EXPIRED,
        Status.DUMMY_F | Status.SKIPPED,
        Status.DUMMY_N | Status.EXPIRE | Status.EXPIRED,
    ]
)
_ANY_UID = st.one_of(st.integers(0, 2000), st.integers(999_999_990, 1_000_000_010))


@st.composite
def any_states(draw: st.DrawFn) -> SyncState:
    """
    States with any record format_state can write, canonical or not.
    """
    state = SyncState(1, 2, 3, 4)
    for _ in range(draw(st.integers(0, 6))):
        record = SyncRecord(
            draw(_ANY_UID), draw(_ANY_UID), Flags(draw(st.integers(0, 63))), draw(_ANY_STATUS)
        )
        state.append(record)
    return state


class RecordsCacheTests(SynchronousTestCase):
    """
    The records cache: the far and near UIDs of each record line of a
    canonical state file, named by the file's digest, so a partial run need
    not check every line (L{split_state} with C{uids}).
    """

    @given(any_states())
    def test_canonical_uids(self, state: SyncState) -> None:
        """
        L{canonical_uids} gives the far and near UIDs exactly when every
        line L{format_state} writes is canonical as L{split_state} checks
        it.
        """
        text = format_state(state)
        found = canonical_uids(state)
        split = split_state(text, "s")
        self.assertEqual(found is not None, split is not None)
        if split is not None and found is not None:
            self.assertEqual(list(found[0]), list(split[1].far_uids()))
            self.assertEqual(list(found[1]), list(split[1].near_uids()))

    @given(any_states(), st.integers(0, 6), st.sampled_from([Flags.SEEN, Flags.FLAGGED]))
    def test_merged(self, state: SyncState, taken: int, flags: Flags) -> None:
        """
        L{format_merged_indexed} gives the text L{format_state} writes for
        the whole state, and the far UIDs when every line is canonical:
        a record taken and changed, one killed, one added.
        """
        split = split_state(format_state(state), "s")
        if split is None:
            return
        header, lines = split
        chosen = sorted({taken % len(lines.lines), 0}) if lines.lines else []
        whole = parse_state(format_state(state), "s")
        picked = []
        for index in chosen:
            record = lines.record(index, "s")
            header.append(record)
            picked.append((index, record))
        for position, (index, record) in enumerate(picked):
            if position:
                record.status = Status.DEAD
                whole.records[index].status = Status.DEAD
            else:
                record.flags = flags
                whole.records[index].flags = flags
        for target in (header, whole):
            target.append(SyncRecord(2001, 2002, Flags.SEEN))
        text, uids = format_merged_indexed(header, lines, picked)
        self.assertEqual(text, format_state(whole))
        self.assertEqual(uids is None, canonical_uids(whole) is None)
        if uids is not None:
            live = [r for r in whole.records if not r.dead]
            self.assertEqual(list(uids[0]), [r.far_uid for r in live])
            self.assertEqual(list(uids[1]), [r.near_uid for r in live])

    def test_vouched(self) -> None:
        """
        A cache read back for its text vouches for the lines: they are not
        checked again; for another text, or damaged, it is refused and the
        lines are checked.
        """
        state = SyncState(7, 9, 40, 12)
        for far, near in ((5, 3), (0, 8), (31, 0)):
            state.append(SyncRecord(far, near, Flags.SEEN, Status.NONE))
        text = format_state(state)
        uids = canonical_uids(state)
        assert uids is not None
        cache = format_records_cache(text, uids)
        found = parse_records_cache(cache, text)
        assert found is not None
        self.assertEqual([list(column) for column in found], [[5, 0, 31], [3, 8, 0]])
        other = text.replace(b"31 0 S", b"31 0 F")
        self.assertIsNone(parse_records_cache(cache, other))
        self.assertIsNone(parse_records_cache(cache[:-1], text))
        self.assertIsNone(parse_records_cache(cache[:20] + b"x" + cache[21:], text))
        self.assertIsNone(parse_records_cache(None, text))
        self.assertIsNone(parse_records_cache(b"", text))
        self.assertIsNone(
            parse_records_cache(cache.replace(b"msync-records 2", b"msync-records 1"), text)
        )
        self.patch(statetext, "_CANONICAL_BODY", re.compile(rb"(?!)"))
        split = split_state(text, "s", uids=found)
        assert split is not None
        self.assertEqual(list(split[1].far_uids()), [5, 0, 31])
        self.assertEqual(list(split[1].near_uids()), [3, 8, 0])
        # Too few UIDs for the lines: the lines are checked (and here refused).
        self.assertIsNone(split_state(text, "s", uids=(found[0][:2], found[1][:2])))
        self.assertIsNone(split_state(text, "s", uids=(found[0], found[1][:2])))


class SplitMemoryTests(SynchronousTestCase):
    """
    L{split_state} checks the record lines without memory in proportion
    to their number beyond the lines themselves (no timing asserted).
    """

    def test_check_holds_no_state_per_line(self) -> None:
        """
        Checking 20,000 lines (no records cache) allocates at most ten
        times the text at its peak: the lines as C{bytes} (about five
        times). A regular expression that kept backtracking state per
        line held about 65 times the text.
        """
        import tracemalloc

        state = SyncState(1, 2, 20_000, 20_000)
        for uid in range(1, 20_001):
            state.append(SyncRecord(uid, uid, Flags.SEEN))
        text = format_state(state)
        tracemalloc.start()
        try:
            split = split_state(text, "s")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert split is not None
        self.assertEqual(len(split[1].lines), 20_000)
        self.assertLess(peak, 10 * len(text))
