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

from msync.model import LineEnding
from msync.stores.interface import IMessageSource
from msync.sync import bodies
from msync.sync.bodies import ConvertedSource, KeptSource, convert_body
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
