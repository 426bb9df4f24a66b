# -*- test-case-name: tests.imap.test_protocol -*-
"""
The thin Twisted protocol around L{ClientConnection}: it moves bytes and
fires Deferreds; all decisions are the connection's.

Invariants:
  - Each command's Deferred fires exactly once: with L{Completed} for a
    tagged OK, L{CommandFailed} for NO/BAD, the L{LocalProtocolError} of a
    rejected command, or the error that ended the connection.
  - After a L{RemoteProtocolError} or a timeout the transport is aborted and
    every pending Deferred fails with that error; on any other connection
    loss they fail with L{ConnectionLost}.
  - While anything is outstanding, C{timeout} seconds without a received
    byte abort the connection with L{ConnectionTimeout} (an IDLE that the
    server acknowledged is not outstanding).
  - Silence is not the only way to stall: while anything is outstanding,
    the connection must also make progress at least every
    L{DEADLINE_FACTOR} times C{timeout} seconds, or it is aborted with
    L{ConnectionTimeout}. Progress is the greeting, a command's tagged
    response, or L{PROGRESS_BYTES} more bytes received. So the greeting
    and every command that answers in a few lines must complete within
    that deadline (a greeting trickled a byte every few seconds no longer
    keeps a sync alive forever), while a long FETCH or body download that
    keeps delivering data is never cut: only a link slower than
    C{PROGRESS_BYTES} per deadline (about 34 bytes/s with the default
    20 s C{Timeout}, a 2 minute deadline) is. The factor is generous so
    that a slow server sending only keep-alive lines (C{* OK Still here})
    during a long command is given two minutes. The deadline restarts
    when something becomes outstanding again (a new command, C{DONE}
    after IDLE).
  - C{[ALERT]} texts go to C{on_alert} (logged as a warning if unset).
  - A protocol that took an early conversation over (L{take_over}:
    greeting and C{LOGIN} spoken before Twisted loaded) behaves as one
    connected from the start: what the talk received is handled once
    connected, in order, and its commands are the ones the session asks
    for (each attached to the command in flight, not sent again).
  - The wire trace is logged at debug level in mbsync's C{-Dn} form (see
    L{msync.imap.trace}): the server's lines as text, literal contents
    left out; what is sent after C{>>> } (C{>+> } for continuation
    answers), as sent, but with passwords and SASL payloads replaced by
    C{<redacted>} (the connection's trace).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import (
    IDelayedCall,
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IReactorTime,
    ITLSTransport,
)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from msync.errors import (
    CommandFailed,
    ConnectionTimeout,
    LocalProtocolError,
    RemoteProtocolError,
    TLSError,
)
from msync.imap.commands import Command
from msync.imap.connection import ClientConnection
from msync.imap.events import (
    Alert,
    Completed,
    ConnectionEvent,
    ContinuationNeeded,
    Discarded,
    Fetched,
    Greeting,
    Rejected,
    Streamed,
    Untagged,
)
from msync.imap.values import NEED_DATA, FetchResponse, LiteralChunk, Response, Status
from msync.records import mutable_record

if TYPE_CHECKING:
    from msync.imap.earlytalk import EarlyTalk
    from msync.imap.trace import ServerTrace

log = Logger()

#: Receives the chunks of a streamed FETCH body, in order.
BodyConsumer = Callable[[LiteralChunk], None]
FetchConsumer = Callable[[FetchResponse], None]
#: Receives the tag and raw text of each C{+} for AUTHENTICATE or IDLE.
ContinuationCallback = Callable[[bytes, bytes], None]

#: A wait's deadline is this many times the silence timeout (see the module docstring).
DEADLINE_FACTOR = 6
#: Received bytes that count as progress towards the deadline.
PROGRESS_BYTES = 4096


@mutable_record
class _Waiter:
    """
    One submitted command's Deferred and hooks.

    @ivar quiet: an acknowledged IDLE: waiting for it is not a network wait.
    @ivar error: raised by the body or FETCH consumer; the command fails
        with it.
    @ivar on_fetch: receives the command's FETCH responses as they arrive.
    """

    command: Command
    deferred: Deferred[Completed]
    consumer: BodyConsumer | None = None
    on_continuation: ContinuationCallback | None = None
    tls_context: IOpenSSLClientConnectionCreator | None = None
    quiet: bool = False
    error: BaseException | None = None
    on_fetch: FetchConsumer | None = None


_T = TypeVar("_T")


def _hand_to(waiter: _Waiter, consumer: Callable[[_T], object] | None, item: _T) -> None:
    """
    Give C{item} (a body chunk, a FETCH response) to one of C{waiter}'s
    consumers, unless it has none or an earlier item failed: a consumer's
    failure fails its command (L{_Waiter.error}) and it is given nothing
    more.
    """
    if consumer is None or waiter.error is not None:
        return
    try:
        consumer(item)
    except Exception as error:  # the consumer's failure fails its command
        waiter.error = error


@implementer(IHandshakeListener)
class IMAPClientProtocol(Protocol):
    """
    An IMAP client connection over one transport.

    @ivar connection: the sans-IO protocol state.
    @ivar on_untagged: called with untagged data no command produced.
    @ivar on_alert: called with the text of each C{[ALERT]}.
    """

    def __init__(
        self,
        clock: IReactorTime,
        *,
        pipeline_depth: int | None = None,
        timeout: float | None = 20,
        host: str | None = None,
        disabled_extensions: Iterable[bytes] = (),
        trace: bool = True,
    ) -> None:
        """
        @param clock: schedules the timeouts.
        @param pipeline_depth: see L{ClientConnection}.
        @param timeout: seconds of silence tolerated while waiting, or
            C{None}/C{0} for no limit (mbsync C{Timeout}).
        @param host: the server name, for error messages.
        @param disabled_extensions: capabilities to pretend absent.
        @param trace: log the wire trace (C{-Dn}); off, what is received
            is not even cut into lines.
        """
        self.connection = ClientConnection(
            pipeline_depth, disabled_capabilities=disabled_extensions
        )
        self.on_untagged: Callable[[Response], None] | None = None
        self.on_alert: Callable[[bytes], None] | None = None
        self._clock = clock
        self._timeout = timeout or None
        self._host = host
        self._waiters: dict[bytes, _Waiter] = {}
        self._greeting: Greeting | None = None
        self._greeting_waiters: list[Deferred[Greeting]] = []
        self._lost_waiters: list[Deferred[None]] = []
        self._lost = False
        self._timer: IDelayedCall | None = None
        self._deadline: IDelayedCall | None = None
        self._unproductive = 0
        self._error: BaseException | None = None
        self._processing = False
        self._server_trace: ServerTrace | None = None
        # An early conversation taken over (take_over): its events, handled
        # once connected; the commands it sent, not yet asked for, in order;
        # their outcomes that came before they were; its error.
        self._replay: list[ConnectionEvent] = []
        self._early: deque[tuple[Command, bytes]] = deque()
        self._early_tags: set[bytes] = set()
        self._early_outcomes: dict[bytes, Completed | Rejected] = {}
        self._early_error: RemoteProtocolError | None = None
        if trace:
            # Only -Dn shows the trace: most runs never load it.
            from msync.imap.trace import ServerTrace

            self._server_trace = ServerTrace()

    def take_over(self, talk: EarlyTalk) -> None:
        """
        Go on from an early conversation (L{msync.imap.earlytalk}) held on
        this connection before the protocol was made: its connection state
        becomes this protocol's; once connected, what the talk received is
        handled as if it arrived then (the greeting, answers, alerts, a
        protocol error), and the commands it sent are the ones the next
        L{execute} calls submit, if they ask for them in the same order
        (the first that differs forgets the rest, whose answers are then
        dropped).

        @param talk: the conversation, stopped; only before connecting.
        @raise LocalProtocolError: if the talk's connection was made with
            other settings (C{PipelineDepth}, C{DisableExtension}).
        """
        mine, theirs = self.connection, talk.connection
        if (mine.pipeline_depth, mine.disabled) != (theirs.pipeline_depth, theirs.disabled):
            raise LocalProtocolError("the early conversation's connection differs")
        self.connection = theirs
        self._replay = list(talk.events)
        self._early = deque(talk.sent)
        self._early_tags = {tag for command, tag in talk.sent}
        self._early_error = talk.error

    def greeting(self) -> Deferred[Greeting]:
        """
        @return: a new Deferred firing with the server's greeting (which may
            be a BYE), or failing if the connection ends first.
        """
        if self._greeting is not None:
            return succeed(self._greeting)
        if self._error is not None:
            return fail(self._error)
        deferred: Deferred[Greeting] = Deferred()
        self._greeting_waiters.append(deferred)
        return deferred

    def execute(
        self,
        command: Command,
        *,
        consumer: BodyConsumer | None = None,
        on_continuation: ContinuationCallback | None = None,
        tls_context: IOpenSSLClientConnectionCreator | None = None,
        follows_selection: bool = False,
        on_fetch: FetchConsumer | None = None,
    ) -> Deferred[Completed]:
        """
        Submit a command.

        @param consumer: receives this UID FETCH's body literals as chunks
            instead of buffering them.
        @param on_fetch: receives this UID FETCH's FETCH responses as they
            arrive (a UID answered twice, twice), instead of their being
            kept for L{Completed}.
        @param on_continuation: answers AUTHENTICATE or IDLE C{+} requests
            (with L{send_continuation}).
        @param tls_context: for STARTTLS: the transport starts TLS with it
            right after the tagged OK, before anything else is sent.
        @param follows_selection: send it right behind the SELECT just
            submitted (see L{ClientConnection.submit}).
        @return: fires with L{Completed} on OK; fails with L{CommandFailed}.
        """
        if self._error is not None:
            return fail(self._error)
        if self._early:
            early = self._early.popleft()
            plain = (consumer, on_continuation, tls_context, on_fetch) == (None,) * 4
            if plain and not follows_selection and early[0] == command:
                return self._attach(early[1], command)
            # Asked for something else: the talk's other commands are not
            # this path's (their answers are dropped).
            self._early.clear()
        try:
            tag = self.connection.submit(
                command,
                stream_bodies=consumer is not None,
                follows_selection=follows_selection,
                hand_over=on_fetch is not None,
            )
        except (LocalProtocolError, RemoteProtocolError) as error:
            return fail(error)
        deferred: Deferred[Completed] = Deferred()
        self._waiters[tag] = _Waiter(
            command, deferred, consumer, on_continuation, tls_context, on_fetch=on_fetch
        )
        self._process()
        return deferred

    def _attach(self, tag: bytes, command: Command) -> Deferred[Completed]:
        """
        Wait for the answer of the command C{tag} the early conversation
        sent, as if submitted now (it may have come already).
        """
        deferred: Deferred[Completed] = Deferred()
        self._early_tags.discard(tag)
        self._waiters[tag] = _Waiter(command, deferred, None, None, None)
        outcome = self._early_outcomes.pop(tag, None)
        if outcome is not None:
            _HANDLERS[type(outcome)](self, outcome)
        self._process()
        return deferred

    def logout(self) -> Deferred[None]:
        """
        Send C{LOGOUT} and close the transport. If LOGOUT goes out at once
        (nothing else in flight or queued), the transport is closed right
        behind it (what was written still goes first) without waiting for
        the answer, which decides nothing (RFC 3501 §6.1.3: the server
        closes the connection anyway); else LOGOUT's answer is waited for.

        @return: fires once the connection is closed (after LOGOUT's
            answer, when waited for); fails as LOGOUT does, when waited for.
        """
        deferred = self.execute(Command.logout())
        tag = self.connection.last_submitted
        if deferred.called or tag is None or not self.connection.is_sent(tag):
            return deferred.addCallback(self._close_after)
        # Its ConnectionLost is expected: nobody waits for the answer.
        deferred.addErrback(lambda failure: None)
        return self._close_after(None)

    def _close_after(self, ignored: object) -> Deferred[None]:
        """
        Close the transport; fire once the connection is lost.
        """
        if self._lost or self.transport is None:
            return succeed(None)
        closed: Deferred[None] = Deferred()
        self._lost_waiters.append(closed)
        self.transport.loseConnection()
        return closed

    def startTLS(self, context: IOpenSSLClientConnectionCreator) -> Deferred[Completed]:
        """
        Send STARTTLS; after its tagged OK, start TLS with C{context}.
        """
        return self.execute(Command.starttls(), tls_context=context)

    def send_continuation(self, tag: bytes, line: bytes) -> None:
        """
        Answer a C{+} of command C{tag} (see L{ClientConnection.send_continuation}).
        """
        self._trace(">>>")
        self.connection.send_continuation(tag, line)
        self._trace(">+>")
        waiter = self._waiters.get(tag)
        if waiter is not None:
            waiter.quiet = False
        self._drain()

    def connectionMade(self) -> None:
        """
        Wait for the greeting, within the timeout; with a conversation
        taken over, first handle what it received.
        """
        replay, self._replay = self._replay, []
        if replay or self._early_error is not None:
            self._processing = True
            try:
                for event in replay:
                    _HANDLERS[type(event)](self, event)
            finally:
                self._processing = False
            if self._early_error is not None:
                self._abort(self._early_error)
                return
        self._touch()

    def handshakeCompleted(self) -> None:
        """
        TLS is up (IMAPS, or after STARTTLS): say so as C{mbsync -V} does.
        """
        log.info("{text}", text="Connection is now encrypted", msync_verbose=True)

    def dataReceived(self, data: bytes) -> None:
        """
        Feed the connection and act on its events.
        """
        if self._server_trace is not None:
            # One event per read: a FETCH of thousands of lines stays cheap.
            lines = self._server_trace.feed(data)
            if lines:
                log.debug("{lines}", lines="\n".join(lines))
        self._unproductive += len(data)
        if self._unproductive >= PROGRESS_BYTES:
            self._progress()
        self.connection.receive_data(data)
        self._process()

    def _process(self) -> None:
        """
        Handle the connection's events, then write what it wants sent.
        Re-entrant calls (from Deferred callbacks) leave the events to the
        outer loop, keeping them in order.
        """
        if not self._processing:
            self._processing = True
            try:
                while (event := self.connection.next_event()) is not NEED_DATA:
                    _HANDLERS[type(event)](self, event)
            except RemoteProtocolError as error:
                self._abort(error)
                return
            finally:
                self._processing = False
        self._drain()

    def connectionLost(self, reason: Failure = Failure(ConnectionLost())) -> None:  # noqa: B008
        """
        Fail everything still pending.
        """
        error = self._error
        if error is None:
            bye = self.connection.bye
            text = f": server said BYE {bye.text!r}" if bye is not None else ""
            error = ConnectionLost(f"IMAP connection to {self._where()} lost{text}")
        self._fail_all(error)
        self._lost = True
        closing, self._lost_waiters = self._lost_waiters, []
        for deferred in closing:
            deferred.callback(None)

    def _unasked(self, event: Completed | Rejected) -> bool:
        """
        Keep (or drop) the outcome of a command the early conversation
        sent that no L{execute} asked for yet.

        @return: whether it was such a command's.
        """
        if event.tag in self._waiters or event.tag not in self._early_tags:
            return False
        if any(tag == event.tag for command, tag in self._early):
            self._early_outcomes[event.tag] = event
        else:
            self._early_tags.discard(event.tag)
            log.debug("{host}: answer to an early command dropped", host=self._host)
        return True

    def _rejected(self, event: Rejected) -> None:
        if self._unasked(event):
            return
        self._waiters.pop(event.tag).deferred.errback(event.error)

    def _continue(self, event: ContinuationNeeded) -> None:
        waiter = self._waiters[event.tag]
        waiter.quiet = waiter.command.name == b"IDLE"
        if waiter.on_continuation is None:
            raise RemoteProtocolError(f"unexpected continuation request for {event.tag!r}")
        waiter.on_continuation(event.tag, event.data)

    def _untagged(self, event: Untagged) -> None:
        if self.on_untagged is not None:
            self.on_untagged(event.response)

    def _alert(self, event: Alert) -> None:
        if self.on_alert is not None:
            self.on_alert(event.text)
        else:
            log.warn("*** IMAP ALERT *** {text}", text=event.text.decode("utf-8", "replace"))

    def _discarded(self, event: Discarded) -> None:
        log.debug("{host}: {reason}", host=self._host, reason=event.reason)

    def _greeted(self, greeting: Greeting) -> None:
        self._progress()
        self._greeting = greeting
        waiters, self._greeting_waiters = self._greeting_waiters, []
        for deferred in waiters:
            deferred.callback(greeting)

    def _completed(self, event: Completed) -> None:
        self._progress()
        if self._unasked(event):
            return
        waiter = self._waiters.pop(event.tag)
        response = event.response
        if waiter.error is not None:
            waiter.deferred.errback(waiter.error)
        elif response.status is not Status.OK:
            code = response.code.name if response.code is not None else None
            text = response.text.decode("utf-8", "replace")
            failed = CommandFailed(event.command.name.decode(), response.status.value, code, text)
            waiter.deferred.errback(failed)
        elif waiter.tls_context is not None and not self._start_tls(waiter.tls_context):
            waiter.deferred.errback(TLSError("the transport cannot start TLS"))
        else:
            waiter.deferred.callback(event)

    def _start_tls(self, context: IOpenSSLClientConnectionCreator) -> bool:
        tls = ITLSTransport(self.transport, None)
        if tls is None:
            self._abort(TLSError(f"{self._where()}: the transport cannot start TLS"))
            return False
        tls.startTLS(context)
        self.connection.tls_started()
        return True

    def _stream(self, event: Streamed) -> None:
        waiter = self._waiters[event.tag]
        _hand_to(waiter, waiter.consumer, event.chunk)

    def _fetched(self, event: Fetched) -> None:
        waiter = self._waiters[event.tag]
        _hand_to(waiter, waiter.on_fetch, event.response)

    def _drain(self) -> None:
        """
        Write what the connection wants sent, log it, and re-arm the timer.
        """
        self._trace(">>>")
        data = self.connection.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)
        self._touch()

    def _trace(self, prefix: str) -> None:
        """
        Log what the connection queued for sending since the last call
        (mbsync: C{>>> 3 LOGIN ...}, C{>+> } for continuation answers).
        """
        if self._server_trace is None:
            self.connection.drop_trace()
            return
        lines = self.connection.take_trace()
        if lines:
            log.debug("{lines}", lines="\n".join(f"{prefix} {line}" for line in lines))

    def _outstanding(self) -> bool:
        if self._error is not None:
            return False
        return self._greeting is None or any(not w.quiet for w in self._waiters.values())

    def _touch(self) -> None:
        """
        Restart the silence timer if anything is outstanding.
        """
        timer = self._timer
        if self._timeout is not None and self._outstanding():
            # Pushing a pending call later is cheap; this runs on every read.
            if timer is not None and timer.active():
                timer.reset(self._timeout)
            else:
                self._timer = self._clock.callLater(self._timeout, self._timed_out)
            if self._deadline is None:
                wait = DEADLINE_FACTOR * self._timeout
                self._deadline = self._clock.callLater(wait, self._deadline_passed)
            return
        if timer is not None and timer.active():
            timer.cancel()
        self._timer = None
        self._progress()

    def _progress(self) -> None:
        """
        The connection made progress: the deadline restarts (at the next
        L{_touch}, if anything is still outstanding).
        """
        self._unproductive = 0
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _timed_out(self) -> None:
        self._timer = None
        if self._greeting is None:
            # Connected, but the server never said hello: name what is missing.
            message = f"no greeting from {self._where()} within {self._timeout:g} seconds (Timeout)"
        else:
            message = f"{self._where()}: no response for {self._timeout:g} s"
        self._abort(ConnectionTimeout(message))

    def _deadline_passed(self) -> None:
        self._deadline = None
        assert self._timeout is not None
        wait = DEADLINE_FACTOR * self._timeout
        self._abort(
            ConnectionTimeout(f"{self._where()}: no progress for {wait:g} s (server too slow)")
        )

    def _where(self) -> str:
        return self._host or "the IMAP server"

    def _abort(self, error: BaseException) -> None:
        """
        The connection is dead: fail everything and abort the transport.
        """
        self._fail_all(error)
        if self.transport is not None:
            # Every TCP/TLS transport has abortConnection; others just close.
            getattr(self.transport, "abortConnection", self.transport.loseConnection)()

    def _fail_all(self, error: BaseException) -> None:
        self._error = self._error or error
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._progress()
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.deferred.errback(error)
        greeters, self._greeting_waiters = self._greeting_waiters, []
        for deferred in greeters:
            deferred.errback(error)


# Connection events by type: the method firing what each one concerns.
_HANDLERS: dict[type, Callable[[IMAPClientProtocol, Any], None]] = {
    Greeting: IMAPClientProtocol._greeted,
    Completed: IMAPClientProtocol._completed,
    Rejected: IMAPClientProtocol._rejected,
    Streamed: IMAPClientProtocol._stream,
    Fetched: IMAPClientProtocol._fetched,
    ContinuationNeeded: IMAPClientProtocol._continue,
    Untagged: IMAPClientProtocol._untagged,
    Alert: IMAPClientProtocol._alert,
    Discarded: IMAPClientProtocol._discarded,
}
