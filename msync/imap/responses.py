# -*- test-case-name: tests.imap.test_responses -*-
"""
The incremental, sans-IO IMAP4rev1 response parser.

Feed server bytes with L{ResponseParser.receive_data}; call
L{ResponseParser.next_event} until it returns L{NEED_DATA}. Each event is one
complete response (L{TaggedResponse}, L{FetchResponse}, ...; the typed values
live in L{msync.imap.values}) or, for a large FETCH
body the caller chose to stream, a L{LiteralChunk}.

Invariants:
  - Pure: stdlib only, no I/O. "Need more data" is the L{NEED_DATA}
    sentinel, never an exception.
  - Framing works line by line; literals are counted, never scanned: after a
    line ending in C{{n}} the next C{n} bytes are taken by length. Unparsed
    input is bounded by C{max_line_length} (the text of one response) and
    C{max_literal_size} (each literal), and each byte is examined O(1) times.
  - Status responses (C{OK}/C{NO}/C{BAD}/C{PREAUTH}/C{BYE}) and continuation
    requests are one line: a trailing C{{n}} there is text, not a literal.
  - Malformed input, or input over a limit, raises L{RemoteProtocolError}
    quoting the offending bytes; no other exception escapes. After that
    error the parser is dead and raises the same error again.
  - A buffered literal is held once: its bytes are appended to one
    growing buffer whose final value is handed out without a copy (a
    512 MiB literal costs about 512 MiB, not twice that).
  - Events are identical however the input is split across
    C{receive_data} calls, except that L{LiteralChunk} boundaries follow
    the input's.
  - A streamed literal's bytes that arrive while nothing else is buffered
    are handed on as they came (the received C{bytes} itself, or a slice
    of it where the literal ends): not copied into the buffer and out.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from typing import Final, Literal

from msync.errors import RemoteProtocolError
from msync.imap.grammar import Reader, quote_bytes, response_text
from msync.imap.untagged import (
    BODY_FETCH_HEAD,
    LISTING_FETCH,
    body_fetch,
    listing_fetch,
    parse_untagged,
)
from msync.imap.values import (
    NEED_DATA,
    ContinuationRequest,
    Event,
    LiteralChunk,
    NeedData,
    Response,
    Status,
    StreamDecision,
    TaggedResponse,
)

__all__ = [
    "ResponseParser",
    "parse_response",
]


_TAGGED_STATUSES: Final = frozenset({b"OK", b"NO", b"BAD"})


def parse_response(data: bytes, literals: Sequence[bytes | None] = ()) -> Response:
    """
    Parse the text of one complete response.

    @param data: the response's lines joined by CRLF, without the final
        CRLF; every line but the last ends with a literal marker.
    @param literals: the literal bodies in order (C{None} if streamed).
    @return: the typed response.
    @raise RemoteProtocolError: if the response is malformed.
    """
    head = data[:1]
    if head == b"+":
        # RFC 3501 §7.5; the payload is kept raw (base64 for SASL).
        return ContinuationRequest(data[2:] if data.startswith(b"+ ") else data[1:])
    reader = Reader(data, literals)
    response: Response
    if head == b"*":
        reader.expect(b"* ")
        response = parse_untagged(reader, literals)
    else:
        tag = reader.tag()
        reader.space()
        start = reader.pos
        word = reader.keyword()
        if word not in _TAGGED_STATUSES:
            reader.pos = start
            reader.fail("OK, NO or BAD")
        status = Status(word)
        code, text = response_text(reader)
        response = TaggedResponse(tag, status, code, text)
    reader.expect_end()
    return response


# A line that cannot be followed by a literal: "+ ..." and status responses
# (RFC 3501 §9 resp-cond-*, continue-req hold no literals).
_ONE_LINE = re.compile(rb"\+|[^ ]* (?:OK|NO|BAD|BYE|PREAUTH)(?: |\Z)", re.IGNORECASE)
_LITERAL_TAIL = re.compile(rb"~?\{([0-9]{1,20})\}\Z")
_FETCH_HEAD = re.compile(rb"\* ([0-9]{1,10}) FETCH ", re.IGNORECASE)
_STREAM_ITEM = re.compile(
    rb"(?<=[ (])(?:BODY(\[[^\]\r\n]*\])(?:<[0-9]{1,10}>)?|(RFC822(?:\.TEXT)?)) \{[0-9]{1,20}\}\Z",
    re.IGNORECASE,
)
# A FETCH response's UID item, skipping quoted strings (which cannot span
# lines: RFC 3501 §4.3 quoted strings hold no CR or LF).
_UID_ITEM = re.compile(rb'"(?:[^"\\]|\\.)*"|(?<=[ (])UID ([0-9]{1,10})(?=[ )])', re.IGNORECASE)

DEFAULT_MAX_LINE_LENGTH: Final = 8 * 1024 * 1024
DEFAULT_MAX_LITERAL_SIZE: Final = 512 * 1024 * 1024


class ResponseParser:
    """
    Turns a stream of server bytes into response events.

    The framing is a two-state machine: reading a line (up to CRLF) or
    reading a literal (by count). L{_step} is the current state's method.
    """

    def __init__(
        self,
        *,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_literal_size: int = DEFAULT_MAX_LITERAL_SIZE,
        stream_literal: StreamDecision | None = None,
    ) -> None:
        """
        @param max_line_length: the most bytes of text (lines without their
            literals, CRLFs included) one response may have.
        @param max_literal_size: the largest literal accepted.
        @param stream_literal: if given, asked C{(seq, section, size)} for
            every non-empty FETCH body literal; when it returns C{True}, the
            literal is delivered as L{LiteralChunk} events instead of being
            buffered, and its section is listed in L{FetchItems.streamed}.
        """
        self._max_line = max_line_length
        self._max_literal = max_literal_size
        self._stream_literal = stream_literal
        self._buffer = bytearray()
        self._scan = 0
        self._lines: list[bytes] = []
        self._text_size = 0
        self._literals: list[bytes | None] = []
        self._literal = io.BytesIO()
        self._remaining = 0
        self._stream: tuple[int, bytes] | None = None
        # The UID of the FETCH whose literal is being read, once looked up.
        self._stream_uid: int | None = None
        self._error: RemoteProtocolError | None = None
        # The match of the response's first line, if it is the head of a
        # body FETCH in the usual shape (see L{BODY_FETCH_HEAD}).
        self._head: re.Match[bytes] | None = None
        # Bytes received for a streamed literal while the buffer was
        # empty, kept as received until the next step hands them on.
        self._direct: bytes | None = None
        self._step: Callable[[], Event | NeedData | None] = self._read_line

    def receive_data(self, data: bytes) -> None:
        """
        Add bytes received from the server.

        @param data: any number of bytes, split anywhere.
        """
        if self._error is not None:
            return
        if self._direct is not None:
            # Behind what is already waiting: in order, through the buffer.
            self._buffer += self._direct
            self._direct = None
        elif self._remaining and not self._buffer:
            if self._stream is not None:
                if data and type(data) is bytes:
                    # Streamed literal bytes: handed on as received.
                    self._direct = data
                    return
            else:
                # Literal bytes go straight to the literal, skipping the buffer.
                take = min(self._remaining, len(data))
                with memoryview(data) as view:
                    self._literal.write(view[:take])
                self._remaining -= take
                data = data[take:]
        self._buffer += data

    def has_input(self) -> bool:
        """
        @return: whether any received byte has not been turned into an
            event yet (a partial or unread response).
        """
        return bool(self._buffer or self._lines or self._remaining or self._direct)

    def next_event(self) -> Event | Literal[NeedData.NEED_DATA]:
        """
        Return the next complete event, or L{NEED_DATA}.

        @raise RemoteProtocolError: if the server's data is malformed or over
            a limit; every later call raises it again.
        """
        if self._error is not None:
            raise self._error
        try:
            while True:
                event = self._step()
                if event is not None:
                    return event
        except RemoteProtocolError as error:
            self._error = error
            self._buffer.clear()
            self._direct = None
            raise

    def fetch_uid(self) -> int | None:
        """
        For C{stream_literal} to call: the UID of the FETCH response whose
        literal is about to be read, if its text so far has a C{UID} item
        (servers usually send it first; nothing obliges them to).

        @return: the UID, or C{None} if it is not known yet.
        """
        if self._stream_uid is not None:
            return self._stream_uid
        for line in self._lines:
            for match in _UID_ITEM.finditer(line):
                if match.group(1) is not None:
                    return int(match.group(1))
        return None

    def _too_long(self, text: bytes) -> RemoteProtocolError:
        """
        @return: the error for a response text over C{max_line_length}.
        """
        return RemoteProtocolError(
            f"IMAP response longer than {self._max_line} bytes: {quote_bytes(text)}"
        )

    def _read_line(self) -> Event | NeedData | None:
        """
        Line state: take one CRLF-terminated line; complete the response or start a literal.
        """
        buffer = self._buffer
        end = buffer.find(b"\r\n", self._scan)
        if end < 0:
            if self._text_size + len(buffer) > self._max_line:
                raise self._too_long(bytes(buffer[:80]))
            self._scan = max(0, len(buffer) - 1)
            return NEED_DATA
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        self._scan = 0
        self._text_size += end + 2
        if self._text_size > self._max_line:
            raise self._too_long(line)
        lines = self._lines
        lines.append(line)
        if line.endswith(b"}") and (len(lines) > 1 or _ONE_LINE.match(line) is None):
            match = _LITERAL_TAIL.search(line, max(0, end - 24))
            if match is not None:
                self._begin_literal(int(match.group(1)), line)
                return None
        self._lines = []
        self._text_size = 0
        literals, self._literals = self._literals, []
        head = self._head
        if head is not None:
            self._head = None
            if len(lines) == 2 and line == b")":
                # The usual body FETCH: its value without reading it again.
                fetched = body_fetch(head, literals[0])
                if fetched is not None:
                    return fetched
        elif len(lines) == 1:
            # The usual listing line: its value in one match.
            listed = LISTING_FETCH.match(line)
            if listed is not None:
                fetched = listing_fetch(listed)
                if fetched is not None:
                    return fetched
        return parse_response(line if len(lines) == 1 else b"\r\n".join(lines), literals)

    def _begin_literal(self, size: int, line: bytes) -> None:
        """
        Enter the literal state for C{size} bytes, deciding whether to stream them.
        """
        if size > self._max_literal:
            raise RemoteProtocolError(
                f"IMAP literal of {size} bytes exceeds the limit of "
                f"{self._max_literal} bytes: {quote_bytes(line)}"
            )
        self._remaining = size
        self._stream = None
        self._stream_uid = None
        head = None
        if len(self._lines) == 1:
            head = self._head = BODY_FETCH_HEAD.match(line)
        if size and self._stream_literal is not None:
            if head is not None:
                self._stream = self._stream_body(size, head)
            else:
                self._stream = self._stream_target(size, line)
        self._step = self._read_literal

    def _stream_body(self, size: int, head: re.Match[bytes]) -> tuple[int, bytes] | None:
        """
        L{_stream_target} for a body FETCH in the usual shape, whose line
        was matched already.
        """
        assert self._stream_literal is not None
        seq = int(head.group(1))
        self._stream_uid = int(head.group(2))
        if seq and self._stream_literal(seq, b"", size):
            return seq, b""
        self._stream_uid = None
        return None

    def _stream_target(self, size: int, line: bytes) -> tuple[int, bytes] | None:
        """
        @return: C{(seq, section)} if this FETCH body literal is to be streamed.
        """
        head = _FETCH_HEAD.match(self._lines[0])
        item = _STREAM_ITEM.search(line) if head is not None else None
        if head is None or item is None or self._stream_literal is None:
            return None
        seq = int(head.group(1))
        self._stream_uid = self.fetch_uid()
        if item.group(1) is not None:
            section = Reader(item.group(1)).section()
        else:
            section = b"" if item.group(2).upper() == b"RFC822" else b"TEXT"
        if seq and self._stream_literal(seq, section, size):
            return seq, section
        self._stream_uid = None
        return None

    def _read_literal(self) -> Event | NeedData | None:
        """
        Literal state: take up to the remaining count of bytes, by length.
        """
        direct = self._direct
        if direct is not None:
            # Streaming, the buffer empty: the received bytes themselves.
            self._direct = None
            take = min(self._remaining, len(direct))
            if take < len(direct):
                self._buffer += memoryview(direct)[take:]
                direct = direct[:take]
            self._remaining -= take
            return self._streamed(direct, not self._remaining)
        buffer = self._buffer
        take = min(self._remaining, len(buffer))
        if take == 0 and self._remaining:
            return NEED_DATA
        self._remaining -= take
        done = self._remaining == 0
        if self._stream is not None:
            if take == len(buffer):
                chunk = bytes(buffer)
                buffer.clear()
            else:
                chunk = bytes(buffer[:take])
                del buffer[:take]
            return self._streamed(chunk, done)
        if take:
            with memoryview(buffer) as view:
                self._literal.write(view[:take])
            del buffer[:take]
        if done:
            # BytesIO hands out its own buffer when it is exactly full: no copy.
            self._literals.append(self._literal.getvalue())
            self._literal = io.BytesIO()
            self._step = self._read_line
        return None

    def _streamed(self, chunk: bytes, done: bool) -> LiteralChunk:
        """
        The event for the next C{chunk} of the streamed literal; the last
        (C{done}) returns to the line state.
        """
        assert self._stream is not None
        seq, section = self._stream
        uid = self._stream_uid
        if done:
            self._literals.append(None)
            self._step = self._read_line
            self._stream_uid = None
        return LiteralChunk(seq, section, chunk, done, uid)
