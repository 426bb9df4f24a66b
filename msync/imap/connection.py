# -*- test-case-name: tests.imap.test_connection -*-
"""
The sans-IO IMAP client connection: all protocol state above the parser.

Submit L{Command}s with L{ClientConnection.submit}, write
L{ClientConnection.data_to_send} to the server, feed its bytes to
L{ClientConnection.receive_data} and call L{ClientConnection.next_event}
until it returns L{NEED_DATA}.

Invariants:
  - Pure: stdlib and L0/L1 msync modules only; no I/O, no clocks.
  - Tags are C{A1}, C{A2}, ... in submission order; each command completes
    exactly once, with L{Completed} or L{Rejected}.
  - Commands are sent in submission order. At most C{pipeline_depth}
    commands are in flight (L{DEFAULT_PIPELINE_DEPTH} when C{None}).
  - A barrier command is sent only when nothing else is in flight, and
    nothing is sent behind it until its tagged response arrives, with two
    exceptions that cost no round trip and keep every answer unambiguous:
    a SELECT or EXAMINE in the authenticated state (no mailbox whose data
    could be mistaken for the new one's) goes out behind commands in
    flight that only answer about other mailboxes or the session
    (L{_NEUTRAL}: STATUS, LIST, NAMESPACE, a non-barrier ENABLE, ...); and
    a command submitted with C{follows_selection} right after a SELECT or
    EXAMINE goes out right behind it, checked against the selected state,
    and is given no FETCH data before that selection has completed.
  - While a command waits for the C{+} that admits its next literal
    segment, nothing else is sent. C{+} requests for AUTHENTICATE and IDLE
    are surfaced as L{ContinuationNeeded}; the caller answers with
    L{ClientConnection.send_continuation}.
  - Nothing is sent before the greeting, after a BYE, or between the tagged
    OK of STARTTLS and L{ClientConnection.tls_started} (no plaintext after
    a successful STARTTLS).
  - Nothing received in plaintext survives the switch to TLS: a byte
    received after the tagged OK of STARTTLS and before
    L{ClientConnection.tls_started} (in the same read as the OK, or later)
    kills the connection (L{STARTTLS_INJECTION}, the CVE-2011-0411 class of
    attack); C{tls_started} starts a fresh parser.
  - A command needing an extension enabled (C{requires_enabled}) may be
    sent behind the non-barrier C{ENABLE} that asks for it: the server
    runs that ENABLE first (and refuses the command if it did not enable
    the extension).
  - Capabilities are C{None} ("unknown, must ask") until the server states
    them, and again after STARTTLS and after LOGIN/AUTHENTICATE unless the
    server restated them during or in the response to that command.
  - Untagged data is attached to the oldest in-flight command that can
    produce it (table L{PRODUCERS}), otherwise reported as L{Untagged}.
    Mailbox-state responses (EXISTS, RECENT, EXPUNGE, VANISHED, FLAGS) also
    update L{ClientConnection.selected}.
  - FETCH data is routed by UID, not by age: a FETCH carrying a UID goes
    to the in-flight UID FETCH or UID STORE whose UID set contains it,
    else to the one in flight with an open set (C{n:*} answers with the
    last message when n is past it, RFC 3501 §9), else it is L{Untagged};
    a FETCH without UID is always L{Untagged} (RFC 3501 §6.4.8: answers
    to UID commands carry the UID). Streamed body literals follow the
    same rule, by the UID the response names before the literal.
  - One requested body is delivered once: a body literal is streamed only
    to the streaming UID FETCH whose set names the UID the response gave
    before it, and only the first time for that UID and section; a repeat,
    or a body for a UID no command asked for, is counted past and dropped
    (reported as L{Discarded}). A literal whose UID is not known before it
    is buffered and routed whole, and repeats are dropped by
    L{merge_fetch}.
  - A whole body (C{BODY[]}, C{BODY[TEXT]}) sent in answer to a UID FETCH
    that did not ask for one is dropped too, streamed or buffered.
  - A command keeps a bounded amount of untagged data (see
    L{msync.imap.routing.retention_key}): status data coalesced to the
    latest, FETCH data one response per UID, listings limited.
  - C{[ALERT]} codes, in any status response, are reported as L{Alert}
    (RFC 3501 §7.1: the text must be shown to the user).
  - To keep that unambiguous, a UID FETCH or UID STORE is not sent while
    one in flight names a common UID, or while either set is open: it
    waits (and, sending being in submission order, so does everything
    behind it) until the other completes. Callers need no locks.
  - Every protocol violation raises L{RemoteProtocolError}; the connection is
    then dead: C{next_event} raises the same error again, nothing more is
    sent.
"""

from __future__ import annotations

import enum
import functools
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import field, replace
from typing import Final, Literal, TypeAlias

