# -*- test-case-name: tests.stores.test_listingcache -*-
"""
The IMAP box listing kept between runs for CONDSTORE (RFC 7162): the UID
and flags of every message of a box as of one mod-sequence, so the next run
asks the server only for what changed since (C{CHANGEDSINCE}).

The file lives next to the pair's state file (C{<state>.msync-far} or
C{.msync-near}) and is msync's alone: mbsync's state file is never touched,
and mbsync ignores this one. It describes the *server*, not the sync: it is
valid whoever changed the box since (mbsync, another client, msync), because
every change raises the mod-sequence. It is therefore used only as a
starting point that the server brings up to date, and a file that is
missing, truncated, corrupt, of another UIDVALIDITY, or ahead of the
server's mod-sequence means a full load.

Format (one machine only, native byte order): a header line
C{msync-listing 1 <uidvalidity> <modseq> <count>\\n}, then C{count} UIDs as
unsigned 32-bit integers, then C{count} flag bytes (L{Flags} bits), then the
CRC-32 of everything before it as 4 bytes. UIDs ascend strictly.

Per message the listing holds 5 bytes (two flat arrays), not an object.
So does the answer of the FETCH that makes or updates it (L{ListingAnswer}):
each FETCH response is added to two columns as it arrives, never kept.
"""

from __future__ import annotations

import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import field
from operator import lt

from msync.records import mutable_record

MAGIC = b"msync-listing"
VERSION = 1


def _uids(values: Iterable[int] = ()) -> array[int]:
    return array("I", values)


@mutable_record
class Listing:
    """
    UIDs and flags of a whole box, as of C{modseq}.

    @ivar uid_validity: the box's UIDVALIDITY.
    @ivar modseq: every change up to this mod-sequence is reflected.
    @ivar uids: ascending UIDs.
    @ivar flags: the L{msync.model.Flags} bits of each UID, same order.
    """

    uid_validity: int
    modseq: int
    uids: array[int] = field(default_factory=_uids)
    flags: bytearray = field(default_factory=bytearray)

    def __len__(self) -> int:
        return len(self.uids)

    def items(self) -> Iterator[tuple[int, int]]:
        """
        @return: C{(uid, flags)} pairs in ascending UID order.
        """
        return zip(self.uids, self.flags, strict=True)

    def updated(self, changes: dict[int, int], modseq: int) -> Listing:
        """
        A listing with C{changes} (UID → flags, changed or new messages)
        applied, as of C{modseq}. Messages not named keep their flags.
        """
        uids, flags = _uids(self.uids), bytearray(self.flags)
        pending = sorted(changes.items())
        last = uids[-1] if uids else 0
        added = []
        # A few changes to a big box: each looked up, new UIDs (above every
        # listed one, as IMAP assigns them) appended; no loop over the box.
        for uid, value in pending:
            if uid > last:
                added.append((uid, value))
                continue
            index = bisect_left(uids, uid)
            if index < len(uids) and uids[index] == uid:
                flags[index] = value
            else:
                return self._merged(pending, modseq)
        uids.extend(uid for uid, _ in added)
        flags.extend(value for _, value in added)
        return Listing(self.uid_validity, modseq, uids, flags)

    def _merged(self, pending: list[tuple[int, int]], modseq: int) -> Listing:
        """
        L{updated} by one merge of the listing with the sorted C{pending}.
        """
        uids, flags = _uids(), bytearray()
        index = 0
        for uid, old in self.items():
            while index < len(pending) and pending[index][0] < uid:
                uids.append(pending[index][0])
                flags.append(pending[index][1])
                index += 1
            if index < len(pending) and pending[index][0] == uid:
                old = pending[index][1]
                index += 1
            uids.append(uid)
            flags.append(old)
        for uid, value in pending[index:]:
            uids.append(uid)
            flags.append(value)
        return Listing(self.uid_validity, modseq, uids, flags)

    def without(self, ranges: Iterable[tuple[int, int]]) -> Listing:
        """
        A listing without the UIDs in C{ranges} (inclusive; expunged,
        QRESYNC's C{VANISHED}), as of the same mod-sequence.
        """
        gone = sorted(ranges)
        if not gone:
            return self
        uids, flags = _uids(self.uids), bytearray(self.flags)
        # From the highest range down, each cut out where bisection finds
        # it (no loop over the box).
        for first, last in reversed(gone):
            start = bisect_left(uids, first)
            end = bisect_left(uids, last + 1) if last >= first else start
            if end > start:
                del uids[start:end]
                del flags[start:end]
        return Listing(self.uid_validity, self.modseq, uids, flags)

    def get(self, uid: int) -> int | None:
        """
        @return: the flags of C{uid}, or C{None} if it is not listed.
        """
        index = bisect_left(self.uids, uid)
        if index < len(self.uids) and self.uids[index] == uid:
            return self.flags[index]
        return None


