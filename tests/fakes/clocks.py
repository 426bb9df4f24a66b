# -*- test-case-name: tests.fakes.test_clocks -*-
"""
Running asynchronous code to completion on a fake clock.

Unit tests hand msync a L{Clock} or L{MemoryReactorClock} instead of the
global reactor. Code that only waits on that clock (Maildir's race guard,
lock polling, timers) finishes when the clock is advanced; L{drive} does
that, one step at a time, until the work is done.

Invariant: no real time passes and no real reactor runs; a coroutine that
waits on anything else (a socket, a process) makes L{drive} fail after
C{limit} steps instead of hanging.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IProcessProtocol,
    IProcessTransport,
    IReactorFromThreads,
    IReactorProcess,
    IReactorThreads,
)
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

T = TypeVar("T")
ClockT = TypeVar("ClockT", bound=Clock)


def clock_at_now(clock: ClockT) -> ClockT:
    """
    Set a fake clock to the wall-clock time of the files a test creates, so
    mbsync's "modified in the current second" guard behaves as in a real
    run (and then waits on this clock).

    @return: C{clock}.
    """
    clock.advance(time.time() - clock.seconds())
    return clock


def reactor_at_now() -> FakeMailReactor:
    """
    A L{FakeMailReactor} set to the wall-clock time (see L{clock_at_now}).
    """
    reactor = FakeMailReactor()
    clock_at_now(reactor)
    return reactor


def drive(
    clock: Clock,
    work: Coroutine[Any, Any, T] | Deferred[T],
    *,
    step: float = 1.0,
    limit: int = 1000,
) -> T:
    """
    Run C{work} to its end by advancing C{clock} by C{step} seconds at a
    time.

    @return: the result of C{work}.
    @raise: whatever C{work} raised.
    @raise AssertionError: if C{work} has not finished after C{limit} steps.
    """
    deferred = work if isinstance(work, Deferred) else Deferred.fromCoroutine(work)
    outcome: list[object] = []
    deferred.addBoth(outcome.append)
    steps = 0
    while not outcome:
        if steps == limit:
            raise AssertionError(f"not finished after {limit} steps of {step} s on the clock")
        clock.advance(step)
        steps += 1
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result  # type: ignore[return-value]  # the Deferred's own result type


class _InlineThreadPool:
    """
    A thread pool that runs each call at once, in the calling thread.
    """

    def callInThreadWithCallback(
        self,
        onResult: Callable[[bool, object], object],  # noqa: N803 (Twisted's name)
        func: Callable[..., object],
        *args: object,
        **kw: object,
    ) -> None:
        try:
            result = func(*args, **kw)
        except BaseException:
            onResult(False, Failure())
        else:
            onResult(True, result)


@implementer(IReactorThreads, IReactorFromThreads)
class InlineThreadsReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} whose "threads" run at once in the test's
    thread: enough for C{deferToThreadPool} without a real thread.
    """

    def getThreadPool(self) -> ThreadPool:
        return cast(ThreadPool, _InlineThreadPool())  # the one method deferToThreadPool uses

    def callFromThread(
        self, callable: Callable[..., object], *args: object, **kwargs: object
    ) -> None:
        callable(*args, **kwargs)

    def callInThread(
        self, callable: Callable[..., object], *args: object, **kwargs: object
    ) -> None:
        callable(*args, **kwargs)

    def suggestThreadPoolSize(self, size: int) -> None:
        pass


@implementer(IReactorProcess)
class FakeMailReactor(InlineThreadsReactor):
    """
    A L{msync.reactor.MailReactor} for unit tests: memory TCP and names,
    a fake clock, inline threads, and no processes (a unit test that
    reaches C{spawnProcess} fails; tests of commands record them with their
    own C{spawnProcess}).
    """

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
        raise AssertionError(f"a unit test tried to run {executable!r}")
