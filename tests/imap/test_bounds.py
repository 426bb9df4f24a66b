# -*- test-case-name: tests.imap.test_bounds -*-
"""
Hostile input against the sans-IO connection and the protocol (issue 8):
STARTTLS injection, repeated and unrequested bodies, floods of untagged
data, endless listings, huge literals, trickling servers and C{[ALERT]}s.

Memory cases measure with C{tracemalloc} and print their peak, e.g.
C{bounds: * OK flood 4.2 MB in, peak 0.31 MB}.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import ConnectionTimeout, RemoteProtocolError
from msync.imap import routing
from msync.imap.commands import IDLE_DONE, Command
from msync.imap.connection import STARTTLS_INJECTION, ClientConnection
from msync.imap.events import Alert, Completed, Discarded, Streamed
from msync.imap.protocol import DEADLINE_FACTOR, IMAPClientProtocol
from msync.imap.uids import UIDRange
from msync.imap.values import NEED_DATA, FetchResponse, UntaggedStatus
from tests.fakes.transports import TLSRecordingTransport

MB = 1024 * 1024


def drain(connection: ClientConnection) -> list[object]:
    """
    @return: every event the connection has now.
    """
    events: list[object] = []
    while (event := connection.next_event()) is not NEED_DATA:
        events.append(event)
    return events


def selected() -> ClientConnection:
    """
    @return: a PREAUTH connection with INBOX selected (tag A1 used).
    """
    connection = ClientConnection(None)
    connection.receive_data(b"* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] hi\r\n")
    connection.submit(Command.select("INBOX"))
    connection.receive_data(b"* 3 EXISTS\r\nA1 OK [READ-WRITE] done\r\n")
    drain(connection)
    connection.data_to_send()
    return connection


def completed(events: list[object]) -> list[Completed]:
    """
    @return: the L{Completed} events among C{events}.
    """
    return [each for each in events if isinstance(each, Completed)]


class StartTLSInjectionTests(SynchronousTestCase):
    """
    Nothing received in plaintext after the OK to STARTTLS is ever used.
    """

    def starttls(self) -> ClientConnection:
        connection = ClientConnection(None)
        connection.receive_data(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
        drain(connection)
        connection.submit(Command.starttls())
        self.assertEqual(connection.data_to_send(), b"A1 STARTTLS\r\n")
        return connection

    def test_same_segment(self) -> None:
        """
        Bytes behind the tagged OK in the same read kill the connection
        with the injection error; STARTTLS never completes.
        """
        connection = self.starttls()
        connection.receive_data(b"A1 OK go\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
        error = self.assertRaises(RemoteProtocolError, connection.next_event)
        self.assertEqual(str(error), STARTTLS_INJECTION)
        self.assertRaises(RemoteProtocolError, connection.next_event)
        self.assertEqual(connection.data_to_send(), b"")

    def test_partial_line(self) -> None:
        """
        Even a partial line (no CRLF yet) behind the OK is refused.
        """
        connection = self.starttls()
        connection.receive_data(b"A1 OK go\r\nA")
        self.assertRaises(RemoteProtocolError, connection.next_event)

    def test_later_read(self) -> None:
        """
        Bytes arriving in a later read, before the handshake started, are
        refused too.
        """
        connection = self.starttls()
        connection.receive_data(b"A1 OK go\r\n")
        self.assertIsInstance(drain(connection)[0], Completed)
        connection.receive_data(b"A2 OK LOGIN completed\r\n")
        error = self.assertRaises(RemoteProtocolError, connection.next_event)
        self.assertEqual(str(error), STARTTLS_INJECTION)

    def test_clean_switch(self) -> None:
        """
        A clean STARTTLS goes on with a fresh parser after C{tls_started}.
        """
        connection = self.starttls()
        connection.receive_data(b"A1 OK go\r\n")
        drain(connection)
        connection.tls_started()
        connection.submit(Command.capability())
        self.assertEqual(connection.data_to_send(), b"A2 CAPABILITY\r\n")
        connection.receive_data(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA2 OK\r\n")
        self.assertEqual(len(completed(drain(connection))), 1)
        self.assertEqual(connection.capabilities, frozenset({b"IMAP4REV1", b"AUTH=PLAIN"}))

    def test_protocol_aborts(self) -> None:
        """
        Over the protocol: STARTTLS fails with the injection error, TLS is
        never started and the transport is aborted.
        """
        transport = TLSRecordingTransport()
        protocol = IMAPClientProtocol(Clock())
        protocol.makeConnection(transport)
        protocol.dataReceived(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
        started = protocol.startTLS(object())  # type: ignore[arg-type]
        protocol.dataReceived(b"A1 OK go\r\n* PREAUTH evil\r\n")
        failure = self.failureResultOf(started, RemoteProtocolError)
        self.assertIn("possible injection attack", str(failure.value))
        self.assertEqual(transport.tls_starts, [])
        self.assertTrue(transport.aborted)


class RepeatedBodyTests(SynchronousTestCase):
    """
    One requested body is delivered once.
    """

    def test_streamed_twice(self) -> None:
        """
        A body streamed twice for one UID reaches the fetch once; the
        repeat is counted past and reported as L{Discarded}.
        """
        connection = selected()
        connection.submit(Command.uid_fetch(UIDRange(5, 5), (b"BODY.PEEK[]",)), stream_bodies=True)
        response = b"* 2 FETCH (UID 5 BODY[] {4}\r\nbody)\r\n"
        connection.receive_data(response + response.replace(b"body", b"evil") + b"A2 OK\r\n")
        events = drain(connection)
        data = b"".join(each.chunk.data for each in events if isinstance(each, Streamed))
        self.assertEqual(data, b"body")
        self.assertEqual(len([each for each in events if isinstance(each, Discarded)]), 1)
        (done,) = completed(events)
        self.assertEqual(len(done.untagged), 1)

    def test_buffered_twice(self) -> None:
        """
        Bodies named after their literal are buffered; a repeat is dropped
        when the two responses are merged, the first body kept, the latest
        flags taken.
        """
        connection = selected()
        connection.submit(Command.uid_fetch(UIDRange(5, 5), (b"BODY.PEEK[]",)), stream_bodies=True)
        connection.receive_data(
            b"* 2 FETCH (BODY[] {4}\r\nbody UID 5 FLAGS ())\r\n"
            b"* 2 FETCH (BODY[] {4}\r\nevil UID 5 FLAGS (\\Seen))\r\n"
            b"* 2 FETCH (UID 5 BODY[] {4}\r\nmore)\r\n"
            b"A2 OK\r\n"
        )
        events = drain(connection)
        self.assertFalse([each for each in events if isinstance(each, Streamed)])
        (done,) = completed(events)
        (fetch,) = done.untagged
        assert isinstance(fetch, FetchResponse)
        self.assertEqual(fetch.items.sections, {b"": b"body"})
        self.assertEqual(fetch.items.flags, (b"\\Seen",))

    def test_unrequested(self) -> None:
        """
        A body for a UID no command asked for is not kept anywhere.
        """
        connection = selected()
        connection.submit(Command.uid_fetch(UIDRange(5, 5), (b"BODY.PEEK[]",)), stream_bodies=True)
        connection.receive_data(
            b"* 9 FETCH (UID 9 BODY[] {4}\r\nevil)\r\n* 2 FETCH (UID 5 BODY[] {4}\r\nbody)\r\n"
            b"A2 OK\r\n"
        )
        events = drain(connection)
        data = b"".join(each.chunk.data for each in events if isinstance(each, Streamed))
        self.assertEqual(data, b"body")
        reasons = [each.reason for each in events if isinstance(each, Discarded)]
        self.assertEqual(reasons, ["dropped BODY[] of UID 9 (4 bytes): not requested"])


class UnaskedBodyTests(SynchronousTestCase):
    """
    Whole bodies sent in answer to a fetch that asked for none are dropped.
    """

    def test_flags_fetch_gets_bodies(self) -> None:
        """
        During C{UID FETCH 1:* (FLAGS)}, 1 MiB bodies for 40 UIDs, half
        named before the literal (counted past) and half after (buffered,
        then stripped): the flags are kept, no body, and memory never holds
        more than one literal.
        """
        connection = selected()
        connection.submit(Command.uid_fetch(UIDRange(1, None), (b"UID", b"FLAGS")))
        body = b"z" * MB
        done: list[Completed] = []

        def feed() -> None:
            for uid in range(1, 41):
                if uid % 2:
                    head = b"* %d FETCH (UID %d FLAGS () BODY[] {%d}\r\n" % (uid, uid, MB)
                    tail = b")\r\n"
                else:
                    head = b"* %d FETCH (FLAGS () BODY[] {%d}\r\n" % (uid, MB)
                    tail = b" UID %d)\r\n" % uid
                connection.receive_data(head)
                # As Twisted delivers them: reads of at most 64 KiB.
                for start in range(0, MB, 65536):
                    connection.receive_data(body[start : start + 65536])
                    drain(connection)
                connection.receive_data(tail)
                drain(connection)
            connection.receive_data(b"A2 OK\r\n")
            done.extend(completed(drain(connection)))

        peak = peak_while(feed)
        print(f"bounds: 40 unasked 1 MiB bodies, peak {peak / MB:.1f} MB")
        self.assertLess(peak, 1.5 * MB)
        (fetch,) = done
        self.assertEqual(len(fetch.untagged), 40)
        for each in fetch.untagged:
            assert isinstance(each, FetchResponse)
            self.assertEqual((each.items.flags, each.items.sections), ((), {}))
            self.assertEqual(each.items.streamed, frozenset())

    def test_wanted_sections(self) -> None:
        """
        Which fetch items ask for a whole body.
        """
        for items, wanted in [
            ((b"BODY.PEEK[]",), True),
            ((b"UID", b"body[]<0.100>"), True),
            ((b"RFC822",), True),
            ((b"BODY.PEEK[TEXT]",), True),
            ((b"FLAGS", b"BODY.PEEK[HEADER.FIELDS (X-TUID)]"), False),
            ((b"RFC822.SIZE",), False),
        ]:
            command = Command.uid_fetch(UIDRange(1, 1), items)
            self.assertEqual(routing.wants_whole_body(command), wanted, items)


def peak_while(feed: Callable[[], None]) -> int:
    """
    @return: the C{tracemalloc} peak, in bytes, while C{feed} runs.
    """
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        feed()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def flood(connection: ClientConnection, line: bytes, count: int) -> int:
    """
    Feed C{count} copies of C{line} in 64 KiB reads, draining events.

    @return: how many bytes were fed.
    """
    per_read = max(1, 65536 // len(line))
    block = line * per_read
    fed = 0
    while fed < count:
        connection.receive_data(block)
        while connection.next_event() is not NEED_DATA:
            pass
        fed += per_read
    return fed * len(line)


class FloodTests(SynchronousTestCase):
    """
    Untagged floods cost bounded memory: status data is coalesced, FETCH
    data kept once per UID, listings limited.
    """

    def assert_bounded(self, name: str, command: Command | None, line: bytes) -> list[Completed]:
        """
        Flood a connection (with C{command} in flight) and complete it;
        the peak stays under 0.4 MB for 1 MB of input (it does not grow
        with the input: 0.16 MB for 3 MB as well).
        """
        connection = selected()
        if command is not None:
            connection.submit(command)
        fed = 0

        def feed() -> None:
            nonlocal fed
            fed = flood(connection, line, MB // len(line) + 1)

        peak = peak_while(feed)
        print(f"bounds: {name}: {fed / MB:.1f} MB in, peak {peak / MB:.2f} MB")
        self.assertGreaterEqual(fed, MB)
        self.assertLess(peak, 0.4 * MB)
        connection.receive_data(b"A2 OK done\r\n" if command is not None else b"")
        return completed(drain(connection))

    def test_ok_flood_during_select(self) -> None:
        """
        C{* OK} flood while SELECT runs: one kept.
        """
        (done,) = self.assert_bounded(
            "* OK flood", Command.select("INBOX"), b"* OK still here, still here\r\n"
        )
        self.assertEqual(len(done.untagged), 1)
        self.assertIsInstance(done.untagged[0], UntaggedStatus)

    def test_ok_flood_idle(self) -> None:
        """
        C{* OK} flood with nothing in flight: nothing kept.
        """
        self.assert_bounded("* OK flood, idle", None, b"* OK still here, still here\r\n")

    def test_exists_flood(self) -> None:
        """
        C{* n EXISTS} flood while SELECT runs: the latest count kept.
        """
        (done,) = self.assert_bounded(
            "* EXISTS flood", Command.select("INBOX"), b"* 123456 EXISTS\r\n"
        )
        self.assertEqual(len(done.untagged), 1)
        assert done.mailbox is not None
        self.assertEqual(done.mailbox.exists, 123456)

    def test_repeated_fetch(self) -> None:
        """
        The same FETCH line repeated during C{UID FETCH 1:*}: one kept.
        """
        command = Command.uid_fetch(UIDRange(1, None), (b"FLAGS",))
        (done,) = self.assert_bounded(
            "repeated FETCH", command, b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"
        )
        self.assertEqual(len(done.untagged), 1)

    def test_unrequested_fetch(self) -> None:
        """
        FETCH data for a UID outside the command's set is not kept.
        """
        command = Command.uid_fetch(UIDRange(1, 2), (b"FLAGS",))
        (done,) = self.assert_bounded(
            "unrequested FETCH", command, b"* 3 FETCH (UID 7 FLAGS (\\Seen))\r\n"
        )
        self.assertEqual(done.untagged, ())

    def test_endless_list(self) -> None:
        """
        A listing past L{routing.MAX_LISTED} mailboxes kills the connection
        with an error saying so (the limit lowered to keep the test fast).
        """
        self.assertEqual(routing.MAX_LISTED, 100_000)
        self.patch(routing, "MAX_LISTED", 1000)
        connection = selected()
        connection.submit(Command.list("", "*"))
        connection.receive_data(b'* LIST () "/" box\r\n' * 1000)
        drain(connection)
        connection.receive_data(b'* LIST () "/" one-more\r\n')
        error = self.assertRaises(RemoteProtocolError, connection.next_event)
        self.assertEqual(str(error), "server listed more than 1000 mailboxes (the limit)")

    def test_long_name(self) -> None:
        """
        A mailbox name over L{routing.MAX_MAILBOX_NAME} bytes is refused.
        """
        connection = selected()
        connection.submit(Command.list("", "*"))
        name = b"x" * (routing.MAX_MAILBOX_NAME + 1)
        connection.receive_data(b'* LIST () "/" {%d}\r\n%s\r\n' % (len(name), name))
        error = self.assertRaises(RemoteProtocolError, connection.next_event)
        self.assertIn("mailbox name of 4097 bytes", str(error))

    def test_literal_held_once(self) -> None:
        """
        A buffered 32 MiB literal costs about its size, not twice.
        """
        size = 32 * MB
        connection = selected()
        connection.submit(Command.uid_fetch(UIDRange(1, 1), (b"BODY.PEEK[]",)))
        chunk = b"x" * 65536

        def feed() -> None:
            connection.receive_data(b"* 1 FETCH (BODY[] {%d}\r\n" % size)
            for _ in range(size // len(chunk)):
                connection.receive_data(chunk)
                drain(connection)
            connection.receive_data(b" UID 1)\r\nA2 OK\r\n")
            (done,) = completed(drain(connection))
            fetch = done.untagged[0]
            assert isinstance(fetch, FetchResponse)
            self.assertEqual(len(fetch.items.sections[b""] or b""), size)

        peak = peak_while(feed)
        print(f"bounds: {size // MB} MiB literal, peak {peak / MB:.1f} MB")
        self.assertLess(peak, 1.3 * size)


def protocol_with_clock(timeout: float = 20) -> tuple[IMAPClientProtocol, StringTransport, Clock]:
    """
    @return: a protocol on a fresh transport, not greeted yet.
    """
    clock = Clock()
    protocol = IMAPClientProtocol(clock, timeout=timeout)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport, clock


class DeadlineTests(SynchronousTestCase):
    """
    Waits are bounded by a deadline of C{DEADLINE_FACTOR x Timeout} without
    progress, not only by silence.
    """

    def test_trickled_greeting(self) -> None:
        """
        A greeting trickled a byte every 3 s (never 20 s of silence) fails
        at the deadline, 120 s with the default 20 s timeout.
        """
        protocol, transport, clock = protocol_with_clock()
        greeting = protocol.greeting()
        for byte in b"* OK " + b"x" * 100:
            protocol.dataReceived(bytes([byte]))
            clock.advance(3)
            if clock.seconds() >= DEADLINE_FACTOR * 20:
                break
        failure = self.failureResultOf(greeting, ConnectionTimeout)
        self.assertIn("no progress for 120 s", str(failure.value))
        self.assertTrue(transport.disconnecting)

    def test_trickled_response(self) -> None:
        """
        A command answered by endless short untagged lines, one every 5 s,
        fails at the deadline.
        """
        protocol, _, clock = protocol_with_clock()
        protocol.dataReceived(b"* PREAUTH hi\r\n")
        noop = protocol.execute(Command.noop())
        for _ in range(DEADLINE_FACTOR * 20 // 5 - 1):
            protocol.dataReceived(b"* OK x\r\n")
            clock.advance(5)
        self.assertNoResult(noop)
        clock.advance(5)
        self.failureResultOf(noop, ConnectionTimeout)

    def test_progressing_download(self) -> None:
        """
        A slow body download that keeps delivering (8 KiB every 10 s, five
        minutes) is never cut.
        """
        protocol, _, clock = protocol_with_clock()
        protocol.dataReceived(b"* PREAUTH hi\r\n")
        protocol.execute(Command.select("INBOX"))
        protocol.dataReceived(b"* OK [UIDVALIDITY 1] x\r\nA1 OK done\r\n")
        chunks: list[bytes] = []
        size = 30 * 8192
        fetch = protocol.execute(
            Command.uid_fetch(UIDRange(1, 1), (b"BODY.PEEK[]",)),
            consumer=lambda chunk: chunks.append(chunk.data),
        )
        protocol.dataReceived(b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % size)
        for _ in range(30):
            clock.advance(10)
            protocol.dataReceived(b"y" * 8192)
        protocol.dataReceived(b")\r\nA2 OK\r\n")
        self.assertIsInstance(self.successResultOf(fetch), Completed)
        self.assertEqual(len(b"".join(chunks)), size)

    def test_idle_is_no_wait(self) -> None:
        """
        An acknowledged IDLE waits for hours; after DONE the deadline runs
        again.
        """
        protocol, _, clock = protocol_with_clock()
        protocol.dataReceived(b"* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n")
        tags: list[bytes] = []
        idle = protocol.execute(Command.idle(), on_continuation=lambda tag, data: tags.append(tag))
        protocol.dataReceived(b"+ idling\r\n")
        for _ in range(100):
            protocol.dataReceived(b"* OK x\r\n")
            clock.advance(100)
        self.assertNoResult(idle)
        protocol.send_continuation(tags[0], IDLE_DONE)
        for _ in range(DEADLINE_FACTOR * 20 // 5):
            protocol.dataReceived(b"* OK x\r\n")
            clock.advance(5)
        self.failureResultOf(idle, ConnectionTimeout)


class AlertTests(SynchronousTestCase):
    """
    C{[ALERT]} texts reach the user (RFC 3501 §7.1).
    """

    def test_alerts(self) -> None:
        """
        ALERTs in the greeting, untagged and tagged responses become
        L{Alert} events and reach C{on_alert} in order.
        """
        protocol, _, _ = protocol_with_clock()
        shown: list[bytes] = []
        protocol.on_alert = shown.append
        protocol.dataReceived(b"* PREAUTH [ALERT] one\r\n")
        noop = protocol.execute(Command.noop())
        protocol.dataReceived(b"* OK [ALERT] two\r\nA1 OK [ALERT] three\r\n")
        self.successResultOf(noop)
        self.assertEqual(shown, [b"one", b"two", b"three"])

    def test_connection_event(self) -> None:
        """
        The connection reports L{Alert} before the response's own event.
        """
        connection = selected()
        connection.receive_data(b"* NO [ALERT] disk full\r\n")
        events = drain(connection)
        self.assertEqual(events[0], Alert(b"disk full"))

    def test_logged_without_hook(self) -> None:
        """
        Without C{on_alert}, the alert is logged as a warning in mbsync's words.
        """
        protocol, _, _ = protocol_with_clock()
        with capturedLogs() as events:
            protocol.dataReceived(b"* OK [ALERT] maintenance at 10\r\n")
        texts = [each["log_format"].format(**each) for each in events if "text" in each]
        self.assertEqual(texts, ["*** IMAP ALERT *** maintenance at 10"])


class DiscardLogTests(SynchronousTestCase):
    """
    Dropped data is logged at debug level (shown with C{-D}).
    """

    def test_repeated_body_logged(self) -> None:
        """
        A repeated streamed body is logged once as dropped; the consumer
        gets one copy.
        """
        protocol, _, _ = protocol_with_clock()
        protocol.dataReceived(b"* PREAUTH hi\r\n")
        protocol.execute(Command.select("INBOX"))
        protocol.dataReceived(b"* OK [UIDVALIDITY 1] x\r\nA1 OK done\r\n")
        chunks: list[bytes] = []
        fetch = protocol.execute(
            Command.uid_fetch(UIDRange(4, 4), (b"BODY.PEEK[]",)),
            consumer=lambda chunk: chunks.append(chunk.data),
        )
        response = b"* 1 FETCH (UID 4 BODY[] {3}\r\nabc)\r\n"
        with capturedLogs() as events:
            protocol.dataReceived(response + response + b"A2 OK\r\n")
        self.successResultOf(fetch)
        self.assertEqual(b"".join(chunks), b"abc")
        reasons = [each["reason"] for each in events if "reason" in each]
        self.assertEqual(reasons, ["dropped BODY[] of UID 4 (3 bytes): sent again"])
        self.assertEqual({each["log_level"].name for each in events if "reason" in each}, {"debug"})
