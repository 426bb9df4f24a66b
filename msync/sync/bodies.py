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
  - A source held in memory (L{msync.stores.interface.held_chunks}) is
    converted at once, in one call (L{convert_held}), with the same result
    as L{convert_body}.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from zope.interface import implementer

from msync.stores.interface import IMessageSource, held_chunks
from msync.sync.convert import Conversion, MessageConverter, convert_whole

__all__ = [
    "KEEP_CONVERTED",
    "ConvertedSource",
    "KeptSource",
    "convert_body",
    "convert_held",
]

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


def convert_held(source: IMessageSource, conversion: Conversion) -> IMessageSource | None:
    """
    L{convert_body} in one call for a source held in memory (see
    L{msync.stores.interface.held_chunks}) of at most L{KEEP_CONVERTED}
    bytes.

    @return: the converted message (the source itself for an identity
        conversion), or C{None} when it must go through L{convert_body}.
    @raise MessageError: the conversion refuses the message (a tracked
        copy whose header never ends).
    """
    chunks = held_chunks(source)
    if chunks is None or source.size > KEEP_CONVERTED:
        return None
    if conversion.identity:
        return source
    if len(chunks) == 1:
        # The usual small message: converted in one go.
        whole = convert_whole(chunks[0], conversion)
        if whole is not None and len(whole) <= KEEP_CONVERTED:
            return KeptSource([whole], len(whole))
    converter = MessageConverter(conversion)
    kept: list[bytes] = []
    size = 0
    for chunk in chunks:
        converted = converter.feed(chunk)
        if converted:
            kept.append(converted)
            size += len(converted)
        if converter.complete:
            break
    tail = converter.finish()
    if tail:
        kept.append(tail)
        size += len(tail)
    if size > KEEP_CONVERTED:
        return ConvertedSource(source, conversion, size)
    return KeptSource(kept, size)


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

    def held(self) -> list[bytes]:
        """
        The chunks (see L{msync.stores.interface.held_chunks}).
        """
        return self._chunks

    async def chunks(self) -> AsyncIterator[bytes]:
        """
        Yield the chunks.
        """
        for chunk in self._chunks:
            yield chunk
