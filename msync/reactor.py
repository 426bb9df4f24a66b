# -*- test-case-name: tests.test_reactor -*-
"""
What msync needs of the reactor, as one type.

The IMAP store connects over TCP (after resolving the host name), runs
C{Tunnel}, C{UserCmd} and C{PassCmd} as child processes, asks for a
password in a thread, and times everything; Maildir stores and the engine
need only the time. L{MailReactor} names exactly those needs, so that code
taking it says what it uses, and a test fake that lacks one fails the type
check instead of a run. Twisted's reactors (and
L{twisted.internet.testing.MemoryReactorClock} with a process and thread
stand-in, see C{tests/fakes/clocks.py}) provide it structurally.

Where a Twisted API asks for one of its interfaces (C{IReactorTime} for a
timer, C{IReactorFromThreads} for C{deferToThreadPool}), the reactor is
adapted to it (C{IReactorTime(reactor)}): a checked conversion, not a cast.

Invariant: only L4 (C{cli}, C{service}) obtains the global reactor; every
other module is handed a L{MailReactor}, or a C{clock: IReactorTime} where
time is all it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from twisted.internet.interfaces import (
    IConnector,
    IDelayedCall,
    IHostnameResolver,
    IProcessProtocol,
    IProcessTransport,
)
from twisted.internet.protocol import ClientFactory
from twisted.python.threadpool import ThreadPool

__all__ = ["MailReactor"]


class MailReactor(Protocol):
    """
    The parts of C{IReactorTime}, C{IReactorTCP},
    C{IReactorPluggableNameResolver}, C{IReactorProcess}, C{IReactorThreads}
    and C{IReactorFromThreads} that msync uses.
    """

    # Time (IReactorTime): timeouts, the Maildir race guard, lock polling.

    def seconds(self) -> float:
        """
        The current time in seconds since the epoch.
        """

    def callLater(
        self, delay: float, callable: Callable[..., Any], *args: object, **kwargs: object
    ) -> IDelayedCall:
        """
        Call C{callable(*args, **kwargs)} in C{delay} seconds.
        """

    # Network (IReactorTCP, IReactorPluggableNameResolver): Host and Port.

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: ClientFactory,
        timeout: float = 30.0,
        bindAddress: tuple[str, int] | None = None,  # noqa: N803 (Twisted's name)
    ) -> IConnector:
        """
        Connect to C{host}:C{port} (an address: names go through
        L{nameResolver} first, in C{HostnameEndpoint}).
        """

    @property
    def nameResolver(self) -> IHostnameResolver:  # noqa: N802 (Twisted's name)
        """
        Resolves C{Host} to addresses.
        """

    # Processes (IReactorProcess): Tunnel, UserCmd, PassCmd.

    def spawnProcess(
        self,
        processProtocol: IProcessProtocol,  # noqa: N803 (Twisted's names)
        executable: bytes | str,
        args: Sequence[bytes | str],
        env: Mapping[Any, Any] | None = None,
        path: None | bytes | str = None,
        uid: int | None = None,
        gid: int | None = None,
        usePTY: bool = False,  # noqa: N803
        childFDs: Mapping[int, int | str] | None = None,  # noqa: N803
    ) -> IProcessTransport:
        """
        Run a child process connected to C{processProtocol}.
        """

    # Threads (IReactorThreads, IReactorFromThreads): the password prompt.

    def getThreadPool(self) -> ThreadPool:
        """
        The pool that blocking calls (reading a password) run in.
        """

    def callFromThread(self, callable: Callable[..., Any], *args: object, **kwargs: object) -> None:
        """
        Call C{callable} in the reactor thread (results of pool calls).
        """
