"""
Tests for L{tests.fakes.imapwire}, L{tests.fakes.transports} and
L{tests.fakes.pump}.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.interfaces import ITLSTransport
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from tests.fakes.imapwire import (
    IMAPSyntaxError,
    format_internal_date,
    format_uid_set,
    parse_internal_date,
    parse_uid_set,
    quote,
    tokenize,
)
from tests.fakes.pump import connect
from tests.fakes.transports import TLSRecordingTransport


class RawPeer(Protocol):
    """
    A protocol that records what it receives and how the connection ended.
    """

    def __init__(self, reply: bytes | None = None) -> None:
        self.received = b""
        self.reply = reply
        self.lost: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        """
        Record C{data}; answer with C{reply} if set (ping-pong).
        """
        self.received += data
        if self.reply is not None:
            self.transport.write(self.reply)  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        Record why.
        """
        self.lost = reason


class TokenizeTests(SynchronousTestCase):
    """
    Tests for L{tokenize}.
    """

    ROWS: list[tuple[bytes, list[object]]] = [
        (b"A1 NOOP\r\n", [b"A1", b"NOOP"]),
        (b'A2 LOGIN "me" "p\\"w\\\\"\r\n', [b"A2", b"LOGIN", b"me", b'p"w\\']),
        (b"A3 LOGIN {2}\r\nme {3+}\r\na b\r\n", [b"A3", b"LOGIN", b"me", b"a b"]),
        (b"A4 APPEND INBOX (\\Seen) {0}\r\n\r\n", [b"A4", b"APPEND", b"INBOX", [b"\\Seen"], b""]),
        (
            b"A5 UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (FROM TO)])\r\n",
            [b"A5", b"UID", b"FETCH", b"1:*", [b"UID", b"BODY.PEEK[HEADER.FIELDS (FROM TO)]"]],
        ),
        (b"A6 X ((a) ())", [b"A6", b"X", [[b"a"], []]]),
    ]

    def test_rows(self) -> None:
        """
        Atoms, quoted strings, literals (synchronizing or not), lists and
        bracketed sections come out as expected.
        """
        for command, tokens in self.ROWS:
            self.assertEqual(tokenize(command), tokens, command)

    def test_invalid(self) -> None:
        """
        Unbalanced parentheses and unterminated strings raise.
        """
        for command in [b"A1 X (a\r\n", b"A1 X a)\r\n", b'A1 X "abc\r\n']:
            self.assertRaises(IMAPSyntaxError, tokenize, command)


class UIDSetTests(SynchronousTestCase):
    """
    Tests for L{parse_uid_set} and L{format_uid_set}.
    """

    def test_parse(self) -> None:
        """
        Ranges, lists and C{*} expand; C{n:*} past the end names the largest
        UID (RFC 3501 §6.4.8).
        """
        self.assertEqual(parse_uid_set(b"1:3,7", 9), {1, 2, 3, 7})
        self.assertEqual(parse_uid_set(b"*", 9), {9})
        self.assertEqual(parse_uid_set(b"8:*", 5), {5, 6, 7, 8})
        self.assertEqual(parse_uid_set(b"4:2", 5), {2, 3, 4})
        for bad in [b"", b"a", b"1:2:3", b"1,,2"]:
            self.assertRaises(IMAPSyntaxError, parse_uid_set, bad, 5)

    def test_format(self) -> None:
        """
        Consecutive UIDs compress to ranges, order kept.
        """
        self.assertEqual(format_uid_set([1, 2, 3, 7, 9, 10]), b"1:3,7,9:10")
        self.assertEqual(format_uid_set([5]), b"5")
        self.assertEqual(format_uid_set([]), b"")