from msync.errors import LocalProtocolError, RemoteProtocolError
from msync.imap.commands import Command
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
from msync.imap.grammar import quote_bytes
from msync.imap.responses import ResponseParser
from msync.imap.routing import (
    ALERT,
    PRODUCERS,
    SELECTION,
    WHOLE_SECTIONS,
    SelectedMailbox,
    ambiguous,
    check_listed,
    code_update,
    fetch_cover,
    mailbox_update,
    merge_fetch,
    retention_key,
    wants_whole_body,
    without_sections,
)
from msync.imap.uids import UIDCover
from msync.imap.values import (
    NEED_DATA,
    Capability,
    CapabilityCode,
    ContinuationRequest,
    EnabledResponse,
    FetchResponse,
    ListResponse,
    LiteralChunk,
    NeedData,
    Response,
    Status,
    StatusResponse,
    TaggedResponse,
    UnknownResponse,
    UntaggedStatus,
)
from msync.records import mutable_record

# SelectedMailbox lives in msync.imap.routing and the events in
# msync.imap.events; callers import them from here.
__all__ = [
    "DEFAULT_PIPELINE_DEPTH",
    "STARTTLS_INJECTION",
    "ClientConnection",
    "ConnectionState",
]

#: The in-flight bound for C{pipeline_depth=None} (mbsync's "unlimited"):
#: large enough never to throttle a sync, small enough that one connection
#: cannot queue unbounded work at the server.
DEFAULT_PIPELINE_DEPTH: Final = 64

#: Why the connection dies when plaintext follows the STARTTLS response.
STARTTLS_INJECTION: Final = (
    "server sent data after STARTTLS response before TLS handshake (possible injection attack)"
)


class ConnectionState(enum.Enum):
    """
    The client's view of the RFC 3501 §3 connection state.
    """

    AWAITING_GREETING = "awaiting greeting"
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


_S = ConnectionState

#: Commands whose answers say nothing about the selected mailbox: a first
#: SELECT may be sent behind them (see the module docstring).
_NEUTRAL: Final = frozenset({b"STATUS", b"LIST", b"LSUB", b"NAMESPACE", b"ENABLE", b"ID"})
#: Commands after which others may be submitted with C{follows_selection}.
_SELECTING: Final = frozenset({b"SELECT", b"EXAMINE"})
_AUTHED: Final = frozenset({_S.AUTHENTICATED, _S.SELECTED})
_ANY: Final = frozenset({_S.NOT_AUTHENTICATED, _S.AUTHENTICATED, _S.SELECTED})


def _each(
    names: bytes, states: frozenset[ConnectionState]
) -> dict[bytes, frozenset[ConnectionState]]:
    """
    @return: C{states} for each comma-separated command name.
    """
    return dict.fromkeys(names.split(b","), states)


# RFC 3501 §6: the states in which each command is valid. Unlisted commands
# are allowed in any state but LOGOUT.
_VALID_IN: Final[dict[bytes, frozenset[ConnectionState]]] = {
    **_each(b"STARTTLS,LOGIN,AUTHENTICATE", frozenset({_S.NOT_AUTHENTICATED})),
    # RFC 5161 §3.1: ENABLE only in the authenticated state.
    b"ENABLE": frozenset({_S.AUTHENTICATED}),
    **_each(
        b"SELECT,EXAMINE,CREATE,DELETE,LIST,LSUB,STATUS,APPEND,NAMESPACE,IDLE,COMPRESS", _AUTHED
    ),
    **_each(
        b"CLOSE,UNSELECT,CHECK,EXPUNGE,UID FETCH,UID STORE,UID COPY,UID MOVE,UID EXPUNGE,UID SEARCH",
        frozenset({_S.SELECTED}),
    ),
}

# State after a tagged OK (and, for selection commands, after NO: RFC 3501
# §6.3.1 — a failed SELECT leaves no mailbox selected).
_AFTER_OK: Final[dict[bytes, ConnectionState]] = {
    b"LOGIN": _S.AUTHENTICATED,
    b"AUTHENTICATE": _S.AUTHENTICATED,
    b"SELECT": _S.SELECTED,
    b"EXAMINE": _S.SELECTED,
    b"CLOSE": _S.AUTHENTICATED,
    b"UNSELECT": _S.AUTHENTICATED,
    b"LOGOUT": _S.LOGOUT,
}
_AFTER_NO: Final[dict[bytes, ConnectionState]] = {
    b"SELECT": _S.AUTHENTICATED,
    b"EXAMINE": _S.AUTHENTICATED,
}
_AFTER_GREETING: Final[dict[Status, ConnectionState]] = {
    Status.OK: _S.NOT_AUTHENTICATED,
    Status.PREAUTH: _S.AUTHENTICATED,
    Status.BYE: _S.LOGOUT,
}


