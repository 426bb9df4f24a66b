# -*- test-case-name: tests.integration.test_daemon_hooks -*-
"""
L{msync.daemon.hooks} running a real shell hook on the real reactor.
"""

from __future__ import annotations

import os

from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from msync.daemon.hooks import HookQueue, HookRun


class RealHookTests(TestCase):
    """
    A hook through the real reactor.
    """

    def test_shell_hook_sees_variables(self) -> Deferred[None]:
        """
        A command needing a shell runs through /bin/sh and sees the
        variables.
        """
        from twisted.internet import reactor

        out = os.path.abspath(self.mktemp())
        queue = HookQueue(reactor, dict(os.environ))
        queue.submit(
            HookRun(
                f"echo $MSYNC_CHANNEL $MSYNC_BOX $MSYNC_NEW $MSYNC_CHANGED > {out}",
                "work",
                "INBOX",
                2,
                4,
            )
        )
        done: Deferred[None] = Deferred()

        def check() -> None:
            if queue.busy:
                reactor.callLater(0.05, check)
                return
            with open(out) as stream:
                self.assertEqual(stream.read(), "work INBOX 2 4\n")
            done.callback(None)

        check()
        return done
