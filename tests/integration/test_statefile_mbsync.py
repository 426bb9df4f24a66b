# -*- test-case-name: tests.integration.test_statefile_mbsync -*-
"""
Tests for L{msync.sync.statefile} with the installed mbsync 1.4.4 as the
oracle for the files it reads and leaves, and for the lock they share
(these runs need C{mbsync}; missing, they fail rather than skip).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Sequence

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import ChannelLocked
from msync.sync.journal import JournalOp, parse_journal
from msync.sync.statefile import StateFile
from tests.integration.mbsynctree import MaildirTree, find_mbsync
from tests.sync.statefixtures import LABEL


class MbsyncInteropTests(SynchronousTestCase):
    """
    Files left by mbsync are resolved by msync as mbsync resolves them, and
    files left by msync are accepted by mbsync.
    """

    def setUp(self) -> None:
        self.mbsync = find_mbsync(self)
        self.base = os.path.abspath(self.mktemp())
        self.counter = 0

    def scratch(self) -> str:
        """
        A fresh directory name.
        """
        self.counter += 1
        return f"{self.base}.{self.counter}"

    def check(self, result: subprocess.CompletedProcess[str], *codes: int) -> None:
        """
        Assert mbsync exited with one of C{codes}.
        """
        self.assertIn(result.returncode, codes, result.stderr)

    def pending_tree(self) -> MaildirTree:
        """
        A pair synced once by mbsync, then changed on both sides: three new
        far messages, two new near ones, a far flag change and a near
        deletion (about 20 journal lines to sync).
        """
        tree = MaildirTree.create(self.mbsync, self.base)
        for number in (1, 2, 3):
            tree.add("far", f"100{number}.1_{number}.host")
        self.check(tree.run(), 0)
        for number in (4, 5, 6):
            tree.add("far", f"100{number}.1_{number}.host")
        for number in (7, 8):
            tree.add("near", f"200{number}.1_{number}.host")
        cur = os.path.join(tree.root, "far", "INBOX", "cur")
        first = next(name for name in os.listdir(cur) if name.startswith("1001."))
        os.rename(os.path.join(cur, first), os.path.join(cur, first + "FS"))
        for sub in ("cur", "new"):
            box = os.path.join(tree.root, "near", "INBOX", sub)
            for name in os.listdir(box):
                if ",U=2:" in name:
                    os.unlink(os.path.join(box, name))
        return tree

    def msync_commit(self, tree: MaildirTree, ops: Sequence[JournalOp] = ()) -> StateFile:
        """
        Open C{tree}'s state with msync, log C{ops}, commit and close.

        @return: the closed StateFile.
        """
        with StateFile.open(tree.paths, channel_label=LABEL) as opened:
            for op in ops:
                opened.log(op)
            opened.commit()
        return opened

    def test_recovers_every_mbsync_crash(self) -> None:
        """
        For every crash point of a real mbsync run (C{-Tj<N>}), msync's
        replay plus the operations mbsync's own recovery run logs commit
        byte-for-byte the state that recovery run writes (kept in C{.new}
        by C{-Tj}).
        """
        pending = self.pending_tree()
        points = 0
        for crash in range(1, 100):
            crashed = pending.copy(self.scratch())
            result = crashed.run(f"-Tj{crash}")
            if result.returncode == 0:
                break
            self.check(result, 100, 101)
            points += 1
            left = crashed.state_files()
            recovery = crashed.copy(self.scratch())
            self.check(recovery.run("-Tj"), 0)
            recovered = recovery.state_files()
            journal = left.get("INBOX.journal", b"")
            if "INBOX.new" in left and journal:
                # mbsync appended to the journal it replayed.
                self.assertTrue(recovered["INBOX.journal"].startswith(journal))
                done = len(parse_journal(journal, "J"))
            else:
                done = 0
            suffix = parse_journal(recovered["INBOX.journal"], "J")[done:]
            opened = self.msync_commit(crashed, suffix)
            self.assertEqual(opened.replayed, done > 0 or journal == b"4\n")
            self.assertEqual(
                crashed.state_files(), {"INBOX": recovered["INBOX.new"]}, f"-Tj{crash}"
            )
        self.assertGreater(points, 30)

    def test_mbsync_recovers_msync_journal(self) -> None:
        """
        The journal and marker msync writes for the operations of an
        interrupted mbsync run are byte-identical to mbsync's, written
        fresh or appended after a replay; mbsync then recovers msync's
        files to the same state as its own.
        """
        pending = self.pending_tree()
        for crash in (6, 18, 30, 40):
            crashed = pending.copy(self.scratch())
            self.check(crashed.run(f"-Tj{crash}"), 100, 101)
            left = crashed.state_files()
            ops = parse_journal(left["INBOX.journal"], "J")
            for replayed in (0, len(ops) // 2):
                mine = crashed.copy(self.scratch())
                state_dir = os.path.join(mine.root, "state")
                for name in ("INBOX.journal", "INBOX.new", "INBOX.lock"):
                    os.unlink(os.path.join(state_dir, name))
                if replayed:
                    lines = left["INBOX.journal"].split(b"\n")
                    with open(mine.paths.journal, "wb") as f:
                        f.write(b"\n".join(lines[: replayed + 1]) + b"\n")
                    with open(mine.paths.new, "wb") as f:
                        f.write(b"Partial")
                opened = StateFile.open(mine.paths, channel_label=LABEL)
                self.assertEqual(opened.replayed, bool(replayed))
                for op in ops[replayed:]:
                    opened.log(op)
                opened.close()
                expected = dict(left)
                del expected["INBOX.lock"]
                self.assertEqual(mine.state_files(), expected)
                self.check(mine.run(), 0)
            self.check(crashed.run(), 0)
            self.assertEqual(set(crashed.state_files()), {"INBOX"})
            self.assertEqual(mine.state_files(), crashed.state_files())
            self.assertEqual(len(mine.messages("near")), len(crashed.messages("near")))

    def test_commit_accepted_by_mbsync(self) -> None:
        """
        A state msync commits (here: recovering a crash between writing
        C{.new} and renaming it) is one mbsync continues from: its runs
        complete and end where mbsync's own recovery ends.
        """
        pending = self.pending_tree()
        done = pending.copy(self.scratch())
        self.check(done.run("-Tj"), 0)
        new = done.state_files()["INBOX.new"]
        mine = done.copy(self.scratch())
        theirs = done.copy(self.scratch())
        self.assertTrue(self.msync_commit(mine).replayed)
        self.assertEqual(mine.state_files(), {"INBOX": new})
        self.check(theirs.run(), 0)
        for tree in (mine, theirs):
            self.check(tree.run(), 0)
            tree.add("far", "1009.1_9.host", "S")
            tree.add("near", "2009.1_9.host", "F")
            self.check(tree.run(), 0)
        self.assertEqual(mine.state_files(), theirs.state_files())
        self.assertIn(b"\n9 10 S\n", mine.state_files()["INBOX"])
        self.assertIn(b"\n10 9 F\n", mine.state_files()["INBOX"])

    def test_leftover_files_resolved_as_mbsync(self) -> None:
        """
        On a pair with nothing to sync, each combination of leftover files
        (every crash point, stale lock, empty journal or marker) ends, after
        msync's open/commit/close, exactly as after an mbsync run: same
        files, same contents, and the state rewritten or not alike.
        """
        pending = self.pending_tree()
        done = pending.copy(self.scratch())
        self.check(done.run("-Tj"), 0)
        # done: old state, the full journal and the complete .new, as a
        # crash between writing .new and renaming it would leave.
        files = done.state_files()
        old, journal, new = files["INBOX"], files["INBOX.journal"], files["INBOX.new"]
        rows: dict[str, dict[str, bytes]] = {
            "1 clean": {"INBOX": new},
            "1 stale lock": {"INBOX": new, "INBOX.lock": b""},
            "2 journal header only": {"INBOX": new, "INBOX.journal": b"4\n", "INBOX.new": b""},
            "2 empty journal": {"INBOX": new, "INBOX.journal": b"", "INBOX.new": b""},
            "2 marker only": {"INBOX": new, "INBOX.new": b""},
            "3 complete new": {"INBOX": old, "INBOX.journal": journal, "INBOX.new": new},
            "3 partial new": {
                "INBOX": old,
                "INBOX.journal": journal,
                "INBOX.new": new[: len(new) // 2],
            },
            "4 stale journal": {"INBOX": new, "INBOX.journal": journal},
        }
        for name, contents in rows.items():
            trees = []
            for _ in range(2):
                tree = done.copy(self.scratch())
                state_dir = os.path.join(tree.root, "state")
                shutil.rmtree(state_dir)
                os.mkdir(state_dir, 0o700)
                for file_name, data in contents.items():
                    with open(os.path.join(state_dir, file_name), "wb") as f:
                        f.write(data)
                os.utime(tree.paths.state, ns=(10**9, 10**9))
                trees.append(tree)
            theirs, mine = trees
            self.check(theirs.run(), 0)
            self.msync_commit(mine)
            self.assertEqual(mine.state_files(), theirs.state_files(), name)
            self.assertEqual(
                os.stat(mine.paths.state).st_mtime_ns == 10**9,
                os.stat(theirs.paths.state).st_mtime_ns == 10**9,
                name,
            )


class MbsyncLockTests(SynchronousTestCase):
    """
    msync and mbsync exclude each other through the same POSIX lock.
    """

    def setUp(self) -> None:
        mbsync = find_mbsync(self)
        self.tree = MaildirTree.create(mbsync, os.path.abspath(self.mktemp()))
        self.tree.add("far", "1001.1_1.host")
        result = self.tree.run()
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_mbsync_sees_msync_lock(self) -> None:
        """
        While msync holds the lock, mbsync reports the channel locked and
        fails (exit 1) without touching the state.
        """
        before = self.tree.state_files()
        self.tree.add("far", "1002.1_2.host")
        with StateFile.open(self.tree.paths, channel_label=LABEL):
            result = self.tree.run()
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"Error: channel {LABEL} is locked", result.stderr)
        self.assertEqual(self.tree.state_files(), before)

    def test_msync_sees_mbsync_lock(self) -> None:
        """
        While mbsync holds the lock (parked on the far box's UIDVALIDITY
        lock, which it takes after the state lock), msync's open raises
        ChannelLocked; mbsync then completes normally.
        """
        uidvalidity = os.path.join(self.tree.root, "far", "INBOX", ".uidvalidity")
        blocker = os.open(uidvalidity, os.O_RDWR)
        try:
            fcntl.lockf(blocker, fcntl.LOCK_EX)
            past = time.time() - 100
            for directory, _, _ in os.walk(self.tree.root):
                os.utime(directory, (past, past))
            process = subprocess.Popen(
                [self.tree.mbsync, "-c", self.tree.rc, "test"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.wait_for_lock(process.pid, self.tree.paths.lock)
            error = self.assertRaises(
                ChannelLocked, StateFile.open, self.tree.paths, channel_label=LABEL
            )
            self.assertEqual(str(error), f"channel {LABEL} is locked")
        finally:
            os.close(blocker)
        _, stderr = process.communicate(timeout=60)
        self.assertEqual(process.returncode, 0, stderr)
        self.assertFalse(os.path.exists(self.tree.paths.lock))
        StateFile.open(self.tree.paths).close()

    def wait_for_lock(self, pid: int, path: str) -> None:
        """
        Wait until process C{pid} holds a POSIX lock on C{path}
        (C{/proc/locks}).
        """
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(path):
                inode = os.stat(path).st_ino
                with open("/proc/locks") as f:
                    for line in f:
                        fields = line.split()
                        if "->" in fields:
                            continue
                        if fields[1] == "POSIX" and fields[4] == str(pid):
                            if fields[5].rsplit(":", 1)[-1] == str(inode):
                                return
            time.sleep(0.01)
        self.fail("mbsync did not take the state lock")
