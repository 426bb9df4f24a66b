# -*- test-case-name: tests.daemon.test_hooks -*-
"""
Tests for L{msync.daemon.hooks}: the hook queue (one at a time, merged,
environment, no shell) with a fake process reactor, and the mailboxes
file. A real hook run is in L{tests.integration.test_daemon_hooks}.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from msync.daemon.hooks import HookQueue, HookRun, MailboxesFile


class FakeProcesses:
    """
    Records spawnProcess calls; the test ends each process.
    """

    def __init__(self) -> None:
        self.spawned: list[tuple[Any, str, list[str], dict[str, str]]] = []

    def spawnProcess(  # noqa: N802 - Twisted's name
        self, protocol: Any, executable: str, args: list[str], env: dict[str, str], **kw: Any
    ) -> None:
        self.spawned.append((protocol, executable, args, env))

    def end(self, index: int, status: int = 0) -> None:
        protocol = self.spawned[index][0]
        protocol.childDataReceived(1, b"output\n")
        reason = ProcessDone(0) if status == 0 else ProcessTerminated(status)
        protocol.processEnded(Failure(reason))


class HookQueueTests(SynchronousTestCase):
    """
    L{HookQueue}.
    """

    def test_one_at_a_time_merged(self) -> None:
        """
        A second run waits for the first; runs queued for the same command
        and box merge their counts; the variables are in the environment
        and a plain command runs without a shell.
        """
        processes = FakeProcesses()
        queue = HookQueue(processes, {"PATH": "/bin"})  # type: ignore[arg-type]
        queue.submit(HookRun("notmuch new", "gmail", "INBOX", 3, 5))
        queue.submit(HookRun("notmuch new", "gmail", "Sent", 0, 1))
        queue.submit(HookRun("notmuch new", "gmail", "Sent", 0, 2))
        self.assertEqual(len(processes.spawned), 1)
        _, executable, args, env = processes.spawned[0]
        self.assertEqual((executable, args), ("notmuch", ["notmuch", "new"]))
        self.assertEqual(
            {k: v for k, v in env.items() if k.startswith("MSYNC_")},
            {
                "MSYNC_CHANNEL": "gmail",
                "MSYNC_BOX": "INBOX",
                "MSYNC_NEW": "3",
                "MSYNC_CHANGED": "5",
            },
        )
        self.assertEqual(env["PATH"], "/bin")
        processes.end(0)
        self.assertEqual(len(processes.spawned), 2)
        self.assertEqual(processes.spawned[1][3]["MSYNC_BOX"], "Sent")
        self.assertEqual(processes.spawned[1][3]["MSYNC_CHANGED"], "3")
        self.assertTrue(queue.busy)
        processes.end(1, status=2)
        self.assertFalse(queue.busy)
        self.assertEqual([status for _, status in queue.ran], [0, 2])

    def test_stop_waits_for_running(self) -> None:
        """
        Stopping drops queued runs and waits only for the running one.
        """
        processes = FakeProcesses()
        queue = HookQueue(processes, {})  # type: ignore[arg-type]
        queue.submit(HookRun("a", "c", "INBOX", 1, 1))
        queue.submit(HookRun("b", "c", "INBOX", 1, 1))
        stopped = Deferred.fromCoroutine(queue.stop())
        self.assertNoResult(stopped)
        processes.end(0)
        self.successResultOf(stopped)
        self.assertEqual(len(processes.spawned), 1)
        queue.submit(HookRun("a", "c", "INBOX", 1, 1))
        self.assertEqual(len(processes.spawned), 1)


class MailboxesFileTests(SynchronousTestCase):
    """
    L{MailboxesFile}: written atomically, only when changed.
    """

    def test_rewrite_only_on_change(self) -> None:
        """
        The same boxes twice write once; a new box rewrites; no temporary
        file is left behind.
        """
        directory = self.mktemp()
        os.makedirs(directory)
        path = os.path.join(directory, "mailboxes")
        file = MailboxesFile(path)
        self.assertTrue(file.update(["/m/INBOX", "/m/Sent"]))
        inode = os.stat(path).st_ino
        self.assertFalse(file.update(["/m/Sent", "/m/INBOX"]))
        self.assertEqual(os.stat(path).st_ino, inode)
        self.assertTrue(file.update(["/m/INBOX", "/m/Sent", "/m/Lists"]))
        with open(path) as stream:
            self.assertEqual(stream.read(), 'mailboxes "/m/INBOX" "/m/Lists" "/m/Sent"\n')
        self.assertEqual(os.listdir(directory), ["mailboxes"])
        self.assertEqual(file.writes, 2)
