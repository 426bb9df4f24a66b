"""
Tests for L{msync.imap.preconnect}: connections started before Twisted
loads, taken once, never waited for. The connection is a fake (no socket):
each attempt's thread is joined before its outcome is checked.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from msync.imap import preconnect


class _Socket:
    """
    Stands for a connected socket: records whether it was closed.
    """

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class _Connector:
    """
    A connection function that records its calls and, once released,
    returns a L{_Socket} (or raises the given error).
    """

    def __init__(self, error: OSError | None = None) -> None:
        self.calls: list[tuple[tuple[str, int], float | None]] = []
        self.release = threading.Event()
        self.error = error
        self.made: list[_Socket] = []

    def __call__(self, address: tuple[str, int], timeout: float | None) -> Any:
        self.calls.append((address, timeout))
        self.release.wait(10)
        if self.error is not None:
            raise self.error
        made = _Socket()
        self.made.append(made)
        return made


class PreconnectTests(SynchronousTestCase):
    """
    L{preconnect.start} and L{preconnect.take}.
    """

    def setUp(self) -> None:
        self.patch(preconnect, "_attempts", {})

    def started(self, connector: _Connector, port: int = 143) -> threading.Thread:
        preconnect.start("imap.example", port, 5.0, connect=connector)
        return preconnect._attempts["imap.example", port].thread

    def test_connected_then_taken(self) -> None:
        """
        A connection made before it is taken is handed over once; the
        attempt is then gone.
        """
        connector = _Connector()
        connector.release.set()
        self.started(connector).join(10)
        self.assertEqual(connector.calls, [(("imap.example", 143), 5.0)])
        taken = preconnect.take("imap.example", 143)
        self.assertIs(taken, connector.made[0])
        self.assertFalse(connector.made[0].closed)
        self.assertIsNone(preconnect.take("imap.example", 143))

    def test_taken_before_connected(self) -> None:
        """
        Taking never waits: an attempt still connecting gives nothing, and
        its connection is closed when it is made.
        """
        connector = _Connector()
        thread = self.started(connector)
        self.assertIsNone(preconnect.take("imap.example", 143))
        connector.release.set()
        thread.join(10)
        self.assertEqual(len(connector.made), 1)
        self.assertTrue(connector.made[0].closed)

    def test_failed(self) -> None:
        """
        A failed attempt gives nothing and says nothing.
        """
        connector = _Connector(ConnectionRefusedError(111, "Connection refused"))
        connector.release.set()
        self.started(connector).join(10)
        self.assertIsNone(preconnect.take("imap.example", 143))

    def test_one_attempt_per_address(self) -> None:
        """
        A second start for the same host and port starts nothing; another
        port is another attempt; taking one leaves the other.
        """
        connector = _Connector()
        connector.release.set()
        first = self.started(connector)
        self.started(connector).join(10)
        other = self.started(connector, port=993)
        first.join(10)
        other.join(10)
        self.assertEqual(
            sorted(connector.calls), [(("imap.example", 143), 5.0), (("imap.example", 993), 5.0)]
        )
        self.assertIsNotNone(preconnect.take("imap.example", 993))
        self.assertIsNotNone(preconnect.take("imap.example", 143))

    def test_nothing_started(self) -> None:
        """
        Without an attempt, there is nothing to take.
        """
        self.assertIsNone(preconnect.take("imap.example", 143))


class AsciiHostTests(SynchronousTestCase):
    """
    L{preconnect.ascii_host}: the bytes the C{idna} codec gives, without it.
    """

    def test_same_bytes_as_the_codec(self) -> None:
        """
        An ASCII name the codec accepts is given as the codec's bytes.
        """
        for host in ("127.0.0.1", "imap.example", "IMAP.Example.ORG.", "::1", "a" * 63, "x"):
            self.assertEqual(preconnect.ascii_host(host), host.encode("idna"))

    def test_left_to_the_codec(self) -> None:
        """
        A name the codec refuses, or one that is not ASCII, is left as it is
        (the resolver's codec encodes or refuses it, as before).
        """
        for host in ("a..b", ".example", "b" * 64 + ".example", "example." + "c" * 64):
            self.assertEqual(preconnect.ascii_host(host), host)
            self.assertRaises(UnicodeError, host.encode, "idna")
        self.assertEqual(preconnect.ascii_host("bücher.example"), "bücher.example")

    def test_default_connection(self) -> None:
        """
        L{preconnect.start} connects with L{preconnect.create_connection}.
        """
        self.assertIs(
            inspect.signature(preconnect.start).parameters["connect"].default,
            preconnect.create_connection,
        )
