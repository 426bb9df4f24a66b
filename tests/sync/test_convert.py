# -*- test-case-name: tests.sync.test_convert -*-
"""
Tests for L{msync.sync.convert}: every input is converted whole, one byte
at a time and split at every point, and must give the same output.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import MessageError
from msync.model import LineEnding
from msync.sync.convert import (
    Conversion,
    MessageConverter,
    convert_message,
    convert_whole,
    placeholder_body,
)
from tests.fakes.feeding import split_at

LF, CRLF = LineEnding.LF, LineEnding.CRLF
_BLANK = re.compile(rb"(?:^|\n)\r*\n")
TUID = "AbCdEfGh+/12"


def convert_split(data: bytes, conversion: Conversion, chunks: list[bytes]) -> bytes:
    """
    Feed C{chunks} (which join to C{data}) and collect the output.
    """
    assert b"".join(chunks) == data
    converter = MessageConverter(conversion)
    return b"".join(converter.feed(chunk) for chunk in chunks) + converter.finish()


def byte_by_byte(data: bytes, conversion: Conversion) -> bytes:
    """
    What the converter gives for C{data} fed one byte at a time (line by
    line); raises L{MessageError} where it refuses the message.
    """
    converter = MessageConverter(conversion)
    output = b"".join(converter.feed(data[at : at + 1]) for at in range(len(data)))
    return output + converter.finish()


#: Header lines of every shape the one-piece paths look for: the blank line
#: or the X-TUID line at the very start, after an LF, after CRs, or missing.
HEADER_LINES = st.lists(
    st.sampled_from(
        [
            b"A: 1\n",
            b"B: 2\r\n",
            b"X-TUID: old\n",
            b"x-tuid: OLD\r\n",
            b"X-TUID:x\n",
            b"\n",
            b"\r\n",
            b"\r\r\n",
            b"\r",
            b"Subject: X-TUID: \n",
            b" folded\n",
        ]
    ),
    max_size=8,
)


# (input, conversion, expected output); checked against mbsync 1.4.4's
# copy_msg_convert behaviour as documented in the reference.
ROWS: list[tuple[bytes, Conversion, bytes]] = [
    (b"A: 1\n\nbody\n", Conversion(LF, CRLF), b"A: 1\r\n\r\nbody\r\n"),
    (b"A: 1\r\n\r\nbody\r\n", Conversion(CRLF, LF), b"A: 1\n\nbody\n"),
    (b"a\rb\r\n", Conversion(CRLF, LF), b"ab\n"),
    (b"a\rb\r\n", Conversion(CRLF, CRLF), b"a\rb\r\n"),
    (b"a\rb\n", Conversion(LF, CRLF), b"ab\r\n"),
    (
        b"A: 1\n\nbody\n",
        Conversion(LF, LF, TUID),
        b"A: 1\nX-TUID: " + TUID.encode() + b"\n\nbody\n",
    ),
    (
        b"A: 1\n\nbody\n",
        Conversion(LF, CRLF, TUID),
        b"A: 1\r\nX-TUID: " + TUID.encode() + b"\r\n\r\nbody\r\n",
    ),
    (
        b"A: 1\r\n\r\nbody\r\n",
        Conversion(CRLF, LF, TUID),
        b"A: 1\nX-TUID: " + TUID.encode() + b"\n\nbody\n",
    ),
    (
        b"A: 1\r\n\r\nbody\r\n",
        Conversion(CRLF, CRLF, TUID),
        b"A: 1\r\nX-TUID: " + TUID.encode() + b"\r\n\r\nbody\r\n",
    ),
    # An existing X-TUID line is replaced in place, whatever its case.
    (
        b"A: 1\nx-tuid: oldoldoldold\nB: 2\n\nX-TUID: in body\n",
        Conversion(LF, LF, TUID),
        b"A: 1\nX-TUID: " + TUID.encode() + b"\nB: 2\n\nX-TUID: in body\n",
    ),
    # mbsync's app_cr: no CR on our line if a CRLF source had none before it.
    (
        b"X-TUID: oldoldoldold\r\n\r\nb\r\n",
        Conversion(CRLF, CRLF, TUID),
        b"X-TUID: " + TUID.encode() + b"\n\r\nb\r\n",
    ),
    (b"\nbody\n", Conversion(LF, LF, TUID), b"X-TUID: " + TUID.encode() + b"\n\nbody\n"),
    # Placeholders keep the header, mark the subject and replace the body.
    (
        b"Subject: hello\nA: 1\n\n" + b"x" * 5000,
        Conversion(LF, LF, TUID, placeholder_size=5022),
        b"Subject: [placeholder] hello\nA: 1\nX-TUID: "
        + TUID.encode()
        + b"\n\nHaving a size of 4KiB, this message is over the MaxSize limit.\n"
        b"Flag it and sync again (Sync mode ReNew) to fetch its real contents.\n",
    ),
    (
        b"A: 1\r\nsubject:x\r\n\r\nbody",
        Conversion(CRLF, CRLF, TUID, placeholder_size=2_000_000),
        b"A: 1\r\nsubject:[placeholder] x\r\nX-TUID: "
        + TUID.encode()
        + b"\r\n\r\nHaving a size of 1.9MiB, this message is over the MaxSize limit.\r\n"
        b"Flag it and sync again (Sync mode ReNew) to fetch its real contents.\r\n",
    ),
    (
        b"A: 1\nX-TUID: oldoldoldold\n\nbody\n",
        Conversion(LF, CRLF, TUID, placeholder_size=10),
        b"A: 1\r\nX-TUID: " + TUID.encode() + b"\r\nSubject: [placeholder] (No Subject)\r\n\r\n"
        b"Having a size of 0KiB, this message is over the MaxSize limit.\r\n"
        b"Flag it and sync again (Sync mode ReNew) to fetch its real contents.\r\n",
    ),
]


class ConvertTests(SynchronousTestCase):
    """
    L{MessageConverter} and L{convert_message}.
    """

    def test_rows(self) -> None:
        """
        Each row converts to its expected output, whole, byte by byte and
        split at every single point.
        """
        for data, conversion, expected in ROWS:
            self.assertEqual(convert_message(data, conversion), expected, data)
            bytewise = [data[index : index + 1] for index in range(len(data))]
            self.assertEqual(convert_split(data, conversion, bytewise), expected, data)
            for point in range(len(data) + 1):
                pieces = split_at(data, [point])
                self.assertEqual(convert_split(data, conversion, pieces), expected, (data, point))

    def test_incomplete_header(self) -> None:
        """
        A tracked copy of a message without an empty line after its header
        is refused, as mbsync skips it.
        """
        for conversion in (Conversion(LF, LF, TUID), Conversion(LF, CRLF, TUID, 5)):
            self.assertRaises(MessageError, convert_message, b"A: 1\nB: 2\n", conversion)

    def test_existing_tuid_without_header_end(self) -> None:
        """
        Like mbsync, a full copy stops looking for the header's end once it
        replaced an X-TUID line.
        """
        out = convert_message(b"X-TUID: oldoldoldold\nA: 1\n", Conversion(LF, LF, TUID))
        self.assertEqual(out, b"X-TUID: " + TUID.encode() + b"\nA: 1\n")

    def test_untracked_identity(self) -> None:
        """
        An untracked copy between stores of one convention passes unchanged.
        """
        conversion = Conversion(CRLF, CRLF)
        self.assertTrue(conversion.identity)
        self.assertEqual(convert_message(b"a\r\n\nb", conversion), b"a\r\n\nb")

    def test_placeholder_needs_tuid(self) -> None:
        """
        Placeholders are tracked copies.
        """
        self.assertRaises(ValueError, Conversion, LF, LF, None, 5)

    def test_placeholder_complete(self) -> None:
        """
        A placeholder's converter ignores the body after the header.
        """
        converter = MessageConverter(Conversion(LF, LF, TUID, 100))
        converter.feed(b"Subject: s\n\n")
        self.assertTrue(converter.complete)
        self.assertEqual(converter.feed(b"more body"), b"")

    def test_placeholder_sizes(self) -> None:
        """
        Sizes below 1024000 bytes are whole KiB, larger ones MiB with one
        decimal.
        """
        self.assertTrue(placeholder_body(2047, b"\n").startswith(b"Having a size of 1KiB,"))
        self.assertTrue(placeholder_body(1023999, b"\n").startswith(b"Having a size of 999KiB,"))
        self.assertTrue(placeholder_body(1024000, b"\n").startswith(b"Having a size of 1.0MiB,"))

    @given(
        st.binary(max_size=60).map(lambda data: data.replace(b"\n\n", b"\n") + b"\n\n"),
        st.binary(max_size=60),
        st.sampled_from([LF, CRLF]),
        st.sampled_from([LF, CRLF]),
        st.lists(st.integers(0, 130), max_size=6),
    )
    def test_any_split(
        self, header: bytes, body: bytes, source: LineEnding, target: LineEnding, cuts: list[int]
    ) -> None:
        """
        Any message gives the same output however it is split, and the body
        is converted byte for byte.
        """
        data = header + body
        conversion = Conversion(source, target, TUID)
        try:
            expected = convert_message(data, conversion)
        except MessageError:
            return
        self.assertEqual(convert_split(data, conversion, split_at(data, cuts)), expected)
        self.assertEqual(expected.count(b"X-TUID: " + TUID.encode()), 1)

    @given(
        HEADER_LINES,
        st.sampled_from([LF, CRLF]),
        st.sampled_from([LF, CRLF]),
    )
    def test_header_in_one_chunk(
        self, lines: list[bytes], source: LineEnding, target: LineEnding
    ) -> None:
        """
        A header given whole in one chunk (found with one search for its
        end and one for an X-TUID line) converts exactly as the same
        message fed one byte at a time (line by line): the blank line or
        the X-TUID line at the very start, after an LF, after CRs, or
        missing.
        """
        data = b"".join(lines) + b"body\r\n"
        conversion = Conversion(source, target, TUID)
        try:
            expected = byte_by_byte(data, conversion)
        except MessageError:
            self.assertRaises(MessageError, convert_split, data, conversion, [data])
            return
        self.assertEqual(convert_split(data, conversion, [data]), expected)


class ConvertWholeTests(SynchronousTestCase):
    """
    L{convert_whole} gives what the converter gives fed one byte at a time.
    """

    @given(
        HEADER_LINES,
        st.binary(max_size=40),
        st.sampled_from([LF, CRLF]),
        st.sampled_from([LF, CRLF]),
    )
    def test_same_as_converter(
        self, lines: list[bytes], body: bytes, source: LineEnding, target: LineEnding
    ) -> None:
        """
        For every header shape (the blank line or the X-TUID line at the
        very start, after an LF, after CRs, or missing) and any body,
        L{convert_whole} gives the converter's output, or C{None} where
        the converter refuses the message or no blank line ends the header.
        """
        data = b"".join(lines) + body
        conversion = Conversion(source, target, TUID)
        expected: bytes | None
        try:
            expected = byte_by_byte(data, conversion)
        except MessageError:
            expected = None
        whole = convert_whole(data, conversion)
        if whole is not None or expected is None:
            self.assertEqual(whole, expected)
        else:
            # Left to the converter: only where no line ends the header
            # (an X-TUID line without a blank line after it).
            self.assertIsNone(_BLANK.search(data))

    def test_not_applicable(self) -> None:
        """
        Untracked copies and placeholders are left to the converter.
        """
        data = b"A: 1\n\nbody\n"
        self.assertIsNone(convert_whole(data, Conversion(LF, CRLF)))
        self.assertIsNone(convert_whole(data, Conversion(LF, LF, TUID, placeholder_size=10)))

    def test_rows(self) -> None:
        """
        The table's tracked full copies come out as the table says.
        """
        for data, conversion, expected in ROWS:
            if conversion.tuid is not None and conversion.placeholder_size is None:
                self.assertEqual(convert_whole(data, conversion), expected)
