# -*- test-case-name: tests.test_model -*-
"""
Plain values shared by every layer: sides, message flags, secrets.

Invariant: everything here is immutable and free of I/O.
"""

from __future__ import annotations

import enum
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import field
from datetime import datetime
from typing import Final, TypeAlias, overload

from msync.records import record


class Side(enum.IntEnum):
    """
    One of the two sides of a channel. The values index mbsync's arrays
    (journal C{N 0 uid} is far, C{N 1 uid} is near).
    """

    FAR = 0
    NEAR = 1

    @property
    def other(self) -> Side:
        """
        The opposite side.
        """
        return Side.NEAR if self is Side.FAR else Side.FAR

    @property
    def label(self) -> str:
        """
        The word mbsync uses in messages: C{"far"} or C{"near"}.
        """
        return "far" if self is Side.FAR else "near"


class Flags(enum.IntFlag):
    """
    The six message flags mbsync synchronizes, with mbsync's bit values
    (state files and journals store them numerically or as letters
    C{DFPRST} in this order).
    """

    NONE = 0
    DRAFT = 1
    FLAGGED = 2
    FORWARDED = 4
    ANSWERED = 8
    SEEN = 16
    DELETED = 32

    def letters(self) -> str:
        """
        The Maildir letters for these flags, in C{DFPRST} order.
        """
        return "".join(letter for letter, bit in _LETTERS if self & bit)

    @classmethod
    def from_letters(cls, text: str) -> Flags:
        """
        Parse Maildir flag letters; characters other than C{DFPRST} are
        ignored, as mbsync does.
        """
        result = cls.NONE
        for letter, bit in _LETTERS:
            if letter in text:
                result |= bit
        return result


_LETTERS: tuple[tuple[str, Flags], ...] = (
    ("D", Flags.DRAFT),
    ("F", Flags.FLAGGED),
    ("P", Flags.FORWARDED),
    ("R", Flags.ANSWERED),
    ("S", Flags.SEEN),
    ("T", Flags.DELETED),
)


@record
class Secret:
    """
    A password or token. Its repr and str never show the value.

    @ivar value: the secret itself; read it only where it is sent.
    """

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    def __str__(self) -> str:
        return "<redacted>"


ALL_FLAGS = (
    Flags.DRAFT | Flags.FLAGGED | Flags.FORWARDED | Flags.ANSWERED | Flags.SEEN | Flags.DELETED
)
"""
Every flag mbsync synchronizes (C{DFPRST}).
"""

ALL_BITS: Final = int(ALL_FLAGS)
"""
L{ALL_FLAGS} as a plain int (63): the mask of flag bits kept in ints.
"""

BoxName: TypeAlias = str
"""
A canonical mailbox name: C{/}-separated components, none empty; C{"INBOX"}
(exactly this spelling) is the inbox.
"""

INBOX: BoxName = "INBOX"
"""
The canonical name of the inbox in every store.
"""


class LineEnding(enum.Enum):
    """
    How a store ends the lines of the messages it keeps: IMAP uses CRLF
    (RFC 3501 §4.3), Maildir LF. The engine converts when copying between
    stores whose conventions differ (mbsync C{copy_msg_convert}).
    """

    CRLF = b"\r\n"
    LF = b"\n"


@record
class UIDInterval:
    """
    The inclusive UID interval C{first..last}; C{last=None} means no upper
    bound (IMAP C{first:*}, without C{*}'s quirk of matching the highest UID
    when it is below C{first}).

    @ivar first: the lowest UID included, at least 1.
    @ivar last: the highest UID included, or C{None} for no bound. An
        interval with C{last < first} is empty.
    """

    first: int = 1
    last: int | None = None

    def __post_init__(self) -> None:
        if self.first < 1:
            raise ValueError(f"UID interval must start at 1 or above, not {self.first}")
        if self.last is not None and self.last < 0:
            raise ValueError(f"UID interval must end at 0 or above, not {self.last}")

    def __contains__(self, uid: object) -> bool:
        if not isinstance(uid, int):
            return False
        return self.first <= uid and (self.last is None or uid <= self.last)


