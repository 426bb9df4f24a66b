"""
Feed a sans-IO parser its input whole, one byte at a time, split at given
points, or followed by trailing bytes, and collect the events, so that tests
can assert that every way gives identical events (STYLE.md §7).

Invariants: the parser is drained (C{next_event} until the C{need_data}
sentinel) after every chunk; the feeders never interpret events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol


class Feedable(Protocol):
    """
    A sans-IO parser: bytes in with C{receive_data}, events out with
    C{next_event} until it returns a "need data" sentinel.
    """

    def receive_data(self, data: bytes) -> None:
        """
        Accept more input.
        """

    def next_event(self) -> object:
        """
        Return the next event or the sentinel.
        """


def feed(parser: Feedable, chunks: Iterable[bytes], need_data: object) -> list[object]:
    """
    Feed C{chunks} in order, draining the parser after each.

    @param parser: a fresh parser.
    @param chunks: the input, split.
    @param need_data: the sentinel C{next_event} returns when starved.
    @return: every event, in order. Exceptions from the parser propagate.
    """
    events: list[object] = []
    for chunk in chunks:
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not need_data:
            events.append(event)
    return events


def split_at(data: bytes, points: Iterable[int]) -> list[bytes]:
    """
    Split C{data} at the given offsets (clamped, sorted, duplicates kept).

    @return: the pieces, which join to C{data}.
    """
    cuts = sorted(min(max(point, 0), len(data)) for point in points)
    bounds = [0, *cuts, len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]


def feed_whole(factory: Callable[[], Feedable], data: bytes, need_data: object) -> list[object]:
    """
    @return: the events from feeding C{data} in one call.
    """
    return feed(factory(), [data], need_data)


def feed_bytewise(factory: Callable[[], Feedable], data: bytes, need_data: object) -> list[object]:
    """
    @return: the events from feeding C{data} one byte per call.
    """
    return feed(factory(), [data[i : i + 1] for i in range(len(data))], need_data)


def feed_split(
    factory: Callable[[], Feedable], data: bytes, points: Iterable[int], need_data: object
) -> list[object]:
    """
    @return: the events from feeding C{data} split at C{points}.
    """
    return feed(factory(), split_at(data, points), need_data)


def feed_trailing(
    factory: Callable[[], Feedable], data: bytes, trailing: bytes, need_data: object
) -> list[object]:
    """
    @return: the events from feeding C{data + trailing} in one call, where
        C{trailing} is an incomplete further input that must yield nothing.
    """
    return feed(factory(), [data + trailing], need_data)


def events_all_ways(
    factory: Callable[[], Feedable],
    data: bytes,
    need_data: object,
    points: Sequence[int] = (),
    trailing: bytes = b"",
    normalize: Callable[[list[object]], list[object]] = list,
) -> list[object]:
    """
    Feed C{data} whole, byte by byte, split at C{points} and followed by
    C{trailing}, and require identical events.

    @param normalize: applied to each way's events before comparing (e.g. to
        merge chunk events whose boundaries follow the input's).
    @return: the (normalized) events of the whole feed.
    @raise AssertionError: naming the first way that differs.
    """
    whole = normalize(feed_whole(factory, data, need_data))
    ways = {
        "byte by byte": lambda: feed_bytewise(factory, data, need_data),
        f"split at {list(points)}": lambda: feed_split(factory, data, points, need_data),
        f"with trailing {trailing!r}": lambda: feed_trailing(factory, data, trailing, need_data),
    }
    for name, run in ways.items():
        events = normalize(run())
        if events != whole:
            raise AssertionError(f"fed {name}: {events!r} != whole: {whole!r}")
    return whole


def errors_all_ways(
    factory: Callable[[], Feedable],
    data: bytes,
    need_data: object,
    error: type[BaseException],
) -> list[BaseException]:
    """
    Feed C{data} whole and byte by byte; each must raise C{error}.

    @return: the exceptions raised, whole first.
    @raise AssertionError: if a way raised nothing.
    """
    raised: list[BaseException] = []
    for name, chunks in (("whole", [data]), ("byte by byte", split_at(data, range(len(data))))):
        try:
            feed(factory(), chunks, need_data)
        except error as caught:
            raised.append(caught)
        else:
            raise AssertionError(f"fed {name}, {data!r} raised no {error.__name__}")
    return raised