class FormattingTests(SynchronousTestCase):
    """
    Tests for L{quote} and the date-time helpers.
    """

    def test_quote(self) -> None:
        """
        Atoms stay bare, spaces and NIL get quoted, CR/LF/8-bit become literals.
        """
        self.assertEqual(quote(b"Archive/2024"), b"Archive/2024")
        self.assertEqual(quote(b"a b"), b'"a b"')
        self.assertEqual(quote(b"NIL"), b'"NIL"')
        self.assertEqual(quote(b'say "hi"'), b'"say \\"hi\\""')
        self.assertEqual(quote(b"\xc3\xa9"), b"{2}\r\n\xc3\xa9")

    def test_dates(self) -> None:
        """
        INTERNALDATE values format per RFC 3501 and parse back.
        """
        moment = datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-7)))
        self.assertEqual(format_internal_date(moment), b'"03-Feb-2024 04:05:06 -0700"')
        self.assertEqual(parse_internal_date(b" 3-Feb-2024 04:05:06 -0700"), moment)
        self.assertEqual(
            parse_internal_date(b"01-Jan-2024 00:00:00 +0000"), datetime(2024, 1, 1, tzinfo=UTC)
        )
        self.assertRaises(IMAPSyntaxError, parse_internal_date, b"yesterday")


class TransportTests(SynchronousTestCase):
    """
    Tests for L{TLSRecordingTransport}.
    """

    def test_records_start_tls(self) -> None:
        """
        C{startTLS} is recorded with its context and what was written before it.
        """
        transport = TLSRecordingTransport()
        self.assertTrue(verifyObject(ITLSTransport, transport))
        transport.write(b"A1 STARTTLS\r\n")
        self.assertFalse(transport.secure)
        context = object()
        transport.startTLS(context)
        transport.write(b"A2 LOGIN\r\n")
        self.assertTrue(transport.secure)
        self.assertEqual(transport.tls_starts, [context])
        self.assertEqual(transport.written_before_tls, b"A1 STARTTLS\r\n")

    def test_abort(self) -> None:
        """
        C{abortConnection} is flagged and disconnects.
        """
        transport = TLSRecordingTransport()
        transport.abortConnection()
        self.assertTrue(transport.aborted)
        self.assertTrue(transport.disconnecting)


class PumpTests(SynchronousTestCase):
    """
    Tests for L{connect} and L{tests.fakes.pump.IOPump}.
    """

    def test_moves_bytes_both_ways(self) -> None:
        """
        Bytes move only when pumped, in order, in both directions.
        """
        client, server = RawPeer(), RawPeer()
        pump = connect(client, server)
        assert client.transport is not None and server.transport is not None
        client.transport.write(b"hello ")
        client.transport.write(b"server")
        server.transport.write(b"hi")
        self.assertEqual(server.received, b"")
        pump.flush()
        self.assertEqual(server.received, b"hello server")
        self.assertEqual(client.received, b"hi")

    def test_close_delivers_data_first(self) -> None:
        """
        Data written before C{loseConnection} arrives before C{connectionLost},
        and both sides see a clean close.
        """
        client, server = RawPeer(), RawPeer()
        pump = connect(client, server)
        assert server.transport is not None
        server.transport.write(b"* BYE\r\n")
        server.transport.loseConnection()
        pump.flush()
        self.assertEqual(client.received, b"* BYE\r\n")
        assert client.lost is not None and server.lost is not None
        client.lost.trap(ConnectionDone)
        server.lost.trap(ConnectionDone)
        self.assertTrue(pump.disconnected)
        self.assertFalse(pump.pump())

    def test_abort(self) -> None:
        """
        An abort shows as C{ConnectionAborted} on the aborting side and
        C{ConnectionLost} on the other.
        """
        client, server = RawPeer(), RawPeer()
        pump = connect(client, server)
        pump.client_transport.abortConnection()
        pump.flush()
        assert client.lost is not None and server.lost is not None
        client.lost.trap(ConnectionAborted)
        server.lost.trap(ConnectionLost)

    def test_endless_talk_is_bounded(self) -> None:
        """
        Two protocols answering each other forever make C{flush} raise.
        """
        client, server = RawPeer(reply=b"ping"), RawPeer(reply=b"pong")
        pump = connect(client, server)
        assert client.transport is not None
        client.transport.write(b"start")
        self.assertRaises(RuntimeError, pump.flush, 50)
