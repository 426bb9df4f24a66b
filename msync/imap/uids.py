# -*- test-case-name: tests.imap.test_uids -*-
"""
UID ranges and sets as values, their encoding to IMAP sequence-sets, and
their splitting into parts short enough for one command line (sans-IO).

Invariants:
  - Pure: no I/O; the same UIDs always encode to the same bytes.
  - Every UID is in C{1..MAX_UID} (RFC 3501 §2.3.1.1); a range's last UID
    is at least its first; only the last range of a set may end in C{*}.
  - L{UIDSet.of} gives the fewest ranges, in ascending order.
  - Each part from L{UIDSet.split} (and each command from
    L{split_by_uid_set}) encodes to at most C{max_chars} characters
    (L{MAX_UID_SET_CHARS} by default), and the parts keep the set's order.
  - L{UIDCover} answers membership and overlap in O(log n) and O(n + m)
    for sets of n and m ranges; C{*} stands for every UID from the
    range's first up (RFC 3501 §9 seq-number: the largest UID in use).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import groupby
from typing import TypeAlias, TypeVar

from msync.errors import LocalProtocolError
from msync.records import record

__all__ = [
    "MAX_UID",
    "MAX_UID_SET_CHARS",
    "UIDCover",
    "UIDRange",
    "UIDSet",
    "UIDs",
    "split_by_uid_set",
]

_T = TypeVar("_T")

#: mbsync keeps UID sets in one command at most this long, so that the
#: whole command line stays under 1000 octets (RFC 2683 §3.2.1.5).
MAX_UID_SET_CHARS = 960

#: The largest UID (RFC 3501 §2.3.1.1: a 32-bit value).
MAX_UID = 2**32 - 1


@record
class UIDRange:
    """
    A contiguous range of UIDs, C{first:last}; C{last=None} means C{*}.

    @ivar first: the lowest UID, at least 1.
    @ivar last: the highest UID, or C{None} for "up to the last message".
    """

    first: int
    last: int | None

    def __post_init__(self) -> None:
        if not 1 <= self.first <= MAX_UID:
            raise LocalProtocolError(f"UID {self.first} is out of range")
        if self.last is not None and not self.first <= self.last <= MAX_UID:
            raise LocalProtocolError(f"UID range {self.first}:{self.last} is invalid")

    def encode(self) -> bytes:
        """
        @return: C{b"7"}, C{b"1:5"} or C{b"9:*"}.
        """
        if self.last is None:
            return b"%d:*" % (self.first,)
        if self.last == self.first:
            return b"%d" % (self.first,)
        return b"%d:%d" % (self.first, self.last)


@record
class UIDSet:
    """
    A UID set: ranges in ascending order; only the last may be open.

    @ivar ranges: the ranges, joined by commas on the wire.
    """

    ranges: tuple[UIDRange, ...]

    def __post_init__(self) -> None:
        if any(each.last is None for each in self.ranges[:-1]):
            raise LocalProtocolError("only the last range of a UID set may end in *")

    @classmethod
    def of(cls, uids: Iterable[int]) -> UIDSet:
        """
        Compact UIDs into the fewest ranges: C{[1, 2, 3, 5]} → C{1:3,5}.

        @param uids: UIDs in any order; duplicates are ignored.
        """
        # Consecutive UIDs share the same difference to their index.
        runs = groupby(enumerate(sorted(set(uids))), key=lambda pair: pair[1] - pair[0])
        bounds = ([uid for _, uid in run] for _, run in runs)
        return cls(tuple(UIDRange(run[0], run[-1]) for run in bounds))

    def encode(self) -> bytes:
        """
        @return: the sequence-set, e.g. C{b"1:5,7,9:12"}.
        @raise LocalProtocolError: if the set is empty.
        """
        if not self.ranges:
            raise LocalProtocolError("a UID set cannot be empty")
        return b",".join(each.encode() for each in self.ranges)

    def split(self, max_chars: int = MAX_UID_SET_CHARS) -> tuple[UIDSet, ...]:
        """
        Split into consecutive sets each encoding to at most C{max_chars}.

        @return: the parts, in order; none for an empty set.
        """
        parts: list[UIDSet] = []
        current: list[UIDRange] = []
        length = 0
        for each in self.ranges:
            size = len(each.encode()) + (1 if current else 0)
            if current and length + size > max_chars:
                parts.append(UIDSet(tuple(current)))
                current, length, size = [], 0, size - 1
            current.append(each)
            length += size
        if current:
            parts.append(UIDSet(tuple(current)))
        return tuple(parts)


#: What UID commands accept: a set or a single range.
UIDs: TypeAlias = UIDSet | UIDRange


@record
class UIDCover:
    """
    The UIDs a set or range names, merged into disjoint ascending
    intervals, for asking which command a UID belongs to.

    @ivar firsts: each interval's first UID, ascending.
    @ivar lasts: each interval's last UID (L{MAX_UID} for C{*}).
    @ivar open: whether the set ends in C{*}.
    """

    firsts: tuple[int, ...]
    lasts: tuple[int, ...]
    open: bool

    @classmethod
    def of(cls, uids: UIDs) -> UIDCover:
        """
        @return: the cover of C{uids}, which may list ranges in any order
            and overlapping.
        """
        ranges = uids.ranges if isinstance(uids, UIDSet) else (uids,)
        bounds = sorted(
            (each.first, MAX_UID if each.last is None else each.last) for each in ranges
        )
        firsts: list[int] = []
        lasts: list[int] = []
        for first, last in bounds:
            if lasts and first <= lasts[-1] + 1:
                lasts[-1] = max(lasts[-1], last)
            else:
                firsts.append(first)
                lasts.append(last)
        opened = any(each.last is None for each in ranges)
        return cls(tuple(firsts), tuple(lasts), opened)

    def __contains__(self, uid: object) -> bool:
        """
        @return: whether C{uid} is one of the UIDs named.
        """
        if not isinstance(uid, int):
            return False
        index = bisect_right(self.firsts, uid) - 1
        return index >= 0 and uid <= self.lasts[index]

    def overlaps(self, other: UIDCover) -> bool:
        """
        @return: whether some UID is named by both covers.
        """
        if len(self.firsts) == 1 == len(other.firsts):
            # The common case (one message, or one range, each).
            return self.firsts[0] <= other.lasts[0] and other.firsts[0] <= self.lasts[0]
        mine, theirs = 0, 0
        while mine < len(self.firsts) and theirs < len(other.firsts):
            if self.lasts[mine] < other.firsts[theirs]:
                mine += 1
            elif other.lasts[theirs] < self.firsts[mine]:
                theirs += 1
            else:
                return True
        return False


def split_by_uid_set(
    uids: UIDSet | Iterable[int],
    build: Callable[[UIDSet], _T],
    *,
    max_chars: int = MAX_UID_SET_CHARS,
) -> tuple[_T, ...]:
    """
    Build as many commands as needed so no UID set exceeds C{max_chars}.

    @param uids: a set, or UIDs in any order (compacted here).
    @param build: makes one command from one part, e.g.
        C{lambda part: Command.uid_fetch(part, (b"FLAGS",))}.
    @return: the commands in ascending UID order; none for no UIDs.
    """
    whole = uids if isinstance(uids, UIDSet) else UIDSet.of(uids)
    return tuple(build(part) for part in whole.split(max_chars))
