# -*- test-case-name: tests.imap.test_connection -*-
"""
Tests for L{msync.imap.connection}: the sans-IO client connection.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import LocalProtocolError, RemoteProtocolError
from msync.imap.commands import IDLE_DONE, Command, StoreMode, sasl_response_line
from msync.imap.connection import DEFAULT_PIPELINE_DEPTH, ClientConnection, ConnectionState
from msync.imap.events import (
    Completed,
    ContinuationNeeded,
    Fetched,
    Greeting,
    Rejected,
    Streamed,
    Untagged,
)
from msync.imap.routing import SelectedMailbox
from msync.imap.uids import UIDRange, UIDSet
from msync.imap.values import (
    NEED_DATA,
    ExistsResponse,
    FetchItems,
    FetchResponse,
    ListResponse,
    LiteralChunk,
    Status,
    UntaggedStatus,
)
from msync.model import Secret
from tests.fakes.feeding import events_all_ways, split_at

GREETING = b"* OK [CAPABILITY IMAP4rev1 LITERAL+ MOVE UIDPLUS] ready\r\n"


def drain(connection: ClientConnection) -> list[object]:
    """
    @return: every event the connection has now.
    """
    events: list[object] = []
    while (event := connection.next_event()) is not NEED_DATA:
        events.append(event)
    return events


def greeted(
    depth: int | None = None, greeting: bytes = GREETING, **kwargs: object
) -> ClientConnection:
    """
    @return: a connection that has received C{greeting}, its events drained.
    """
    connection = ClientConnection(depth, **kwargs)  # type: ignore[arg-type]
    connection.receive_data(greeting)
    drain(connection)
    return connection


def selected(depth: int | None = None) -> ClientConnection:
    """
    @return: a PREAUTH connection with INBOX selected.
    """
    connection = greeted(depth, b"* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+ MOVE] hi\r\n")
    connection.submit(Command.select("INBOX"))
    connection.data_to_send()
    connection.receive_data(b"* 3 EXISTS\r\nA1 OK [READ-WRITE] done\r\n")
    drain(connection)
    return connection


def lines(data: bytes) -> list[bytes]:
    """
    @return: C{data}'s CRLF-terminated lines.
    """
    return data.splitlines(keepends=True)


class GreetingTests(SynchronousTestCase):
    """
    The greeting: nothing is sent before it; it sets state and capabilities.
    """

    def test_nothing_sent_before_greeting(self) -> None:
        """
        Commands submitted before the greeting are held, then sent.
        """
        connection = ClientConnection(None)
        self.assertEqual(connection.submit(Command.noop()), b"A1")
        self.assertEqual(connection.data_to_send(), b"")
        connection.receive_data(GREETING)
        [event] = drain(connection)
        self.assertIsInstance(event, Greeting)
        self.assertEqual(connection.data_to_send(), b"A1 NOOP\r\n")

    def test_greeting_states(self) -> None:
        """
        OK, PREAUTH and BYE greetings lead to their RFC 3501 §3 states.
        """
        rows = [
            (b"* OK hi\r\n", ConnectionState.NOT_AUTHENTICATED, Status.OK),
            (b"* PREAUTH hi\r\n", ConnectionState.AUTHENTICATED, Status.PREAUTH),
            (b"* BYE busy\r\n", ConnectionState.LOGOUT, Status.BYE),
        ]
        for data, state, status in rows:
            connection = ClientConnection(None)
            connection.receive_data(data)
            [event] = drain(connection)
            self.assertEqual(event, Greeting(status, None, data[2:].split(b" ", 1)[1][:-2]))
            self.assertEqual(connection.state, state)
            self.assertIsNone(connection.capabilities)

    def test_greeting_capabilities(self) -> None:
        """
        A CAPABILITY code in the greeting sets the capabilities, upper-cased.
        """
        connection = greeted(greeting=b"* OK [CAPABILITY imap4rev1 Literal+] hi\r\n")
        self.assertEqual(connection.capabilities, frozenset({b"IMAP4REV1", b"LITERAL+"}))

    def test_bye_greeting_refuses_commands(self) -> None:
        """
        After a BYE greeting nothing can be submitted and C{bye} is set.
        """
        connection = greeted(greeting=b"* BYE go away\r\n")
        self.assertEqual(connection.bye, UntaggedStatus(Status.BYE, None, b"go away"))
        self.assertRaises(LocalProtocolError, connection.submit, Command.noop())

    def test_not_a_greeting(self) -> None:
        """
        Anything but a status response first is a protocol violation; the
        connection stays dead.
        """
        for data in (b"A1 OK what\r\n", b"* 3 EXISTS\r\n", b"+ go\r\n", b"* NO hmm\r\n"):
            connection = ClientConnection(None)
            connection.submit(Command.noop())
            connection.receive_data(data)
            self.assertRaises(RemoteProtocolError, connection.next_event)
            self.assertRaises(RemoteProtocolError, connection.next_event)
            self.assertEqual(connection.data_to_send(), b"")
            self.assertRaises(RemoteProtocolError, connection.submit, Command.noop())

    def test_invalid_pipeline_depth(self) -> None:
        """
        A pipeline depth below 1 is refused.
        """
        self.assertRaises(LocalProtocolError, ClientConnection, 0)


class PipelineTests(SynchronousTestCase):
    """
    Tags, the in-flight limit and barriers.
    """

    def test_style_example(self) -> None:
        """
        The STYLE.md example: exact bytes and a L{Completed} event.
        """
        connection = greeted(2, b"* PREAUTH hi\r\n")
        connection.submit(Command.select("INBOX"))
        connection.data_to_send()
        connection.receive_data(b"A1 OK done\r\n")
        drain(connection)
        command = Command.uid_fetch(UIDRange(1, None), (b"FLAGS",))
        self.assertEqual(connection.submit(command), b"A2")
        self.assertEqual(connection.data_to_send(), b"A2 UID FETCH 1:* (FLAGS)\r\n")
        connection.receive_data(b"* 1 FETCH (UID 7 FLAGS (\\Seen))\r\nA2 OK done\r\n")
        [event] = drain(connection)
        assert isinstance(event, Completed)
        self.assertEqual((event.tag, event.command), (b"A2", command))
        self.assertEqual(event.response.status, Status.OK)
        [fetch] = event.untagged
        assert isinstance(fetch, FetchResponse)
        self.assertEqual((fetch.items.uid, fetch.items.flags), (7, (b"\\Seen",)))

    def run_pipeline(self, depth: int | None, count: int) -> int:
        """
        Submit C{count} NOOPs, answer them one by one as they are sent.

        @return: the most commands ever in flight.
        """
        connection = greeted(depth)
        for _ in range(count):
            connection.submit(Command.noop())
        in_flight: list[bytes] = []
        most = 0
        done = 0
        while done < count:
            in_flight += [line.split(b" ")[0] for line in lines(connection.data_to_send())]
            most = max(most, len(in_flight))
            connection.receive_data(in_flight.pop(0) + b" OK\r\n")
            done += len([e for e in drain(connection) if isinstance(e, Completed)])
        self.assertEqual(connection.data_to_send(), b"")
        return most

    def test_depth_limits(self) -> None:
        """
        At most N commands are in flight for N = 1, 2, 50, and exactly N
        when enough are queued.
        """
        for depth in (1, 2, 50):
            self.assertEqual(self.run_pipeline(depth, 120), depth)

    def test_default_depth(self) -> None:
        """
        C{None} means L{DEFAULT_PIPELINE_DEPTH}.
        """
        self.assertEqual(self.run_pipeline(None, 200), DEFAULT_PIPELINE_DEPTH)

    def test_depth_one_sends_one_at_a_time(self) -> None:
        """
        With depth 1 the second command goes only after the first's tagged response.
        """
        connection = greeted(1)
        connection.submit(Command.noop())
        connection.submit(Command.capability())
        self.assertEqual(connection.data_to_send(), b"A1 NOOP\r\n")
        connection.receive_data(b"* 4 EXISTS\r\n")
        drain(connection)
        self.assertEqual(connection.data_to_send(), b"")
        connection.receive_data(b"A1 OK\r\n")
        drain(connection)
        self.assertEqual(connection.data_to_send(), b"A2 CAPABILITY\r\n")

    def test_barrier(self) -> None:
        """
        A barrier waits for everything in flight and holds everything behind it.
        """
        connection = selected(10)
        connection.submit(Command.noop())
        connection.submit(Command.select("Archive"))
        connection.submit(Command.noop())
        self.assertEqual(connection.data_to_send(), b"A2 NOOP\r\n")
        connection.receive_data(b"A2 OK\r\n")
        drain(connection)
        self.assertEqual(connection.data_to_send(), b"A3 SELECT Archive\r\n")
        self.assertEqual(connection.data_to_send(), b"")
        connection.receive_data(b"A3 OK\r\n")
        drain(connection)
        self.assertEqual(connection.data_to_send(), b"A4 NOOP\r\n")

    def test_out_of_order_completion(self) -> None:
        """
        Tagged responses may complete pipelined commands in any order.
        """
        connection = greeted(5)
        connection.submit(Command.noop())
        connection.submit(Command.capability())
        connection.data_to_send()
        connection.receive_data(b"A2 OK\r\nA1 OK\r\n")
        self.assertEqual([e.tag for e in drain(connection)], [b"A2", b"A1"])  # type: ignore[attr-defined]

    def test_rejected_commands(self) -> None:
        """
        A command invalid in the state or for the capabilities is rejected
        without being sent; later commands still go.
        """
        connection = greeted(5, b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
        connection.submit(Command.uid_fetch(UIDRange(1, 2), (b"FLAGS",)))
        connection.submit(Command.noop())
        (first,) = drain(connection)
        assert isinstance(first, Rejected)
        self.assertEqual(first.tag, b"A1")
        self.assertIn("not authenticated", str(first.error))
        self.assertEqual(connection.data_to_send(), b"A2 NOOP\r\n")
        moving = selected(5)
        moving.disable_capabilities([b"move"])
        moving.submit(Command.uid_move(UIDRange(1, 1), "Trash"))
        [event] = drain(moving)
        assert isinstance(event, Rejected)
        self.assertIn("MOVE", str(event.error))
        self.assertEqual(moving.data_to_send(), b"")


QRESYNC_PREAUTH = (
    b"* PREAUTH [CAPABILITY IMAP4rev1 NAMESPACE ENABLE CONDSTORE QRESYNC UTF8=ACCEPT] hi\r\n"
)


class SelectionPipelineTests(SynchronousTestCase):
    """
    The round trips a selection need not wait for: a first SELECT behind
    neutral commands, a command submitted to follow a selection, and
    commands behind a non-barrier ENABLE.
    """

    def test_enable_qresync_namespace_select_together(self) -> None:
        """
        C{ENABLE QRESYNC} is no barrier: NAMESPACE goes behind it, and the
        first SELECT behind both, in one write; a command submitted after
        the SELECT (not to follow it) still waits for its answer.
        """
        connection = greeted(10, QRESYNC_PREAUTH)
        connection.submit(Command.enable(b"QRESYNC"))
        connection.submit(Command.namespace())
        connection.submit(Command.select("INBOX"))
        connection.submit(Command.noop())
        self.assertEqual(
            lines(connection.data_to_send()),
            [b"A1 ENABLE QRESYNC\r\n", b"A2 NAMESPACE\r\n", b"A3 SELECT INBOX\r\n"],
        )
        connection.receive_data(b"* ENABLED QRESYNC\r\nA1 OK\r\nA2 OK\r\n")
        drain(connection)
        self.assertEqual(connection.enabled, frozenset({b"QRESYNC"}))
        self.assertEqual(connection.data_to_send(), b"")
        connection.receive_data(b"* 2 EXISTS\r\nA3 OK [READ-WRITE] done\r\n")
        drain(connection)
        self.assertEqual(connection.data_to_send(), b"A4 NOOP\r\n")

    def test_utf8_enable_is_a_barrier(self) -> None:
        """
        C{ENABLE UTF8=ACCEPT} changes how names are sent: nothing goes
        behind it before its answer.
        """
        connection = greeted(10, QRESYNC_PREAUTH)
        connection.submit(Command.enable(b"UTF8=ACCEPT"))
        connection.submit(Command.select("INBOX"))
        self.assertEqual(connection.data_to_send(), b"A1 ENABLE UTF8=ACCEPT\r\n")
        connection.receive_data(b"* ENABLED UTF8=ACCEPT\r\nA1 OK\r\n")
        drain(connection)
        self.assertEqual(connection.data_to_send(), b"A2 SELECT INBOX\r\n")

    def test_select_behind_status_only_without_a_mailbox(self) -> None:
        """
        A SELECT goes behind STATUS commands in flight in the authenticated
        state, but with a mailbox selected it waits for them (its data
        could be taken for the new mailbox's); and it never goes behind a
        command that may answer about a mailbox (NOOP).
        """
        first = greeted(10, QRESYNC_PREAUTH)
        first.submit(Command.status("Archive", (b"MESSAGES",)))
        first.submit(Command.select("INBOX"))
        self.assertEqual(
            lines(first.data_to_send()),
            [b"A1 STATUS Archive (MESSAGES)\r\n", b"A2 SELECT INBOX\r\n"],
        )
        behind_noop = greeted(10, QRESYNC_PREAUTH)
        behind_noop.submit(Command.noop())
        behind_noop.submit(Command.select("INBOX"))
        self.assertEqual(behind_noop.data_to_send(), b"A1 NOOP\r\n")
        again = selected(10)
        again.submit(Command.status("Archive", (b"MESSAGES",)))
        again.submit(Command.select("Archive"))
        self.assertEqual(again.data_to_send(), b"A2 STATUS Archive (MESSAGES)\r\n")
        again.receive_data(b"* STATUS Archive (MESSAGES 1)\r\nA2 OK\r\n")
        drain(again)
        self.assertEqual(again.data_to_send(), b"A3 SELECT Archive\r\n")

    def test_depth_one_still_one_at_a_time(self) -> None:
        """
        With C{PipelineDepth 1} neither rule sends a second command early.
        """
        connection = greeted(1, QRESYNC_PREAUTH)
        connection.submit(Command.enable(b"QRESYNC"))
        connection.submit(Command.select("INBOX"))
        connection.submit(Command.uid_fetch(UIDRange(1, None), (b"FLAGS",)), follows_selection=True)
        self.assertEqual(connection.data_to_send(), b"A1 ENABLE QRESYNC\r\n")
        connection.receive_data(b"A1 OK\r\n")
        drain(connection)
        self.assertEqual(connection.data_to_send(), b"A2 SELECT INBOX\r\n")
        connection.receive_data(b"A2 OK\r\n")
        drain(connection)
        self.assertEqual(connection.data_to_send(), b"A3 UID FETCH 1:* (FLAGS)\r\n")

    def test_fetch_follows_selection(self) -> None:
        """
        A UID FETCH submitted to follow a SELECT goes out with it (behind
        the ENABLE that makes its VANISHED valid); FETCH data before the
        SELECT's answer is not its own, what follows it is.
        """
        connection = greeted(10, QRESYNC_PREAUTH)
        connection.submit(Command.enable(b"QRESYNC"))
        connection.submit(Command.select("INBOX"))
        fetch = Command.uid_fetch(
            UIDRange(1, None), (b"UID", b"FLAGS"), changed_since=5, vanished=True
        )
        connection.submit(fetch, follows_selection=True)
        self.assertEqual(
            lines(connection.data_to_send()),
            [
                b"A1 ENABLE QRESYNC\r\n",
                b"A2 SELECT INBOX\r\n",
                b"A3 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 5 VANISHED)\r\n",
            ],
        )
        connection.receive_data(
            b"* ENABLED QRESYNC\r\nA1 OK\r\n* 1 FETCH (UID 3 FLAGS ())\r\n"
            b"* 4 EXISTS\r\n* OK [HIGHESTMODSEQ 9] ok\r\nA2 OK [READ-WRITE] done\r\n"
            b"* VANISHED (EARLIER) 2\r\n* 2 FETCH (UID 7 FLAGS (\\Seen))\r\nA3 OK\r\n"
        )
        events = drain(connection)
        stray = [e for e in events if isinstance(e, Untagged)]
        self.assertEqual([type(e.response) for e in stray], [FetchResponse])
        done = {e.tag: e for e in events if isinstance(e, Completed)}
        self.assertEqual(sorted(done), [b"A1", b"A2", b"A3"])
        self.assertEqual(done[b"A2"].mailbox.exists, 4)  # type: ignore[union-attr]
        answers = done[b"A3"].untagged
        self.assertEqual([e.items.uid for e in answers if isinstance(e, FetchResponse)], [7])
        self.assertEqual(len(answers), 2)

    def test_follows_failed_selection(self) -> None:
        """
        When the SELECT a command follows fails, that command fails too:
        sent behind it, the server refuses it; still queued (the pipeline
        was full), it is refused without being sent, never run on the
        mailbox selected before.
        """
        sent = selected(10)
        sent.submit(Command.select("Nope"))
        sent.submit(Command.uid_fetch(UIDRange(1, None), (b"FLAGS",)), follows_selection=True)
        self.assertEqual(
            lines(sent.data_to_send()),
            [b"A2 SELECT Nope\r\n", b"A3 UID FETCH 1:* (FLAGS)\r\n"],
        )
        sent.receive_data(b"A2 NO no such box\r\nA3 BAD no mailbox selected\r\n")
        statuses = [e.response.status for e in drain(sent) if isinstance(e, Completed)]
        self.assertEqual(statuses, [Status.NO, Status.BAD])
        held = selected(1)
        held.submit(Command.select("Nope"))
        held.submit(Command.uid_fetch(UIDRange(1, None), (b"FLAGS",)), follows_selection=True)
        self.assertEqual(held.data_to_send(), b"A2 SELECT Nope\r\n")
        held.receive_data(b"A2 NO no such box\r\n")
        events = drain(held)
        self.assertEqual([type(e) for e in events], [Completed, Rejected])
        self.assertIn("follows a selection that failed", str(events[1].error))  # type: ignore[attr-defined]
        self.assertEqual(held.data_to_send(), b"")

    def test_follows_only_a_pending_selection(self) -> None:
        """
        C{follows_selection} after anything but a pending SELECT changes
        nothing; a barrier cannot follow a selection.
        """
        connection = selected(10)
        connection.submit(Command.noop())
        connection.submit(Command.uid_fetch(UIDRange(1, 2), (b"FLAGS",)), follows_selection=True)
        self.assertEqual(
            lines(connection.data_to_send()),
            [b"A2 NOOP\r\n", b"A3 UID FETCH 1:2 (FLAGS)\r\n"],
        )
        connection.submit(Command.select("Archive"))
        self.assertRaises(
            LocalProtocolError, connection.submit, Command.close(), follows_selection=True
        )


class LiteralTests(SynchronousTestCase):
    """
    Synchronizing literals wait for C{+}; LITERAL+ ones do not.
    """

    def test_synchronizing_literal(self) -> None:
        """
        Without LITERAL+ the message follows only the C{+}, and nothing else
        is sent meanwhile.
        """
        connection = greeted(5, b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n")
        connection.submit(Command.append("INBOX", b"Hi\r\n"))
        connection.submit(Command.noop())
        self.assertEqual(connection.data_to_send(), b"A1 APPEND INBOX {4}\r\n")
        self.assertEqual(connection.data_to_send(), b"")
        connection.receive_data(b"+ go ahead\r\n")
        self.assertEqual(drain(connection), [])
        self.assertEqual(connection.data_to_send(), b"Hi\r\n\r\nA2 NOOP\r\n")
        self.assertEqual(connection.take_trace(), ["A1 APPEND INBOX {4}", "<literal>", "A2 NOOP"])

    def test_literal_plus(self) -> None:
        """
        With LITERAL+ the message is sent at once.
        """
        connection = greeted(5, b"* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n")
        connection.submit(Command.append("INBOX", b"Hi\r\n"))
        connection.submit(Command.noop())
        self.assertEqual(
            connection.data_to_send(), b"A1 APPEND INBOX {4+}\r\nHi\r\n\r\nA2 NOOP\r\n"
        )

    def test_disabled_literal_plus(self) -> None:
        """
        A disabled LITERAL+ is not used.
        """
        connection = greeted(
            5,
            b"* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n",
            disabled_capabilities=[b"literal+"],
        )
        self.assertEqual(connection.capabilities, frozenset({b"IMAP4REV1"}))
        connection.submit(Command.append("INBOX", b"Hi\r\n"))
        self.assertEqual(connection.data_to_send(), b"A1 APPEND INBOX {4}\r\n")

    def test_refused_before_literal(self) -> None:
        """
        A tagged NO instead of C{+} completes the command and lifts the gate.
        """
        connection = greeted(5, b"* PREAUTH hi\r\n")
        connection.submit(Command.append("INBOX", b"Hi\r\n"))
        connection.submit(Command.noop())
        connection.data_to_send()
        connection.receive_data(b"A1 NO [OVERQUOTA] full\r\n")
        [event] = drain(connection)
        assert isinstance(event, Completed)
        self.assertEqual(event.response.status, Status.NO)
        self.assertEqual(connection.data_to_send(), b"A2 NOOP\r\n")

    def test_unexpected_continuation(self) -> None:
        """
        A C{+} while nothing waits for one kills the connection.
        """
        connection = greeted(5)
        connection.submit(Command.noop())
        connection.receive_data(b"+ what\r\n")
        self.assertRaises(RemoteProtocolError, connection.next_event)
        self.assertRaises(RemoteProtocolError, connection.next_event)

    def test_unknown_tag(self) -> None:
        """
        A tagged response for a tag not in flight kills the connection.
        """
        connection = greeted(5)
        connection.submit(Command.noop())
        connection.receive_data(b"A7 OK\r\n")
        error = self.assertRaises(RemoteProtocolError, connection.next_event)
        self.assertIn("A7", str(error))


class ContinuationTests(SynchronousTestCase):
    """
    AUTHENTICATE and IDLE continuation requests are surfaced.
    """

    def test_authenticate(self) -> None:
        """
        Each C{+} becomes L{ContinuationNeeded}; the answer is sent and
        redacted in the trace.
        """
        connection = greeted(5)
        connection.submit(Command.authenticate(b"CRAM-MD5"))
        connection.submit(Command.noop())
        self.assertEqual(connection.data_to_send(), b"A1 AUTHENTICATE CRAM-MD5\r\n")
        connection.receive_data(b"+ PDE4OTY+\r\n")
        self.assertEqual(drain(connection), [ContinuationNeeded(b"A1", b"PDE4OTY+")])
        connection.send_continuation(b"A1", sasl_response_line(b"tim secret"))
        self.assertEqual(connection.data_to_send(), b"dGltIHNlY3JldA==\r\n")
        self.assertEqual(connection.take_trace(), ["A1 AUTHENTICATE CRAM-MD5", "<redacted>"])
        connection.receive_data(b"A1 OK [CAPABILITY IMAP4rev1 IDLE] in\r\n")
        drain(connection)
        self.assertEqual(connection.state, ConnectionState.AUTHENTICATED)
        self.assertEqual(connection.capabilities, frozenset({b"IMAP4REV1", b"IDLE"}))
        self.assertEqual(connection.data_to_send(), b"A2 NOOP\r\n")

    def test_answer_not_due(self) -> None:
        """
        Answering when no C{+} is pending is a local error.
        """
        connection = greeted(5)
        connection.submit(Command.authenticate(b"PLAIN"))
        self.assertRaises(LocalProtocolError, connection.send_continuation, b"A1", b"x\r\n")
        self.assertRaises(LocalProtocolError, connection.send_continuation, b"A9", b"x\r\n")

    def test_idle(self) -> None:
        """
        IDLE's C{+} is surfaced, untagged data during IDLE is reported, and
        DONE ends it.
        """
        connection = greeted(5, b"* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n")
        connection.submit(Command.idle())
        self.assertEqual(connection.data_to_send(), b"A1 IDLE\r\n")
        connection.receive_data(b"+ idling\r\n* 5 EXISTS\r\n")
        self.assertEqual(
            drain(connection),
            [ContinuationNeeded(b"A1", b"idling"), Untagged(ExistsResponse(5))],
        )
        connection.send_continuation(b"A1", IDLE_DONE)
        self.assertEqual(connection.data_to_send(), b"DONE\r\n")
        self.assertEqual(connection.take_trace(), ["A1 IDLE", "DONE"])


class CapabilityTests(SynchronousTestCase):
    """
    Capabilities are tracked and forgotten when RFC 3501 says so.
    """

    def login(self, response: bytes) -> ClientConnection:
        """
        @return: a connection after LOGIN answered with C{response}.
        """
        connection = greeted(5)
        connection.submit(Command.login("joe", Secret("pw")))
        connection.data_to_send()
        connection.receive_data(response)
        drain(connection)
        return connection

    def test_forgotten_after_login(self) -> None:
        """
        Without a restatement, capabilities are unknown after LOGIN.
        """
        self.assertIsNone(self.login(b"A1 OK in\r\n").capabilities)

    def test_restated_in_login_response(self) -> None:
        """
        A CAPABILITY code or untagged CAPABILITY during LOGIN is kept.
        """
        self.assertEqual(self.login(b"A1 OK [CAPABILITY X] in\r\n").capabilities, {b"X"})
        self.assertEqual(self.login(b"* CAPABILITY Y\r\nA1 OK in\r\n").capabilities, {b"Y"})

    def test_starttls(self) -> None:
        """
        After STARTTLS's OK capabilities are discarded and nothing is sent
        until the TLS handshake has started.
        """
        connection = greeted(5, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
        connection.submit(Command.starttls())
        connection.submit(Command.capability())
        self.assertEqual(connection.data_to_send(), b"A1 STARTTLS\r\n")
        connection.receive_data(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA1 OK begin\r\n")
        drain(connection)
        self.assertIsNone(connection.capabilities)
        self.assertEqual(connection.data_to_send(), b"")
        connection.tls_started()
        self.assertEqual(connection.data_to_send(), b"A2 CAPABILITY\r\n")

    def test_refused_starttls(self) -> None:
        """
        A refused STARTTLS changes nothing.
        """
        connection = greeted(5, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
        connection.submit(Command.starttls())
        connection.submit(Command.noop())
        connection.data_to_send()
        connection.receive_data(b"A1 NO no\r\n")
        drain(connection)
        self.assertEqual(connection.capabilities, {b"IMAP4REV1", b"STARTTLS"})
        self.assertEqual(connection.data_to_send(), b"A2 NOOP\r\n")

    def test_untagged_capability(self) -> None:
        """
        Untagged CAPABILITY data updates the capabilities and belongs to CAPABILITY.
        """
        connection = greeted(5, b"* OK hi\r\n")
        connection.submit(Command.capability())
        connection.receive_data(b"* CAPABILITY IMAP4rev1 ID\r\nA1 OK\r\n")
        [event] = drain(connection)
        assert isinstance(event, Completed)
        self.assertEqual(len(event.untagged), 1)
        self.assertEqual(connection.capabilities, {b"IMAP4REV1", b"ID"})

    def test_login_trace_redacted(self) -> None:
        """
        The trace of LOGIN never shows the password.
        """
        connection = greeted(5)
        connection.submit(Command.login("joe", Secret("hunter2")))
        self.assertIn(b"hunter2", connection.data_to_send())
        [line] = connection.take_trace()
        self.assertNotIn("hunter2", line)
        self.assertIn("<redacted>", line)


class MailboxTests(SynchronousTestCase):
    """
    SELECT state and untagged mailbox data.
    """

    def test_select(self) -> None:
        """
        SELECT's response codes and data build the selected mailbox.
        """
        connection = greeted(5, b"* PREAUTH hi\r\n")
        connection.submit(Command.select("INBOX"))
        connection.receive_data(
            b"* FLAGS (\\Seen \\Deleted)\r\n"
            b"* 172 EXISTS\r\n* 1 RECENT\r\n"
            b"* OK [UNSEEN 12] first\r\n"
            b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
            b"* OK [UIDNEXT 4392] Predicted next UID\r\n"
            b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
            b"* OK [HIGHESTMODSEQ 715194045007] ok\r\n"
            b"A1 OK [READ-WRITE] SELECT completed\r\n"
        )
        [event] = drain(connection)
        expected = SelectedMailbox(
            uid_validity=3857529045,
            uid_next=4392,
            exists=172,
            recent=1,
            flags=(b"\\Seen", b"\\Deleted"),
            permanent_flags=(b"\\Deleted", b"\\Seen", b"\\*"),
            highest_modseq=715194045007,
            unseen=12,
            read_only=False,
        )
        assert isinstance(event, Completed)
        self.assertEqual(event.mailbox, expected)
        self.assertEqual(len(event.untagged), 8)
        self.assertEqual(connection.selected, expected)
        self.assertEqual(connection.state, ConnectionState.SELECTED)

    def test_examine_read_only(self) -> None:
        """
        EXAMINE without a code is read-only; a READ-ONLY code is honoured.
        """
        connection = greeted(5, b"* PREAUTH hi\r\n")
        connection.submit(Command.select("INBOX", read_only=True))
        connection.receive_data(b"A1 OK done\r\n")
        drain(connection)
        assert connection.selected is not None
        self.assertTrue(connection.selected.read_only)
        connection.submit(Command.select("INBOX"))
        connection.receive_data(b"A2 OK [READ-ONLY] done\r\n")
        drain(connection)
        self.assertTrue(connection.selected.read_only)

    def test_failed_select_deselects(self) -> None:
        """
        RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected.
        """
        connection = selected()
        connection.submit(Command.select("Nope"))
        connection.receive_data(b"A2 NO [TRYCREATE] no such box\r\n")
        drain(connection)
        self.assertIsNone(connection.selected)
        self.assertEqual(connection.state, ConnectionState.AUTHENTICATED)

    def test_close(self) -> None:
        """
        CLOSE deselects.
        """
        connection = selected()
        connection.submit(Command.close())
        connection.receive_data(b"A2 OK\r\n")
        drain(connection)
        self.assertIsNone(connection.selected)
        self.assertEqual(connection.state, ConnectionState.AUTHENTICATED)

    def test_unsolicited_updates(self) -> None:
        """
        EXISTS, EXPUNGE and VANISHED update the mailbox and are reported.
        """
        connection = selected()
        connection.receive_data(b"* 5 EXISTS\r\n* 2 EXPUNGE\r\n* VANISHED 7:8\r\n")
        events = drain(connection)
        self.assertEqual(len(events), 3)
        self.assertTrue(all(isinstance(each, Untagged) for each in events))
        assert connection.selected is not None
        self.assertEqual(connection.selected.exists, 2)

    def test_routing(self) -> None:
        """
        Untagged data goes to the oldest command that can produce it; FETCH
        without UID and unrelated data are reported as L{Untagged}.
        """
        connection = selected()
        connection.submit(Command.list("", "*"))
        connection.submit(Command.uid_fetch(UIDRange(1, None), (b"FLAGS",)))
        connection.submit(Command.expunge())
        connection.receive_data(
            b'* LIST () "/" INBOX\r\n'
            b"* 1 FETCH (UID 4 FLAGS ())\r\n"
            b"* 2 FETCH (FLAGS (\\Seen))\r\n"
            b"* 3 EXPUNGE\r\n"
            b"* OK [ALERT] maintenance\r\n"
            b"A2 OK\r\nA3 OK\r\nA4 OK\r\n"
        )
        events = drain(connection)
        untagged = [each.response for each in events if isinstance(each, Untagged)]
        self.assertEqual(len(untagged), 2)
        assert isinstance(untagged[0], FetchResponse)
        self.assertIsNone(untagged[0].items.uid)
        completed = [each for each in events if isinstance(each, Completed)]
        self.assertEqual([len(each.untagged) for each in completed], [1, 1, 1])
        self.assertIsInstance(completed[0].untagged[0], ListResponse)

    def test_bye(self) -> None:
        """
        An untagged BYE is reported and ends sending.
        """
        connection = selected()
        connection.submit(Command.noop())
        connection.receive_data(b"* BYE shutting down\r\n")
        [event] = drain(connection)
        self.assertEqual(event, Untagged(UntaggedStatus(Status.BYE, None, b"shutting down")))
        self.assertEqual(connection.state, ConnectionState.LOGOUT)
        self.assertRaises(LocalProtocolError, connection.submit, Command.noop())


class StreamingTests(SynchronousTestCase):
    """
    FETCH bodies of commands submitted with C{stream_bodies} are streamed.
    """

    def test_streamed(self) -> None:
        """
        The body arrives as L{Streamed} chunks of its command, then the FETCH.
        """
        connection = selected()
        command = Command.uid_fetch(UIDRange(9, 9), (b"BODY.PEEK[]",))
        connection.submit(command, stream_bodies=True)
        connection.receive_data(b"* 1 FETCH (UID 9 BODY[] {6}\r\nabc")
        events = drain(connection)
        connection.receive_data(b"def)\r\nA2 OK\r\n")
        events += drain(connection)
        self.assertEqual(
            events[:2],
            [
                Streamed(b"A2", LiteralChunk(1, b"", b"abc", False)),
                Streamed(b"A2", LiteralChunk(1, b"", b"def", True)),
            ],
        )
        completed = events[2]
        assert isinstance(completed, Completed)
        fetch = completed.untagged[0]
        assert isinstance(fetch, FetchResponse)
        self.assertEqual(fetch.items.streamed, frozenset({b""}))

    def test_streamed_then_flags(self) -> None:
        """
        FETCH data for a UID whose body was streamed (another client's
        flag change) is merged into the command's response for it: the
        latest flags, the body still marked streamed; one response per UID.
        """
        connection = selected()
        command = Command.uid_fetch(UIDSet.of([9, 10]), (b"FLAGS", b"BODY.PEEK[]"))
        connection.submit(command, stream_bodies=True)
        connection.receive_data(
            b"* 1 FETCH (UID 9 FLAGS (\\Seen) BODY[] {3}\r\nabc)\r\n"
            b"* 2 FETCH (UID 10 FLAGS ())\r\n"
            b"* 1 FETCH (UID 9 FLAGS (\\Flagged))\r\n"
            b"* 2 FETCH (UID 10 FLAGS (\\Deleted) BODY[] {2}\r\nde)\r\nA2 OK\r\n"
        )
        events = drain(connection)
        completed = events[-1]
        assert isinstance(completed, Completed)
        self.assertEqual(
            completed.untagged,
            (
                FetchResponse(
                    1, FetchItems(uid=9, flags=(b"\\Flagged",), streamed=frozenset({b""}))
                ),
                FetchResponse(
                    2, FetchItems(uid=10, flags=(b"\\Deleted",), streamed=frozenset({b""}))
                ),
            ),
        )

    def test_not_streamed(self) -> None:
        """
        Without C{stream_bodies} bodies are buffered.
        """
        connection = selected()
        connection.submit(Command.uid_fetch(UIDRange(9, 9), (b"BODY.PEEK[]",)))
        connection.receive_data(b"* 1 FETCH (UID 9 BODY[] {3}\r\nabc)\r\nA2 OK\r\n")
        [completed] = drain(connection)
        assert isinstance(completed, Completed)
        fetch = completed.untagged[0]
        assert isinstance(fetch, FetchResponse)
        self.assertEqual(fetch.items.sections, {b"": b"abc"})


class HandOverTests(SynchronousTestCase):
    """
    FETCH data of commands submitted with C{hand_over} comes as L{Fetched}
    events as it arrives and is not kept for the command's L{Completed}.
    """

    def test_handed_over(self) -> None:
        """
        Each FETCH response, a repeated UID included, is one L{Fetched}
        event, before the L{Completed}, which keeps none of them.
        """
        connection = selected()
        command = Command.uid_fetch(UIDRange(1, None), (b"UID", b"FLAGS"))
        connection.submit(command, hand_over=True)
        connection.receive_data(b"* 1 FETCH (UID 4 FLAGS (\\Seen))\r\n")
        first = drain(connection)
        connection.receive_data(
            b"* 2 FETCH (UID 7 FLAGS ())\r\n* 1 FETCH (UID 4 FLAGS (\\Flagged))\r\nA2 OK\r\n"
        )
        events = first + drain(connection)
        handed = [event for event in events if isinstance(event, Fetched)]
        self.assertEqual(
            [(event.tag, event.response.items.uid, event.response.items.flags) for event in handed],
            [(b"A2", 4, (b"\\Seen",)), (b"A2", 7, ()), (b"A2", 4, (b"\\Flagged",))],
        )
        self.assertEqual(len(first), 1)
        completed = events[-1]
        assert isinstance(completed, Completed)
        self.assertEqual(completed.untagged, ())

    def test_only_its_own(self) -> None:
        """
        A command without C{hand_over} pipelined beside one with it keeps
        its FETCH data (merged by UID) as before.
        """
        connection = selected()
        connection.submit(Command.uid_fetch(UIDRange(1, 5), (b"UID", b"FLAGS")), hand_over=True)
        connection.submit(Command.uid_fetch(UIDRange(6, 9), (b"UID", b"FLAGS")))
        connection.receive_data(
            b"* 1 FETCH (UID 4 FLAGS ())\r\n* 2 FETCH (UID 8 FLAGS ())\r\n"
            b"* 2 FETCH (UID 8 FLAGS (\\Seen))\r\nA2 OK\r\nA3 OK\r\n"
        )
        events = drain(connection)
        self.assertEqual(
            [event.response.items.uid for event in events if isinstance(event, Fetched)], [4]
        )
        completed = [event for event in events if isinstance(event, Completed)]
        self.assertEqual([len(each.untagged) for each in completed], [0, 1])
        kept = completed[1].untagged[0]
        assert isinstance(kept, FetchResponse)
        self.assertEqual((kept.items.uid, kept.items.flags), (8, (b"\\Seen",)))


def pipelined(*commands: tuple[Command, bool]) -> ClientConnection:
    """
    @param commands: each command and whether to stream its bodies.
    @return: a connection with INBOX selected (tag A1) and C{commands}
        submitted (tags A2, A3, ...), what they sent already taken.
    """
    connection = selected()
    for command, stream in commands:
        connection.submit(command, stream_bodies=stream)
    connection.data_to_send()
    return connection


def merge_streamed(events: list[object]) -> list[object]:
    """
    Merge consecutive L{Streamed} chunks of one literal, whose boundaries
    follow the input's.
    """
    merged: list[object] = []
    for event in events:
        previous = merged[-1] if merged else None
        if (
            isinstance(event, Streamed)
            and isinstance(previous, Streamed)
            and previous.tag == event.tag
            and not previous.chunk.last
        ):
            chunk = LiteralChunk(
                event.chunk.seq,
                event.chunk.section,
                previous.chunk.data + event.chunk.data,
                event.chunk.last,
            )
            merged[-1] = Streamed(event.tag, chunk)
            continue
        merged.append(event)
    return merged


def fetched_uids(events: list[object]) -> dict[bytes, list[int | None]]:
    """
    @return: for each completed command's tag, the UIDs of the FETCH data
        attached to it, in arrival order; under C{b"*"} those reported as
        L{Untagged}.
    """
    found: dict[bytes, list[int | None]] = {}
    for event in events:
        if isinstance(event, Completed):
            found[event.tag] = [
                each.items.uid for each in event.untagged if isinstance(each, FetchResponse)
            ]
        elif isinstance(event, Untagged) and isinstance(event.response, FetchResponse):
            found.setdefault(b"*", []).append(event.response.items.uid)
    return found


class FetchRoutingTests(SynchronousTestCase):
    """
    FETCH data of pipelined UID commands reaches the command whose UID set
    names it, however the responses interleave and the bytes are split.
    """

    def test_interleaved_fetches(self) -> None:
        """
        Three pipelined UID FETCHes for different UIDs and items, answered
        interleaved and out of order, each get exactly their own FETCH
        data; FETCH data without UID or for UIDs none asked for (another
        client's flag changes) is L{Untagged}.
        """

        def factory() -> ClientConnection:
            return pipelined(
                (Command.uid_fetch(UIDRange(1, 3), (b"FLAGS",)), False),
                (Command.uid_fetch(UIDRange(4, 6), (b"UID", b"FLAGS", b"RFC822.SIZE")), False),
                (Command.uid_fetch(UIDSet.of([7, 9]), (b"BODY.PEEK[HEADER]",)), False),
            )

        data = (
            b"* 4 FETCH (UID 4 FLAGS () RFC822.SIZE 10)\r\n"
            b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"
            b"* 7 FETCH (UID 9 BODY[HEADER] {4}\r\nX: 9)\r\n"
            b"* 3 FETCH (FLAGS (\\Deleted))\r\n"
            b"* 2 FETCH (UID 2 FLAGS ())\r\n"
            b"* 8 FETCH (UID 20 FLAGS (\\Seen))\r\n"
            b"* 5 FETCH (UID 5 FLAGS () RFC822.SIZE 12)\r\n"
            b"A3 OK done\r\n"
            b"* 6 FETCH (UID 7 BODY[HEADER] {4}\r\nX: 7)\r\n"
            b"A2 OK done\r\nA4 OK done\r\n"
        )
        events = events_all_ways(
            factory, data, NEED_DATA, points=(10, 60, 100, 101, 240), trailing=b"* 9 FETCH (UI"
        )
        self.assertEqual(
            fetched_uids(events),
            {b"A2": [1, 2], b"A3": [4, 5], b"A4": [9, 7], b"*": [None, 20]},
        )
        completed = {each.tag: each for each in events if isinstance(each, Completed)}
        header = completed[b"A4"].untagged[0]
        assert isinstance(header, FetchResponse)
        self.assertEqual(header.items.sections, {b"HEADER": b"X: 9"})

    def test_interleaved_streamed_bodies(self) -> None:
        """
        Body literals of pipelined streaming fetches are streamed to the
        command that asked for their UID, fed whole, byte by byte and split;
        a buffered fetch in flight beside them keeps its own data.
        """

        def factory() -> ClientConnection:
            return pipelined(
                (Command.uid_fetch(UIDRange(5, 5), (b"UID", b"BODY.PEEK[]")), True),
                (Command.uid_fetch(UIDRange(1, 3), (b"FLAGS",)), False),
                (Command.uid_fetch(UIDRange(6, 6), (b"UID", b"BODY.PEEK[]")), True),
                (Command.uid_fetch(UIDRange(7, 7), (b"UID", b"BODY.PEEK[]")), True),
            )

        data = (
            b"* 7 FETCH (UID 7 BODY[] {7}\r\nseventh)\r\n"
            b"* 1 FETCH (UID 1 FLAGS ())\r\n"
            b"* 5 FETCH (UID 5 FLAGS (\\Seen) BODY[] {5}\r\nfifth)\r\n"
            b"A5 OK done\r\n"
            b"* 6 FETCH (UID 6 BODY[] {5}\r\nsixth)\r\n"
            b"A4 OK done\r\nA3 OK done\r\nA2 OK done\r\n"
        )
        events = events_all_ways(
            factory, data, NEED_DATA, points=(30, 31, 90), normalize=merge_streamed
        )
        streamed = [
            (each.tag, each.chunk.data, each.chunk.last)
            for each in events
            if isinstance(each, Streamed)
        ]
        self.assertEqual(
            streamed,
            [(b"A5", b"seventh", True), (b"A2", b"fifth", True), (b"A4", b"sixth", True)],
        )
        self.assertEqual(fetched_uids(events), {b"A5": [7], b"A4": [6], b"A3": [1], b"A2": [5]})

    def test_uid_after_body(self) -> None:
        """
        A body literal whose response names the UID only after it is never
        streamed (it could be another message's): it is buffered, and the
        whole response routed by its UID, even with one UID FETCH in flight;
        a body for another UID does not reach that fetch.
        """
        data = b"* 1 FETCH (BODY[] {3}\r\nabc UID 9)\r\n"
        alone = pipelined((Command.uid_fetch(UIDRange(9, 9), (b"BODY.PEEK[]",)), True))
        alone.receive_data(data + b"A2 OK done\r\n")
        events = drain(alone)
        self.assertFalse([each for each in events if isinstance(each, Streamed)])
        self.assertEqual(fetched_uids(events), {b"A2": [9]})
        completed = events[0]
        assert isinstance(completed, Completed)
        fetch = completed.untagged[0]
        assert isinstance(fetch, FetchResponse)
        self.assertEqual(fetch.items.sections, {b"": b"abc"})

        other = pipelined((Command.uid_fetch(UIDRange(8, 8), (b"BODY.PEEK[]",)), True))
        other.receive_data(data + b"A2 OK done\r\n")
        events = drain(other)
        self.assertFalse([each for each in events if isinstance(each, Streamed)])
        self.assertEqual(fetched_uids(events), {b"*": [9], b"A2": []})

        both = pipelined(
            (Command.uid_fetch(UIDRange(8, 8), (b"BODY.PEEK[]",)), True),
            (Command.uid_fetch(UIDRange(9, 9), (b"BODY.PEEK[]",)), True),
        )
        both.receive_data(data + b"A3 OK done\r\nA2 OK done\r\n")
        events = drain(both)
        self.assertFalse([each for each in events if isinstance(each, Streamed)])
        self.assertEqual(fetched_uids(events), {b"A3": [9], b"A2": []})
        completed = events[0]
        assert isinstance(completed, Completed)
        fetch = completed.untagged[0]
        assert isinstance(fetch, FetchResponse)
        self.assertEqual(fetch.items.sections, {b"": b"abc"})

    def test_unsolicited_fetch_during_fetch(self) -> None:
        """
        During a streaming fetch, another client's flag change (FETCH with
        or without UID, for another message) is reported as L{Untagged},
        between the chunks it arrived between; the body still streams to
        its command.
        """
        connection = pipelined((Command.uid_fetch(UIDRange(5, 5), (b"UID", b"BODY.PEEK[]")), True))
        connection.receive_data(
            b"* 2 FETCH (FLAGS (\\Seen))\r\n"
            b"* 5 FETCH (UID 5 BODY[] {4}\r\nbody)\r\n"
            b"* 3 FETCH (UID 3 FLAGS (\\Flagged))\r\n"
            b"A2 OK done\r\n"
        )
        events = drain(connection)
        self.assertEqual(
            [type(each).__name__ for each in events],
            ["Untagged", "Streamed", "Untagged", "Completed"],
        )
        self.assertEqual(fetched_uids(events), {b"A2": [5], b"*": [None, 3]})

    def test_store_echo(self) -> None:
        """
        FETCH data echoed by a UID STORE (flags, or MODSEQ with CONDSTORE)
        goes to the STORE, not to a fetch pipelined before it.
        """
        connection = pipelined(
            (Command.uid_fetch(UIDRange(1, 3), (b"FLAGS",)), False),
            (Command.uid_store(UIDRange(4, 4), StoreMode.ADD, (b"\\Seen",)), False),
        )
        connection.receive_data(
            b"* 4 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (12))\r\n"
            b"* 1 FETCH (UID 1 FLAGS ())\r\n"
            b"A2 OK done\r\nA3 OK done\r\n"
        )
        self.assertEqual(fetched_uids(drain(connection)), {b"A2": [1], b"A3": [4]})

    def test_overlapping_sets_wait(self) -> None:
        """
        A UID FETCH or STORE naming a UID that one in flight names waits,
        with everything behind it, until that one completes; one that
        overlaps nothing is pipelined.
        """
        connection = selected()
        connection.submit(Command.uid_fetch(UIDRange(1, 5), (b"FLAGS",)))
        connection.submit(Command.uid_fetch(UIDRange(6, 9), (b"FLAGS",)))
        connection.submit(Command.uid_store(UIDSet.of([2, 12]), StoreMode.ADD, (b"\\Seen",)))
        connection.submit(Command.noop())
        self.assertEqual(
            lines(connection.data_to_send()),
            [b"A2 UID FETCH 1:5 (FLAGS)\r\n", b"A3 UID FETCH 6:9 (FLAGS)\r\n"],
        )
        connection.receive_data(b"A3 OK done\r\n")
        drain(connection)
        self.assertEqual(connection.data_to_send(), b"")
        connection.receive_data(b"A2 OK done\r\n")
        drain(connection)
        self.assertEqual(
            lines(connection.data_to_send()),
            [b"A4 UID STORE 2,12 +FLAGS.SILENT (\\Seen)\r\n", b"A5 NOOP\r\n"],
        )

    def test_single_uid_fetches(self) -> None:
        """
        One-UID fetches (a copy run's) are pipelined unless one in flight
        names the same UID; one waits behind a range in flight that holds
        its UID, and goes once that range completes.
        """
        connection = selected()
        connection.submit(Command.uid_fetch(UIDRange(7, 7), (b"FLAGS",)))
        connection.submit(Command.uid_fetch(UIDRange(8, 8), (b"FLAGS",)))
        connection.submit(Command.uid_fetch(UIDRange(7, 7), (b"FLAGS",)))
        self.assertEqual(
            lines(connection.data_to_send()),
            [b"A2 UID FETCH 7 (FLAGS)\r\n", b"A3 UID FETCH 8 (FLAGS)\r\n"],
        )
        connection.receive_data(b"A3 OK done\r\n")
        drain(connection)
        self.assertEqual(connection.data_to_send(), b"")
        connection.receive_data(b"A2 OK done\r\n")
        drain(connection)
        self.assertEqual(lines(connection.data_to_send()), [b"A4 UID FETCH 7 (FLAGS)\r\n"])
        connection.receive_data(b"A4 OK done\r\n")
        drain(connection)
        connection.submit(Command.uid_fetch(UIDRange(20, 30), (b"FLAGS",)))
        connection.submit(Command.uid_fetch(UIDRange(9, 9), (b"FLAGS",)))
        connection.submit(Command.uid_fetch(UIDRange(25, 25), (b"FLAGS",)))
        self.assertEqual(
            lines(connection.data_to_send()),
            [b"A5 UID FETCH 20:30 (FLAGS)\r\n", b"A6 UID FETCH 9 (FLAGS)\r\n"],
        )
        connection.receive_data(b"A5 OK done\r\n")
        drain(connection)
        self.assertEqual(lines(connection.data_to_send()), [b"A7 UID FETCH 25 (FLAGS)\r\n"])

    def test_open_sets(self) -> None:
        """
        A fetch with an open set (C{n:*}) is never pipelined beside another
        fetch, since its answer may name any UID (the last message, when n
        is past it); FETCH data outside its set goes to it.
        """
        connection = selected()
        connection.submit(Command.uid_fetch(UIDRange(3, 3), (b"FLAGS",)))
        connection.submit(Command.uid_fetch(UIDRange(10, None), (b"FLAGS",)))
        connection.submit(Command.uid_fetch(UIDRange(4, 4), (b"FLAGS",)))
        self.assertEqual(lines(connection.data_to_send()), [b"A2 UID FETCH 3 (FLAGS)\r\n"])
        connection.receive_data(b"A2 OK done\r\n")
        drain(connection)
        self.assertEqual(lines(connection.data_to_send()), [b"A3 UID FETCH 10:* (FLAGS)\r\n"])
        connection.receive_data(b"* 3 FETCH (UID 8 FLAGS ())\r\nA3 OK done\r\n")
        self.assertEqual(fetched_uids(drain(connection)), {b"A3": [8]})
        self.assertEqual(lines(connection.data_to_send()), [b"A4 UID FETCH 4 (FLAGS)\r\n"])

    def test_copy_and_move_take_no_fetch(self) -> None:
        """
        UID COPY and MOVE neither wait for fetches nor take FETCH data: it
        is another client's news.
        """
        connection = pipelined(
            (Command.uid_fetch(UIDRange(1, 3), (b"FLAGS",)), False),
            (Command.uid_move(UIDRange(3, 4), "Trash"), False),
        )
        connection.receive_data(b"* 4 FETCH (UID 4 FLAGS (\\Seen))\r\nA2 OK\r\nA3 OK\r\n")
        self.assertEqual(fetched_uids(drain(connection)), {b"A2": [], b"A3": [], b"*": [4]})

    def test_command_without_uids(self) -> None:
        """
        A UID FETCH built by hand, without its UIDs, may be answered for any
        UID: it takes all FETCH data and is never pipelined beside another.
        """
        connection = selected()
        connection.submit(
            Command(b"UID FETCH", Command.uid_fetch(UIDRange(1, 2), (b"FLAGS",)).arguments)
        )
        connection.submit(Command.uid_fetch(UIDRange(7, 7), (b"FLAGS",)))
        self.assertEqual(lines(connection.data_to_send()), [b"A2 UID FETCH 1:2 (FLAGS)\r\n"])
        connection.receive_data(b"* 9 FETCH (UID 9 FLAGS ())\r\nA2 OK\r\n")
        self.assertEqual(fetched_uids(drain(connection)), {b"A2": [9]})
        self.assertEqual(lines(connection.data_to_send()), [b"A3 UID FETCH 7 (FLAGS)\r\n"])

    def test_many_bodies_byte_by_byte(self) -> None:
        """
        Twenty pipelined streaming fetches answered in reverse order, fed
        one byte at a time, give each command exactly its body.
        """
        uids = range(1, 21)
        connection = pipelined(
            *(
                (Command.uid_fetch(UIDRange(uid, uid), (b"UID", b"BODY.PEEK[]")), True)
                for uid in uids
            )
        )
        bodies = {uid: b"message %d\r\n" % (uid,) * uid for uid in uids}
        data = b"".join(
            b"* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\nA%d OK\r\n"
            % (uid, uid, len(bodies[uid]), bodies[uid], uid + 1)
            for uid in reversed(uids)
        )
        received: dict[bytes, bytes] = {}
        for byte in split_at(data, range(1, len(data))):
            connection.receive_data(byte)
            for event in drain(connection):
                if isinstance(event, Streamed):
                    received[event.tag] = received.get(event.tag, b"") + event.chunk.data
        self.assertEqual(received, {b"A%d" % (uid + 1,): bodies[uid] for uid in uids})


class SplittingTests(SynchronousTestCase):
    """
    Events do not depend on how the server's bytes are split.
    """

    def test_split_anywhere(self) -> None:
        """
        A whole session's responses give identical events fed whole, byte
        by byte, split, and with trailing bytes.
        """

        def factory() -> ClientConnection:
            connection = ClientConnection(10)
            connection.submit(Command.login("joe", Secret("pw")))
            connection.submit(Command.select("INBOX"))
            connection.submit(Command.uid_fetch(UIDRange(1, None), (b"FLAGS", b"BODY.PEEK[]")))
            connection.submit(Command.uid_store(UIDRange(1, 1), StoreMode.ADD, (b"\\Seen",)))
            connection.submit(Command.append("INBOX", b"x\r\n"))
            return connection

        data = (
            b"* OK [CAPABILITY IMAP4rev1] hi\r\n"
            b"* CAPABILITY IMAP4rev1 UIDPLUS\r\nA1 OK in\r\n"
            b"* 2 EXISTS\r\n* OK [UIDVALIDITY 5] v\r\nA2 OK [READ-WRITE] ok\r\n"
            b"* 1 FETCH (UID 3 FLAGS () BODY[] {5}\r\nhello)\r\n"
            b"* 2 FETCH (UID 4 FLAGS (\\Seen) BODY[] {0}\r\n)\r\nA3 OK\r\n"
            b"A4 OK\r\n+ go\r\nA5 OK [APPENDUID 5 9] done\r\n"
        )
        events = events_all_ways(
            factory, data, NEED_DATA, points=(5, 40, 41, 150), trailing=b"* 3 EXI"
        )
        kinds = [type(each).__name__ for each in events]
        self.assertEqual(kinds, ["Greeting"] + ["Completed"] * 5)
