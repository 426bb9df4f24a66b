# -*- test-case-name: tests.daemon.test_idle -*-
"""
Tests for L{msync.daemon.idle}: IDLE push against the stateful fake server,
driven by a L{Clock}: debounce, re-IDLE timing, NOOP checks, reconnection
with backoff, a wall-clock jump, STATUS polling without IDLE, stop.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import IMAPAccount
from msync.config.schema import IMAPStore as IMAPStoreConfig
from msync.daemon.idle import BoxWatcher, Debouncer
from msync.daemon.settings import DaemonSettings
from msync.stores.imapstore import IMAPStore
from tests.fakes.clocks import FakeMailReactor
from tests.fakes.imapserver import DEFAULT_CAPABILITIES, MailStore, ServerOptions
from tests.stores.test_imapstore import PASSWORD, FakeNetwork, account


class Harness:
    """
    A watcher on the fake server's INBOX with a clock and a change counter.
    """

    def __init__(self, settings: DaemonSettings | None = None, **options: Any) -> None:
        self.clock = FakeMailReactor()
        self.mail = MailStore({"user": PASSWORD})
        self.network = FakeNetwork(self.mail, ServerOptions(**options))
        self.changes = 0
        self.refuse = False
        self.attempts = 0
        self.settings = settings or DaemonSettings()
        self.randoms = [0.0]
        self.watcher = BoxWatcher(
            self.clock,
            self.source,
            "INBOX",
            self.changed,
            self.settings,
            lambda: self.randoms[0],
        )

    def changed(self) -> None:
        self.changes += 1

    def connect(self, account: IMAPAccount, factory: IProtocolFactory) -> Deferred[IProtocol]:
        self.attempts += 1
        if self.refuse:
            return fail(ConnectionRefusedError("refused"))
        return self.network.connect(account, factory)

    def source(self) -> IMAPStore:
        return IMAPStore(
            IMAPStoreConfig("far", account()),
            reactor=self.clock,
            connect=self.connect,
            tls_context=self.network.tls_context,
        )

    def settle(self) -> None:
        for _ in range(5):
            self.network.flush()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def commands(self) -> list[bytes]:
        return [c.split(b" ")[0] for c in self.network.commands()]

    def drop(self) -> None:
        """
        The network drops the current connection.
        """
        self.network.pumps[-1].server_transport.loseConnection()
        self.settle()


class DebouncerTests(SynchronousTestCase):
    """
    L{Debouncer}: quiet delay, with a limit from the first change.
    """

    def test_burst_is_one_call(self) -> None:
        """
        Pokes closer than the delay make one call, C{delay} after the last.
        """
        clock = Clock()
        calls: list[float] = []
        debouncer = Debouncer(clock, 0.3, 1.5, lambda: calls.append(clock.seconds()))
        for _ in range(3):
            debouncer.poke()
            clock.advance(0.1)
        self.assertEqual(calls, [])
        clock.advance(0.19)
        self.assertEqual(calls, [])
        clock.advance(0.01)
        self.assertEqual(len(calls), 1)
        self.assertAlmostEqual(calls[0], 0.5)

    def test_limit(self) -> None:
        """
        A change every 0.2 s still syncs C{limit} after the first one.
        """
        clock = Clock()
        calls: list[float] = []
        debouncer = Debouncer(clock, 0.3, 1.5, lambda: calls.append(clock.seconds()))
        for _ in range(20):
            debouncer.poke()
            clock.advance(0.25)
        self.assertAlmostEqual(calls[0], 1.5)
        self.assertGreater(len(calls), 1)


class WatcherTests(SynchronousTestCase):
    """
    L{BoxWatcher} against the fake server.
    """

    def harness(self, settings: DaemonSettings | None = None, **options: Any) -> Harness:
        """
        A harness whose watcher is stopped when the test ends.
        """
        h = Harness(settings, **options)

        def stop() -> None:
            stopped = Deferred.fromCoroutine(h.watcher.stop())
            h.settle()
            h.clock.advance(60)
            self.successResultOf(stopped)

        self.addCleanup(stop)
        return h

    def test_push_debounced(self) -> None:
        """
        After EXAMINE and IDLE, three deliveries in a burst make one
        change call, after the debounce delay; more deliveries later make
        another.
        """
        h = self.harness()
        h.watcher.start()
        h.settle()
        self.assertEqual(h.watcher.state, "idling")
        self.assertEqual(h.commands()[-2:], [b"EXAMINE", b"IDLE"])
        for n in range(3):
            h.mail.add_message(b"INBOX", b"Subject: %d\r\n\r\nhi\r\n" % n)
        h.settle()
        h.advance(0.29)
        self.assertEqual(h.changes, 0)
        h.advance(0.01)
        self.assertEqual(h.changes, 1)
        h.mail.add_message(b"INBOX", b"Subject: late\r\n\r\nhi\r\n")
        h.settle()
        h.advance(0.3)
        self.assertEqual(h.changes, 2)
        self.assertEqual(h.watcher.connections, 1)

    def test_renew_and_noop(self) -> None:
        """
        IDLE is re-issued every C{idle_renew} seconds (before RFC 2177's 29
        minutes); a quiet connection is checked with NOOP on the way.
        """
        settings = DaemonSettings(idle_renew=28 * 60, idle_check=28 * 60)
        h = self.harness(settings)
        h.watcher.start()
        h.settle()
        before = len(h.network.commands())
        h.advance(28 * 60 - 1)
        self.assertEqual(len(h.network.commands()), before)
        h.advance(1)
        self.assertEqual(h.commands()[before:], [b"NOOP", b"IDLE"])
        self.assertEqual(h.watcher.renewals, 1)
        self.assertEqual(h.watcher.state, "idling")

    def test_wall_clock_jump(self) -> None:
        """
        A timer firing hours late (suspend and resume) checks the
        connection with NOOP at once, even before C{idle_check}.
        """
        settings = DaemonSettings(idle_renew=600, idle_check=3600)
        h = self.harness(settings)
        h.watcher.start()
        h.settle()
        before = len(h.network.commands())
        h.clock.advance(4 * 3600)
        h.settle()
        self.assertEqual(h.commands()[before:], [b"NOOP", b"IDLE"])

    def test_reconnect_with_backoff(self) -> None:
        """
        A dropped connection is logged and retried after a jittered,
        doubling delay within [base/2, base], capped; after reconnecting
        the box is synced once (mail may have come meanwhile).
        """
        settings = DaemonSettings(backoff_initial=1, backoff_max=8)
        h = self.harness(settings)
        h.watcher.start()
        h.settle()
        with capturedLogs() as events:
            h.drop()
        self.assertEqual(h.watcher.state, "waiting")
        self.assertTrue(any("reconnecting" in str(e.get("log_format")) for e in events))
        h.refuse = True
        delays = []
        for draw in (0.0, 0.999, 0.5, 0.0, 0.999):
            delays.append(h.watcher.last_delay)
            h.randoms[0] = draw
            assert h.watcher.last_delay is not None
            h.advance(h.watcher.last_delay)
        # Failures: 1st drop, then refused attempts; bases 1, 2, 4, 8, 8.
        self.assertEqual(delays[0], 1.0)
        for delay, base in zip(delays[1:], (2, 4, 8, 8), strict=True):
            assert delay is not None
            self.assertTrue(base / 2 <= delay <= base, (delay, base))
        h.refuse = False
        h.randoms[0] = 0.0
        assert h.watcher.last_delay is not None
        h.advance(h.watcher.last_delay)
        self.assertEqual(h.watcher.state, "idling")
        self.assertEqual(h.watcher.connections, 2)
        h.advance(0.3)
        self.assertEqual(h.changes, 1)
        h.drop()
        self.assertEqual(h.watcher.last_delay, 1.0, "a success resets the backoff")

    def test_bye(self) -> None:
        """
        An untagged BYE during IDLE (a server shutting down) ends the
        connection and starts reconnecting.
        """
        h = self.harness()
        h.watcher.start()
        h.settle()
        server = h.network.servers[-1]
        assert server.transport is not None
        server.transport.write(b"* BYE shutting down\r\n")
        h.settle()
        self.assertEqual(h.watcher.state, "waiting")
        h.advance(1)
        self.assertEqual(h.watcher.connections, 2)
        self.assertEqual(h.watcher.state, "idling")

    def test_status_polling_without_idle(self) -> None:
        """
        A server without IDLE is polled with STATUS every C{poll_interval}
        seconds; a change in it is a change call.
        """
        h = self.harness(
            DaemonSettings(poll_interval=30), capabilities=DEFAULT_CAPABILITIES - {b"IDLE"}
        )
        h.watcher.start()
        h.settle()
        self.assertEqual(h.watcher.state, "polling")
        self.assertEqual(h.commands().count(b"STATUS"), 1)
        h.advance(30)
        self.assertEqual(h.commands().count(b"STATUS"), 2)
        self.assertEqual(h.changes, 0)
        h.mail.add_message(b"INBOX", b"Subject: x\r\n\r\nhi\r\n")
        h.advance(30)
        h.advance(0.3)
        self.assertEqual(h.changes, 1)

    def test_stop_while_starting_idle(self) -> None:
        """
        A stop that comes while IDLE is being started (no sleep to wake
        yet) still ends the watcher at once, not at the next renewal.
        """
        h = self.harness()
        h.watcher.start()
        pump = h.network.pumps[-1]
        # Deliver everything up to IDLE's command, but not its "+ idling".
        while b"IDLE" not in h.commands():
            for source, sink in (
                (pump.client_transport, pump.server),
                (pump.server_transport, pump.client),
            ):
                data = source.value()
                source.clear()
                if data:
                    sink.dataReceived(data)
                if b"IDLE" in h.commands():
                    break
        self.assertEqual(h.watcher.state, "connecting")
        stopped = Deferred.fromCoroutine(h.watcher.stop())
        h.settle()
        self.successResultOf(stopped)
        self.assertEqual(h.commands()[-1], b"LOGOUT")

    def test_stop_logs_out(self) -> None:
        """
        Stopping ends IDLE with DONE, logs out, and leaves no timer.
        """
        h = self.harness()
        h.watcher.start()
        h.settle()
        stopped = Deferred.fromCoroutine(h.watcher.stop())
        h.settle()
        self.successResultOf(stopped)
        self.assertEqual(h.commands()[-2:], [b"IDLE", b"LOGOUT"])
        self.assertEqual(h.clock.getDelayedCalls(), [])
        self.assertEqual(h.watcher.state, "stopped")
