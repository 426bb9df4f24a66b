# -*- test-case-name: tests.daemon.test_localwatch -*-
"""
Tests for L{msync.daemon.localwatch}: polling on a clock, inotify on a
real Maildir.
"""

from __future__ import annotations

import os

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from msync.daemon.localwatch import INotifyWatch, PollingWatch, local_watch


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


class INotifyTests(TestCase):
    """
    L{INotifyWatch} on a real Maildir with the real reactor.
    """

    def test_rename_in_cur(self) -> Deferred[None]:
        """
        Marking a message read (a rename in cur/) reports the box; tmp/
        is not watched.
        """
        from twisted.internet import reactor

        box = os.path.abspath(self.mktemp())
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(box, sub))
        with open(os.path.join(box, "cur", "1.1.h:2,"), "w") as stream:
            stream.write("Subject: x\n\nbody\n")
        seen: list[str] = []
        watch = local_watch(reactor, 2, seen.append)
        self.assertIsInstance(watch, INotifyWatch)
        self.addCleanup(watch.stop)
        watch.watch(box)
        with open(os.path.join(box, "tmp", "2.2.h"), "w") as stream:
            stream.write("x")
        os.rename(os.path.join(box, "cur", "1.1.h:2,"), os.path.join(box, "cur", "1.1.h:2,S"))
        done: Deferred[None] = Deferred()

        def check(tries: int = 0) -> None:
            if not seen and tries < 100:
                reactor.callLater(0.02, check, tries + 1)
                return
            self.assertEqual(set(seen), {box})
            done.callback(None)

        check()
        return done
