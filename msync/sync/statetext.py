# -*- test-case-name: tests.sync.test_statetext -*-
"""
The text format of the mbsync 1.4 sync state file: L{parse_state} and
L{format_state}, and the emulation of the C library calls mbsync reads it
with (C{fgets}, C{sscanf}), which the journal's format
(L{msync.sync.journal}) shares.

Invariants:
  - L1: pure. Text in, text out; no files, clocks or Twisted.
  - C{format_state} writes exactly the bytes mbsync 1.4 C{save_state} writes
    for the same state, and C{parse_state} accepts exactly what mbsync 1.4
    C{load_state} accepts, failing with L{StateError} at the same line with
    mbsync's wording (without its C{"Error: "} prefix).
  - Dead records (L{Status.DEAD}) are never written.
"""

from __future__ import annotations

import re
import zlib
from array import array
from collections.abc import Iterator, Sequence
from typing import TypeAlias

from msync.digests import blake2b
from msync.errors import StateError
from msync.model import ALL_BITS, Flags, Side
from msync.sync.state import Status, SyncRecord, SyncState

#: mbsync reads the state file with C{fgets} into a 128-byte buffer.
LINE_BUFFER = 128

_UINT_MASK = 0xFFFFFFFF
_ULONG_MAX = 0xFFFFFFFFFFFFFFFF
_SPACE = b" \t\n\v\f\r"
_DIGITS = b"0123456789"
#: The order mbsync writes and (sequentially) parses flag letters.
_FLAG_LETTERS = b"DFPRST"

# Status bits as ints, for per-record tests (enum.Flag operators are slow).
_DUMMY_F = Status.DUMMY_F.value
_DUMMY_N = Status.DUMMY_N.value
_SKIPPED = Status.SKIPPED.value
_EXPIRED = Status.EXPIRED.value


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


def _parse_header(
    lines: Iterator[tuple[int, bytes, bool]], state: SyncState, filename: str, isync15: bool
) -> int:
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
            state.expired_key = Side.FAR
        elif key == b"MaxExpiredNearUid" and isync15:
            # isync 1.5 with ExpireSide Far.
            state.max_expired_far_uid = value[0]
            state.expired_key = Side.NEAR
        elif key in _HEADER_KEYS:
            if _HEADER_KEYS[key] == "max_expired_far_uid":
                state.expired_key = Side.FAR
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


def parse_state(text: bytes | str, filename: str, *, isync15: bool = False) -> SyncState:
    """
    Parse a sync state file as mbsync 1.4 C{load_state} does.

    @param text: the whole file.
    @param filename: the file's name, used in error messages.
    @param isync15: also accept isync 1.5's C{MaxExpiredNearUid}.
    @raise StateError: where and as mbsync rejects the file.
    """
    state = SyncState()
    lines = read_lines(as_bytes(text))
    max_expired_near = _parse_header(lines, state, filename, isync15)
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
    letters = _LETTERS_OF_FLAGS[int(record.flags) & ALL_BITS]
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
        key = "MaxExpiredFarUid" if state.expire_side is Side.NEAR else "MaxExpiredNearUid"
        header += f"{key} {state.max_expired_far_uid}\n"
    parts = [header.encode("ascii"), b"\n"]
    # Joined a few thousand lines at a time: a list of one small bytes
    # object per record would briefly cost ~60 bytes per message.
    records = state.records
    for start in range(0, len(records), _CHUNK):
        parts.append(
            b"".join(
                format_entry(record)
                for record in records[start : start + _CHUNK]
                if not record.dead
            )
        )
    return b"".join(parts)


_CHUNK = 4096


# A record section mbsync 1.4 or msync wrote: every line is what
# format_entry writes for the record parse_state reads from it (no leading
# zeros, one mark of the five that survive a round trip, letters in order).
# Possessive: a line matches one way only, so nothing is lost by never
# backtracking into the lines matched, and the engine keeps no state per
# line (a plain * held about 50 MB for 80,000 lines).
_CANONICAL_BODY = re.compile(
    rb"(?:(?:0|[1-9][0-9]{0,8}) (?:0|[1-9][0-9]{0,8}) [<>~^]?D?F?P?R?S?T?\n)*+"
)
_FAR_UIDS = re.compile(rb"^([0-9]+) ", re.MULTILINE)


#: The far and the near UID of each record line, in file order.
RecordUids: TypeAlias = "tuple[array[int], array[int]]"

_NEAR_UIDS = re.compile(rb"^[0-9]+ ([0-9]+) ", re.MULTILINE)


