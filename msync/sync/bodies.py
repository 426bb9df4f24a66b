# -*- test-case-name: tests.sync.test_bodies -*-
"""
Message bodies converted for their target store while they stream (line
endings, the C{X-TUID} header, MaxSize placeholders: L{msync.sync.convert}).

Invariants:
  - A source is read in the chunks its store yields; nothing holds a whole
    message unless it is at most L{KEEP_CONVERTED} bytes converted.
  - The converted size is known before the target store reads the body
    (L{convert_body} measures it with a first pass; the source is
    re-readable).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from zope.interface import implementer

from msync.stores.interface import IMessageSource
from msync.sync.convert import Conversion, MessageConverter

__all__ = ["KEEP_CONVERTED", "ConvertedSource", "KeptSource", "convert_body"]

#: Converted messages up to this size are kept from the measuring pass and
#: stored from memory, instead of being converted a second time.
KEEP_CONVERTED = 1024 * 1024


@implementer(IMessageSource)
class ConvertedSource:
    """
    A message converted for its target store while it streams.
    """

    def __init__(self, body: IMessageSource, conversion: Conversion, size: int) -> None:
        self._body = body
        self._conversion = conversion
        self.size = size

    async def chunks(self) -> AsyncIterator[bytes]:
        """
        Convert one pass over the source.
        """
        converter = MessageConverter(self._conversion)
        async for chunk in self._body.chunks():
            converted = converter.feed(chunk)
            if converted:
                yield converted
            if converter.complete:
                break
        tail = converter.finish()
        if tail:
            yield tail


async def convert_body(body: IMessageSource, conversion: Conversion) -> IMessageSource:
    """
    Wrap C{body} for its target, measuring the converted size with a
    first pass (the source is re-readable).
    """
    if conversion.identity:
        return body
    size = 0
    kept: list[bytes] | None = []
    async for chunk in ConvertedSource(body, conversion, 0).chunks():
        size += len(chunk)
        if kept is not None and size <= KEEP_CONVERTED:
            kept.append(chunk)
        else:
            kept = None
    if kept is not None:
        return KeptSource(kept, size)
    return ConvertedSource(body, conversion, size)


@implementer(IMessageSource)
class KeptSource:
    """
    A converted message held in memory, as the chunks it was converted in.
    """

    def __init__(self, chunks: list[bytes], size: int) -> None:
        self._chunks = chunks
        self.size = size

    async def chunks(self) -> AsyncIterator[bytes]:
        """
        Yield the chunks.
        """
        for chunk in self._chunks:
            yield chunk
