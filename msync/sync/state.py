# -*- test-case-name: tests.sync.test_state -*-
"""
The mbsync 1.4 sync state: an in-memory model, its state file text format,
and where the state files of a box pair live.

Invariants:
  - L1: pure. Text in, text out; no files, clocks or Twisted.
  - C{format_state} writes exactly the bytes mbsync 1.4 C{save_state} writes
    for the same state, and C{parse_state} accepts exactly what mbsync 1.4
    C{load_state} accepts, failing with L{StateError} at the same line with
    mbsync's wording (without its C{"Error: "} prefix).
  - Records stay in list order (mbsync appends; placeholder upgrades insert
    right after the upgraded record). Dead records (L{Status.DEAD}) stay in
    the list until L{SyncState.purge_dead} so that journal replay can still
    address them, as mbsync does; they are never written.
  - The lookups by far UID, near UID and (far, near) pair are dictionaries
    kept current by the records themselves: changing C{far_uid},
    C{near_uid} or C{status} of a record owned by a state reindexes it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from msync.errors import StateError
from msync.model import Flags, Side

#: mbsync reads the state file with C{fgets} into a 128-byte buffer.
LINE_BUFFER = 128

_UINT_MASK = 0xFFFFFFFF
_ULONG_MAX = 0xFFFFFFFFFFFFFFFF
_SPACE = b" \t\n\v\f\r"
_DIGITS = b"0123456789"
#: The order mbsync writes and (sequentially) parses flag letters.
_FLAG_LETTERS = b"DFPRST"


class Status(enum.Flag, boundary=enum.KEEP):
    """
    The status bits of a sync record, with mbsync's values (the journal's
    C{~} op stores them numerically). Unknown bits read from a journal are
    kept, as mbsync keeps them in its C{uchar}.
    """

    NONE = 0
    EXPIRE = 1
    EXPIRED = 2
    PENDING = 4
    DUMMY_F = 8
    DUMMY_N = 16
    SKIPPED = 32
    #: Ephemeral: the record was killed; it is never written to a state file.
    DEAD = 128

    @classmethod
    def dummy(cls, side: Side) -> Status:
        """
        The placeholder bit for C{side}.
        """
        return cls.DUMMY_F if side is Side.FAR else cls.DUMMY_N


# Status bits as ints, for per-record tests (enum.Flag operators are slow).
_DEAD = Status.DEAD.value
_DUMMY_F = Status.DUMMY_F.value
_DUMMY_N = Status.DUMMY_N.value
_SKIPPED = Status.SKIPPED.value
_EXPIRED = Status.EXPIRED.value


class SyncRecord:
    """
    One pairing of a far and a near message (either UID may be 0: no
    message on that side).

    @ivar flags: the last synchronized flags (baseline of the 3-way merge).
    @ivar tuid: the 12-character TUID journaled for a copy in flight, or
        C{None}.
    @ivar pending_flags: the placeholder's flags journaled by C{^}.
    @ivar upgrading: a placeholder upgrade of this record is in progress.
    @ivar purging: this record holds a placeholder that is to be deleted.
    """

    __slots__ = (
        "_far",
        "_near",
        "_status",
        "_bits",
        "_owner",
        "flags",
        "tuid",
        "pending_flags",
        "upgrading",
        "purging",
    )

    def __init__(
        self,
        far_uid: int,
        near_uid: int,
        flags: Flags = Flags.NONE,
        status: Status = Status.NONE,
        tuid: str | None = None,
    ) -> None:
        self._owner: SyncState | None = None
        self._far = far_uid
        self._near = near_uid
        self._status = status
        self._bits = status.value
        self.flags = flags
        self.tuid = tuid
        self.pending_flags = Flags.NONE
        self.upgrading = False
        self.purging = False

    @property
    def far_uid(self) -> int:
        """
        The far message's UID, 0 if there is none.
        """
        return self._far

    @far_uid.setter
    def far_uid(self, uid: int) -> None:
        self._change(uid, self._near, self._status)

    @property
    def near_uid(self) -> int:
        """
        The near message's UID, 0 if there is none.
        """
        return self._near

    @near_uid.setter
    def near_uid(self, uid: int) -> None:
        self._change(self._far, uid, self._status)

    @property
    def status(self) -> Status:
        """
        The record's status bits.
        """
        return self._status

    @status.setter
    def status(self, status: Status) -> None:
        self._change(self._far, self._near, status)

    @property
    def status_bits(self) -> int:
        """
        The value of L{status} as an int, for bit tests in per-message
        loops (an operator on an C{enum.Flag} is ~15 times slower).
        """
        return self._bits

    def uid(self, side: Side) -> int:
        """
        The UID on C{side}.
        """
        return self._far if side is Side.FAR else self._near

    def set_uid(self, side: Side, uid: int) -> None:
        """
        Set the UID on C{side}.
        """
        if side is Side.FAR:
            self.far_uid = uid
        else:
            self.near_uid = uid

    @property
    def dead(self) -> bool:
        """
        Whether the record was killed.
        """
        return bool(self._bits & _DEAD)

    def values(self) -> tuple[object, ...]:
        """
        Everything about this record, for comparisons.
        """
        return (
            self._far,
            self._near,
            self.flags,
            self._status,
            self.tuid,
            self.pending_flags,
            self.upgrading,
            self.purging,
        )

    def _change(self, far: int, near: int, status: Status) -> None:
        owner = self._owner
        if owner is not None:
            owner._unindex(self)
        self._far, self._near, self._status = far, near, status
        self._bits = status.value
        if owner is not None:
            owner._index(self)

    def __repr__(self) -> str:
        return (
            f"SyncRecord({self._far}, {self._near}, {self.flags!r}, {self._status!r}"
            + (f", tuid={self.tuid!r}" if self.tuid else "")
            + ")"
        )


def _add(index: dict[object, list[SyncRecord]], key: object, record: SyncRecord) -> None:
    index.setdefault(key, []).append(record)


def _drop(index: dict[object, list[SyncRecord]], key: object, record: SyncRecord) -> None:
    bucket = index[key]
    for position, candidate in enumerate(bucket):
        if candidate is record:
            del bucket[position]
            break
    if not bucket:
        del index[key]


class SyncState:
    """
    The sync state of one box pair: header values and the ordered records.

    @ivar far_uid_validity: UIDVALIDITY of the far box (0: unknown yet).
    @ivar near_uid_validity: UIDVALIDITY of the near box.
    @ivar max_pulled_uid: highest far UID already propagated far to near.
    @ivar max_pushed_uid: highest near UID already propagated near to far.
    @ivar max_expired_far_uid: far UIDs up to this are expired (MaxMessages).
    @ivar find_uid: per side, the UIDNEXT saved before storing copies (TUID
        search lower bound); only set by journal replay.
    @ivar trashed: per side, UIDs already moved to Trash; only set by replay.
    """

    def __init__(
        self,
        far_uid_validity: int = 0,
        near_uid_validity: int = 0,
        max_pulled_uid: int = 0,
        max_pushed_uid: int = 0,
        max_expired_far_uid: int = 0,
    ) -> None:
        self.far_uid_validity = far_uid_validity
        self.near_uid_validity = near_uid_validity
        self.max_pulled_uid = max_pulled_uid
        self.max_pushed_uid = max_pushed_uid
        self.max_expired_far_uid = max_expired_far_uid
        self.find_uid: dict[Side, int] = {Side.FAR: 0, Side.NEAR: 0}
        self.trashed: dict[Side, list[int]] = {Side.FAR: [], Side.NEAR: []}
        self._records: list[SyncRecord] = []
        self._pairs: dict[object, list[SyncRecord]] = {}
        self._uids: dict[Side, dict[object, list[SyncRecord]]] = {Side.FAR: {}, Side.NEAR: {}}

    # Header accessors indexed by side.

    def uid_validity(self, side: Side) -> int:
        """
        The UIDVALIDITY recorded for C{side}.
        """
        return self.far_uid_validity if side is Side.FAR else self.near_uid_validity

    def max_uid(self, side: Side) -> int:
        """
        The highest UID of C{side} already propagated (mbsync's C{maxuid}).
        """
        return self.max_pulled_uid if side is Side.FAR else self.max_pushed_uid

    def set_max_uid(self, side: Side, uid: int) -> None:
        """
        Set the highest propagated UID of C{side}.
        """
        if side is Side.FAR:
            self.max_pulled_uid = uid
        else:
            self.max_pushed_uid = uid

    # The record list.

    @property
    def records(self) -> Sequence[SyncRecord]:
        """
        The records in list order, dead ones included. Do not mutate it;
        use L{append}, L{insert_after} and L{purge_dead}.
        """
        return self._records

    def __iter__(self) -> Iterator[SyncRecord]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def append(self, record: SyncRecord) -> SyncRecord:
        """
        Append C{record} (not owned by any state yet) and return it.
        """
        self._adopt(record)
        self._records.append(record)
        return record

    def insert_after(self, existing: SyncRecord, record: SyncRecord) -> SyncRecord:
        """
        Insert C{record} right after C{existing}, as mbsync does when it
        splits a record for a placeholder upgrade.
        """
        self._adopt(record)
        self._records.insert(self._position(existing) + 1, record)
        return record

    def purge_dead(self) -> None:
        """
        Drop every dead record.
        """
        for record in self._records:
            if record.dead:
                _drop(self._pairs, (record.far_uid, record.near_uid), record)
                record._owner = None
        self._records = [record for record in self._records if record._owner is self]

    # Lookups.

    def by_uid(self, side: Side, uid: int) -> SyncRecord | None:
        """
        The live record holding C{uid} on C{side}, or C{None}. UID 0 never
        matches.
        """
        bucket = self._uids[side].get(uid)
        return bucket[0] if bucket else None

    def by_far(self, uid: int) -> SyncRecord | None:
        """
        The live record whose far UID is C{uid}, or C{None}.
        """
        return self.by_uid(Side.FAR, uid)

    def by_near(self, uid: int) -> SyncRecord | None:
        """
        The live record whose near UID is C{uid}, or C{None}.
        """
        return self.by_uid(Side.NEAR, uid)

    def by_pair(
        self,
        far_uid: int,
        near_uid: int,
        start: SyncRecord | None = None,
        *,
        prefer_live: bool = False,
    ) -> SyncRecord | None:
        """
        Find a record (dead ones included) by its UID pair the way mbsync's
        journal replay does: the first match at or after C{start} in list
        order, else the first match from the beginning.

        @param prefer_live: look at dead records only if no live record
            has the pair. A live operation always means a live record (a
            replay can leave a dead record with the pair of a new one,
            e.g. an unborn message expired again after a crash).
        @return: the record, or C{None} if no record has this pair.
        """
        bucket = self._pairs.get((far_uid, near_uid))
        if not bucket:
            return None
        if prefer_live:
            live = [record for record in bucket if not record.dead]
            bucket = live or bucket
        if len(bucket) == 1:
            return bucket[0]
        # Duplicate pairs are rare (e.g. several dead "0 0" records), so an
        # O(n) scan to honour mbsync's search order is fine here.
        begin = 0 if start is None else self._position(start)
        order = self._records[begin:] + self._records[:begin]
        wanted = {id(record) for record in bucket}
        for record in order:
            if id(record) in wanted:
                return record
        return None  # pragma: no cover - the bucket guarantees a match

    # Comparison.

    def values(self) -> tuple[object, ...]:
        """
        Everything about this state, for comparisons.
        """
        return (
            self.far_uid_validity,
            self.near_uid_validity,
            self.max_pulled_uid,
            self.max_pushed_uid,
            self.max_expired_far_uid,
            dict(self.find_uid),
            {side: list(uids) for side, uids in self.trashed.items()},
            [record.values() for record in self._records],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SyncState):
            return NotImplemented
        return self.values() == other.values()

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, like list

    def __repr__(self) -> str:
        return f"SyncState{self.values()!r}"

    # Index maintenance, called by SyncRecord.

    def _adopt(self, record: SyncRecord) -> None:
        if record._owner is not None:
            raise ValueError("record already belongs to a sync state")
        record._owner = self
        self._index(record)

    def _position(self, record: SyncRecord) -> int:
        for position, candidate in enumerate(self._records):
            if candidate is record:
                return position
        raise ValueError("record not in this sync state")

    # Both sides spelled out: iterating the Side enum costs more than the
    # indexing itself, and this runs for every record loaded or changed.

    def _index(self, record: SyncRecord) -> None:
        far, near = record.far_uid, record.near_uid
        _add(self._pairs, (far, near), record)
        if not record.dead:
            if far:
                _add(self._uids[Side.FAR], far, record)
            if near:
                _add(self._uids[Side.NEAR], near, record)

    def _unindex(self, record: SyncRecord) -> None:
        far, near = record.far_uid, record.near_uid
        _drop(self._pairs, (far, near), record)
        if not record.dead:
            if far:
                _drop(self._uids[Side.FAR], far, record)
            if near:
                _drop(self._uids[Side.NEAR], near, record)


# C library emulation: mbsync parses with fgets and sscanf, and which inputs
# it accepts is defined by those; these helpers reproduce them on bytes.


def read_lines(data: bytes) -> Iterator[tuple[int, bytes, bool]]:
    """
    Split C{data} the way repeated C{fgets(buf, 128, f)} calls do.

    @return: (1-based line number, content up to the first NUL without the
        newline, whether the chunk ended in a newline) per chunk. A line
        longer than 126 characters yields a chunk without newline, which
        mbsync reports as incomplete.
    """
    position = 0
    line = 0
    while position < len(data):
        line += 1
        end = data.find(b"\n", position, position + LINE_BUFFER - 1)
        if end < 0:
            chunk = data[position : position + LINE_BUFFER - 1]
        else:
            chunk = data[position : end + 1]
        position += len(chunk)
        nul = chunk.find(b"\0")
        if nul >= 0:
            chunk = chunk[:nul]
        complete = chunk.endswith(b"\n")
        yield line, chunk[:-1] if complete else chunk, complete


def scan_uint(data: bytes, position: int) -> tuple[int, int] | None:
    """
    C{sscanf}'s C{%u} at C{position}: skip white space, optional sign,
    decimal digits; saturate like C{strtoul}, then truncate to 32 bits.

    @return: (value, position after it), or C{None} if there is no number.
    """
    while position < len(data) and data[position] in _SPACE:
        position += 1
    negative = False
    if position < len(data) and data[position] in b"+-":
        negative = data[position] == ord("-")
        position += 1
    start = position
    while position < len(data) and data[position] in _DIGITS:
        position += 1
    if position == start:
        return None
    value = min(int(data[start:position]), _ULONG_MAX)
    if negative:
        value = -value % (_ULONG_MAX + 1)
    return value & _UINT_MASK, position


def scan_word(data: bytes, position: int, width: int) -> tuple[bytes, int] | None:
    """
    C{sscanf}'s C{%<width>s}: skip white space, then up to C{width}
    non-space bytes.

    @return: (word, position after it), or C{None} at end of input.
    """
    while position < len(data) and data[position] in _SPACE:
        position += 1
    start = position
    while position < len(data) and position - start < width and data[position] not in _SPACE:
        position += 1
    if position == start:
        return None
    return data[start:position], position


def scan_uints(data: bytes, count: int) -> tuple[list[int], int] | None:
    """
    C{sscanf(data, "%u %u ...")} with C{count} conversions, all required.

    @return: the values and the position after the last, or C{None} if
        fewer than C{count} were read.
    """
    values = []
    position = 0
    for _ in range(count):
        scanned = scan_uint(data, position)
        if scanned is None:
            return None
        value, position = scanned
        values.append(value)
    return values, position


def as_bytes(text: bytes | str) -> bytes:
    """
    State files are byte strings; C{str} input is encoded as UTF-8 with
    surrogate escapes so that undecodable bytes survive a round trip.
    """
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


# The state file.

_HEADER_KEYS: dict[bytes, str] = {
    b"FarUidValidity": "far_uid_validity",
    b"MasterUidValidity": "far_uid_validity",  # pre-1.4 legacy
    b"NearUidValidity": "near_uid_validity",
    b"SlaveUidValidity": "near_uid_validity",  # pre-1.4 legacy
    b"MaxPulledUid": "max_pulled_uid",
    b"MaxPushedUid": "max_pushed_uid",
    b"MaxExpiredFarUid": "max_expired_far_uid",
    b"MaxExpiredMasterUid": "max_expired_far_uid",  # pre-1.4 legacy
}


def parse_entry_flags(text: bytes) -> Flags:
    """
    Parse flag letters as mbsync's C{parse_flags} does: letters are matched
    in C{DFPRST} order and parsing stops at the first letter out of order
    or unknown (so C{"SF"} is just C{S}, C{"xS"} is nothing).
    """
    flags = Flags.NONE
    position = 0
    for bit, letter in enumerate(_FLAG_LETTERS):
        if position < len(text) and text[position] == letter:
            flags |= Flags(1 << bit)
            position += 1
    return flags


# Every flag set and its letters, both ways (format_entry, _parse_entry).
_LETTERS_OF_FLAGS = tuple(Flags(value).letters() for value in range(64))
_FLAGS_OF_LETTERS = {
    letters.encode("ascii"): Flags(value) for value, letters in enumerate(_LETTERS_OF_FLAGS)
}


def _parse_legacy_header(line: bytes, state: SyncState, filename: str) -> int:
    # Pre-1.1: "uv:maxuid uv:maxxnuid:maxuid" on line 1, no blank line after.
    words = []
    position = 0
    for _ in range(2):
        scanned = scan_word(line, position, 63)
        if scanned is None:
            raise StateError(f"invalid sync state header in {filename}")
        word, position = scanned
        words.append(word)
    far = _scan_colon_uints(words[0], 2)
    near = _scan_colon_uints(words[1], 3)
    if far is None or near is None:
        raise StateError(f"invalid sync state header in {filename}")
    state.far_uid_validity, state.max_pulled_uid = far
    state.near_uid_validity, max_expired_near, state.max_pushed_uid = near
    return max_expired_near


def _scan_colon_uints(word: bytes, count: int) -> list[int] | None:
    # sscanf(word, "%u:%u[:%u]"): literal colons between the numbers.
    values = []
    position = 0
    for index in range(count):
        if index:
            if position >= len(word) or word[position] != ord(":"):
                return None
            position += 1
        scanned = scan_uint(word, position)
        if scanned is None:
            return None
        value, position = scanned
        values.append(value)
    return values


def _parse_header(lines: Iterator[tuple[int, bytes, bool]], state: SyncState, filename: str) -> int:
    """
    Read header lines up to the blank line.

    @return: the legacy C{MaxExpiredSlaveUid} value (0 if absent).
    """
    max_expired_near = 0
    for number, line, complete in lines:
        if not complete:
            raise StateError(f"incomplete sync state header entry at {filename}:{number}")
        if not line:
            return max_expired_near
        if number == 1 and line[:1].isdigit():
            return _parse_legacy_header(line, state, filename)
        scanned = scan_word(line, 0, 63)
        value = scan_uint(line, scanned[1]) if scanned else None
        if scanned is None or value is None:
            raise StateError(f"malformed sync state header entry at {filename}:{number}")
        key = scanned[0]
        if key == b"MaxExpiredSlaveUid":  # pre-1.3 legacy, converted below
            max_expired_near = value[0]
        elif key in _HEADER_KEYS:
            setattr(state, _HEADER_KEYS[key], value[0])
        else:
            raise StateError(f"unrecognized sync state header entry at {filename}:{number}")
    raise StateError(f"unterminated sync state header in {filename}")


# The lines mbsync 1.4 writes (format_entry), parsed in one match: numbers
# short enough not to saturate, one space, canonical mark and letters, end
# of line. Anything else takes the general sscanf emulation below, so the
# result is the same either way; the match only saves per-record work.
_CANONICAL_ENTRY = re.compile(rb"([0-9]{1,9}) ([0-9]{1,9}) ([<>]?)(~?)(D?F?P?R?S?T?)")
_DUMMY_MARKS = {b"": Status.NONE, b"<": Status.DUMMY_F, b">": Status.DUMMY_N}


def _parse_entry(line: bytes, number: int, filename: str) -> SyncRecord:
    canonical = _CANONICAL_ENTRY.fullmatch(line)
    if canonical is not None:
        far, near, dummy, expired, letters = canonical.groups()
        # mbsync assigns (not ORs) the marks: "<~" loses the dummy bit.
        status = Status.EXPIRE | Status.EXPIRED if expired else _DUMMY_MARKS[dummy]
        return SyncRecord(int(far), int(near), _FLAGS_OF_LETTERS[letters], status)
    scanned = scan_uints(line, 2)
    if scanned is None:
        raise StateError(f"invalid sync state entry at {filename}:{number}")
    (far, near), position = scanned
    word = scan_word(line, position, 15)
    text = word[0] if word else b""
    status = Status.NONE
    if text[:1] == b"<":
        text, status = text[1:], Status.DUMMY_F
    elif text[:1] == b">":
        text, status = text[1:], Status.DUMMY_N
    # mbsync assigns (not ORs) these, so "<^" and ">~" lose the dummy bit.
    if text[:1] == b"^":  # pre-1.4 legacy
        text, status = text[1:], Status.SKIPPED
    elif text[:1] in (b"~", b"X"):  # "X": pre-1.3 legacy
        text, status = text[1:], Status.EXPIRE | Status.EXPIRED
    elif far == _UINT_MASK:  # pre-1.3 legacy: -1 marked a skipped message
        far, status = 0, Status.SKIPPED
    elif near == _UINT_MASK:
        near, status = 0, Status.SKIPPED
    return SyncRecord(far, near, parse_entry_flags(text), status)


def _convert_max_expired_near(state: SyncState, max_expired_near: int) -> None:
    # Pre-1.3 states tracked expiry by near UID; mbsync derives the far bound
    # from the lowest far UID of a record that still needs fetching.
    lowest = _UINT_MASK
    for record in state:
        if record.status & (Status.DEAD | Status.SKIPPED | Status.PENDING) or not record.far_uid:
            continue
        if record.status & Status.EXPIRED:
            if not record.near_uid:
                continue
        elif record.near_uid and max_expired_near >= record.near_uid:
            continue
        lowest = min(lowest, record.far_uid)
    state.max_expired_far_uid = lowest - 1


def parse_state(text: bytes | str, filename: str) -> SyncState:
    """
    Parse a sync state file as mbsync 1.4 C{load_state} does.

    @param text: the whole file.
    @param filename: the file's name, used in error messages.
    @raise StateError: where and as mbsync rejects the file.
    """
    state = SyncState()
    lines = read_lines(as_bytes(text))
    max_expired_near = _parse_header(lines, state, filename)
    for number, line, complete in lines:
        if not complete:
            raise StateError(f"incomplete sync state entry at {filename}:{number}")
        state.append(_parse_entry(line, number, filename))
    if max_expired_near:
        _convert_max_expired_near(state, max_expired_near)
    return state


def format_entry(record: SyncRecord) -> bytes:
    """
    One state file line for C{record}, as mbsync 1.4 writes it.
    """
    status = record.status_bits
    dummy = "<" if status & _DUMMY_F else ">" if status & _DUMMY_N else ""
    mark = "^" if status & _SKIPPED else "~" if status & _EXPIRED else ""
    letters = _LETTERS_OF_FLAGS[int(record.flags) & 0x3F]
    return f"{record.far_uid} {record.near_uid} {dummy}{mark}{letters}\n".encode("ascii")


def format_state(state: SyncState) -> bytes:
    """
    The state file mbsync 1.4 C{save_state} writes for C{state}: header keys
    in mbsync's order, C{MaxExpiredFarUid} only when nonzero, a blank line,
    then every live record in list order.
    """
    header = (
        f"FarUidValidity {state.far_uid_validity}\n"
        f"NearUidValidity {state.near_uid_validity}\n"
        f"MaxPulledUid {state.max_pulled_uid}\n"
        f"MaxPushedUid {state.max_pushed_uid}\n"
    )
    if state.max_expired_far_uid:
        header += f"MaxExpiredFarUid {state.max_expired_far_uid}\n"
    parts = [header.encode("ascii"), b"\n"]
    parts.extend(format_entry(record) for record in state if not record.dead)
    return b"".join(parts)


# Where the state files live.


@dataclass(frozen=True, slots=True)
class StatePaths:
    """
    The files of one box pair's sync state.

    @ivar state: the state file.
    @ivar journal: C{<state>.journal}.
    @ivar new: C{<state>.new}, the next state being written.
    @ivar lock: C{<state>.lock}.
    @ivar directory: the one directory level mbsync creates (mode 0700)
        before use, or C{None} for in-box state (C{SyncState *}).
    """

    state: str
    journal: str
    new: str
    lock: str
    directory: str | None


def _expand_home(setting: str, home: str) -> str:
    if setting == "~" or setting.startswith("~/"):
        return home.rstrip("/") + setting[1:]
    return setting


def state_paths(
    channel_sync_state: str | None,
    global_sync_state: str | None,
    far_store: str,
    far_box: str,
    near_store: str,
    near_box: str,
    near_box_path: str | None,
    field_delimiter: str = ":",
    home: str = "~",
) -> StatePaths:
    """
    Compute the state file names as mbsync 1.4 C{prepare_state} does.

    The effective setting is the channel's C{SyncState}, else the global
    one, else C{~/.mbsync/}. C{*} puts the state into the near box
    (C{<near box dir>/.mbsyncstate}). A channel setting is a prefix for the
    near box name with every C{/} replaced by C{!}. A global setting is a
    directory prefix for C{<d>far store<d>far box_<d>near store<d>near box}
    (C{<d>} the FieldDelimiter, boxes with C{/} replaced by C{!}).

    @param near_box_path: the near box's directory, or C{None} if the near
        store cannot hold in-box state (not Maildir).
    @param home: the user's home directory, for a leading C{~/}.
    @raise StateError: for C{*} without a near box path, or when the name
        has no C{/} (mbsync's "invalid SyncState location").
    """
    if global_sync_state is None:
        global_sync_state = "~/.mbsync/"
    effective = channel_sync_state if channel_sync_state is not None else global_sync_state
    directory: str | None
    if effective == "*":
        if near_box_path is None:
            raise StateError(f"store '{near_store}' does not support in-box sync state")
        state = f"{near_box_path}/.mbsyncstate"
        directory = None
    else:
        near_clean = near_box.replace("/", "!")
        if channel_sync_state is not None:
            state = _expand_home(channel_sync_state, home) + near_clean
        else:
            d = field_delimiter
            far_clean = far_box.replace("/", "!")
            state = (
                f"{_expand_home(global_sync_state, home)}"
                f"{d}{far_store}{d}{far_clean}_{d}{near_store}{d}{near_clean}"
            )
        slash = state.rfind("/")
        if slash < 0:
            raise StateError(f"invalid SyncState location '{state}'")
        directory = state[:slash]
    return StatePaths(
        state=state,
        journal=f"{state}.journal",
        new=f"{state}.new",
        lock=f"{state}.lock",
        directory=directory,
    )