#: A L{ListingAnswer} mark bit: the message is C{\\Recent} (above every
#: L{msync.model.Flags} bit).
_RECENT = 0x40
#: A L{ListingAnswer} mark: the response carried no FLAGS.
_NO_FLAGS = 0x80


class SortedUIDs:
    """
    A set of UIDs held as one ascending array (4 bytes each).
    """

    __slots__ = ("uids",)

    def __init__(self, uids: array[int]) -> None:
        self.uids = uids

    def __contains__(self, uid: object) -> bool:
        if not isinstance(uid, int):
            return False
        index = bisect_left(self.uids, uid)
        return index < len(self.uids) and self.uids[index] == uid

    def __len__(self) -> int:
        return len(self.uids)

    def __iter__(self) -> Iterator[int]:
        return iter(self.uids)


class ListingAnswer:
    """
    The FETCH responses of a listing (C{UID FLAGS}, of every message or of
    those changed since a mod-sequence), added as they arrive to two
    columns: UIDs, and per response its flag bits with L{_RECENT}, or
    L{_NO_FLAGS}. A UID answered twice (another client's change while the
    FETCH ran) counts as one message whose flags are the last FLAGS it
    was given, as merged FETCH data would say (none given: no flags).
    """

    __slots__ = ("_uids", "_marks", "_final")

    def __init__(self) -> None:
        self._uids = _uids()
        self._marks = bytearray()
        self._final = True

    def add(self, uid: int, flags: int | None, recent: bool) -> None:
        """
        Add one response: C{flags} (L{msync.model.Flags} bits) is C{None}
        when it carried no FLAGS.
        """
        uids = self._uids
        if self._final and uids and uids[-1] >= uid:
            self._final = False
        uids.append(uid)
        if flags is None:
            self._final = False
            self._marks.append(_NO_FLAGS)
        else:
            self._marks.append(flags | _RECENT if recent else flags)

    def _finish(self) -> None:
        """
        One entry per UID, ascending (answers usually come so: then this
        is a check only).
        """
        if self._final:
            return
        chosen: dict[int, int] = {}
        for uid, mark in zip(self._uids, self._marks, strict=True):
            if mark == _NO_FLAGS:
                chosen.setdefault(uid, 0)
            else:
                chosen[uid] = mark
        ordered = sorted(chosen.items())
        self._uids = _uids(uid for uid, _ in ordered)
        self._marks = bytearray(mark for _, mark in ordered)
        self._final = True

    def __len__(self) -> int:
        """
        @return: how many messages were answered for.
        """
        self._finish()
        return len(self._uids)

    def changes(self) -> dict[int, int]:
        """
        @return: the flag bits of each message answered for, by UID.
        """
        self._finish()
        return {uid: mark & ~_RECENT for uid, mark in zip(self._uids, self._marks, strict=True)}

    def recent(self) -> SortedUIDs:
        """
        @return: the UIDs answered C{\\Recent}.
        """
        self._finish()
        return SortedUIDs(
            _uids(uid for uid, mark in zip(self._uids, self._marks, strict=True) if mark & _RECENT)
        )

    def listing(self, uid_validity: int, modseq: int) -> Listing:
        """
        @return: the listing of a box of just the messages answered for,
            as of C{modseq} (what L{Listing.updated} makes of an empty
            listing), sharing no storage with this answer.
        """
        self._finish()
        flags = self._marks.translate(_WITHOUT_RECENT)
        return Listing(uid_validity, modseq, _uids(self._uids), flags)


_WITHOUT_RECENT = bytes(mark & ~_RECENT for mark in range(256))


def format_listing(listing: Listing) -> bytes:
    """
    @return: the file's bytes for C{listing}.
    """
    header = b"%s %d %d %d %d\n" % (
        MAGIC,
        VERSION,
        listing.uid_validity,
        listing.modseq,
        len(listing),
    )
    body = header + listing.uids.tobytes() + bytes(listing.flags)
    return body + zlib.crc32(body).to_bytes(4, "big")


def parse_listing(data: bytes) -> Listing | None:
    """
    @return: the listing in C{data}, or C{None} if it is not a whole,
        intact listing file of this version.
    """
    end = data.find(b"\n", 0, 128)
    if end < 0 or len(data) < 4:
        return None
    body, check = data[:-4], data[-4:]
    if zlib.crc32(body).to_bytes(4, "big") != check:
        return None
    words = data[:end].split(b" ")
    if len(words) != 5 or words[0] != MAGIC or words[1] != b"%d" % VERSION:
        return None
    try:
        uid_validity, modseq, count = (int(word) for word in words[2:])
    except ValueError:
        return None
    uids = _uids()
    start = end + 1
    width = uids.itemsize * count
    if len(body) != start + width + count:
        return None
    uids.frombytes(body[start : start + width])
    flags = bytearray(body[start + width :])
    # Ascending, checked in C (map of operator.lt), not a Python step per UID.
    if not all(map(lt, uids, uids[1:])):
        return None
    return Listing(uid_validity, modseq, uids, flags)
