"""
Tests for L{msync.imap.responses}: framing, every response kind, limits,
literal streaming, malformed input and speed. The response tables live in
L{tests.imap.responserows}.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import RemoteProtocolError
from msync.imap import responses, untagged
from msync.imap.responses import ResponseParser
from msync.imap.values import (
    NEED_DATA,
    STAR,
    FetchItems,
    FetchResponse,
    LiteralChunk,
    ModifiedCode,
    TaggedResponse,
)
from tests.fakes.feeding import errors_all_ways, events_all_ways, feed, split_at
from tests.imap.responserows import ALL_ROWS, MALFORMED, OK, RFC3501_SESSION, SERVER_ROWS, TRAILING


def parser() -> ResponseParser:
    """
    @return: a parser with small limits, so tests can exceed them cheaply.
    """
    return ResponseParser(max_line_length=4096, max_literal_size=1 << 26)


def merge_chunks(events: list[object]) -> list[object]:
    """
    Merge consecutive L{LiteralChunk} events of one literal, whose
    boundaries follow the input's.

    @return: the events with each literal's chunks merged into one.
    """
    merged: list[object] = []
    for event in events:
        if isinstance(event, LiteralChunk) and merged:
            previous = merged[-1]
            if isinstance(previous, LiteralChunk) and not previous.last:
                merged[-1] = LiteralChunk(
                    event.seq, event.section, previous.data + event.data, event.last
                )
                continue
        merged.append(event)
    return merged


class RowTests(SynchronousTestCase):
    """
    Table-driven rows: RFC 3501 §8 and real server transcripts.
    """

    def assertRow(self, data: bytes, expected: object) -> None:
        """
        C{data} gives exactly C{[expected]} fed whole, byte by byte, split
        and with trailing bytes.
        """
        events = events_all_ways(
            parser, data, NEED_DATA, points=(1, len(data) // 2), trailing=TRAILING
        )
        self.assertEqual(events, [expected], data)

    def test_rfc3501_session(self) -> None:
        """
        Every server response of the RFC 3501 §8 sample session, and the
        other RFC 3501 §7 examples, parse to the expected values.
        """
        for data, expected in RFC3501_SESSION:
            self.assertRow(data, expected)

    def test_server_transcripts(self) -> None:
        """
        Greetings, CAPABILITY, LIST, NAMESPACE, FETCH and extension responses
        as Dovecot, Gmail, Exchange, Cyrus and Courier send them parse to the
        expected values.
        """
        for data, expected in SERVER_ROWS:
            self.assertRow(data, expected)

    def test_all_rows_concatenated(self) -> None:
        """
        All rows sent back to back give all events in order, however split.
        """
        data = b"".join(row for row, _ in ALL_ROWS)
        events = events_all_ways(parser, data, NEED_DATA, points=range(7, len(data), 97))
        self.assertEqual(events, [expected for _, expected in ALL_ROWS])

    @settings(max_examples=200, deadline=None)
    @given(st.sampled_from(ALL_ROWS), st.lists(st.integers(min_value=0, max_value=600), max_size=6))
    def test_random_splits(self, row: tuple[bytes, object], points: list[int]) -> None:
        """
        Any row split at random points gives the same single event.
        """
        data, expected = row
        self.assertEqual(feed(parser(), split_at(data, points), NEED_DATA), [expected])

    def test_sequence_set_star(self) -> None:
        """
        C{*} in a sequence set is L{STAR}; C{*:4} keeps the number first and
        reversed ranges are ordered.
        """
        events = events_all_ways(parser, b"A1 OK [MODIFIED 9:2,*:4,*] x\r\n", NEED_DATA)
        self.assertEqual(
            events,
            [TaggedResponse(b"A1", OK, ModifiedCode(((2, 9), (4, STAR), (STAR, STAR))), b"x")],
        )

    def test_empty_literal(self) -> None:
        """
        A zero-length literal is an empty string.
        """
        data = b"* 2 FETCH (BODY[TEXT] {0}\r\n UID 3)\r\n"
        events = events_all_ways(parser, data, NEED_DATA, points=(5,))
        self.assertEqual(events, [FetchResponse(2, FetchItems(uid=3, sections={b"TEXT": b""}))])


class MalformedTests(SynchronousTestCase):
    """
    Malformed input and input over the limits raise L{RemoteProtocolError}.
    """

    def test_malformed_table(self) -> None:
        """
        Every malformed row raises L{RemoteProtocolError} fed whole and byte
        by byte, and the message quotes the offending bytes.
        """
        self.assertGreaterEqual(len(MALFORMED), 25)
        for data in MALFORMED:
            errors = errors_all_ways(parser, data, NEED_DATA, RemoteProtocolError)
            self.assertIn("IMAP", str(errors[0]), data)

    def test_literal_over_limit(self) -> None:
        """
        A literal announced larger than C{max_literal_size} is refused as soon
        as its header line arrives, without waiting for the data.
        """
        p = ResponseParser(max_literal_size=100)
        p.receive_data(b"* 1 FETCH (BODY[] {101}\r\n")
        error = self.assertRaises(RemoteProtocolError, p.next_event)
        self.assertIn("101 bytes exceeds the limit of 100", str(error))

    def test_line_over_limit(self) -> None:
        """
        A line longer than C{max_line_length} is refused before its CRLF
        arrives, so the buffer stays bounded.
        """
        p = ResponseParser(max_line_length=100)
        p.receive_data(b"* OK " + b"x" * 200)
        error = self.assertRaises(RemoteProtocolError, p.next_event)
        self.assertIn("longer than 100 bytes", str(error))

    def test_response_text_over_limit(self) -> None:
        """
        The limit covers all lines of one response, not each separately.
        """
        p = ResponseParser(max_line_length=100)
        p.receive_data(b"* 1 FETCH (BODY[1] {1}\r\nx BODY[2] {1}\r\ny" * 4)
        self.assertRaises(RemoteProtocolError, p.next_event)

    def test_dead_after_error(self) -> None:
        """
        After an error every call raises the same error and input is dropped.
        """
        p = parser()
        p.receive_data(b"A1 WHAT\r\n")
        first = self.assertRaises(RemoteProtocolError, p.next_event)
        p.receive_data(b"* OK fine\r\n")
        self.assertIs(self.assertRaises(RemoteProtocolError, p.next_event), first)

    def test_error_quotes_truncated(self) -> None:
        """
        The error quotes the response, truncated.
        """
        p = parser()
        p.receive_data(b"* 1 FETCH (UID 1 " + b"X" * 500 + b" \r\n")
        message = str(self.assertRaises(RemoteProtocolError, p.next_event))
        self.assertIn("* 1 FETCH (UID 1", message)
        self.assertLess(len(message), 400)

    @settings(max_examples=500, deadline=None)
    @given(st.binary(max_size=300))
    def test_fuzz_random_bytes(self, data: bytes) -> None:
        """
        Random bytes produce events, NEED_DATA or RemoteProtocolError,
        never another exception.
        """
        p = parser()
        p.receive_data(data)
        try:
            while p.next_event() is not NEED_DATA:
                pass
        except RemoteProtocolError:
            pass

    @settings(max_examples=500, deadline=None)
    @given(
        st.sampled_from(ALL_ROWS + [(row, None) for row in MALFORMED]),
        st.integers(min_value=0, max_value=400),
        st.binary(min_size=0, max_size=4),
    )
    def test_fuzz_mutated_rows(self, row: tuple[bytes, object], at: int, junk: bytes) -> None:
        """
        Valid and malformed rows with random bytes spliced in never raise
        anything but RemoteProtocolError.
        """
        data = row[0]
        at = min(at, len(data))
        p = parser()
        p.receive_data(data[:at] + junk + data[at + len(junk) :])
        try:
            while p.next_event() is not NEED_DATA:
                pass
        except RemoteProtocolError:
            pass


TOKEN_SOUP = [
    *(b"* ", b"A1 ", b"+ ", b"OK", b"FETCH", b"(", b")", b"[", b"]", b" ", b"\r\n", b"{3}\r\n"),
    *(b"~{2}\r\n", b"{0}\r\n", b'"', b"\\", b"NIL", b"1", b"0", b"*", b":", b",", b"UID"),
    *(b"FLAGS", b"BODY", b"BODY[", b"HEADER.FIELDS", b"<5>", b"LIST", b"NAMESPACE", b"STATUS"),
    *(b"ESEARCH", b"VANISHED", b"(EARLIER)", b"SEARCH", b"ID", b"MODSEQ", b"INTERNALDATE"),
    *(b'"17-Jul-1996 02:44:25 -0700"', b"[UIDVALIDITY 5]", b"APPENDUID", b"COPYUID", b"\\Seen"),
    *(b"PERMANENTFLAGS", b"\xff", b"CAPABILITY", b"TAG", b"ALL", b"1:*", b"RFC822", b"BINARY["),
    *(b"ENABLED", b"EXISTS", b"12345678901234567890123"),
]


class TokenSoupTests(SynchronousTestCase):
    """
    Structured fuzzing: IMAP tokens in random order.
    """

    @settings(max_examples=1000, deadline=None)
    @given(st.lists(st.sampled_from(TOKEN_SOUP), max_size=30), st.booleans())
    def test_token_soup(self, parts: list[bytes], stream: bool) -> None:
        """
        Random sequences of IMAP tokens, with and without literal streaming,
        never raise anything but L{RemoteProtocolError}.
        """
        p = ResponseParser(
            max_line_length=500,
            max_literal_size=50,
            stream_literal=(lambda seq, section, size: True) if stream else None,
        )
        p.receive_data(b"".join(parts))
        try:
            while p.next_event() is not NEED_DATA:
                pass
        except RemoteProtocolError:
            pass


class StreamingTests(SynchronousTestCase):
    """
    FETCH body literals can be delivered as L{LiteralChunk} events.
    """

    def test_streamed_body(self) -> None:
        """
        When the decision callable says so, the body arrives as chunks
        before the FETCH response, which lists the section as streamed.
        """
        asked: list[tuple[int, bytes, int]] = []

        def decide(seq: int, section: bytes, size: int) -> bool:
            """
            Stream literals over three bytes, recording what was asked.
            """
            asked.append((seq, section, size))
            return size > 3

        data = (
            b"* 4 FETCH (UID 9 BODY[HEADER] {3}\r\nabc BODY[] {10}\r\n0123456789)\r\n"
            b"* 5 FETCH (RFC822.TEXT {4}\r\nwxyz)\r\nA1 OK done\r\n"
        )
        events = events_all_ways(
            lambda: ResponseParser(stream_literal=decide),
            data,
            NEED_DATA,
            points=(40, 50),
            normalize=merge_chunks,
        )
        self.assertEqual(
            events,
            [
                LiteralChunk(4, b"", b"0123456789", True),
                FetchResponse(
                    4, FetchItems(uid=9, sections={b"HEADER": b"abc"}, streamed=frozenset({b""}))
                ),
                LiteralChunk(5, b"TEXT", b"wxyz", True),
                FetchResponse(5, FetchItems(streamed=frozenset({b"TEXT"}))),
                TaggedResponse(b"A1", OK, None, b"done"),
            ],
        )
        self.assertEqual(asked[:3], [(4, b"HEADER", 3), (4, b"", 10), (5, b"TEXT", 4)])

    def test_chunks_follow_input(self) -> None:
        """
        Each C{next_event} returns the literal bytes available so far.
        """
        p = ResponseParser(stream_literal=lambda seq, section, size: True)
        p.receive_data(b"* 1 FETCH (BODY[1.2] {6}\r\nabc")
        self.assertEqual(p.next_event(), LiteralChunk(1, b"1.2", b"abc", False))
        self.assertIs(p.next_event(), NEED_DATA)
        p.receive_data(b"def)\r\n")
        self.assertEqual(p.next_event(), LiteralChunk(1, b"1.2", b"def", True))
        self.assertEqual(p.next_event(), FetchResponse(1, FetchItems(streamed=frozenset({b"1.2"}))))

    def test_chunks_as_received(self) -> None:
        """
        Streamed literal bytes received while nothing else waits are
        handed on as the very bytes received; where the literal ends inside
        them, the rest is read as usual; bytes received before the last
        were taken come after them, in order.
        """
        p = ResponseParser(stream_literal=lambda seq, section, size: True)
        p.receive_data(b"* 1 FETCH (UID 7 BODY[] {12}\r\n")
        self.assertIs(p.next_event(), NEED_DATA)
        received = b"abcd"
        p.receive_data(received)
        self.assertTrue(p.has_input())
        chunk = p.next_event()
        assert isinstance(chunk, LiteralChunk)
        self.assertIs(chunk.data, received)
        self.assertEqual((chunk.last, chunk.uid), (False, 7))
        self.assertIs(p.next_event(), NEED_DATA)
        p.receive_data(b"ef")
        p.receive_data(b"gh")
        self.assertEqual(p.next_event(), LiteralChunk(1, b"", b"efgh", False, 7))
        p.receive_data(b"ijkl)\r\nA1 OK done\r\n")
        self.assertEqual(p.next_event(), LiteralChunk(1, b"", b"ijkl", True, 7))
        self.assertEqual(
            p.next_event(), FetchResponse(1, FetchItems(uid=7, streamed=frozenset({b""})))
        )
        self.assertEqual(p.next_event(), TaggedResponse(b"A1", OK, None, b"done"))
        self.assertIs(p.next_event(), NEED_DATA)

    def test_streamed_literal_elsewhere_refused(self) -> None:
        """
        A literal that looked like a body but sits elsewhere in the response
        (here inside a label list) is a protocol error, not silently lost.
        """
        p = ResponseParser(stream_literal=lambda seq, section, size: True)
        p.receive_data(b"* 1 FETCH (X-GM-LABELS (BODY[] {2}\r\nab))\r\n")
        self.assertIsInstance(p.next_event(), LiteralChunk)
        self.assertRaises(RemoteProtocolError, p.next_event)


_DATE = b'"05-Dec-2026 08:01:02 +0100"'


def body_fetch(head: bytes, body: bytes = b"Subject: x\r\n\r\nhi\r\n", tail: bytes = b")") -> bytes:
    """
    @return: C{* 3 FETCH (<head> {size}}, C{body} and C{tail}, as a server sends it.
    """
    return b"* 3 FETCH (%s {%d}\r\n%s%s\r\n" % (head, len(body), body, tail)


#: Body FETCH responses in the usual shape (parsed by the fast path) and
#: around it (parsed by the general parser, or refused by it).
BODY_FETCH_SHAPES: list[bytes] = [
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[]" % _DATE),
    body_fetch(b"UID 7 FLAGS () INTERNALDATE %s BODY[]" % _DATE),
    body_fetch(
        b"UID 4294967295 FLAGS (\\Seen \\Answered $Forwarded Junk) INTERNALDATE %s BODY[]" % _DATE
    ),
    body_fetch(b'UID 7 FLAGS (\\Seen) INTERNALDATE " 5-Dec-2026 08:01:02 -0730" BODY[]'),
    body_fetch(b"uid 7 flags (\\seen) internaldate %s body[]" % _DATE.lower()),
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[]" % _DATE, b""),
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[]" % _DATE, b"x)\r\n* 4 FETCH {3}"),
    b"* 3 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[] NIL)\r\n" % _DATE,
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[]" % _DATE, tail=b" FLAGS (\\Deleted))"),
    body_fetch(b"UID 7 INTERNALDATE %s BODY[]" % _DATE, tail=b" FLAGS (\\Seen))"),
    body_fetch(b"FLAGS (\\Seen) UID 7 INTERNALDATE %s BODY[]" % _DATE),
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[]<0>" % _DATE),
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[TEXT]" % _DATE),
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[] {2}\r\nab BODY[TEXT]" % _DATE),
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s RFC822" % _DATE),
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[]" % _DATE, tail=b") "),
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[]" % _DATE, tail=b""),
    body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[]" % _DATE, tail=b"))"),
    # Out of range or impossible: refused by the general parser.
    body_fetch(b"UID 0 FLAGS (\\Seen) INTERNALDATE %s BODY[]" % _DATE),
    body_fetch(b"UID 4294967296 FLAGS (\\Seen) INTERNALDATE %s BODY[]" % _DATE),
    b"* 0 FETCH (UID 7 FLAGS () INTERNALDATE %s BODY[] {2}\r\nab)\r\n" % _DATE,
    b"* 4294967296 FETCH (UID 7 FLAGS () INTERNALDATE %s BODY[] {2}\r\nab)\r\n" % _DATE,
    body_fetch(b'UID 7 FLAGS () INTERNALDATE "31-Feb-2026 08:01:02 +0000" BODY[]'),
    body_fetch(b'UID 7 FLAGS () INTERNALDATE "05-Dec-2026 08:01:02 +9900" BODY[]'),
    body_fetch(b'UID 7 FLAGS () INTERNALDATE "05-Dex-2026 08:01:02 +0000" BODY[]'),
    body_fetch(b'UID 7 FLAGS () INTERNALDATE "05-Dec-2026 08:01:02" BODY[]'),
    body_fetch(b'UID 7 FLAGS () INTERNALDATE "05-Dec-2026 08:01:02 \\"+0000" BODY[]'),
    body_fetch(b"UID 7 FLAGS (\\Seen  \\Draft) INTERNALDATE %s BODY[]" % _DATE),
    body_fetch(b"UID 7 FLAGS (\\Seen ) INTERNALDATE %s BODY[]" % _DATE),
    body_fetch(b"UID 7 FLAGS (\\*) INTERNALDATE %s BODY[]" % _DATE),
]


class BodyFetchFastPathTests(SynchronousTestCase):
    """
    A body FETCH in the usual shape (L{msync.imap.untagged.BODY_FETCH_HEAD}
    and then only C{")"}) is not read again item by item, and gives exactly
    what the general parser gives, whatever the shape, the splits of the
    input, and whether the body is streamed.
    """

    def outcome(self, data: bytes, stream: bool) -> list[object] | str:
        """
        @return: the events of C{data} and a tagged OK (the same fed whole,
            byte by byte and split anywhere), or the error they raise.
        """
        data += b"A1 OK done\r\n"

        def made() -> ResponseParser:
            return ResponseParser(stream_literal=lambda seq, section, size: stream)

        try:
            feed(made(), [data], NEED_DATA)
        except RemoteProtocolError:
            errors = errors_all_ways(made, data, NEED_DATA, RemoteProtocolError)
            self.assertEqual(len({str(each) for each in errors}), 1, data)
            return str(errors[0])
        points = range(1, len(data), 7)
        return events_all_ways(made, data, NEED_DATA, points=points, normalize=merge_chunks)

    def general(self, data: bytes, stream: bool) -> list[object] | str:
        """
        L{outcome} with the fast path turned off.
        """
        self.patch(responses, "BODY_FETCH_HEAD", re.compile(rb"(?!)"))
        try:
            return self.outcome(data, stream)
        finally:
            self.patch(responses, "BODY_FETCH_HEAD", type(self).head)

    head = untagged.BODY_FETCH_HEAD

    def test_same_as_general(self) -> None:
        """
        Every shape, streamed and buffered, gives the general parser's
        events or error.
        """
        for data in BODY_FETCH_SHAPES:
            for stream in (False, True):
                self.assertEqual(self.outcome(data, stream), self.general(data, stream), data)

    def test_values(self) -> None:
        """
        The usual shape's values: sequence number, UID, flags as sent,
        INTERNALDATE as an aware datetime with its text, the body (or, when
        streamed, its section marked so).
        """
        data = body_fetch(b"UID 7 FLAGS (\\Seen $Junk) INTERNALDATE %s BODY[]" % _DATE, b"abc")
        date = datetime(2026, 12, 5, 8, 1, 2, tzinfo=timezone(timedelta(hours=1)))
        raw = _DATE[1:-1]
        flags = (b"\\Seen", b"$Junk")
        self.assertEqual(
            self.outcome(data, False),
            [
                FetchResponse(3, FetchItems(7, flags, None, date, raw, sections={b"": b"abc"})),
                TaggedResponse(b"A1", OK, None, b"done"),
            ],
        )
        self.assertEqual(
            self.outcome(data, True),
            [
                LiteralChunk(3, b"", b"abc", True, 7),
                FetchResponse(3, FetchItems(7, flags, None, date, raw, streamed=frozenset({b""}))),
                TaggedResponse(b"A1", OK, None, b"done"),
            ],
        )

    def test_taken(self) -> None:
        """
        The usual shape is not handed to the general parser; the others are.
        """
        parsed: list[bytes] = []
        general = responses.parse_response

        def counting(data: bytes, literals: object = ()) -> object:
            parsed.append(data)
            return general(data, literals)  # type: ignore[arg-type]

        self.patch(responses, "parse_response", counting)
        usual = body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[]" % _DATE)
        other = body_fetch(b"UID 7 FLAGS (\\Seen) INTERNALDATE %s BODY[]<0>" % _DATE)
        for stream in (False, True):
            del parsed[:]
            made = ResponseParser(stream_literal=lambda *_, stream=stream: stream)
            feed(made, [usual + other], NEED_DATA)
            self.assertEqual(parsed, [other.split(b"\r\n", 1)[0] + b"\r\n)"], stream)

    @given(
        st.lists(st.sampled_from([b"\\Seen", b"\\Flagged", b"$Label1", b"Junk"]), max_size=4),
        st.binary(max_size=40),
        st.integers(min_value=1, max_value=0xFFFFFFFF),
        st.booleans(),
    )
    @settings(max_examples=60, deadline=None)
    def test_generated(self, flags: list[bytes], body: bytes, uid: int, stream: bool) -> None:
        """
        Generated flags, bodies (CRLF, parentheses and braces included) and
        UIDs give the general parser's events.
        """
        head = b"UID %d FLAGS (%s) INTERNALDATE %s BODY[]" % (uid, b" ".join(flags), _DATE)
        data = body_fetch(head, body)
        self.assertEqual(self.outcome(data, stream), self.general(data, stream))


class FetchUIDTests(SynchronousTestCase):
    """
    L{ResponseParser.fetch_uid}: the UID of the FETCH response whose literal
    is about to be read, for routing it.
    """

    def test_rows(self) -> None:
        """
        The UID item is found wherever it stands before the literal, never
        inside a quoted string, and is C{None} when it comes after.
        """
        rows: list[tuple[bytes, int | None]] = [
            (b"* 1 FETCH (UID 9 BODY[] {3}\r\nabc)\r\n", 9),
            (b"* 1 FETCH (FLAGS (\\Seen) UID 12 BODY[] {3}\r\nabc)\r\n", 12),
            (b"* 1 FETCH (BODY[] {3}\r\nabc UID 9)\r\n", None),
            (b'* 1 FETCH (X-LABEL "a UID 4 (b" UID 6 BODY[] {3}\r\nabc)\r\n', 6),
            (b'* 1 FETCH (X-LABEL "q\\" UID 4" BODY[] {3}\r\nabc)\r\n', None),
            (b"* 1 FETCH (XUID 4 BODY[] {3}\r\nabc)\r\n", None),
            (b"* 1 FETCH (BODY[HEADER] {2}\r\nab UID 7 BODY[] {3}\r\nabc)\r\n", None),
            (b"* 1 FETCH (uid 8 RFC822 {3}\r\nabc)\r\n", 8),
        ]
        for data, expected in rows:
            seen = uids_at_literals(data)
            self.assertEqual(seen[0], expected, data)
            if len(seen) > 1:
                self.assertEqual(seen[1], 7, data)


def uids_at_literals(data: bytes) -> list[int | None]:
    """
    @return: what L{ResponseParser.fetch_uid} says as each literal of
        C{data} starts.
    """
    seen: list[int | None] = []

    def decide(seq: int, section: bytes, size: int) -> bool:
        """
        Record the UID known when each literal starts.
        """
        seen.append(watched.fetch_uid())
        return True

    watched = ResponseParser(stream_literal=decide)
    feed(watched, [data], NEED_DATA)
    return seen


class LargeInputTests(SynchronousTestCase):
    """
    The parser handles the sizes of a large sync: a 20 MB literal and
    10,000 FETCH lines, fed in chunks. How fast is measured in C{bench/},
    not asserted here (a unit test must not fail because the machine is
    busy).
    """

    def test_large_literal(self) -> None:
        """
        A 20 MB literal parses into one body of the right length, fed in
        64 KiB chunks and whole.
        """
        body = b"x" * (20 * 1024 * 1024)
        data = b"* 1 FETCH (UID 5 BODY[] {%d}\r\n" % len(body) + body + b")\r\n"
        for chunk in (65536, len(data)):
            p = ResponseParser()
            events = feed(p, split_at(data, range(chunk, len(data), chunk)), NEED_DATA)
            self.assertEqual(len(events), 1)
            event = events[0]
            assert isinstance(event, FetchResponse)
            self.assertEqual(len(event.items.sections[b""] or b""), len(body))

    def test_many_fetch_flags(self) -> None:
        """
        10,000 FETCH FLAGS lines fed in 64 KiB chunks give 10,000 events,
        none lost or merged at a chunk boundary.
        """
        data = b"".join(
            b"* %d FETCH (UID %d FLAGS (\\Seen $Forwarded))\r\n" % (n, n + 100)
            for n in range(1, 10001)
        )
        events = feed(ResponseParser(), split_at(data, range(65536, len(data), 65536)), NEED_DATA)
        self.assertEqual(len(events), 10000)
        self.assertEqual(
            [e.seq for e in events if isinstance(e, FetchResponse)], list(range(1, 10001))
        )
        self.assertEqual(
            events[-1],
            FetchResponse(10000, FetchItems(uid=10100, flags=(b"\\Seen", b"$Forwarded"))),
        )


#: Listing lines: the usual shape and its neighbours (other orders, other
#: items, values out of range, lowercase, odd flag lists).
LISTING_SHAPES: list[bytes] = [
    b"* 1 FETCH (UID 1 FLAGS () MODSEQ (2))",
    b"* 2 FETCH (UID 7 FLAGS (\\Seen) MODSEQ (2))",
    b"* 3 FETCH (UID 9 FLAGS (\\Seen \\Answered $Junk \\*) MODSEQ (9223372036854775807))",
    b"* 3 FETCH (UID 9 FLAGS (\\Seen) MODSEQ (9223372036854775808))",
    b"* 3 FETCH (UID 9 FLAGS (\\Seen) MODSEQ (0))",
    b"* 3 fetch (uid 9 flags (\\seen) modseq (4))",
    b"* 4 FETCH (UID 10 FLAGS (\\Flagged))",
    b"* 0 FETCH (UID 10 FLAGS ())",
    b"* 5 FETCH (UID 0 FLAGS ())",
    b"* 5 FETCH (UID 4294967296 FLAGS ())",
    b"* 4294967296 FETCH (UID 1 FLAGS ())",
    b"* 6 FETCH (FLAGS (\\Seen) UID 11 MODSEQ (3))",
    b"* 7 FETCH (UID 12 MODSEQ (3) FLAGS (\\Seen))",
    b"* 8 FETCH (UID 13 FLAGS (\\Seen) MODSEQ (3) RFC822.SIZE 5)",
    b"* 9 FETCH (UID 14 FLAGS (\\Seen  \\Draft) MODSEQ (3))",
    b"* 9 FETCH (UID 14 FLAGS ( \\Seen) MODSEQ (3))",
    b"* 9 FETCH (UID 14 FLAGS (\\Seen) MODSEQ (3)) ",
    b"* 9 FETCH (UID 14 FLAGS (\\Se(en) MODSEQ (3))",
    b"* 10 EXISTS",
]


class ListingFetchFastPathTests(SynchronousTestCase):
    """
    A listing's FETCH line in the usual shape
    (L{msync.imap.untagged.LISTING_FETCH}) is not read item by item, and
    gives exactly what the general parser gives.
    """

    def outcome(self, line: bytes) -> list[object] | str:
        """
        @return: the events of C{line} and a tagged OK (fed whole, byte by
            byte and split anywhere), or the error they raise.
        """
        data = line + b"\r\nA1 OK done\r\n"
        try:
            feed(ResponseParser(), [data], NEED_DATA)
        except RemoteProtocolError:
            errors = errors_all_ways(ResponseParser, data, NEED_DATA, RemoteProtocolError)
            return str(errors[0])
        return events_all_ways(ResponseParser, data, NEED_DATA, points=range(1, len(data), 5))

    def test_same_as_general(self) -> None:
        """
        Every shape gives the general parser's events or error.
        """
        fast = [self.outcome(line) for line in LISTING_SHAPES]
        self.patch(responses, "LISTING_FETCH", re.compile(rb"(?!)"))
        general = [self.outcome(line) for line in LISTING_SHAPES]
        for line, one, other in zip(LISTING_SHAPES, fast, general, strict=True):
            self.assertEqual(one, other, line)

    @given(
        st.integers(1, 2**32 - 1),
        st.integers(1, 2**32 - 1),
        st.lists(st.sampled_from([b"\\Seen", b"\\Answered", b"$Junk", b"\\*", b"Old"])),
        st.one_of(st.none(), st.integers(0, 2**63 - 1)),
    )
    @settings(max_examples=50)
    def test_generated(self, seq: int, uid: int, flags: list[bytes], modseq: int | None) -> None:
        """
        Generated usual lines take the fast path and give the general
        parser's value: sequence number, UID, flags as sent, MODSEQ.
        """
        line = b"* %d FETCH (UID %d FLAGS (%s)" % (seq, uid, b" ".join(flags))
        line += b")" if modseq is None else b" MODSEQ (%d))" % modseq
        match = untagged.LISTING_FETCH.match(line)
        assert match is not None
        fetched = untagged.listing_fetch(match)
        self.assertEqual(fetched, responses.parse_response(line, []))
        assert fetched is not None
        self.assertEqual(
            (fetched.seq, fetched.items.uid, fetched.items.flags, fetched.items.modseq),
            (seq, uid, tuple(flags), modseq),
        )

    def test_usual_line_skips_general(self) -> None:
        """
        The usual line never reaches the general parser.
        """
        calls: list[bytes] = []
        general = responses.parse_response

        def counting(text: bytes, literals: list[bytes]) -> object:
            calls.append(text)
            return general(text, literals)

        self.patch(responses, "parse_response", counting)
        feed(ResponseParser(), [b"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (2))\r\n"], NEED_DATA)
        self.assertEqual(calls, [])
