# -*- test-case-name: tests.sync.test_journal_testing -*-
"""
mbsync's journal test switches (C{-Tj}, C{-Tj<N>}) in L{msync.sync.statefile},
and the crash-resume cases isync's own test suite found: after a crash
right after the journal's C{= 2 0} / C{= 3 0} (MaxMessages expiring unborn
messages), the resumed run must not leave C{2 0} and C{3 0} in the state;
and the journal's C{F side uid} line for a Maildir box carries the highest
UID assigned, as mbsync's does, not that plus one.

The end-to-end cases run L{msync.sync.engine.sync_pair} on two real
Maildir boxes built as isync's C{run-tests.pl} builds them, crash it at
every journal step (before and after each line) and resume, as the suite
does, and compare boxes and state with an uninterrupted run.
"""

from __future__ import annotations

import os
import re

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from msync.config import schema
from msync.model import INBOX, Side
from msync.stores.maildirstore import MaildirStore
from msync.sync.engine import sync_pair
from msync.sync.journal import (
    ExpireUnborn,
    NewRecord,
    SetFlags,
    parse_journal,
    replay,
)
from msync.sync.options import PairOptions
from msync.sync.statefile import StateFile
from msync.sync.statelock import JournalTesting
from msync.sync.statepaths import StatePaths
from msync.sync.statetext import format_state, parse_state
from tests.sync.statefixtures import make_paths


class Crash(BaseException):
    """
    Stands for the process ending at a journal step (C{exit(100/101)}).
    """

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def crash(status: int) -> None:
    raise Crash(status)


HEADER = (
    "FarUidValidity 1\nMaxPulledUid 0\nNearUidValidity 1\nMaxExpiredFarUid 0\nMaxPushedUid 0\n\n"
)


class JournalTestingTests(SynchronousTestCase):
    """
    L{JournalTesting} and L{StateFile} under C{-Tj} and C{-Tj<N>}.
    """

    def setUp(self) -> None:
        self.directory = self.mktemp()
        self.paths = make_paths(self.directory)
        os.makedirs(self.directory)
        with open(self.paths.state, "w") as handle:
            handle.write(HEADER)

    def read(self, path: str) -> str | None:
        if not os.path.exists(path):
            return None
        with open(path) as handle:
            return handle.read()

    def test_keep_journal(self) -> None:
        """
        C{-Tj}: commit writes the new state to C{.new} and leaves the state
        file and the journal as they were; the next open replays the
        journal over the old state and reaches the same state.
        """
        testing = JournalTesting(keep_journal=True)
        with StateFile.open(self.paths, fsync=False, testing=testing) as statefile:
            statefile.log(NewRecord(1, 0))
            statefile.log(SetFlags(1, 0, statefile.state.records[0].flags))
            statefile.commit()
            expected = format_state(statefile.state).decode()
        self.assertEqual(self.read(self.paths.state), HEADER)
        self.assertEqual(self.read(self.paths.journal), "4\n+ 1 0\n* 1 0 0\n")
        self.assertEqual(self.read(self.paths.new), expected)
        with StateFile.open(self.paths, fsync=False) as statefile:
            self.assertTrue(statefile.replayed)
            statefile.commit()
        self.assertEqual(self.read(self.paths.state), expected)
        self.assertIsNone(self.read(self.paths.journal))
        self.assertIsNone(self.read(self.paths.new))

    def test_countdown(self) -> None:
        """
        C{-Tj<N>} counts twice per journal line (the version line not
        counted): an odd N ends the run with 101 before line (N+1)/2 is
        written, an even N with 100 right after line N/2; it implies
        C{-Tj}.
        """
        for limit, status, lines in [
            (1, 101, "4\n"),
            (2, 100, "4\n+ 1 0\n"),
            (3, 101, "4\n+ 1 0\n"),
            (4, 100, "4\n+ 1 0\n+ 2 0\n"),
        ]:
            testing = JournalTesting(limit=limit, exit=crash)
            self.assertTrue(testing.keep_journal)
            statefile = StateFile.open(self.paths, fsync=False, testing=testing)
            try:
                with self.assertRaises(Crash) as caught:
                    for uid in (1, 2, 3):
                        statefile.log(NewRecord(uid, 0))
            finally:
                statefile.close()
            self.assertEqual(
                (caught.exception.status, self.read(self.paths.journal)), (status, lines)
            )
            os.unlink(self.paths.journal)
            os.unlink(self.paths.new)

    def test_countdown_is_process_wide(self) -> None:
        """
        One countdown serves every state file of the run, as mbsync's
        global C{JLimit}.
        """
        testing = JournalTesting(limit=4, exit=crash)
        other = make_paths(self.directory, "other")
        with StateFile.open(self.paths, fsync=False, testing=testing) as first:
            first.log(NewRecord(1, 0))
        with StateFile.open(other, fsync=False, testing=testing) as second:
            with self.assertRaises(Crash) as caught:
                second.log(NewRecord(7, 0))
        self.assertEqual(caught.exception.status, 100)
        self.assertEqual(self.read(other.journal), "4\n+ 7 0\n")

    def test_no_limit(self) -> None:
        """
        Without switches nothing is counted and commit renames as always.
        """
        testing = JournalTesting()
        self.assertEqual((testing.keep_journal, testing.steps_left), (False, 0))
        for _ in range(5):
            testing.step(100)


