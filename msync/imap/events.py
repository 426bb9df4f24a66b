# -*- test-case-name: tests.imap.test_connection -*-
"""
The events L{msync.imap.connection.ClientConnection.next_event} returns.

Invariants:
  - Pure values: frozen, slotted records (L{msync.imap.values._value})
    over IMAP data (C{bytes}); no I/O.
"""

from __future__ import annotations

from typing import TypeAlias

from msync.errors import LocalProtocolError
from msync.imap.commands import Command
from msync.imap.routing import SelectedMailbox
from msync.imap.values import (
    FetchResponse,
    LiteralChunk,
    Response,
    ResponseCode,
    Status,
    TaggedResponse,
    _value,
)


@_value
class Greeting:
    """
    The server's greeting: C{OK}, C{PREAUTH} or C{BYE} (RFC 3501 §7.1).
    """

    status: Status
    code: ResponseCode | None
    text: bytes


@_value
class Completed:
    """
    A command's tagged response arrived.

    @ivar untagged: the untagged responses attached to this command.
    @ivar mailbox: for SELECT/EXAMINE, the mailbox state as selected (or
        as far as the server told before refusing); else C{None}.
    """

    tag: bytes
    command: Command
    response: TaggedResponse
    untagged: tuple[Response, ...]
    mailbox: SelectedMailbox | None = None


@_value
class Rejected:
    """
    A command was never sent: it is invalid in the current state or for
    the server's capabilities.
    """

    tag: bytes
    command: Command
    error: LocalProtocolError


@_value
class ContinuationNeeded:
    """
    AUTHENTICATE or IDLE got a C{+}; answer with
    L{msync.imap.connection.ClientConnection.send_continuation}.

    @ivar data: the raw text after C{"+ "} (base64 for SASL).
    """

    tag: bytes
    data: bytes


@_value
class Untagged:
    """
    Untagged data no in-flight command produced (unsolicited EXISTS, BYE,
    ALERT, flag changes by other clients, ...).
    """

    response: Response


@_value
class Streamed:
    """
    A chunk of a streamed FETCH body literal of the command C{tag}.
    """

    tag: bytes
    chunk: LiteralChunk


@_value
class Fetched:
    """
    A FETCH response of the command C{tag}, submitted to hand its FETCH
    data over as it arrives (not kept for its L{Completed}).
    """

    tag: bytes
    response: FetchResponse


@_value
class Alert:
    """
    A status response carried C{[ALERT]}: C{text} is for the user.
    """

    text: bytes


@_value
class Discarded:
    """
    Data the server sent that nothing asked for was dropped (for the debug log).
    """

    reason: str


ConnectionEvent: TypeAlias = (
    Greeting
    | Completed
    | Rejected
    | ContinuationNeeded
    | Untagged
    | Streamed
    | Fetched
    | Alert
    | Discarded
)
"""What L{msync.imap.connection.ClientConnection.next_event} returns besides L{NEED_DATA}."""
