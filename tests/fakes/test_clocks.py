# -*- test-case-name: tests.fakes.test_clocks -*-
"""
Tests for L{tests.fakes.clocks}: L{drive} runs coroutines on a fake clock,
and the fake reactors give threads inline and refuse processes.
"""

from __future__ import annotations

import time

from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.trial.unittest import SynchronousTestCase

from tests.fakes.clocks import FakeMailReactor, clock_at_now, drive, reactor_at_now


class DriveTests(SynchronousTestCase):
    """
    L{drive} advances the clock until the work is done.
    """

    def test_waits_on_the_clock(self) -> None:
        """
        A coroutine sleeping 3.5 s on the clock finishes after four steps
        of a second, with its result.
        """
        clock = Clock()

        async def nap() -> str:
            await deferLater(clock, 3.5, lambda: None)
            return "rested"

        self.assertEqual(drive(clock, nap()), "rested")
        self.assertEqual(clock.seconds(), 4.0)

    def test_raises_the_failure(self) -> None:
        """
        What the work raises, L{drive} raises.
        """

        async def broken() -> None:
            raise ValueError("no")

        self.assertRaises(ValueError, drive, Clock(), broken())

    def test_limit(self) -> None:
        """
        Work waiting on something other than the clock fails after C{limit}
        steps instead of hanging.
        """
        never: Deferred[None] = Deferred()
        error = self.assertRaises(AssertionError, drive, Clock(), never, limit=3)
        self.assertIn("not finished after 3 steps", str(error))

    def test_clock_at_now(self) -> None:
        """
        The clocks start at the wall-clock time, as the files a test makes.
        """
        before = time.time()
        self.assertGreaterEqual(clock_at_now(Clock()).seconds(), before)
        self.assertGreaterEqual(reactor_at_now().seconds(), before)


class FakeMailReactorTests(SynchronousTestCase):
    """
    L{FakeMailReactor}: inline threads, no processes.
    """

    def test_thread_pool_inline(self) -> None:
        """
        C{deferToThreadPool} runs the call at once and fires with its
        result, or its exception.
        """
        reactor = FakeMailReactor()
        done = deferToThreadPool(reactor, reactor.getThreadPool(), lambda x: x * 2, 21)
        self.assertEqual(self.successResultOf(done), 42)

        def fail() -> None:
            raise KeyError("k")

        self.failureResultOf(deferToThreadPool(reactor, reactor.getThreadPool(), fail), KeyError)

    def test_no_processes(self) -> None:
        """
        A unit test reaching C{spawnProcess} fails, naming the program.
        """
        error = self.assertRaises(
            AssertionError, FakeMailReactor().spawnProcess, ProcessProtocol(), "/bin/sh", ["sh"]
        )
        self.assertIn("/bin/sh", str(error))