class _CapabilityPolicy(enum.Enum):
    """
    What a successful command does to the known capabilities.
    """

    # RFC 3501 §6.2.1: discard everything learnt before TLS.
    DISCARD = "discard"
    # RFC 3501 §6.2.2/§6.2.3: they may change; keep only a restatement.
    UNLESS_RESTATED = "unless restated"


_CAPABILITY_POLICY: Final[dict[bytes, _CapabilityPolicy]] = {
    b"STARTTLS": _CapabilityPolicy.DISCARD,
    b"LOGIN": _CapabilityPolicy.UNLESS_RESTATED,
    b"AUTHENTICATE": _CapabilityPolicy.UNLESS_RESTATED,
}


@mutable_record
class _Queued:
    """
    A submitted command not yet sent.

    @ivar cover: the UIDs its FETCH data may name (see L{fetch_cover}).
    @ivar after: the tag of the SELECT or EXAMINE it follows (submitted
        with C{follows_selection}), else C{None}.
    """

    tag: bytes
    command: Command
    stream: bool
    cover: UIDCover | None = None
    after: bytes | None = None
    hand_over: bool = False


@mutable_record
class _InFlight:
    """
    A command whose first segment was sent.

    @ivar segments: literal segments still waiting for their C{+}.
    @ivar answer_due: a C{+} was surfaced and not yet answered.
    @ivar restated: the server stated capabilities while it ran.
    @ivar cover: the UIDs its FETCH data may name (see L{fetch_cover}).
    @ivar kept: where in C{untagged} the response with each
        L{retention_key} is.
    @ivar listed: how many LIST/LSUB/STATUS answers it keeps.
    @ivar bodies: the C{(uid, section)} bodies it received already.
    @ivar after: the tag of the selection it follows (see L{_Queued}).
    @ivar hand_over: its FETCH data goes out as L{Fetched} events, not kept.
    """

    tag: bytes
    command: Command
    stream: bool
    segments: deque[bytes]
    cover: UIDCover | None = None
    untagged: list[Response] = field(default_factory=list)
    kept: dict[Hashable, int] = field(default_factory=dict)
    listed: int = 0
    bodies: set[tuple[int, bytes]] = field(default_factory=set)
    answer_due: bool = False
    restated: bool = False
    mailbox: SelectedMailbox | None = None
    after: bytes | None = None
    hand_over: bool = False


def _retain(owner: _InFlight, key: Hashable, event: Response) -> int | None:
    """
    Keep C{event} for C{owner} under C{key}, if nothing is kept under it.

    @return: C{None} if C{event} was kept; else where in C{owner.untagged}
        the response kept under C{key} is (the caller merges the two).
    """
    index = owner.kept.get(key)
    if index is None:
        owner.kept[key] = len(owner.untagged)
        owner.untagged.append(event)
    return index


def _single_uid(cover: UIDCover) -> int | None:
    """
    @return: the one UID C{cover} names, or C{None} if it names more.
    """
    if not cover.open and len(cover.firsts) == 1 and cover.firsts[0] == cover.lasts[0]:
        return cover.firsts[0]
    return None


