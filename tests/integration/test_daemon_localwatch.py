# -*- test-case-name: tests.integration.test_daemon_localwatch -*-
"""
L{msync.daemon.localwatch}: inotify on a real Maildir, on the real reactor.
"""

from __future__ import annotations

import os

from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from msync.daemon.localwatch import INotifyWatch, local_watch


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