class LiveAfterReplayTests(SynchronousTestCase):
    """
    Live journal operations address live records, even where a replay
    left a dead record with the same UID pair.
    """

    def test_expire_unborn_again_after_crash(self) -> None:
        """
        isync's "max messages vs. unread" case crashed right after
        C{= 3 0}: the replay leaves dead C{2 0} and C{3 0}; the resumed run
        creates them again and expires them again. Its C{= 2 0} and
        C{= 3 0} kill the new records, so the state keeps neither (before
        the fix they matched the dead ones and C{2 0}, C{3 0} stayed).
        """
        directory = self.mktemp()
        os.makedirs(directory)
        paths = make_paths(directory)
        with open(paths.state, "w") as handle:
            handle.write(HEADER)
        with open(paths.journal, "w") as handle:
            handle.write("4\n" + "".join(f"+ {uid} 0\n" for uid in range(1, 7)))
            handle.write("= 2 0\n= 3 0\n")
        open(paths.new, "w").close()
        with StateFile.open(paths, fsync=False) as statefile:
            self.assertTrue(statefile.replayed)
            self.assertEqual(statefile.state.max_expired_far_uid, 3)
            for uid in (2, 3):
                statefile.log(NewRecord(uid, 0))
            for uid in (2, 3):
                record = statefile.log(ExpireUnborn(uid, 0))
                assert record is not None
                self.assertTrue(record.dead)
            statefile.commit()
        with open(paths.state) as handle:
            entries = handle.read().split("\n\n", 1)[1]
        self.assertEqual(entries, "1 0 \n4 0 \n5 0 \n6 0 \n")

    def test_replay_matches_as_mbsync(self) -> None:
        """
        Replay itself keeps mbsync 1.4.4's matching, dead records included
        (checked with mbsync: of a dead and a new C{1 1}, C{* 1 1 2} looked
        up from the start flags the dead one).
        """
        state = parse_state(
            "FarUidValidity 1\nMaxPulledUid 6\nNearUidValidity 1\nMaxPushedUid 0\n\n"
            "0 3 \n1 1 \n5 5 \n",
            "state",
        )
        replay(state, parse_journal("4\n- 1 1\n+ 1 1\n* 0 3 2\n* 1 1 2\n", "journal"))
        self.assertEqual(format_state(state).decode().split("\n\n", 1)[1], "0 3 F\n5 5 \n1 1 \n")


# End to end: isync's run-tests.pl cases on real Maildir boxes.

_SUBJECT = re.compile(r"^Subject: (\d+)$", re.MULTILINE)
_UID = re.compile(r",U=(\d+):2,(.*)$")

# (serial, uid, flags); serial 1 is mbsync's "A".
Box = tuple[int, list[tuple[int, int, str]]]

X30_FAR: Box = (6, [(1, 1, "F"), (2, 2, ""), (3, 3, "S"), (4, 4, ""), (5, 5, "S"), (6, 6, "")])


