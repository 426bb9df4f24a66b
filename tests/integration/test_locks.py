# -*- test-case-name: tests.integration.test_locks -*-
"""
The POSIX locks msync shares with mbsync, seen from another process: the
state lock (L{msync.sync.statefile}) and the C{.uidvalidity} lock
(L{msync.stores.maildiruids}). The other process is a small Python child
holding or probing the lock, as mbsync would.
"""

from __future__ import annotations

import os
import subprocess
import sys

from msync.errors import ChannelLocked
from msync.sync.statefile import StateFile
from msync.sync.statetext import format_state
from tests.stores.maildirfixtures import MaildirTestCase
from tests.sync.statefixtures import LABEL, STATE_S0, StateFileTestCase, listing
from tests.sync.test_statefile import tree


class LockHolderTestCase(StateFileTestCase):
    """
    Helpers: another process holding a state lock.
    """

    def hold_lock_in_child(self, path: str) -> subprocess.Popen[str]:
        """
        Start a process that holds a POSIX write lock on C{path} until its
        stdin is closed.
        """
        script = (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o666)\n"
            "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
        )
        child = subprocess.Popen(
            [sys.executable, "-c", script, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(self.release_child, child)
        assert child.stdout is not None
        self.assertEqual(child.stdout.readline(), "locked\n")
        return child

    def release_child(self, child: subprocess.Popen[str]) -> None:
        """
        Let a child started by L{hold_lock_in_child} exit.
        """
        if child.returncode is None:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=60)
            assert child.stdout is not None
            child.stdout.close()


class StateLockTests(LockHolderTestCase):
    """
    The lock on C{<state>.lock} against another process.
    """

    def open_read_only(self) -> StateFile:
        """
        Open C{self.paths} read-only, closing it at the end of the test.
        """
        opened = StateFile.open(self.paths, channel_label=LABEL, read_only=True)
        self.addCleanup(opened.close)
        return opened

    def test_held_by_another_process(self) -> None:
        """
        While another process holds the lock, open fails with mbsync's
        message, leaving the state and the other's lock file alone; once
        it is released, open succeeds.
        """
        os.makedirs(self.directory)
        self.write(self.paths.state, STATE_S0)
        child = self.hold_lock_in_child(self.paths.lock)
        error = self.assertRaises(ChannelLocked, self.open)
        self.assertEqual(str(error), f"channel {LABEL} is locked")
        self.assertTrue(os.path.exists(self.paths.lock))
        self.assertEqual(listing(self.directory)["INBOX"], STATE_S0)
        self.release_child(child)
        self.assertEqual(format_state(self.open().state), STATE_S0)

    def test_held_in_this_process(self) -> None:
        """
        A second open in the same process is refused (POSIX locks would not
        exclude it), and does not drop the first one's lock.
        """
        first = self.open()
        self.assertRaises(ChannelLocked, self.open)
        script = (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
            "try:\n"
            "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except OSError:\n"
            "    print('held')\n"
        )
        check = subprocess.run(
            [sys.executable, "-c", script, self.paths.lock], capture_output=True, text=True
        )
        self.assertEqual(check.stdout, "held\n")
        first.close()
        self.open()

    def test_read_only_locked_elsewhere(self) -> None:
        """
        A lock another process holds is reported as L{ChannelLocked}; the
        lock file is neither removed nor changed.
        """
        self.write(self.paths.state, STATE_S0)
        self.hold_lock_in_child(self.paths.lock)
        before = tree(self.root)
        error = self.assertRaises(ChannelLocked, self.open_read_only)
        self.assertEqual(str(error), f"channel {LABEL} is locked")
        self.assertEqual(tree(self.root), before)


class UIDValidityLockTests(MaildirTestCase):
    """
    The lock on a Maildir box's C{.uidvalidity} against another process.
    """

    def test_locked_against_other_process(self) -> None:
        """
        While a box is open another process cannot take the POSIX lock
        mbsync takes on C{.uidvalidity}; after closing it can.
        """
        probe = (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try:\n"
            "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except OSError:\n"
            "    sys.exit(3)\n"
        )
        mailbox = self.open()
        path = f"{self.inbox}/.uidvalidity"
        locked = subprocess.run([sys.executable, "-c", probe, path], timeout=60)
        self.assertEqual(locked.returncode, 3)
        self.successResultOf(mailbox.close())
        free = subprocess.run([sys.executable, "-c", probe, path], timeout=60)
        self.assertEqual(free.returncode, 0)
