# -*- test-case-name: tests.sync.test_statefile_crash -*-
"""
Tests for L{msync.sync.statefile} at every crash point: whatever system
call a session dies at, the next open yields the old state plus exactly the
journaled operations, or the committed state.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

from msync.errors import StateError
from msync.model import Flags
from msync.sync import statefile
from msync.sync.journal import JournalOp, SetFlags, apply_op
from msync.sync.statefile import StateFile
from msync.sync.statelock import JournalTesting, SystemCalls
from msync.sync.statetext import format_state
from tests.sync.statefixtures import (
    SESSION_OPS,
    STATE_S0,
    RecordingSystem,
    SimulatedCrash,
    StateFileTestCase,
    applied,
    listing,
)


class CrashTests(StateFileTestCase):
    """
    Whatever system call a session dies at, the next open yields the old
    state plus exactly the journaled operations, or the committed state.
    """

    def session(self, system: SystemCalls) -> None:
        """
        Open STATE_S0, log SESSION_OPS (syncing after the first), commit.
        """
        opened = StateFile.open(self.paths, system=system)
        try:
            opened.log(SESSION_OPS[0])
            opened.sync()
            for op in SESSION_OPS[1:]:
                opened.log(op)
            opened.commit()
        finally:
            # A dead process's descriptors close too.
            opened.close()

    def run_crashes(self, torn: bool) -> int:
        """
        Crash at every call of the session in turn and check the reopened
        state.

        @return: how many crash points were tried.
        """
        counting = RecordingSystem()
        self.write(self.paths.state, STATE_S0)
        self.session(counting)
        final = applied(STATE_S0, SESSION_OPS)
        self.assertEqual(listing(self.directory), {"INBOX": final})
        for index in range(len(counting.calls)):
            shutil.rmtree(self.directory)
            self.write(self.paths.state, STATE_S0)
            system = RecordingSystem(crash_at=index, torn=torn)
            try:
                self.session(system)
            except SimulatedCrash:
                pass
            call = counting.calls[index]
            done = counting.calls[:index]
            lines = done.count(("write", "INBOX.journal")) - 1
            if ("rename", "INBOX.new") in done:
                expected = final
            else:
                expected = applied(STATE_S0, SESSION_OPS[: max(lines, 0)])
            if torn and call == ("write", "INBOX.journal") and lines >= 0:
                # A torn entry: rejected where mbsync rejects it.
                error = self.assertRaises(StateError, StateFile.open, self.paths)
                self.assertEqual(
                    str(error), f"incomplete journal entry at {self.paths.journal}:{lines + 2}"
                )
                continue
            with StateFile.open(self.paths) as reopened:
                self.assertEqual(format_state(reopened.state), expected, (index, call))
                reopened.commit()
            self.assertEqual(listing(self.directory)["INBOX"], expected, (index, call))
        return len(counting.calls)

    def test_crash_at_every_call(self) -> None:
        """
        Crash points 1 (before any journal write: nothing changed), 2 (after
        journal writes: replayed), 3 (during commit, before the rename: the
        partial C{.new} is a marker; replay over the old state) and 4
        (after the rename: the stale journal is ignored), at every call.
        """
        self.assertEqual(self.run_crashes(torn=False), 25)

    def test_torn_writes(self) -> None:
        """
        A write cut in half: a torn journal entry makes open fail with
        mbsync's message (mbsync 1.4.4 refuses it the same way); a torn
        header has no C{.new} yet and is ignored; a torn C{.new} is a
        marker only.
        """
        self.run_crashes(torn=True)

    def test_replay_requires_new(self) -> None:
        """
        A journal without C{.new} is stale: ignored, and truncated by the
        next write.
        """
        self.write(self.paths.state, STATE_S0)
        self.write(self.paths.journal, b"4\n- 1 1\n")
        opened = self.open()
        self.assertFalse(opened.replayed)
        self.assertEqual(format_state(opened.state), STATE_S0)
        opened.log(SetFlags(1, 1, Flags.SEEN))
        self.assertEqual(listing(self.directory)["INBOX.journal"], b"4\n* 1 1 16\n")

    def test_replay_appends(self) -> None:
        """
        With C{.new}, the journal is replayed, the session is dirty, and
        new lines are appended after the replayed ones.
        """
        self.write(self.paths.state, STATE_S0)
        self.write(self.paths.journal, b"4\n- 1 1\n")
        self.write(self.paths.new, b"FarUid")
        opened = self.open()
        self.assertTrue(opened.replayed)
        self.assertTrue(opened.dirty)
        self.assertIsNone(opened.state.by_far(1))
        opened.log(SetFlags(2, 2, Flags.NONE))
        self.assertEqual(listing(self.directory)["INBOX.journal"], b"4\n- 1 1\n* 2 2 0\n")
        self.assertEqual(listing(self.directory)["INBOX.new"], b"")

    def test_replay_without_state(self) -> None:
        """
        A journal with C{.new} but no state file replays over an empty
        state (a new pair that crashed).
        """
        self.write(self.paths.journal, b"4\n| 5 6\n+ 1 0\n")
        self.write(self.paths.new, b"")
        opened = self.open()
        self.assertFalse(opened.existed)
        self.assertTrue(opened.replayed)
        self.assertEqual(
            format_state(opened.state),
            b"FarUidValidity 5\nNearUidValidity 6\nMaxPulledUid 0\nMaxPushedUid 0\n\n1 0 \n",
        )

    def test_empty_journal(self) -> None:
        """
        An empty journal with C{.new} is nothing to replay: the session is
        clean and the files stay (as mbsync 1.4.4 leaves them).
        """
        self.write(self.paths.state, STATE_S0)
        self.write(self.paths.journal, b"")
        self.write(self.paths.new, b"")
        opened = self.open()
        self.assertFalse(opened.replayed)
        opened.commit()
        opened.close()
        self.assertEqual(
            listing(self.directory),
            {"INBOX": STATE_S0, "INBOX.journal": b"", "INBOX.new": b""},
        )

    def test_bad_journals(self) -> None:
        """
        Torn, foreign-version and inconsistent journals fail the open with
        the journal's name and line, and leave every file as it was.
        """
        rows = [
            (b"4", f"incomplete journal header in {self.paths.journal}"),
            (b"4\n* 1 1 16\n* 2 2", f"incomplete journal entry at {self.paths.journal}:3"),
            (
                b"5\n",
                f"incompatible journal version (got 5, expected 4) in {self.paths.journal}",
            ),
            (
                b"4\n* 7 7 16\n",
                f"journal entry at {self.paths.journal}:2 refers to non-existing sync state entry",
            ),
        ]
        for journal, message in rows:
            self.write(self.paths.state, STATE_S0)
            self.write(self.paths.journal, journal)
            self.write(self.paths.new, b"")
            error = self.assertRaises(StateError, self.open)
            self.assertEqual(str(error), message)
            self.assertEqual(
                listing(self.directory),
                {"INBOX": STATE_S0, "INBOX.journal": journal, "INBOX.new": b""},
            )


#: Two groups of SESSION_OPS, each journaled with one write.
_GROUPS = [SESSION_OPS[:4], SESSION_OPS[4:]]


def crash_at_every_call(
    case: StateFileTestCase,
    session: Callable[[SystemCalls], None],
    journaled: Callable[[int], list[JournalOp]],
) -> list[tuple[str, str]]:
    """
    Run C{session} (which applies SESSION_OPS to STATE_S0, journals them
    in several writes and commits) whole, then once per system call it
    makes, dying at that call. After each, the reopened state must be
    STATE_S0 with C{journaled(writes)} applied, C{writes} being the
    journal writes made after the version line's, or the whole result
    once the new state was renamed in.

    @return: the system calls of the uninterrupted session.
    """
    counting = RecordingSystem()
    case.write(case.paths.state, STATE_S0)
    session(counting)
    final = applied(STATE_S0, SESSION_OPS)
    case.assertEqual(listing(case.directory), {"INBOX": final})
    for index in range(len(counting.calls)):
        shutil.rmtree(case.directory)
        case.write(case.paths.state, STATE_S0)
        try:
            session(RecordingSystem(crash_at=index))
        except SimulatedCrash:
            pass
        done = counting.calls[:index]
        writes = max(done.count(("write", "INBOX.journal")) - 1, 0)
        if ("rename", "INBOX.new") in done:
            expected = final
        else:
            expected = applied(STATE_S0, journaled(writes))
        with StateFile.open(case.paths) as reopened:
            case.assertEqual(format_state(reopened.state), expected, index)
            reopened.commit()
    return counting.calls


class GroupCommitTests(StateFileTestCase):
    """
    L{StateFile.write} with C{hold}: the lines of a group go out in one
    C{write}, in order, and only when flushed; a crash at any call leaves
    whole groups journaled (a prefix of the session), never a line that
    was not yet handed over.
    """

    def hold_group(self, opened: StateFile, ops: list[JournalOp]) -> None:
        """
        Apply C{ops} (as the planner does) and hand their lines over one
        by one, held.
        """
        last = None
        for op in ops:
            last = apply_op(opened.state, op, last, live=True)
            opened.write([op], hold=True)

    def session(self, system: SystemCalls) -> None:
        """
        Open STATE_S0, hold and flush the first group, sync, hold the
        second, commit (which flushes it first).
        """
        opened = StateFile.open(self.paths, system=system)
        try:
            self.hold_group(opened, _GROUPS[0])
            opened.flush()
            opened.sync()
            self.hold_group(opened, _GROUPS[1])
            opened.commit()
        finally:
            opened.close()

    def test_one_write_per_group(self) -> None:
        """
        The journal gets its version line and one write per group; the
        result is the state with every operation applied.
        """
        counting = RecordingSystem()
        self.write(self.paths.state, STATE_S0)
        self.session(counting)
        self.assertEqual(counting.calls.count(("write", "INBOX.journal")), 3)
        self.assertEqual(listing(self.directory), {"INBOX": applied(STATE_S0, SESSION_OPS)})

    def test_crash_at_every_call(self) -> None:
        """
        Dying at any call leaves the old state plus the groups whose
        write was made (all of a group or none of it), or the committed
        state.
        """
        calls = crash_at_every_call(
            self,
            self.session,
            lambda groups: [op for group in _GROUPS[:groups] for op in group],
        )
        self.assertEqual(len(calls), 19)

    def test_held_lines_wait_and_keep_order(self) -> None:
        """
        Held lines are not in the journal until a flush, a write without
        C{hold}, or close; they then come before the later lines.
        """
        self.write(self.paths.state, STATE_S0)
        opened = self.open()
        self.hold_group(opened, SESSION_OPS[:2])
        self.assertEqual(self.journal(), b"4\n")
        third = SESSION_OPS[2]
        apply_op(opened.state, third, None, live=True)
        opened.write([third])
        self.assertEqual(self.journal(), b"4\n+ 4 0\nF 1 4\n# 4 0 abcdefghijkl\n")
        self.hold_group(opened, SESSION_OPS[3:5])
        opened.close()
        with StateFile.open(self.paths) as reopened:
            self.assertEqual(format_state(reopened.state), applied(STATE_S0, SESSION_OPS[:5]))

    def test_countdown_writes_line_by_line(self) -> None:
        """
        Under C{-Tj<N>} held lines are written and counted one by one, so
        the countdown stops between two lines of a group as in mbsync.
        """
        self.write(self.paths.state, STATE_S0)
        testing = JournalTesting(limit=4, exit=_stop)
        opened = StateFile.open(self.paths, fsync=False, testing=testing)
        try:
            with self.assertRaises(_Stopped):
                self.hold_group(opened, SESSION_OPS[:4])
        finally:
            opened.close()
        self.assertEqual(self.journal(), b"4\n+ 4 0\nF 1 4\n")

    def journal(self) -> bytes:
        with open(self.paths.journal, "rb") as f:
            return f.read()


class _Stopped(Exception):
    """
    The C{-Tj<N>} countdown ran out.
    """


def _stop(status: int) -> None:
    raise _Stopped(status)


class BigWriteTests(StateFileTestCase):
    """
    L{StateFile.write} of more than L{statefile.LINES_PER_WRITE} lines:
    they go out in writes of that many, in order, and a crash leaves a
    prefix of whole writes journaled.
    """

    def session(self, system: SystemCalls) -> None:
        """
        Open STATE_S0, apply SESSION_OPS and write them in one call, commit.
        """
        opened = StateFile.open(self.paths, system=system)
        try:
            last = None
            for op in SESSION_OPS:
                last = apply_op(opened.state, op, last, live=True)
            opened.write(SESSION_OPS)
            opened.commit()
        finally:
            opened.close()

    def test_writes_of_limited_lines(self) -> None:
        """
        Eight lines at three per write are three journal writes after the
        version line; a crash at any call leaves the old state plus the
        whole writes made, or the committed state.
        """
        self.patch(statefile, "LINES_PER_WRITE", 3)
        calls = crash_at_every_call(self, self.session, lambda writes: SESSION_OPS[: 3 * writes])
        self.assertEqual(calls.count(("write", "INBOX.journal")), 4)