class Tree:
    """
    A far and a near Maildir box and the pair's state, as C{run-tests.pl}'s
    C{mkchan} makes them.
    """

    def __init__(self, root: str, far: Box, near: Box) -> None:
        self.root = root
        os.makedirs(root)
        for name, (max_uid, messages) in (("far", far), ("near", near)):
            for subdir in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(root, name, subdir))
            with open(os.path.join(root, name, ".uidvalidity"), "w") as handle:
                handle.write(f"1\n{max_uid}\n")
            for serial, uid, flags in messages:
                subdir = "cur" if "S" in flags else "new"
                path = os.path.join(root, name, subdir, f"0.1_{serial}.local,U={uid}:2,{flags}")
                with open(path, "w") as handle:
                    handle.write(
                        "From: foo\nTo: bar\nDate: Thu, 1 Jan 1970 00:00:00 +0000\n"
                        f"Subject: {serial}\n\n"
                    )
        self.paths = StatePaths(
            directory=None,
            state=os.path.join(root, "near", ".mbsyncstate"),
            journal=os.path.join(root, "near", ".mbsyncstate.journal"),
            new=os.path.join(root, "near", ".mbsyncstate.new"),
            lock=os.path.join(root, "near", ".mbsyncstate.lock"),
        )
        with open(self.paths.state, "w") as handle:
            handle.write(HEADER)

    def store(self, name: str, clock: Clock) -> MaildirStore:
        config = schema.MaildirStore(
            name=name, inbox=os.path.join(self.root, name), path=self.root + "/"
        )
        return MaildirStore(config, fsync=False, clock=clock, mtime_wait=False)

    def sync(
        self, case: SynchronousTestCase, options: PairOptions, testing: JournalTesting
    ) -> None:
        """
        Run one sync; a L{Crash} propagates.
        """
        clock = Clock()
        clock.advance(1_600_000_000)
        far, near = self.store("far", clock), self.store("near", clock)
        try:
            done = Deferred.fromCoroutine(
                sync_pair(
                    far,
                    near,
                    INBOX,
                    INBOX,
                    options,
                    self.paths,
                    fsync=False,
                    journal_testing=testing,
                )
            )
            outcome: list[object] = []
            done.addBoth(outcome.append)
            case.assertTrue(outcome, "the sync did not finish at once")
            if isinstance(outcome[0], Failure):
                outcome[0].raiseException()
        finally:
            far.close()
            near.close()

    def box(self, name: str) -> tuple[str, list[tuple[int, str, str]]]:
        """
        The box's C{.uidvalidity} line 2 and its messages (uid, serial, flags).
        """
        with open(os.path.join(self.root, name, ".uidvalidity")) as handle:
            max_uid = handle.read().split("\n")[1]
        messages = []
        for subdir in ("cur", "new"):
            for file in os.listdir(os.path.join(self.root, name, subdir)):
                match = _UID.search(file)
                assert match is not None, file
                with open(os.path.join(self.root, name, subdir, file)) as handle:
                    subject = _SUBJECT.search(handle.read())
                assert subject is not None
                messages.append((int(match.group(1)), subject.group(1), match.group(2)))
        return max_uid, sorted(messages)

    def read(self, path: str) -> str:
        with open(path) as handle:
            return handle.read()


class SuiteCaseTests(SynchronousTestCase):
    """
    isync's C{run-tests.pl} cases on Maildir boxes, crashed at every
    journal step and resumed.
    """

    def check_every_crash(self, far: Box, near: Box, options: PairOptions, expected: str) -> str:
        """
        Sync once uninterrupted (with C{-Tj}), then crash at every step and
        resume (with C{-Tj}): every resume ends with the same boxes and the
        same C{.new} state, which is C{expected}.

        @return: the uninterrupted run's journal.
        """
        reference = Tree(self.mktemp(), far, near)
        reference.sync(self, options, JournalTesting(keep_journal=True))
        journal = reference.read(reference.paths.journal)
        self.assertEqual(reference.read(reference.paths.new), expected)
        wanted = (reference.box("far"), reference.box("near"), expected)
        steps = (len(journal.splitlines()) - 1) * 2
        self.assertGreater(steps, 10)
        outcomes = {}
        for step in range(1, steps + 1):
            tree = Tree(self.mktemp(), far, near)
            with self.assertRaises(Crash) as caught:
                tree.sync(self, options, JournalTesting(limit=step, exit=crash))
            self.assertEqual(caught.exception.status, 100 + (step & 1))
            tree.sync(self, options, JournalTesting(keep_journal=True))
            got = (tree.box("far"), tree.box("near"), tree.read(tree.paths.new))
            outcomes[step] = got == wanted or got
        self.assertEqual(outcomes, dict.fromkeys(outcomes, True))
        return journal

    def test_max_messages_vs_unread(self) -> None:
        """
        "max messages vs. unread" (MaxMessages 3, ExpireUnread yes): every
        crash is resumed to mbsync's result, including the crash right
        after C{= 3 0}, which left C{2 0} and C{3 0} in the state.
        """
        expected = (
            "FarUidValidity 1\nNearUidValidity 1\nMaxPulledUid 6\nMaxPushedUid 4\n"
            "MaxExpiredFarUid 3\n\n1 1 F\n4 2 \n5 3 S\n6 4 \n"
        )
        options = PairOptions(max_messages=3, expire_unread=True, channel="test")
        journal = self.check_every_crash(X30_FAR, (0, []), options, expected)
        self.assertIn("= 2 0\n= 3 0\n", journal)

    def test_find_uid_is_highest_assigned(self) -> None:
        """
        The journal's C{F 1 uid} for a Maildir near box is the highest UID
        assigned (its C{.uidvalidity}'s second line), as mbsync writes it:
        C{F 1 0} for a fresh box, C{F 1 9} after UID 9, new copies then
        numbered from 10.
        """
        for max_uid, first in ((0, 1), (9, 10)):
            tree = Tree(self.mktemp(), (1, [(1, 1, "")]), (max_uid, []))
            tree.sync(self, PairOptions(channel="test"), JournalTesting(keep_journal=True))
            lines = tree.read(tree.paths.journal).splitlines()
            self.assertIn(f"F {Side.NEAR.value} {max_uid}", lines)
            self.assertEqual(tree.box("near")[1], [(first, "1", "")])
