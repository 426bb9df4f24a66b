# -*- test-case-name: tests.sync.test_bodies -*-
"""
Tests for L{msync.sync.bodies}: bodies converted while they stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from msync.errors import MessageError
from msync.model import LineEnding
from msync.stores.interface import IMessageSource, held_chunks
from msync.sync import bodies
from msync.sync.bodies import ConvertedSource, KeptSource, convert_body, convert_held
from msync.sync.convert import Conversion


@implementer(IMessageSource)
class ChunkedSource:
    """
    A re-readable source yielding fixed chunks, counting its passes.
    """

    def __init__(self, data: bytes, chunk: int = 3) -> None:
        self.data = data
        self.size = len(data)
        self.chunk = chunk
        self.passes = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        """
        Yield the data in pieces.
        """
        self.passes += 1
        for start in range(0, len(self.data), self.chunk):
            yield self.data[start : start + self.chunk]


def read(case: SynchronousTestCase, source: IMessageSource) -> bytes:
    """
    All of C{source}'s chunks, joined.
    """

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in source.chunks()])

    return case.successResultOf(Deferred.fromCoroutine(collect()))


MESSAGE = b"Subject: a\r\n\r\nbody\r\n"
CONVERSION = Conversion(LineEnding.CRLF, LineEnding.LF, tuid="TUID00000001")
CONVERTED = b"Subject: a\nX-TUID: TUID00000001\n\nbody\n"


class ConvertBodyTests(SynchronousTestCase):
    """
    L{convert_body}.
    """

    def test_identity(self) -> None:
        """
        A conversion that changes nothing passes the source itself on.
        """
        source = ChunkedSource(MESSAGE)
        got = Deferred.fromCoroutine(
            convert_body(source, Conversion(LineEnding.CRLF, LineEnding.CRLF))
        )
        self.assertIs(self.successResultOf(got), source)
        self.assertEqual(source.passes, 0)

    def test_small_kept(self) -> None:
        """
        A small message is converted once, measured, and kept in memory.
        """
        source = ChunkedSource(MESSAGE)
        got = self.successResultOf(Deferred.fromCoroutine(convert_body(source, CONVERSION)))
        self.assertIsInstance(got, KeptSource)
        verifyObject(IMessageSource, got)
        self.assertEqual(got.size, len(CONVERTED))
        self.assertEqual(read(self, got), CONVERTED)
        self.assertEqual(source.passes, 1)

    def test_big_streamed(self) -> None:
        """
        A message bigger than KEEP_CONVERTED is measured in a first pass and
        converted again while the target reads it.
        """
        self.patch(bodies, "KEEP_CONVERTED", 8)
        source = ChunkedSource(MESSAGE)
        got = self.successResultOf(Deferred.fromCoroutine(convert_body(source, CONVERSION)))
        self.assertIsInstance(got, ConvertedSource)
        verifyObject(IMessageSource, got)
        self.assertEqual(got.size, len(CONVERTED))
        self.assertEqual(read(self, got), CONVERTED)
        self.assertEqual(source.passes, 2)


class HeldSource(ChunkedSource):
    """
    A L{ChunkedSource} that also offers its chunks held in memory.
    """

    def held(self) -> list[bytes]:
        """
        The chunks C{chunks} would yield.
        """
        return [self.data[at : at + self.chunk] for at in range(0, len(self.data), self.chunk)]


class ConvertHeldTests(SynchronousTestCase):
    """
    L{convert_held}: L{convert_body} in one call for a source held in
    memory.
    """

    def test_same_as_convert_body(self) -> None:
        """
        For every conversion (tracked or not, line endings either way, a
        placeholder) and chunking, the held conversion gives the bytes and
        size L{convert_body} gives, without a pass over C{chunks()}.
        """
        messages = [
            MESSAGE,
            b"Subject: a\nX-TUID: OLDOLDOLDOLD\nTo: b\n\nbody\nmore\n",
            b"From: c\r\nSubject: long " + b"x" * 300 + b"\r\n\r\n" + b"y\r\n" * 200,
        ]
        conversions = [
            CONVERSION,
            Conversion(LineEnding.LF, LineEnding.CRLF, tuid="TUID00000002"),
            Conversion(LineEnding.LF, LineEnding.CRLF),
            Conversion(LineEnding.CRLF, LineEnding.LF, tuid="TUID00000003", placeholder_size=9000),
        ]
        checked = 0
        for message in messages:
            for conversion in conversions:
                for chunk in (1, 3, 64, 100000):
                    source = HeldSource(message, chunk)
                    got = convert_held(source, conversion)
                    assert got is not None
                    self.assertEqual(source.passes, 0)
                    streamed = self.successResultOf(
                        Deferred.fromCoroutine(convert_body(ChunkedSource(message), conversion))
                    )
                    self.assertEqual(
                        (got.size, read(self, got)), (streamed.size, read(self, streamed))
                    )
                    checked += 1
        self.assertEqual(checked, 48)

    def test_identity(self) -> None:
        """
        A conversion that changes nothing passes the held source itself on.
        """
        source = HeldSource(MESSAGE)
        self.assertIs(convert_held(source, Conversion(LineEnding.LF, LineEnding.LF)), source)

    def test_not_held(self) -> None:
        """
        A source without held chunks, or one bigger than KEEP_CONVERTED, is
        left to L{convert_body}.
        """
        self.assertIsNone(convert_held(ChunkedSource(MESSAGE), CONVERSION))

        class Elsewhere(HeldSource):
            def held(self) -> None:  # type: ignore[override]
                return None

        self.assertIsNone(convert_held(Elsewhere(MESSAGE), CONVERSION))
        self.patch(bodies, "KEEP_CONVERTED", 8)
        self.assertIsNone(convert_held(HeldSource(MESSAGE), CONVERSION))

    def test_kept_is_held(self) -> None:
        """
        The converted message is held in turn: a Maildir target takes its
        chunks without reading it through C{chunks()}.
        """
        got = convert_held(HeldSource(MESSAGE), CONVERSION)
        self.assertIsInstance(got, KeptSource)
        assert got is not None
        self.assertEqual(b"".join(held_chunks(got) or []), CONVERTED)

    def test_incomplete_header(self) -> None:
        """
        A tracked copy of a message whose header never ends is refused, as
        by L{convert_body}.
        """
        self.assertRaises(MessageError, convert_held, HeldSource(b"Subject: no end\n"), CONVERSION)