class RecordLines:
    """
    The record lines of a state file kept as read, for a run that parses
    only the records it touches (L{msync.sync.statefile.StateFile.select}):
    every line is canonical (L{format_entry} of its parsed record gives it
    back byte for byte), so a line of a record the run left alone is
    written again as it was read, and the result equals L{format_state} of
    the whole state.

    @ivar lines: the lines, without their newlines, in file order.
    """

    def __init__(
        self, lines: list[bytes], text: bytes | None = None, uids: RecordUids | None = None
    ) -> None:
        """
        @param text: the lines as read (each ending in a newline), if at
            hand: L{far_uids} and L{near_uids} then need not join them
            again.
        @param uids: the far and near UIDs of each line, if known (from the
            records cache, L{parse_records_cache}).
        """
        self.lines = lines
        self._text = text
        self._far: array[int] | None = None
        self._near: array[int] | None = None
        if uids is not None:
            self._far, self._near = uids

    def _joined(self) -> bytes:
        return self._text if self._text is not None else b"\n".join(self.lines) + b"\n"

    def far_uids(self) -> Sequence[int]:
        """
        @return: the far UID of each line, in order.
        """
        if self._far is None:
            self._far = array("I", map(int, _FAR_UIDS.findall(self._joined())))
        return self._far

    def near_uids(self) -> Sequence[int]:
        """
        @return: the near UID of each line, in order.
        """
        if self._near is None:
            self._near = array("I", map(int, _NEAR_UIDS.findall(self._joined())))
        return self._near

    def marked(self) -> bool:
        """
        Whether a line carries a placeholder, skipped or expired mark
        (C{<}, C{>}, C{^}, C{~}): searched in the text, no line parsed.
        """
        text = self._joined()
        return any(mark in text for mark in (b"<", b">", b"^", b"~"))

    def record(self, index: int, filename: str) -> SyncRecord:
        """
        @return: the record of line C{index} (0-based), parsed.
        """
        return _parse_entry(self.lines[index], index + 1, filename)

    def records(self, filename: str) -> Iterator[SyncRecord]:
        """
        @return: every line's record, in order.
        """
        for index, line in enumerate(self.lines):
            yield _parse_entry(line, index + 1, filename)


def split_state(
    text: bytes, filename: str, *, isync15: bool = False, uids: RecordUids | None = None
) -> tuple[SyncState, RecordLines] | None:
    """
    Parse a state file's header only, keeping its records as lines.

    @param uids: the far and near UIDs of the record lines from the
        records cache (L{parse_records_cache}), which vouches that C{text}
        is canonical: its record lines are not checked again.
    @return: the state without records and the record lines, or C{None}
        when the file is not in the canonical form (a legacy header, a
        line mbsync would write differently): then parse it whole.
    @raise StateError: the header is broken (as L{parse_state}).
    """
    end = text.find(b"\n\n")
    if end < 0 or text[:1].isdigit():
        return None
    state = SyncState()
    if _parse_header(read_lines(text[: end + 2]), state, filename, isync15):
        return None
    body = text[end + 2 :]
    vouched = (
        uids is not None
        and body[-1:] in (b"", b"\n")
        and len(uids[0]) == len(uids[1]) == body.count(b"\n")
    )
    if not vouched:
        uids = None
        if _CANONICAL_BODY.fullmatch(body) is None:
            return None
    lines = body.split(b"\n")
    lines.pop()
    return state, RecordLines(lines, body, uids)


def format_merged(
    state: SyncState, lines: RecordLines, taken: Sequence[tuple[int, SyncRecord]]
) -> bytes:
    """
    What L{format_state} writes for the whole state, when C{state} holds
    only the records C{taken} from C{lines} (line index and record, in
    file order) followed by records added since: the lines not taken as
    read, each taken record in its line's place (none once dead), then the
    added records.
    """
    return format_merged_indexed(state, lines, taken)[0]


