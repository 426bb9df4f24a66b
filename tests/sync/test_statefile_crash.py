# -*- test-case-name: tests.sync.test_statefile_crash -*-
"""
Tests for L{msync.sync.statefile} at every crash point: whatever system
call a session dies at, the next open yields the old state plus exactly the
journaled operations, or the committed state.
"""

from __future__ import annotations

import shutil

from msync.errors import StateError
from msync.model import Flags
from msync.sync.journal import SetFlags
from msync.sync.statefile import StateFile
from msync.sync.statelock import SystemCalls
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