@record
class LoadRequest:
    """
    Which messages of an open mailbox to load, and what to report about
    them (mbsync C{load_box}: C{UID FETCH min:max} plus a list of older
    UIDs, with C{RFC822.SIZE} and header fields only where needed).

    A message is selected when C{min_uid <= uid <= max_uid} or C{uid in uids}.
    UID and flags are always reported for every selected message; each extra
    is reported only for selected messages inside its interval (C{None}: for
    none), so a store can fetch expensive items for as few messages as possible.

    @ivar min_uid: the lowest UID of the range, at least 1.
    @ivar max_uid: the highest UID of the range, or C{None} for every UID up
        to the highest in the box when the load runs. C{max_uid < min_uid}
        makes the range empty (only C{uids} are loaded).
    @ivar uids: further UIDs to load individually (mbsync's exception list
        of still-paired messages below C{min_uid}); absent ones are ignored.
    @ivar sizes: where to report L{MessageInfo.size} (MaxSize).
    @ivar tuids: where to report L{MessageInfo.tuid} (finding copies made
        by an interrupted run).
    @ivar message_ids: where to report L{MessageInfo.message_id}
        (UIDVALIDITY recovery).
    @ivar arrival_dates: where to report L{MessageInfo.arrival_date}.
    """

    min_uid: int = 1
    max_uid: int | None = None
    uids: frozenset[int] = frozenset()
    sizes: UIDInterval | None = None
    tuids: UIDInterval | None = None
    message_ids: UIDInterval | None = None
    arrival_dates: UIDInterval | None = None

    def __post_init__(self) -> None:
        if self.min_uid < 1:
            raise ValueError(f"min_uid must be at least 1, not {self.min_uid}")
        if not isinstance(self.uids, frozenset):
            raise TypeError("uids must be a frozenset")
        if any(uid < 1 for uid in self.uids):
            raise ValueError("UIDs must be at least 1")

    def selects(self, uid: int) -> bool:
        """
        Whether the message with this UID is to be loaded.
        """
        in_range = self.min_uid <= uid and (self.max_uid is None or uid <= self.max_uid)
        return in_range or uid in self.uids

    def extra_ranges(self) -> list[UIDInterval]:
        """
        The ranges whose messages need more than UID and flags (size,
        C{X-TUID}, C{Message-ID} or arrival date): most loads have none or
        one, so a store tests each message only against those.
        """
        ranges = (self.sizes, self.tuids, self.message_ids, self.arrival_dates)
        return [wanted for wanted in ranges if wanted is not None]

    def wants_size(self, uid: int) -> bool:
        """
        Whether the size of this selected message is to be reported.
        """
        return self.sizes is not None and uid in self.sizes

    def wants_tuid(self, uid: int) -> bool:
        """
        Whether the C{X-TUID} of this selected message is to be reported.
        """
        return self.tuids is not None and uid in self.tuids

    def wants_message_id(self, uid: int) -> bool:
        """
        Whether the C{Message-ID} of this selected message is to be reported.
        """
        return self.message_ids is not None and uid in self.message_ids

    def wants_arrival_date(self, uid: int) -> bool:
        """
        Whether the arrival date of this selected message is to be reported.
        """
        return self.arrival_dates is not None and uid in self.arrival_dates

    def wants_headers(self, uid: int) -> bool:
        """
        Whether any header field must be read for this selected message.
        """
        return self.wants_tuid(uid) or self.wants_message_id(uid)


@record
class MessageInfo:
    """
    What a load reports about one message.

    The extras (C{size}, C{tuid}, C{message_id}, C{arrival_date}) are
    C{None} when the L{LoadRequest} did not ask for them; C{tuid} and
    C{message_id} are also C{None} when the message lacks that header.

    @ivar uid: the message's UID, at least 1.
    @ivar flags: its flags, limited to those the mailbox can keep.
    @ivar recent: IMAP C{\\Recent} or Maildir C{new/}; read, never synchronized.
    @ivar size: its size in bytes as stored (in the store's line ending).
    @ivar tuid: the value of its C{X-TUID} header (see L{parse_tracking_headers}).
    @ivar message_id: the value of its C{Message-ID} header.
    @ivar arrival_date: when it arrived (IMAP INTERNALDATE, Maildir mtime);
        timezone-aware.
    """

    uid: int
    flags: Flags
    recent: bool = False
    size: int | None = None
    tuid: str | None = None
    message_id: str | None = None
    arrival_date: datetime | None = None


