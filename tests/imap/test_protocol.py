# -*- test-case-name: tests.imap.test_protocol -*-
"""
Tests for L{msync.imap.protocol}: bytes in and out, one Deferred per command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import (
    CommandFailed,
    ConnectionTimeout,
    LocalProtocolError,
    RemoteProtocolError,
    TLSError,
)
from msync.imap.commands import IDLE_DONE, Command
from msync.imap.events import Completed, Greeting
from msync.imap.protocol import IMAPClientProtocol
from msync.imap.uids import UIDRange
from msync.imap.values import ExistsResponse, LiteralChunk, Response, Status
from msync.model import Secret
from tests.fakes.transports import TLSRecordingTransport


def connect(
    greeting: bytes | None = b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n",
    transport: StringTransport | None = None,
    **kwargs: Any,
) -> tuple[IMAPClientProtocol, StringTransport, Clock]:
    """
    @return: a protocol connected to a fresh transport, greeted with C{greeting}.
    """
    clock = Clock()
    protocol = IMAPClientProtocol(clock, **kwargs)
    transport = transport if transport is not None else StringTransport()
    protocol.makeConnection(transport)
    if greeting is not None:
        protocol.dataReceived(greeting)
    return protocol, transport, clock


class CommandTests(SynchronousTestCase):
    """
    Commands' Deferreds fire once with the right result.
    """

    def test_style_example(self) -> None:
        """
        SELECT's bytes are written and its Deferred fires with L{Completed}.
        """
        protocol, transport, _ = connect()
        selected = protocol.execute(Command.select("INBOX"))
        self.assertEqual(transport.value(), b"A1 SELECT INBOX\r\n")
        self.assertNoResult(selected)
        protocol.dataReceived(b"* OK [UIDVALIDITY 42] ok\r\nA1 OK [READ-WRITE] done\r\n")
        completed = self.successResultOf(selected)
        self.assertIsInstance(completed, Completed)
        assert completed.mailbox is not None
        self.assertEqual(completed.mailbox.uid_validity, 42)

    def test_command_failed(self) -> None:
        """
        Tagged NO and BAD fail with L{CommandFailed} naming code and text.
        """
        protocol, transport, _ = connect()
        create = protocol.execute(Command.create("X"))
        bad = protocol.execute(Command.noop())
        protocol.dataReceived(b"A1 NO [ALREADYEXISTS] exists\r\nA2 BAD huh\r\n")
        failed = self.failureResultOf(create, CommandFailed).value
        self.assertEqual(
            (failed.status, failed.code, failed.text), (b"NO", b"ALREADYEXISTS", "exists")
        )
        self.assertEqual(failed.command, "CREATE")
        self.assertEqual(self.failureResultOf(bad, CommandFailed).value.status, b"BAD")

    def test_rejected(self) -> None:
        """
        A command the connection rejects fails with L{LocalProtocolError}.
        """
        protocol, transport, _ = connect()
        moved = protocol.execute(Command.uid_move(UIDRange(1, 1), "Trash"))
        self.failureResultOf(moved, LocalProtocolError)
        self.assertEqual(transport.value(), b"")

    def test_split_and_batched(self) -> None:
        """
        Responses split anywhere and several in one packet fire the right Deferreds.
        """
        protocol, transport, _ = connect()
        first = protocol.execute(Command.noop())
        second = protocol.execute(Command.list("", "*"))
        data = b'* LIST () "/" A\r\nA1 OK\r\n* LIST () "/" B\r\nA2 OK\r\n'
        for index in range(len(data)):
            protocol.dataReceived(data[index : index + 1])
        self.assertEqual(self.successResultOf(first).untagged, ())
        self.assertEqual(len(self.successResultOf(second).untagged), 2)

    def test_untagged_callback(self) -> None:
        """
        Unsolicited data goes to C{on_untagged}.
        """
        protocol, _, _ = connect()
        seen: list[Response] = []
        protocol.on_untagged = seen.append
        protocol.dataReceived(b"* 4 EXISTS\r\n")
        self.assertEqual(seen, [ExistsResponse(4)])

    def test_greeting(self) -> None:
        """
        L{IMAPClientProtocol.greeting} fires with the greeting, also when
        asked after it arrived.
        """
        protocol, _, _ = connect(greeting=None)
        early = protocol.greeting()
        self.assertNoResult(early)
        protocol.dataReceived(b"* OK hi\r\n")
        self.assertEqual(self.successResultOf(early), Greeting(Status.OK, None, b"hi"))
        self.assertEqual(self.successResultOf(protocol.greeting()).text, b"hi")


class LogoutTests(SynchronousTestCase):
    """
    L{IMAPClientProtocol.logout}: closing right behind LOGOUT when nothing
    else is in flight, saving the round trip of its answer.
    """

    def test_closes_behind_logout(self) -> None:
        """
        With nothing in flight, LOGOUT is written and the transport closed
        behind it; the connection's loss raises nothing.
        """
        protocol, transport, _ = connect()
        closed = protocol.logout()
        self.assertEqual(transport.value(), b"A1 LOGOUT\r\n")
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(closed)
        protocol.connectionLost(Failure(ConnectionLost()))
        self.assertIsNone(self.successResultOf(closed))
        self.assertEqual(self.flushLoggedErrors(ConnectionLost), [])

    def test_waits_behind_commands_in_flight(self) -> None:
        """
        Behind a command in flight, LOGOUT is queued: its Deferred is
        returned to be waited for, and nothing is closed.
        """
        protocol, transport, _ = connect()
        noop = protocol.execute(Command.noop())
        closed = protocol.logout()
        self.assertEqual(transport.value(), b"A1 NOOP\r\n")
        protocol.dataReceived(b"A1 OK\r\n")
        self.successResultOf(noop)
        self.assertEqual(transport.value(), b"A1 NOOP\r\nA2 LOGOUT\r\n")
        self.assertFalse(transport.disconnecting)
        protocol.dataReceived(b"* BYE bye\r\nA2 OK\r\n")
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(closed)
        protocol.connectionLost(Failure(ConnectionLost()))
        self.assertIsNone(self.successResultOf(closed))


class StreamingTests(SynchronousTestCase):
    """
    Streamed bodies reach the command's consumer in chunks.
    """

    def test_five_megabytes_streamed(self) -> None:
        """
        A 5 MB body arrives in chunks, in order, and the FETCH completes
        without it.
        """
        protocol, transport, _ = connect()
        protocol.execute(Command.select("INBOX"))
        protocol.dataReceived(b"A1 OK\r\n")
        chunks: list[LiteralChunk] = []
        body = bytes(range(256)) * (5 * 1024 * 1024 // 256)
        command = Command.uid_fetch(UIDRange(7, 7), (b"BODY.PEEK[]",))
        fetched = protocol.execute(command, consumer=chunks.append)
        protocol.dataReceived(b"* 1 FETCH (UID 7 BODY[] {%d}\r\n" % (len(body),))
        for start in range(0, len(body), 65536):
            protocol.dataReceived(body[start : start + 65536])
        protocol.dataReceived(b")\r\nA2 OK\r\n")
        completed = self.successResultOf(fetched)
        self.assertGreater(len(chunks), 50)
        self.assertLessEqual(max(len(each.data) for each in chunks), 65536)
        self.assertEqual(b"".join(each.data for each in chunks), body)
        self.assertTrue(chunks[-1].last)
        self.assertEqual(completed.untagged[0].items.sections, {})  # type: ignore[union-attr]

    def test_consumer_failure(self) -> None:
        """
        A consumer's exception fails its command, not the connection.
        """
        protocol, transport, _ = connect()
        protocol.execute(Command.select("INBOX"))
        protocol.dataReceived(b"A1 OK\r\n")

        def explode(chunk: LiteralChunk) -> None:
            raise OSError("disk full")

        command = Command.uid_fetch(UIDRange(7, 7), (b"BODY.PEEK[]",))
        fetched = protocol.execute(command, consumer=explode)
        protocol.dataReceived(b"* 1 FETCH (UID 7 BODY[] {3}\r\nabc)\r\nA2 OK\r\n")
        self.failureResultOf(fetched, OSError)
        noop = protocol.execute(Command.noop())
        protocol.dataReceived(b"A3 OK\r\n")
        self.successResultOf(noop)
        self.assertFalse(transport.disconnecting)


class FailureTests(SynchronousTestCase):
    """
    Timeouts, connection loss and garbage fail every pending command.
    """

    def test_timeout(self) -> None:
        """
        No bytes for C{timeout} seconds while waiting: L{ConnectionTimeout}
        naming the host, transport aborted.
        """
        protocol, transport, clock = connect(host="imap.example.org", timeout=20)
        noop = protocol.execute(Command.noop())
        clock.advance(19)
        protocol.dataReceived(b"* 1 EXISTS\r\n")
        clock.advance(19)
        self.assertNoResult(noop)
        clock.advance(1)
        error = self.failureResultOf(noop, ConnectionTimeout).value
        self.assertIn("imap.example.org", str(error))
        self.assertTrue(transport.disconnected)
        self.failureResultOf(protocol.execute(Command.noop()), ConnectionTimeout)

    def test_greeting_timeout(self) -> None:
        """
        Waiting for the greeting is a network wait too; its expiry says that
        no greeting came within C{Timeout}.
        """
        protocol, transport, clock = connect(greeting=None, timeout=5, host="imap.example.org")
        greeting = protocol.greeting()
        clock.advance(5)
        error = self.failureResultOf(greeting, ConnectionTimeout).value
        self.assertEqual(str(error), "no greeting from imap.example.org within 5 seconds (Timeout)")
        self.assertTrue(transport.disconnected)

    def test_no_timeout_when_quiet(self) -> None:
        """
        Nothing outstanding, no timeout; C{timeout=None} disables it.
        """
        protocol, transport, clock = connect()
        clock.advance(1000)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(clock.getDelayedCalls(), [])
        protocol, transport, clock = connect(timeout=None)
        protocol.execute(Command.noop())
        clock.advance(1000)
        self.assertFalse(transport.disconnecting)

    def test_idle_is_not_a_network_wait(self) -> None:
        """
        An acknowledged IDLE does not time out; after DONE it can.
        """
        protocol, transport, clock = connect(
            greeting=b"* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n", timeout=20
        )
        tags: list[bytes] = []
        idle = protocol.execute(Command.idle(), on_continuation=lambda tag, data: tags.append(tag))
        protocol.dataReceived(b"+ idling\r\n")
        clock.advance(600)
        self.assertFalse(transport.disconnecting)
        protocol.send_continuation(tags[0], IDLE_DONE)
        self.assertEqual(transport.value(), b"A1 IDLE\r\nDONE\r\n")
        clock.advance(20)
        self.failureResultOf(idle, ConnectionTimeout)

    def test_connection_lost(self) -> None:
        """
        Every pending command and greeting waiter fails with L{ConnectionLost}.
        """
        protocol, transport, _ = connect(greeting=None)
        greeting = protocol.greeting()
        pending = [protocol.execute(Command.noop()) for _ in range(3)]
        protocol.connectionLost(Failure(ConnectionLost()))
        self.failureResultOf(greeting, ConnectionLost)
        for each in pending:
            self.failureResultOf(each, ConnectionLost)

    def test_bye_named(self) -> None:
        """
        After a BYE, the loss names the server's reason.
        """
        protocol, transport, _ = connect()
        noop = protocol.execute(Command.noop())
        protocol.dataReceived(b"* BYE idle too long\r\n")
        protocol.connectionLost(Failure(ConnectionLost()))
        self.assertIn("idle too long", str(self.failureResultOf(noop, ConnectionLost).value))

    def test_garbage(self) -> None:
        """
        Garbage fails every pending command with L{RemoteProtocolError} and
        aborts the transport.
        """
        protocol, transport, _ = connect()
        pending = [protocol.execute(Command.noop()) for _ in range(3)]
        protocol.dataReceived(b"A1 OK\r\n)(garbage\r\n")
        self.successResultOf(pending[0])
        for each in pending[1:]:
            self.failureResultOf(each, RemoteProtocolError)
        self.assertTrue(transport.disconnected)
        self.failureResultOf(protocol.execute(Command.noop()), RemoteProtocolError)
        protocol.connectionLost(Failure(ConnectionLost()))


class TLSTests(SynchronousTestCase):
    """
    STARTTLS starts TLS before anything else is sent.
    """

    def test_starttls(self) -> None:
        """
        TLS starts right after the tagged OK; queued commands follow it.
        """
        transport = TLSRecordingTransport()
        protocol, _, _ = connect(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n", transport)
        context = object()
        started = protocol.startTLS(context)  # type: ignore[arg-type]
        capability = protocol.execute(Command.capability())
        self.assertEqual(transport.value(), b"A1 STARTTLS\r\n")
        protocol.dataReceived(b"A1 OK go\r\n")
        self.successResultOf(started)
        self.assertEqual(transport.tls_starts, [context])
        self.assertEqual(transport.written_before_tls, b"A1 STARTTLS\r\n")
        self.assertEqual(transport.value(), b"A1 STARTTLS\r\nA2 CAPABILITY\r\n")
        self.assertNoResult(capability)

    def test_transport_without_tls(self) -> None:
        """
        A transport that cannot start TLS fails STARTTLS with L{TLSError}.
        """
        protocol, transport, _ = connect(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
        started = protocol.startTLS(object())  # type: ignore[arg-type]
        protocol.dataReceived(b"A1 OK go\r\n")
        self.failureResultOf(started, TLSError)
        self.assertTrue(transport.disconnected)


def _trace(events: Sequence[dict[str, Any]]) -> list[str]:
    """
    The wire trace lines among logged events.
    """
    return [
        line
        for event in events
        if event.get("log_namespace") == "msync.imap.protocol"
        for line in formatEvent(event).splitlines()
    ]


class LoggingTests(SynchronousTestCase):
    """
    The wire trace is logged without secrets.
    """

    def test_password_never_logged(self) -> None:
        """
        A LOGIN password never appears in any log event.
        """
        with capturedLogs() as events:
            protocol, transport, _ = connect(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
            login = protocol.execute(Command.login("joe", Secret("s3cr3t-pw")))
            protocol.dataReceived(b"A1 OK in\r\n")
        self.successResultOf(login)
        self.assertIn(b"s3cr3t-pw", transport.value())
        rendered = [repr(event) for event in events]
        self.assertTrue(any("<redacted>" in each for each in rendered))
        self.assertFalse(any("s3cr3t-pw" in each for each in rendered))

    def test_trace_in_mbsync_form(self) -> None:
        """
        C{-Dn} shows what is sent after C{>>> }, the server's lines as text
        without CRLF and literal contents left out, as mbsync prints them.
        """
        with capturedLogs() as events:
            protocol, _, _ = connect()
            protocol.execute(Command.select("INBOX"))
            protocol.dataReceived(b"A1 OK [READ-WRITE] selected\r\n")
            fetch = protocol.execute(Command.uid_fetch(UIDRange(1, 1), (b"BODY.PEEK[]",)))
            protocol.dataReceived(b"* 1 FETCH (UID 1 BODY[] {5}\r\nab\r\nc)\r\nA2 OK done\r\n")
        self.successResultOf(fetch)
        self.assertEqual(
            _trace(events),
            [
                "* PREAUTH [CAPABILITY IMAP4rev1] hi",
                ">>> A1 SELECT INBOX",
                "A1 OK [READ-WRITE] selected",
                ">>> A2 UID FETCH 1 (BODY.PEEK[])",
                "* 1 FETCH (UID 1 BODY[] {5}",
                ")",
                "A2 OK done",
            ],
        )

    def test_trace_continuation_answer(self) -> None:
        """
        An answer to a continuation request is traced after C{>+> },
        redacted.
        """
        with capturedLogs() as events:
            protocol, _, _ = connect(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n")
            auth = protocol.execute(
                Command.authenticate(b"PLAIN"),
                on_continuation=lambda tag, _: protocol.send_continuation(tag, b"AGpvZQ==\r\n"),
            )
            protocol.dataReceived(b"+ \r\n")
        self.assertNoResult(auth)
        self.assertEqual(_trace(events)[1:], [">>> A1 AUTHENTICATE PLAIN", "+ ", ">+> <redacted>"])

    def test_trace_shows_mailbox_names_as_sent(self) -> None:
        """
        A mailbox name is traced as it went on the wire (modified UTF-7
        here), not decoded (issue 8, point 10).
        """
        with capturedLogs() as events:
            protocol, transport, _ = connect()
            protocol.execute(Command.select("Entwürfe"))
        self.assertEqual(transport.value(), b"A1 SELECT Entw&APw-rfe\r\n")
        self.assertIn(">>> A1 SELECT Entw&APw-rfe", _trace(events))

    def test_handshake_completed_is_verbose_line(self) -> None:
        """
        When TLS is up, C{-V} says C{Connection is now encrypted}.
        """
        protocol, _, _ = connect(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
        with capturedLogs() as events:
            protocol.handshakeCompleted()
        self.assertEqual(
            [formatEvent(e) for e in events if e.get("msync_verbose")],
            ["Connection is now encrypted"],
        )

    def test_no_trace_when_off(self) -> None:
        """
        With C{trace=False} (no C{-Dn}) nothing of the conversation is
        logged.
        """
        with capturedLogs() as events:
            protocol, _, _ = connect(trace=False)
            protocol.execute(Command.select("INBOX"))
            protocol.dataReceived(b"* 1 EXISTS\r\nA1 OK [READ-WRITE] selected\r\n")
        self.assertEqual(_trace(events), [])