class ClientConnection:
    """
    One IMAP client connection's protocol state (see the module docstring).

    @ivar state: the RFC 3501 connection state.
    @ivar selected: the selected mailbox's state, or C{None}.
    @ivar enabled: extensions the server confirmed with ENABLED.
    @ivar bye: the server's untagged BYE, once received.
    @ivar error: the error that killed the connection, or C{None}.
    """

    def __init__(
        self,
        pipeline_depth: int | None,
        *,
        disabled_capabilities: Iterable[bytes] = (),
        max_line_length: int | None = None,
        max_literal_size: int | None = None,
    ) -> None:
        """
        @param pipeline_depth: the most commands in flight (mbsync
            C{PipelineDepth}); C{1} sends strictly one at a time, C{None}
            means L{DEFAULT_PIPELINE_DEPTH}.
        @param disabled_capabilities: capabilities to pretend the server
            lacks (mbsync C{DisableExtension}).
        @param max_line_length: the parser's response text limit.
        @param max_literal_size: the parser's literal size limit.
        """
        if pipeline_depth is not None and pipeline_depth < 1:
            raise LocalProtocolError("PipelineDepth must be at least 1")
        self.pipeline_depth: int = pipeline_depth or DEFAULT_PIPELINE_DEPTH
        self.state = ConnectionState.AWAITING_GREETING
        self.selected: SelectedMailbox | None = None
        self.enabled: frozenset[bytes] = frozenset()
        self.bye: UntaggedStatus | None = None
        self.error: RemoteProtocolError | None = None
        self._disabled = frozenset(each.upper() for each in disabled_capabilities)
        self._capabilities: frozenset[bytes] | None = None
        self._limits: dict[str, int] = {}
        if max_line_length is not None:
            self._limits["max_line_length"] = max_line_length
        if max_literal_size is not None:
            self._limits["max_literal_size"] = max_literal_size
        self._parser = self._new_parser()
        self._next_tag = 1
        self._queue: deque[_Queued] = deque()
        self._in_flight: dict[bytes, _InFlight] = {}
        # The in-flight commands' covers that name one UID, by UID (how
        # many), and how many others there are: a one-UID FETCH checks its
        # conflicts without visiting every command in flight.
        self._single_covers: dict[int, int] = {}
        self._other_covers = 0
        # How many barrier commands are in flight.
        self._barriers = 0
        # The tag of the last command submitted, if it selects a mailbox.
        self._last_selection: bytes | None = None
        # The extensions non-barrier ENABLEs in flight ask for.
        self._enabling: frozenset[bytes] = frozenset()
        # The tag of the last selection refused or failed: what was
        # submitted to follow it is refused too.
        self._failed_selection: bytes | None = None
        self._waiting_literal: _InFlight | None = None
        self._tls_pending = False
        self._streaming: bytes | None = None
        self._discarding = False
        # Parts to send, joined only when more than one (a big literal
        # segment goes out without another copy).
        self._outgoing: list[bytes] = []
        self._trace: list[str | Callable[[], str]] = []
        self._events: deque[ConnectionEvent] = deque()

    # -- capabilities

    @property
    def capabilities(self) -> frozenset[bytes] | None:
        """
        The server's capabilities (upper-cased) minus the disabled ones, or
        C{None} if unknown: then send CAPABILITY before relying on them.
        """
        if self._capabilities is None:
            return None
        return self._capabilities - self._disabled

    @property
    def disabled(self) -> frozenset[bytes]:
        """
        The capabilities pretended absent (upper-cased).
        """
        return self._disabled

    def disable_capabilities(self, names: Iterable[bytes]) -> None:
        """
        Pretend the server lacks C{names} from now on (C{DisableExtension}).
        """
        self._disabled |= frozenset(each.upper() for each in names)

    def _set_capabilities(self, names: frozenset[bytes]) -> None:
        self._capabilities = frozenset(each.upper() for each in names)
        for record in self._in_flight.values():
            record.restated = True

    # -- sending

    def submit(
        self,
        command: Command,
        *,
        stream_bodies: bool = False,
        follows_selection: bool = False,
        hand_over: bool = False,
    ) -> bytes:
        """
        Queue a command; it is sent as soon as the pipeline admits it.

        @param stream_bodies: deliver this UID FETCH's body literals as
            L{Streamed} events instead of buffering them.
        @param hand_over: deliver this UID FETCH's FETCH data as L{Fetched}
            events as each response arrives, instead of keeping it (merged
            by UID) for L{Completed}: a listing of a big box is then never
            held whole. A repeated UID comes as a second event.
        @param follows_selection: if the command submitted just before
            (or the one this same flag chained) is a SELECT or EXAMINE not
            yet completed, send this one right behind it, for the mailbox
            it selects, without waiting for its answer (see the module
            docstring); if that selection fails, so does this command.
        @return: the command's tag.
        @raise RemoteProtocolError: if the connection is dead.
        @raise LocalProtocolError: after LOGOUT or BYE; for a barrier
            command with C{follows_selection}.
        """
        if self.error is not None:
            raise self.error
        if self.state is ConnectionState.LOGOUT:
            raise LocalProtocolError("the IMAP connection is logging out")
        if follows_selection and command.barrier:
            raise LocalProtocolError(f"{command.name.decode()} cannot follow a selection")
        tag = b"A%d" % (self._next_tag,)
        self._next_tag += 1
        after = self._last_selection if follows_selection else None
        if after is not None and after not in self._in_flight:
            if not any(each.tag == after for each in self._queue):
                after = None
        self._queue.append(
            _Queued(tag, command, stream_bodies, fetch_cover(command), after, hand_over)
        )
        if command.name in _SELECTING:
            self._last_selection = tag
        elif after is None:
            self._last_selection = None
        self._pump()
        return tag

    @property
    def last_submitted(self) -> bytes | None:
        """
        The tag of the command submitted last, if any.
        """
        return b"A%d" % (self._next_tag - 1,) if self._next_tag > 1 else None

    def is_sent(self, tag: bytes) -> bool:
        """
        @return: whether command C{tag} was sent and awaits its answer.
        """
        return tag in self._in_flight

    def data_to_send(self) -> bytes:
        """
        @return: the bytes to write to the server now (possibly none).
        """
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        return data

    def take_trace(self) -> list[str]:
        """
        @return: a log-safe rendering of what was queued for sending since
            the last call: passwords and SASL payloads are C{<redacted>},
            literals are shown by size.
        """
        trace, self._trace = self._trace, []
        return [line if isinstance(line, str) else line() for line in trace]

    def drop_trace(self) -> None:
        """
        Forget what L{take_trace} would return (nobody shows it).
        """
        self._trace.clear()

    def send_continuation(self, tag: bytes, line: bytes) -> None:
        """
        Answer the C{+} of an AUTHENTICATE or IDLE command.

        @param line: e.g. L{sasl_response_line}'s result, L{SASL_CANCEL} or
            L{IDLE_DONE}, ending with CRLF.
        @raise LocalProtocolError: if that command awaits no answer.
        """
        record = self._in_flight.get(tag)
        if record is None or not record.answer_due or self.error is not None:
            raise LocalProtocolError(f"command {tag!r} awaits no continuation answer")
        if not line.endswith(b"\r\n"):
            raise LocalProtocolError("a continuation answer must end with CRLF")
        record.answer_due = False
        self._outgoing.append(line)
        shown = line.strip().decode("ascii", "replace") if record.command.name == b"IDLE" else None
        self._trace.append(shown or "<redacted>")

    def tls_started(self) -> None:
        """
        The TLS handshake was started after STARTTLS; sending resumes and
        reading starts afresh (nothing read in plaintext is kept).
        """
        self._tls_pending = False
        self._parser = self._new_parser()
        self._pump()

    def _new_parser(self) -> ResponseParser:
        return ResponseParser(stream_literal=self._should_stream, **self._limits)

    def _pump(self) -> None:
        """
        Send queued commands while the pipeline, barriers and gates allow.
        """
        while self._queue:
            head = self._queue[0]
            if not self._may_send(head):
                return
            if head.command.barrier and self._in_flight and not self._admits_selection(head):
                return
            if head.cover is not None and self._fetch_conflict(head.cover):
                return
            self._queue.popleft()
            self._send(head)

    def _fetch_conflict(self, cover: UIDCover) -> bool:
        """
        @return: whether FETCH data for C{cover} could be mistaken for that
            of a command in flight.
        """
        uid = _single_uid(cover)
        if uid is not None and not self._other_covers:
            return uid in self._single_covers
        return any(
            record.cover is not None and ambiguous(cover, record.cover)
            for record in self._in_flight.values()
        )

    def _track_cover(self, cover: UIDCover | None, change: int) -> None:
        """
        Count a command's cover in (C{change} 1) or out (-1) of flight.
        """
        if cover is None:
            return
        uid = _single_uid(cover)
        if uid is None:
            self._other_covers += change
            return
        count = self._single_covers.get(uid, 0) + change
        if count:
            self._single_covers[uid] = count
        else:
            del self._single_covers[uid]

    def _may_send(self, head: _Queued) -> bool:
        """
        @return: whether C{head} may be sent now, as far as the state, the
            pipeline depth, literals and barriers in flight go.
        """
        return (
            self.error is None
            and self.state not in (ConnectionState.AWAITING_GREETING, ConnectionState.LOGOUT)
            and not self._tls_pending
            and self._waiting_literal is None
            and len(self._in_flight) < self.pipeline_depth
            and (not self._barriers or self._behind_selection(head))
        )

    def _behind_selection(self, head: _Queued) -> bool:
        """
        @return: whether C{head} follows the one barrier in flight, a
            selection it was submitted to follow.
        """
        return self._barriers == 1 and head.after is not None and head.after in self._in_flight

    def _admits_selection(self, head: _Queued) -> bool:
        """
        @return: whether C{head}, a barrier, may go behind the commands in
            flight: a first selection behind neutral commands only.
        """
        return (
            head.command.name in _SELECTING
            and self.state is ConnectionState.AUTHENTICATED
            and all(
                record.command.name in _NEUTRAL and not record.command.barrier
                for record in self._in_flight.values()
            )
        )

    def _send(self, queued: _Queued) -> None:
        """
        Encode and send one command's first segment, or reject it.
        """
        command = queued.command
        after = queued.after if queued.after in self._in_flight else None
        # Behind a selection, a command is for the mailbox being selected.
        state = ConnectionState.SELECTED if after is not None else self.state
        enabled = self.enabled | self._enabling
        try:
            if queued.after is not None and queued.after == self._failed_selection:
                raise LocalProtocolError(f"{command.name.decode()} follows a selection that failed")
            if state not in _VALID_IN.get(command.name, _ANY):
                raise LocalProtocolError(
                    f"{command.name.decode()} is invalid in the {state.value} state"
                )
            segments = command.encode(queued.tag, self.capabilities or frozenset(), enabled)
        except LocalProtocolError as error:
            if command.name in _SELECTING:
                self._failed_selection = queued.tag
            self._events.append(Rejected(queued.tag, command, error))
            return
        record = _InFlight(
            queued.tag, command, queued.stream, deque(segments[1:]), cover=queued.cover
        )
        record.after = after
        record.hand_over = queued.hand_over
        if command.name in SELECTION:
            record.mailbox = SelectedMailbox()
        self._in_flight[queued.tag] = record
        self._track_cover(record.cover, 1)
        self._barriers += command.barrier
        if command.name == b"ENABLE" and not command.barrier:
            self._enabling = self._enabled_by_flight()
        self._outgoing.append(segments[0])
        # -Dn shows what is sent (mailbox names as encoded for this server),
        # rendered only if asked for (take_trace).
        capabilities = self.capabilities or frozenset()
        self._trace.append(
            functools.partial(command.redacted, queued.tag, capabilities, self.enabled)
        )
        if record.segments:
            self._waiting_literal = record

    # -- receiving

    def receive_data(self, data: bytes) -> None:
        """
        Add bytes received from the server, split anywhere.
        """
        if self.error is not None or not data:
            return
        if self._tls_pending:
            # RFC 3501 §6.2.1, RFC 2595 §3.1: the server sends nothing after
            # its OK until the handshake; an attacker's injection would.
            self._die(RemoteProtocolError(STARTTLS_INJECTION))
            return
        self._parser.receive_data(data)

    def next_event(self) -> ConnectionEvent | Literal[NeedData.NEED_DATA]:
        """
        @return: the next event, or L{NEED_DATA}.
        @raise RemoteProtocolError: if the server violated the protocol;
            every later call raises it again.
        """
        if self.error is not None:
            raise self.error
        try:
            while not self._events:
                event = self._parser.next_event()
                if event is NEED_DATA:
                    return NEED_DATA
                self._dispatch(event)
        except RemoteProtocolError as error:
            self._die(error)
            raise
        return self._events.popleft()

    def _die(self, error: RemoteProtocolError) -> None:
        self.error = error
        self._queue.clear()
        self._events.clear()
        self._outgoing.clear()

    def _dispatch(self, event: Response | LiteralChunk) -> None:
        """
        Route one parser event through L{_HANDLERS}.
        """
        kind = type(event)
        if kind is LiteralChunk or kind is FetchResponse:
            # A pull's events, thousands of them: no alert, and past the
            # greeting their own handlers.
            if self.state is not ConnectionState.AWAITING_GREETING:
                _HANDLERS[kind](self, event)
                return
        if isinstance(event, (UntaggedStatus, TaggedResponse)) and event.code == ALERT:
            self._events.append(Alert(event.text))
        if self.state is ConnectionState.AWAITING_GREETING:
            self._greeting(event)
            return
        handler = _HANDLERS.get(type(event), ClientConnection._untagged)
        handler(self, event)

    def _greeting(self, event: Response | LiteralChunk) -> None:
        if not isinstance(event, UntaggedStatus) or event.status not in _AFTER_GREETING:
            raise RemoteProtocolError(f"expected an IMAP greeting, got {event!r}"[:300])
        self.state = _AFTER_GREETING[event.status]
        if isinstance(event.code, CapabilityCode):
            self._set_capabilities(event.code.names)
        if event.status is Status.BYE:
            self.bye = event
        self._events.append(Greeting(event.status, event.code, event.text))
        self._pump()

    def _tagged(self, event: Response | LiteralChunk) -> None:
        assert isinstance(event, TaggedResponse)
        record = self._in_flight.pop(event.tag, None)
        if record is None:
            raise RemoteProtocolError(
                f"tagged response for unknown tag {quote_bytes(event.tag)}: {event!r}"[:300]
            )
        self._track_cover(record.cover, -1)
        self._barriers -= record.command.barrier
        if record.command.name == b"ENABLE" and self._enabling:
            self._enabling = self._enabled_by_flight()
        if self._waiting_literal is record:
            # The server refused the command before taking its literal.
            self._waiting_literal = None
        if self._streaming == record.tag:
            self._streaming = None
        command = record.command
        if command.name in _SELECTING and event.status is not Status.OK:
            self._failed_selection = record.tag
        table = _AFTER_OK if event.status is Status.OK else _AFTER_NO
        self.state = table.get(command.name, self.state)
        mailbox = self._finish_mailbox(record, event)
        if event.status is Status.OK:
            self._finish_capabilities(record, event)
        elif isinstance(event.code, CapabilityCode):
            self._set_capabilities(event.code.names)
        self._events.append(Completed(event.tag, command, event, tuple(record.untagged), mailbox))
        if command.name == b"LOGOUT":
            self.state = ConnectionState.LOGOUT
        self._pump()

    def _finish_capabilities(self, record: _InFlight, event: TaggedResponse) -> None:
        policy = _CAPABILITY_POLICY.get(record.command.name)
        if policy is _CapabilityPolicy.DISCARD:
            if self._parser.has_input():
                raise RemoteProtocolError(STARTTLS_INJECTION)
            self._capabilities = None
            self._tls_pending = True
        elif policy is _CapabilityPolicy.UNLESS_RESTATED and not record.restated:
            self._capabilities = None
        if isinstance(event.code, CapabilityCode):
            self._set_capabilities(event.code.names)

    def _finish_mailbox(self, record: _InFlight, event: TaggedResponse) -> SelectedMailbox | None:
        """
        Apply a completed command's effect on the selected mailbox.
        """
        if record.mailbox is not None:
            mailbox = record.mailbox
            if event.code is not None:
                mailbox = code_update(mailbox, event.code)
            if event.status is Status.OK and mailbox.read_only is None:
                # RFC 3501 §6.3.1: SELECT is read-write unless told otherwise.
                mailbox = replace(mailbox, read_only=record.command.name == b"EXAMINE")
            self.selected = mailbox if event.status is Status.OK else None
            return mailbox
        if self.state is not ConnectionState.SELECTED:
            self.selected = None
        return None

    def _continuation(self, event: Response | LiteralChunk) -> None:
        assert isinstance(event, ContinuationRequest)
        waiting = self._waiting_literal
        if waiting is not None:
            self._outgoing.append(waiting.segments.popleft())
            self._trace.append("<literal>")
            if not waiting.segments:
                self._waiting_literal = None
                self._pump()
            return
        for record in self._in_flight.values():
            if record.command.expects_continuation and not record.answer_due:
                record.answer_due = True
                self._events.append(ContinuationNeeded(record.tag, event.data))
                return
        raise RemoteProtocolError(
            f"continuation request while no command waits for one: {event!r}"[:300]
        )

    def _chunk(self, event: Response | LiteralChunk) -> None:
        assert isinstance(event, LiteralChunk)
        if self._discarding or self._streaming is None:
            return
        self._events.append(Streamed(self._streaming, event))

    def _should_stream(self, seq: int, section: bytes, size: int) -> bool:
        """
        The parser's C{stream_literal}: stream if the UID FETCH this
        response answers was submitted with C{stream_bodies}, or drop.

        The owner is found by the UID the response named before the
        literal; if it named none yet, the literal is buffered and the
        complete response routed by its UID like any other. A body for a
        UID no command asked for, or one the owner already received, is
        streamed into nothing: counted past, never kept.
        """
        uid = self._parser.fetch_uid()
        self._streaming = None
        self._discarding = False
        if uid is None:
            return False
        owner = self._fetch_owner(uid)
        shown = section.decode("ascii", "replace")
        if owner is None:
            return self._discard(f"BODY[{shown}] of UID {uid} ({size} bytes): not requested")
        if (uid, section) in owner.bodies:
            return self._discard(f"BODY[{shown}] of UID {uid} ({size} bytes): sent again")
        if section in WHOLE_SECTIONS and not wants_whole_body(owner.command):
            return self._discard(f"BODY[{shown}] of UID {uid} ({size} bytes): not requested")
        if not owner.stream or owner.cover is None or uid not in owner.cover:
            return False
        owner.bodies.add((uid, section))
        self._streaming = owner.tag
        return True

    def _discard(self, reason: str) -> bool:
        self._discarding = True
        self._events.append(Discarded(f"dropped {reason}"))
        return True

    def _enabled_by_flight(self) -> frozenset[bytes]:
        """
        @return: the extensions the non-barrier ENABLEs in flight ask for.
        """
        return frozenset(
            raw.upper()
            for record in self._in_flight.values()
            if record.command.name == b"ENABLE" and not record.command.barrier
            for raw in record.command.extension_names()
        )

    def _fetch_owner(self, uid: int | None) -> _InFlight | None:
        """
        @return: the in-flight command FETCH data for C{uid} answers: the
            one whose set contains it, else the one with an open set (its
            C{n:*} may name the last message below n); C{None} for none.
        """
        if uid is None:
            # RFC 3501 §6.4.8: UID FETCH/STORE responses always carry UID.
            return None
        fallback: _InFlight | None = None
        for record in self._in_flight.values():
            cover = record.cover
            if cover is None or (record.after is not None and record.after in self._in_flight):
                # Behind a selection still running: nothing is its yet.
                continue
            if uid in cover:
                return record
            if cover.open and fallback is None:
                fallback = record
        return fallback

    def _untagged(self, event: Response | LiteralChunk) -> None:
        assert not isinstance(event, LiteralChunk)
        self._note(event)
        producers = PRODUCERS.get(type(event), frozenset())
        owner = self._owner(event, producers)
        if owner is None:
            if isinstance(event, FetchResponse):
                for section in event.items.sections:
                    shown = section.decode("ascii", "replace")
                    reason = f"dropped BODY[{shown}] of UID {event.items.uid}: not requested"
                    self._events.append(Discarded(reason))
            self._events.append(Untagged(event))
            return
        self._keep(owner, event)
        if owner.mailbox is not None:
            owner.mailbox = mailbox_update(owner.mailbox, event)

    def _fetch_data(self, event: Response | LiteralChunk) -> None:
        """
        L{_untagged} for FETCH data (a listing line, a body), without its
        general steps: FETCH data changes no connection-wide state and no
        selected mailbox (L{mailbox_update} returns it unchanged), and its
        owner is found by UID.
        """
        assert type(event) is FetchResponse
        owner = self._fetch_owner(event.items.uid)
        if owner is None:
            self._untagged(event)
            return
        items = event.items
        if owner.hand_over and not items.sections and not items.streamed:
            # L{_keep}'s steps for such data (a listing line of a command
            # handing its data over, thousands in a resync's CHANGEDSINCE
            # answer): handed over as it is.
            self._events.append(Fetched(owner.tag, event))
            return
        if (
            owner.hand_over
            or items.sections
            or (items.streamed and not wants_whole_body(owner.command))
        ):
            self._keep(owner, event)
            return
        # L{_keep}'s steps for FETCH data without buffered body sections (a
        # streamed body asked for, a listing line, another client's flag
        # change): kept by UID, merged with what the command holds for it.
        index = _retain(owner, (FetchResponse, items.uid), event)
        if index is None:
            return
        kept = owner.untagged[index]
        assert isinstance(kept, FetchResponse)
        owner.untagged[index], _ = merge_fetch(kept, event)

    def _keep(self, owner: _InFlight, event: Response) -> None:
        """
        Attach C{event} to C{owner} within the bounds of L{retention_key}.
        """
        if isinstance(event, FetchResponse) and event.items.uid is not None:
            uid = event.items.uid
            unasked = WHOLE_SECTIONS & (event.items.sections.keys() | event.items.streamed)
            if unasked and not wants_whole_body(owner.command):
                # Streamed ones were reported when they were counted past.
                for section in sorted(unasked & event.items.sections.keys()):
                    shown = section.decode("ascii", "replace")
                    self._events.append(
                        Discarded(f"dropped BODY[{shown}] of UID {uid}: not requested")
                    )
                event = without_sections(event, WHOLE_SECTIONS)
            owner.bodies.update((uid, section) for section in event.items.sections)
        if isinstance(event, (ListResponse, StatusResponse)):
            check_listed(
                event.name if isinstance(event, ListResponse) else event.mailbox, owner.listed
            )
            owner.listed += 1
        if owner.hand_over and isinstance(event, FetchResponse):
            self._events.append(Fetched(owner.tag, event))
            return
        key = retention_key(event)
        if key is None:
            owner.untagged.append(event)
            return
        index = _retain(owner, key, event)
        if index is None:
            return
        kept = owner.untagged[index]
        if isinstance(kept, FetchResponse) and isinstance(event, FetchResponse):
            buffered = event.items.sections
            event, dropped = merge_fetch(kept, event)
            # Streamed repeats were reported when they were counted past.
            for section in (each for each in dropped if each in buffered):
                shown = section.decode("ascii", "replace")
                self._events.append(
                    Discarded(f"dropped BODY[{shown}] of UID {event.items.uid}: sent again")
                )
        owner.untagged[index] = event

    def _owner(self, event: Response, producers: frozenset[bytes]) -> _InFlight | None:
        """
        @return: the oldest in-flight command that can produce C{event}.
        """
        if isinstance(event, FetchResponse):
            return self._fetch_owner(event.items.uid)
        if isinstance(event, UntaggedStatus) and (
            event.status is not Status.OK or event.code == ALERT
        ):
            # RFC 3501 §7.1: ALERTs are for the user, whatever command runs.
            return None
        for record in self._in_flight.values():
            if record.command.name in producers:
                return record
        return None

    def _note(self, event: Response) -> None:
        """
        Track state that untagged data changes, whoever it belongs to.
        """
        if isinstance(event, Capability):
            self._set_capabilities(event.names)
        elif isinstance(event, EnabledResponse):
            self.enabled |= event.names
        elif isinstance(event, UntaggedStatus):
            self._note_status(event)
        elif self.selected is not None:
            self.selected = mailbox_update(self.selected, event)

    def _note_status(self, event: UntaggedStatus) -> None:
        if event.status is Status.PREAUTH:
            raise RemoteProtocolError("PREAUTH after the greeting")
        if event.status is Status.BYE:
            self.bye = event
            # Queued commands stay queued; they fail when the connection closes.
            self.state = ConnectionState.LOGOUT
        if isinstance(event.code, CapabilityCode):
            self._set_capabilities(event.code.names)
        elif self.selected is not None and event.code is not None:
            self.selected = code_update(self.selected, event.code)


_Handler: TypeAlias = Callable[[ClientConnection, "Response | LiteralChunk"], None]

# Parser events by type; everything else is untagged data.
_HANDLERS: Final[dict[type, _Handler]] = {
    TaggedResponse: ClientConnection._tagged,
    ContinuationRequest: ClientConnection._continuation,
    LiteralChunk: ClientConnection._chunk,
    UnknownResponse: ClientConnection._untagged,
    FetchResponse: ClientConnection._fetch_data,
}