#: The C{recent} bit in L{MessageListing}'s flag column (above L{Flags}).
_RECENT = 0x80

#: Every L{Flags} value by its bits, so that a message made from the columns
#: needs no enum lookup.
_FLAG_VALUES = tuple(Flags(bits) for bits in range(64))


def flags_value(bits: int) -> Flags:
    """
    The L{Flags} of C{bits}, from the table of the 64 values (an enum
    construction costs a Python call per value; the planner makes one per
    flag update and record).
    """
    return _FLAG_VALUES[bits] if 0 <= bits < 64 else Flags(bits)


class MessageListing(Sequence[MessageInfo]):
    """
    What a load reports (L{MessageInfo} per message, by strictly ascending
    UID) kept as columns: the UIDs in an C{array("I")}, the flags and
    C{recent} in one byte each, and the extras (size, TUID, Message-ID,
    arrival date) only for the messages that have any. A L{MessageInfo} is
    made each time one is asked for (by position, by UID with L{find}, or
    iterating), and not kept: a listing of a big box costs about five
    bytes a message, not an object each.

    It compares equal to any sequence of the same L{MessageInfo}s.

    @ivar uids: the UIDs, strictly ascending (read only).
    @ivar bits: the flag bits of each message (L{Flags} values), with
        C{0x80} for C{recent} (read only).
    """

    __slots__ = ("uids", "bits", "_extras")

    def __init__(self) -> None:
        self.uids = array("I")
        self.bits = bytearray()
        self._extras: dict[int, tuple[int | None, str | None, str | None, datetime | None]] = {}

    @classmethod
    def of(cls, infos: Iterable[MessageInfo]) -> MessageListing:
        """
        The listing of C{infos}, which must be in strictly ascending UID
        order.

        @raise ValueError: they are not.
        """
        if isinstance(infos, MessageListing):
            return infos
        listing = cls()
        for info in infos:
            listing.add_info(info)
        return listing

    def add(
        self,
        uid: int,
        flags: int,
        recent: bool = False,
        size: int | None = None,
        tuid: str | None = None,
        message_id: str | None = None,
        arrival_date: datetime | None = None,
    ) -> None:
        """
        Append a message, its UID above every one listed.

        @param flags: its flags as an int (L{Flags} bits).
        @raise ValueError: C{uid} is not above the last one.
        """
        uids = self.uids
        if uids and uid <= uids[-1]:
            raise ValueError(f"UID {uid} listed after UID {uids[-1]}")
        uids.append(uid)
        self.bits.append(flags | _RECENT if recent else flags)
        if not (size is None and tuid is None and message_id is None and arrival_date is None):
            self._extras[uid] = (size, tuid, message_id, arrival_date)

    def add_info(self, info: MessageInfo) -> None:
        """
        Append C{info}, its UID above every one listed.
        """
        self.add(
            info.uid,
            int(info.flags),
            info.recent,
            info.size,
            info.tuid,
            info.message_id,
            info.arrival_date,
        )

    def _make(self, at: int) -> MessageInfo:
        uid, bits = self.uids[at], self.bits[at]
        extras = self._extras.get(uid) if self._extras else None
        if extras is None:
            return MessageInfo(uid, _FLAG_VALUES[bits & ALL_BITS], bits > 63)
        return MessageInfo(uid, _FLAG_VALUES[bits & ALL_BITS], bits > 63, *extras)

    def __len__(self) -> int:
        return len(self.uids)

    @overload
    def __getitem__(self, index: int) -> MessageInfo: ...

    @overload
    def __getitem__(self, index: slice) -> list[MessageInfo]: ...

    def __getitem__(self, index: int | slice) -> MessageInfo | list[MessageInfo]:
        if isinstance(index, slice):
            return [self._make(at) for at in range(len(self.uids))[index]]
        if index < 0:
            index += len(self.uids)
        if not 0 <= index < len(self.uids):
            raise IndexError("listing index out of range")
        return self._make(index)

    def __iter__(self) -> Iterator[MessageInfo]:
        return map(self._make, range(len(self.uids)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(map(MessageInfo.__eq__, self, other))

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list

    def __repr__(self) -> str:
        return f"MessageListing({list(self)!r})"

    def position(self, uid: int) -> int:
        """
        The position of C{uid}, or -1 when it is not listed.
        """
        uids = self.uids
        at = bisect_left(uids, uid)
        return at if at < len(uids) and uids[at] == uid else -1

    def find(self, uid: int) -> MessageInfo | None:
        """
        The message with C{uid}, if listed.
        """
        at = self.position(uid)
        return None if at < 0 else self._make(at)

    def flags_of(self, uid: int) -> int | None:
        """
        The flags (as an int) of the message with C{uid}, if listed.
        """
        at = self.position(uid)
        return None if at < 0 else self.bits[at] & ALL_BITS

    def size_at(self, at: int) -> int | None:
        """
        The size of the message at position C{at}, if listed with one.
        """
        extras = self._extras.get(self.uids[at]) if self._extras else None
        return None if extras is None else extras[0]

    def recent_count(self) -> int:
        """
        How many messages are C{recent}.
        """
        return sum(1 for bits in self.bits if bits > 63)

    def select(self, positions: Iterable[int]) -> MessageListing:
        """
        A listing of the messages at C{positions} (ascending).
        """
        chosen = MessageListing()
        uids, bits, extras = self.uids, self.bits, self._extras
        for at in positions:
            uid = uids[at]
            chosen.uids.append(uid)
            chosen.bits.append(bits[at])
            if uid in extras:
                chosen._extras[uid] = extras[uid]
        return chosen


@record
class FlagChange:
    """
    Flags to add to and remove from one message (mbsync C{set_msg_flags}).

    @ivar uid: the message's UID.
    @ivar add: flags to set.
    @ivar remove: flags to clear; disjoint from C{add}.
    """

    uid: int
    add: Flags = Flags.NONE
    remove: Flags = Flags.NONE

    def __post_init__(self) -> None:
        if self.uid < 1:
            raise ValueError(f"UID must be at least 1, not {self.uid}")
        # On ints: an operator on two Flags makes a third (one change per
        # message of a resync's flag step).
        if int(self.add) & int(self.remove):
            raise ValueError(
                f"UID {self.uid}: cannot both add and remove {self.add & self.remove!r}"
            )


@record
class TrackingHeaders:
    """
    The header fields msync uses to recognise messages.

    @ivar tuid: the C{X-TUID} value (mbsync's 12-character transaction
        UID), or C{None}.
    @ivar message_id: the C{Message-ID} value, or C{None}.
    """

    tuid: str | None
    message_id: str | None


_TRACKED_FIELDS = {b"x-tuid": "tuid", b"message-id": "message_id"}


def _header_end(message: bytes) -> int:
    """
    The offset just past the header's last line break, or C{len(message)}
    if the message has no empty line.
    """
    ends = [found + 1 for found in (message.find(b"\n\n"), message.find(b"\n\r\n")) if found >= 0]
    return min(ends, default=len(message))


def parse_tracking_headers(message: bytes) -> TrackingHeaders:
    """
    Extract C{X-TUID} and C{Message-ID} from a message's header, so that
    every store reports them identically.

    The header ends at the first empty line (or at the end of C{message});
    lines may end in CRLF or LF. Field names match case-insensitively; the
    first occurrence of a field wins; folded values are unfolded (RFC 5322
    §2.2.3: only the line breaks are removed) and surrounding whitespace is
    stripped. An empty value counts as absent.

    @param message: the whole message, its header, or the result of an
        IMAP C{BODY.PEEK[HEADER.FIELDS (X-TUID MESSAGE-ID)]}.
    @return: the values found.
    """
    found: dict[str, str] = {}
    current: str | None = None
    pieces: list[bytes] = []

    def finish() -> None:
        if current is not None and current not in found:
            value = b"".join(pieces).strip().decode("utf-8", "replace")
            if value:
                found[current] = value

    for raw in message[: _header_end(message)].split(b"\n"):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                pieces.append(line)
            continue
        finish()
        name, colon, value = line.partition(b":")
        current = _TRACKED_FIELDS.get(name.strip().lower()) if colon else None
        pieces = [value]
    finish()
    return TrackingHeaders(tuid=found.get("tuid"), message_id=found.get("message_id"))
