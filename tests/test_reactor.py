# -*- test-case-name: tests.test_reactor -*-
"""
Tests for L{msync.reactor}: Twisted's reactors and the unit tests' fake
provide every member of L{MailReactor}.
"""

from __future__ import annotations

import inspect

from twisted.internet.epollreactor import EPollReactor
from twisted.internet.interfaces import IReactorFromThreads, IReactorProcess, IReactorTime
from twisted.internet.pollreactor import PollReactor
from twisted.internet.selectreactor import SelectReactor
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from msync.reactor import MailReactor
from tests.fakes.clocks import FakeMailReactor


def members() -> list[str]:
    """
    The names L{MailReactor} declares.
    """
    return sorted(
        name
        for name, value in vars(MailReactor).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property))
    )


class MailReactorTests(SynchronousTestCase):
    """
    L{MailReactor} is what msync asks of a reactor, and reactors have it.
    """

    def test_members(self) -> None:
        """
        The protocol names time, TCP, name resolution, processes and
        threads: nothing else.
        """
        self.assertEqual(
            members(),
            [
                "callFromThread",
                "callLater",
                "connectTCP",
                "getThreadPool",
                "nameResolver",
                "seconds",
                "spawnProcess",
            ],
        )

    def test_twisted_reactors(self) -> None:
        """
        The POSIX reactors twistd and C{task.react} install have every
        member (checked on the classes: no reactor is installed).
        """
        for reactor_class in (EPollReactor, PollReactor, SelectReactor):
            missing = [name for name in members() if not hasattr(reactor_class, name)]
            if "nameResolver" in missing:
                # An instance attribute, set by ReactorBase.__init__.
                missing.remove("nameResolver")
            self.assertEqual(missing, [], reactor_class)
            self.assertTrue(IReactorTime.implementedBy(reactor_class))
            self.assertTrue(IReactorProcess.implementedBy(reactor_class))
            self.assertTrue(IReactorFromThreads.implementedBy(reactor_class))

    def test_fake(self) -> None:
        """
        The unit tests' fake has every member and adapts to the interfaces
        msync adapts it to; a bare memory reactor lacks processes and
        threads, so the type check refuses it.
        """
        fake = FakeMailReactor()
        self.assertEqual([name for name in members() if not hasattr(fake, name)], [])
        self.assertIs(IReactorTime(fake), fake)
        self.assertIs(IReactorFromThreads(fake), fake)
        bare = MemoryReactorClock()
        self.assertEqual(
            [name for name in members() if not hasattr(bare, name)],
            ["callFromThread", "getThreadPool", "spawnProcess"],
        )
