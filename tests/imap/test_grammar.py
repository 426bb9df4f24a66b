"""
Tests for L{msync.imap.grammar}: the tokens of one response and response
codes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import RemoteProtocolError
from msync.imap.grammar import MAX_NESTING, Reader, quote_bytes, response_code, response_text
from msync.imap.values import (
    STAR,
    AppendUIDCode,
    CapabilityCode,
    CopyUIDCode,
    HighestModSeqCode,
    OtherCode,
    PermanentFlagsCode,
    PlainCode,
    ResponseCode,
    UIDNextCode,
    UIDValidityCode,
    UnseenCode,
)

# (method, text, literals, expected value, expected offset after reading)
TOKENS: list[tuple[Callable[[Reader], object], bytes, tuple[bytes, ...], object, int]] = [
    (Reader.atom, b"IMAP4rev1 x", (), b"IMAP4rev1", 9),
    (Reader.atom, b"AUTH=PLAIN]", (), b"AUTH=PLAIN", 10),
    (Reader.keyword, b"fetch (", (), b"FETCH", 5),
    (Reader.tag, b"a001 OK", (), b"a001", 4),
    (Reader.tag, b"A]1 OK", (), b"A]1", 3),
    (Reader.number, b"0", (), 0, 1),
    (Reader.number, b"4294967295)", (), 4294967295, 10),
    (Reader.nz_number, b"17 ", (), 17, 2),
    (Reader.quoted, b'"" x', (), b"", 2),
    (Reader.quoted, b'"a \\"b\\" \\\\c"', (), b'a "b" \\c', 13),
    (Reader.quoted, b'"Gr\xc3\xbc\xc3\x9fe"', (), "Grüße".encode(), 9),
    (Reader.literal, b"{5}\r\n)", (b"ab\r\nc",), b"ab\r\nc", 5),
    (Reader.literal, b"~{3}\r\n", (b"\x00\x01\x02",), b"\x00\x01\x02", 6),
    (Reader.literal, b"{0}\r\n", (b"",), b"", 5),
    (Reader.string, b'"x"', (), b"x", 3),
    (Reader.string, b"{1}\r\n", (b"y",), b"y", 5),
    (Reader.astring, b"INBOX.Sent]", (), b"INBOX.Sent]", 11),
    (Reader.astring, b'"a b"', (), b"a b", 5),
    (Reader.astring, b"{3}\r\n", (b"a b",), b"a b", 5),
    (Reader.nstring, b"NIL)", (), None, 3),
    (Reader.nstring, b"nil", (), None, 3),
    (Reader.nstring, b'"NIL"', (), b"NIL", 5),
    (Reader.mailbox, b"iNbOx", (), b"INBOX", 5),
    (Reader.mailbox, b'"Inbox"', (), b"INBOX", 7),
    (Reader.mailbox, b"INBOX.Sent", (), b"INBOX.Sent", 10),
    (Reader.flag, b"\\Seen)", (), b"\\Seen", 5),
    (Reader.flag, b"\\*)", (), b"\\*", 2),
    (Reader.flag, b"$Junk ", (), b"$Junk", 5),
    (Reader.flag_list, b"() x", (), (), 2),
    (Reader.flag_list, b"(\\Seen $Fwd \\*)", (), (b"\\Seen", b"$Fwd", b"\\*"), 15),
    (Reader.atoms, b" A B ", (), (b"A", b"B"), 5),
    (Reader.atoms, b"", (), (), 0),
    (Reader.sequence_set, b"1", (), ((1, 1),), 1),
    (Reader.sequence_set, b"1:3,7,9:*", (), ((1, 3), (7, 7), (9, STAR)), 9),
    (Reader.sequence_set, b"5:2,*:3,*", (), ((2, 5), (3, STAR), (STAR, STAR)), 9),
    (Reader.text, b"any text [x] {3}", (), b"any text [x] {3}", 16),
    (Reader.section, b"[]", (), b"", 2),
    (Reader.section, b"[text]", (), b"TEXT", 6),
    (Reader.section, b"[1.2.mime]", (), b"1.2.MIME", 10),
    (Reader.section, b'[HEADER.FIELDS.NOT ("X-TUID"  ', (), None, -1),
    (
        Reader.section,
        b'[header.fields (x-tuid "Message-ID")]',
        (),
        b"HEADER.FIELDS (X-TUID MESSAGE-ID)",
        37,
    ),
    (Reader.value, b"NIL", (), None, 3),
    (Reader.value, b"42", (), 42, 2),
    (Reader.value, b"12345678901234567890123", (), b"12345678901234567890123", 23),
    (
        Reader.value,
        b'(1 "two" (three NIL) {4}\r\n)',
        (b"four",),
        (1, b"two", (b"three", None), b"four"),
        27,
    ),
    (Reader.value, b"(() ())", (), ((), ()), 7),
    (Reader.value, b"\\Seen", (), b"\\Seen", 5),
]

BAD_TOKENS: list[tuple[Callable[[Reader], object], bytes, tuple[bytes, ...]]] = [
    (Reader.atom, b"", ()),
    (Reader.atom, b"(x", ()),
    (Reader.atom, b"\xe9t\xe9", ()),
    (Reader.tag, b"+ x", ()),
    (Reader.number, b"x1", ()),
    (Reader.number, b"4294967296", ()),
    (Reader.nz_number, b"0", ()),
    (Reader.quoted, b'"abc', ()),
    (Reader.quoted, b'"a\\b"', ()),
    (Reader.quoted, b'"a\r\nb"', ()),
    (Reader.literal, b"{3}\r\n", ()),
    (Reader.literal, b"{3}\r\n", (b"ab",)),
    (Reader.literal, b"{3}", (b"abc",)),
    (Reader.literal, b"{-3}\r\n", (b"abc",)),
    (Reader.literal, b"{1}\r\n", (None,)),  # type: ignore[list-item]  # a streamed literal
    (Reader.nstring, b"NUL", ()),
    (Reader.flag_list, b"(\\Seen", ()),
    (Reader.flag_list, b"(\\Seen  \\Draft)", ()),
    (Reader.flag_list, b"(\\Se(en)", ()),
    (Reader.sequence_set, b"0", ()),
    (Reader.sequence_set, b"4294967296", ()),
    (Reader.sequence_set, b":3", ()),
    (Reader.section, b"[HEADER", ()),
    (Reader.section, b"HEADER]", ()),
    (Reader.value, b"(1 2", ()),
    (Reader.value, b")", ()),
    (Reader.value, b"(" * (MAX_NESTING + 1) + b")" * (MAX_NESTING + 1), ()),
    (Reader.date_time, b'"17-Jul-1996 02:44:25"', ()),
    (Reader.date_time, b'"17-Jul-1996 02:44:25 +9900"', ()),
    (Reader.date_time, b'"30-Feb-1996 02:44:25 +0000"', ()),
    (Reader.date_time, b'"17-Jux-1996 02:44:25 +0000"', ()),
    (Reader.date_time, b"17-Jul-1996", ()),
]


class ReaderTests(SynchronousTestCase):
    """
    L{Reader} reads each token of RFC 3501 §9.
    """

    def test_tokens(self) -> None:
        """
        Each row's method returns the expected value and stops at the
        expected offset (-1: the row must fail).
        """
        for method, text, literals, expected, end in TOKENS:
            reader = Reader(text, literals)
            if end < 0:
                self.assertRaises(RemoteProtocolError, method, reader)
                continue
            self.assertEqual((method(reader), reader.pos), (expected, end), text)

    def test_bad_tokens(self) -> None:
        """
        Each malformed row raises L{RemoteProtocolError} naming the offset.
        """
        for method, text, literals in BAD_TOKENS:
            error = self.assertRaises(RemoteProtocolError, method, Reader(text, literals))
            self.assertIn("at offset", str(error))

    def test_streamed_literal(self) -> None:
        """
        A streamed literal reads as C{b""} where streaming is allowed, and
        L{Reader.last_literal_streamed} says so.
        """
        reader = Reader(b"{4}\r\n", [None])
        self.assertEqual(reader.nstring(streamable=True), b"")
        self.assertTrue(reader.last_literal_streamed)

    def test_date_time(self) -> None:
        """
        INTERNALDATE parses to an aware datetime and keeps the raw text;
        a space-padded day is accepted.
        """
        reader = Reader(b'" 7-jul-1996 02:44:25 +0530"')
        self.assertEqual(
            reader.date_time(),
            (
                datetime(1996, 7, 7, 2, 44, 25, tzinfo=timezone(timedelta(hours=5, minutes=30))),
                b" 7-jul-1996 02:44:25 +0530",
            ),
        )

    def test_expect_end(self) -> None:
        """
        L{Reader.expect_end} refuses leftover bytes.
        """
        reader = Reader(b"ab")
        reader.expect(b"a")
        self.assertRaises(RemoteProtocolError, reader.expect_end)
        reader.expect(b"b")
        reader.expect_end()

    def test_quote_bytes(self) -> None:
        """
        Long data is truncated in error messages, with its length.
        """
        self.assertEqual(quote_bytes(b"abc"), "b'abc'")
        self.assertEqual(quote_bytes(b"x" * 100, 4), "b'xxxx'... (100 bytes)")

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=40), st.lists(st.binary(max_size=5), max_size=3))
    def test_fuzz_value(self, text: bytes, literals: list[bytes]) -> None:
        """
        L{Reader.value} on random bytes returns or raises
        L{RemoteProtocolError}, nothing else.
        """
        try:
            Reader(text, literals).value()
        except RemoteProtocolError:
            pass


CODES: list[tuple[bytes, ResponseCode]] = [
    (b"[ALERT]", PlainCode(b"ALERT")),
    (b"[read-only]", PlainCode(b"READ-ONLY")),
    (b"[UIDVALIDITY 3857529045]", UIDValidityCode(3857529045)),
    (b"[UIDNEXT 4392]", UIDNextCode(4392)),
    (b"[UNSEEN 12]", UnseenCode(12)),
    (b"[HIGHESTMODSEQ 90060115205545359]", HighestModSeqCode(90060115205545359)),
    (b"[PERMANENTFLAGS ()]", PermanentFlagsCode(())),
    (b"[CAPABILITY imap4rev1 IDLE]", CapabilityCode(frozenset({b"IMAP4REV1", b"IDLE"}))),
    (b"[APPENDUID 1 2:4]", AppendUIDCode(1, ((2, 4),))),
    (b"[COPYUID 9 1,3 5:6]", CopyUIDCode(9, ((1, 1), (3, 3)), ((5, 6),))),
    (b"[REFERRAL imap://x/]", OtherCode(b"REFERRAL", b"imap://x/")),
    (b"[X-FOO]", OtherCode(b"X-FOO", None)),
]
BAD_CODES = [
    b"[UIDVALIDITY]",
    b"[UIDVALIDITY x]",
    b"[UNSEEN 0]",
    b"[PERMANENTFLAGS \\Seen]",
    b"[APPENDUID 1 *]",
    b"[COPYUID 9 1]",
    b"[ALERT extra]",
    b"[HIGHESTMODSEQ 99999999999999999999]",
    b"[]",
    b"[X-FOO bar",
]


class ResponseCodeTests(SynchronousTestCase):
    """
    L{response_code} and L{response_text}.
    """

    def test_codes(self) -> None:
        """
        Each code parses to its typed value and consumes the brackets.
        """
        for text, expected in CODES:
            reader = Reader(text)
            self.assertEqual(response_code(reader), expected, text)
            reader.expect_end()

    def test_bad_codes(self) -> None:
        """
        Known codes with malformed arguments raise L{RemoteProtocolError}.
        """
        for text in BAD_CODES:
            self.assertRaises(RemoteProtocolError, response_code, Reader(text))

    def test_code_names(self) -> None:
        """
        Every code value has a C{name}.
        """
        for text, expected in CODES:
            self.assertEqual(expected.name, text[1:].split(b"]")[0].split(b" ")[0].upper())

    def test_response_text(self) -> None:
        """
        Text with and without a code, with no SP after the code, and empty.
        """
        rows = [
            (b" hello", (None, b"hello")),
            (b" [ALERT] hello", (PlainCode(b"ALERT"), b"hello")),
            (b" [ALERT]hello", (PlainCode(b"ALERT"), b"hello")),
            (b" [ALERT]", (PlainCode(b"ALERT"), b"")),
            (b"", (None, b"")),
        ]
        for text, expected in rows:
            self.assertEqual(response_text(Reader(text)), expected)