def format_merged_indexed(
    state: SyncState, lines: RecordLines, taken: Sequence[tuple[int, SyncRecord]]
) -> tuple[bytes, RecordUids | None]:
    """
    L{format_merged}, with the far and near UIDs of each record line
    written when every line is canonical (the lines kept are, as C{lines} holds only
    canonical lines), else C{None}: what the records cache
    (L{format_records_cache}) keeps for the next partial run.
    """
    header = format_state(_header_only(state))
    parts = [header]
    source = lines.lines
    old_far, old_near = lines.far_uids(), lines.near_uids()
    far, near = array("I"), array("I")
    written: list[bytes] = []
    position = 0
    mine = set()
    for index, record in taken:
        mine.add(id(record))
        if index > position:
            parts.append(b"\n".join(source[position:index]) + b"\n")
            far.extend(old_far[position:index])
            near.extend(old_near[position:index])
        if not record.dead:
            line = format_entry(record)
            parts.append(line)
            written.append(line)
            far.append(record.far_uid & _UINT_MASK)
            near.append(record.near_uid & _UINT_MASK)
        position = index + 1
    if position < len(source):
        parts.append(b"\n".join(source[position:]) + b"\n")
        far.extend(old_far[position:])
        near.extend(old_near[position:])
    for record in state.records:
        if id(record) not in mine and not record.dead:
            line = format_entry(record)
            parts.append(line)
            written.append(line)
            far.append(record.far_uid & _UINT_MASK)
            near.append(record.near_uid & _UINT_MASK)
    canonical = _CANONICAL_BODY.fullmatch(b"".join(written)) is not None
    return b"".join(parts), (far, near) if canonical else None


def canonical_uids(state: SyncState) -> RecordUids | None:
    """
    The far and near UIDs of each line L{format_state} writes for C{state}, when
    every such line is canonical (as L{split_state} checks it), else
    C{None}: what the records cache keeps after a full write.

    A line L{format_entry} writes is canonical unless a UID has ten digits
    or more, or a record is both a dummy and skipped or expired (two marks,
    which do not survive a round trip).
    """
    live = [record for record in state.records if not record.dead]
    far = [record.far_uid for record in live]
    near = [record.near_uid for record in live]
    if far and not (0 <= min(far) and max(far) <= _CANONICAL_MAX):
        return None
    if near and not (0 <= min(near) and max(near) <= _CANONICAL_MAX):
        return None
    marks = _DUMMY_F | _DUMMY_N
    for bits in {record.status_bits for record in live}:
        if bits & marks and bits & (_SKIPPED | _EXPIRED):
            return None
    return array("I", far), array("I", near)


#: The highest UID a canonical line holds (nine digits).
_CANONICAL_MAX = 999_999_999

#: The records cache: C{<state>.msync-records}, msync's own (mbsync ignores
#: it), which vouches for one state file's text by its digest.
RECORDS_MAGIC = b"msync-records"
RECORDS_VERSION = 2


def state_digest(text: bytes) -> bytes:
    """
    @return: the digest of a state file's text the records cache names.
    """
    return blake2b(text, digest_size=16).hexdigest().encode("ascii")


def format_records_cache(text: bytes, uids: RecordUids) -> bytes:
    """
    The records cache for the state file C{text}, whose record lines are
    all canonical and hold the far and near UIDs C{uids} in order. Format
    (one machine only, native byte order): C{msync-records 2 <digest>
    <count>\\n}, the far UIDs then the near UIDs as unsigned 32-bit
    integers, then the CRC-32 of everything before as 4 bytes.
    """
    far, near = uids
    assert len(far) == len(near)
    body = b"%s %d %s %d\n" % (RECORDS_MAGIC, RECORDS_VERSION, state_digest(text), len(far))
    body += far.tobytes() + near.tobytes()
    return body + zlib.crc32(body).to_bytes(4, "big")


def parse_records_cache(data: bytes | None, text: bytes) -> RecordUids | None:
    """
    @return: the far and near UIDs of C{text}'s record lines from the
        records cache C{data}, if it is whole, of this version and names C{text} by its
        digest (so C{text} is the canonical text it was written for); else
        C{None}.
    """
    if data is None or len(data) < 4:
        return None
    body, check = data[:-4], data[-4:]
    if zlib.crc32(body).to_bytes(4, "big") != check:
        return None
    end = body.find(b"\n", 0, 128)
    words = body[:end].split(b" ") if end >= 0 else []
    if len(words) != 4 or words[0] != RECORDS_MAGIC or words[1] != b"%d" % RECORDS_VERSION:
        return None
    if words[2] != state_digest(text) or not words[3].isdigit():
        return None
    far, near = array("I"), array("I")
    size = int(words[3]) * far.itemsize
    if len(body) - end - 1 != 2 * size:
        return None
    far.frombytes(body[end + 1 : end + 1 + size])
    near.frombytes(body[end + 1 + size :])
    return far, near


def _header_only(state: SyncState) -> SyncState:
    header = SyncState(
        state.far_uid_validity,
        state.near_uid_validity,
        state.max_pulled_uid,
        state.max_pushed_uid,
        state.max_expired_far_uid,
    )
    header.expire_side = state.expire_side
    return header
