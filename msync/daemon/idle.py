# -*- test-case-name: tests.daemon.test_idle -*-
"""
Push by IMAP IDLE (RFC 2177): one dedicated connection per idled far box.

A L{BoxWatcher} logs in (through an L{IdleSource}, the same login, TLS and
naming as a sync's), EXAMINEs its box and IDLEs. Untagged EXISTS, EXPUNGE,
FETCH or VANISHED call C{on_change} after a debounce: a burst of deliveries
is one call. IDLE is re-issued every C{idle_renew} seconds (RFC 2177 §3:
servers may drop a client idle for 30 minutes), and when nothing came for
C{idle_check} seconds the connection is checked with C{NOOP} on the way. A
server without IDLE is polled with C{STATUS} instead.

Invariants:
  - one connection per watcher at any time; every wait on the network is
    bounded (the protocol's timeout, an acknowledged IDLE excepted, which
    the renewal bounds instead);
  - a lost connection, a refused login or a failed command never escapes:
    the watcher logs it once, waits (exponential backoff with jitter,
    L{msync.daemon.settings.Backoff}) and reconnects; after a reconnection
    C{on_change} is called once, since mail may have come meanwhile;
  - a wall-clock jump (suspend and resume) is noticed by the renewal timer
    firing late; the connection is then checked at once;
  - L{BoxWatcher.stop} ends IDLE, logs out (the source's C{close}) and
    returns within the protocol's timeout; nothing is scheduled afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from msync.daemon.settings import Backoff, DaemonSettings
from msync.imap.session import IMAPSession
from msync.imap.values import (
    ExistsResponse,
    ExpungeResponse,
    FetchResponse,
    Response,
    Status,
    UntaggedStatus,
    VanishedResponse,
)
from msync.stores.imapnames import ServerNaming

log = Logger()

#: Untagged data during IDLE that means the box changed.
_CHANGES = (ExistsResponse, ExpungeResponse, FetchResponse, VanishedResponse)

#: STATUS items compared when polling.
STATUS_ITEMS = (b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY")


class IdleSource(Protocol):
    """
    A connection of its own to an IMAP store (made by the runner).
    """

    async def session(self) -> tuple[IMAPSession, ServerNaming]:
        """
        Connect and log in on first use.
        """

    def argument(self, box: str) -> str:
        """
        The wire argument naming a box.
        """

    def close(self) -> Deferred[None]:
        """
        Log out and close.
        """


class Debouncer:
    """
    Calls C{action} C{delay} seconds after the last C{poke}, but no later
    than C{limit} seconds after the first one of a burst.
    """

    def __init__(
        self, clock: IReactorTime, delay: float, limit: float, action: Callable[[], None]
    ) -> None:
        self._clock = clock
        self._delay = delay
        self._limit = limit
        self._action = action
        self._call: IDelayedCall | None = None
        self._first = 0.0

    @property
    def pending(self) -> bool:
        """
        Whether a call is scheduled.
        """
        return self._call is not None

    def poke(self) -> None:
        """
        Note a change.
        """
        now = self._clock.seconds()
        if self._call is None:
            self._first = now
            self._call = self._clock.callLater(self._delay, self._fire)
            return
        due = min(now + self._delay, self._first + self._limit)
        self._call.reset(max(0.0, due - now))

    def cancel(self) -> None:
        """
        Forget a scheduled call.
        """
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _fire(self) -> None:
        self._call = None
        self._action()


class BoxWatcher:
    """
    Watches one far box over a connection of its own.

    @ivar state: C{"connecting"}, C{"idling"}, C{"polling"}, C{"waiting"}
        (backoff) or C{"stopped"}.
    @ivar connections: how many times a connection was made.
    @ivar renewals: how many times IDLE was re-issued.
    """

    def __init__(
        self,
        clock: IReactorTime,
        open_source: Callable[[], IdleSource],
        box: str,
        on_change: Callable[[], None],
        settings: DaemonSettings,
        random: Callable[[], float],
        *,
        label: str = "",
    ) -> None:
        self._clock = clock
        self._open_source = open_source
        self.box = box
        self.label = label or box
        self._settings = settings
        self._debounce = Debouncer(clock, settings.debounce, settings.debounce_limit, on_change)
        self._on_change = on_change
        self._backoff = Backoff(settings.backoff_initial, settings.backoff_max, random)
        self._wake: Deferred[str] | None = None
        self._timer: IDelayedCall | None = None
        self._source: IdleSource | None = None
        self._running: Deferred[None] | None = None
        self._stopping = False
        self.state = "stopped"
        self.connections = 0
        self.renewals = 0
        self.last_delay: float | None = None

    def start(self) -> None:
        """
        Connect and watch until L{stop}.
        """
        self._stopping = False
        self._running = Deferred.fromCoroutine(self._run())

    async def stop(self) -> None:
        """
        End IDLE, log out, schedule nothing more.
        """
        self._stopping = True
        self._debounce.cancel()
        self._signal("stop")
        if self._running is not None:
            await self._running
        self.state = "stopped"

    def _signal(self, why: str) -> None:
        wake, self._wake = self._wake, None
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if wake is not None and not wake.called:
            wake.callback(why)

    def _sleep(self, seconds: float) -> Deferred[str]:
        """
        Wait C{seconds} or until L{_signal}; fires with the reason.
        """
        if self._stopping:
            # stop() came while we were busy (connecting, DONE, NOOP).
            return succeed("stop")
        wake: Deferred[str] = Deferred()
        self._wake = wake
        self._timer = self._clock.callLater(seconds, self._signal, "timer")
        return wake

    async def _run(self) -> None:
        first = True
        while not self._stopping:
            self.state = "connecting"
            source = self._source = self._open_source()
            try:
                session, _ = await source.session()
                argument = source.argument(self.box)
                self.connections += 1
                capabilities = await session.ensure_capabilities()
                if not first:
                    log.info("{box}: reconnected", box=self.label)
                    self._debounce.poke()
                first = False
                if b"IDLE" in capabilities:
                    await self._idle_loop(session, argument)
                else:
                    await self._poll_loop(session, argument)
            except Exception as error:
                # STYLE §5 exception: this loop is the watcher's boundary;
                # whatever ended the connection, it is logged and retried.
                if not self._stopping:
                    self._log_loss(error)
            finally:
                self._source = None
                await self._close(source)
            if self._stopping:
                break
            self.state = "waiting"
            self.last_delay = delay = self._backoff.next_delay()
            await self._sleep(delay)

    def _log_loss(self, error: Exception) -> None:
        text = str(error) or type(error).__name__
        log.warn(
            "{box}: IDLE connection lost ({error}); reconnecting",
            box=self.label,
            error=text,
        )

    async def _close(self, source: IdleSource) -> None:
        try:
            await source.close()
        except Exception as error:
            # Closing a connection already gone is not news.
            log.debug("{box}: close: {error}", box=self.label, error=error)

    def _untagged(self, response: Response) -> None:
        if isinstance(response, _CHANGES):
            self._debounce.poke()
        elif isinstance(response, UntaggedStatus) and response.status is Status.BYE:
            # The server is going away (a restart): reconnect at once.
            self._signal("bye")

    async def _idle_loop(self, session: IMAPSession, argument: str) -> None:
        await session.examine(argument)
        self._backoff.reset()
        log.info("{box}: watching by IMAP IDLE", box=self.label)
        renew, check = self._settings.idle_renew, self._settings.idle_check
        quiet_since = self._clock.seconds()
        while not self._stopping:
            await session.idle(self._untagged)
            self.state = "idling"
            ended = session.idle_ended()
            ended.addCallback(lambda _: self._signal("ended"))
            started = self._clock.seconds()
            why = await self._sleep(min(renew, check))
            late = self._clock.seconds() - started > min(renew, check) + 60
            # Ended by us or (why == "ended") by the server or the
            # connection, in which case done() raises how.
            await session.done()
            if why == "bye":
                raise ConnectionError("server said BYE")
            if why == "stop":
                return
            self.renewals += 1
            if self._debounce.pending:
                quiet_since = self._clock.seconds()
            if late or self._clock.seconds() - quiet_since >= check:
                # RFC 2177 §3 keeps us re-idling; NOOP proves the link
                # (and after a suspend, finds it dead at once).
                for response in await session.noop():
                    self._untagged(response)
                quiet_since = self._clock.seconds()

    async def _poll_loop(self, session: IMAPSession, argument: str) -> None:
        self._backoff.reset()
        log.info(
            "{box}: the server has no IDLE; polling STATUS every {period}s",
            box=self.label,
            period=self._settings.poll_interval,
        )
        self.state = "polling"
        last = None
        while not self._stopping:
            status = await session.status(argument, STATUS_ITEMS)
            now = (status.messages, status.uid_next, status.uid_validity)
            if last is not None and now != last:
                self._debounce.poke()
            last = now
            await self._sleep(self._settings.poll_interval)
