# -*- test-case-name: tests.daemon.test_localwatch -*-
"""
Tests for L{msync.daemon.localwatch}: polling on a clock. Inotify on a
real Maildir is in L{tests.integration.test_daemon_localwatch}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from msync.daemon.localwatch import PollingWatch


class PollingTests(SynchronousTestCase):
    """
    L{PollingWatch} compares directory times every period.
    """

    def test_change_reported_once(self) -> None:
        """
        A change of C{new/} or C{cur/} times is reported at the next poll,
        once; nothing is reported without a change; stop cancels polling.
        """
        clock = Clock()
        times = {"/m/INBOX": (1, 1), "/m/Sent": (5, 5)}
        seen: list[str] = []
        watch = PollingWatch(clock, 2, seen.append, stat=lambda path: times[path])
        watch.watch("/m/INBOX")
        watch.watch("/m/Sent")
        clock.advance(2)
        self.assertEqual(seen, [])
        times["/m/INBOX"] = (1, 2)
        clock.advance(1.9)
        self.assertEqual(seen, [])
        clock.advance(0.1)
        self.assertEqual(seen, ["/m/INBOX"])
        clock.advance(2)
        self.assertEqual(seen, ["/m/INBOX"])
        watch.stop()
        self.assertEqual(clock.getDelayedCalls(), [])
