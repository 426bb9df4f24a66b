# -*- test-case-name: tests.sync.test_journal5 -*-
"""
The mbsync 1.5 sync journal (version C{5}) beside 1.4's (version C{4}, in
L{msync.sync.journal}): msync's operations written as 1.5 writes them, and
1.5's journals replayed onto msync's state. Facts from isync 1.5.0's
C{sync_state.c} (C{load_state}) and C{sync_p.h} (status bits).

Invariants:
  - L1: pure; text in, values out.
  - msync's planner thinks in 1.4's operations; L{format_line} writes an
    operation as the 1.5 lines that make 1.5's replay reach the same
    state: status bits renumbered (1.5 inserts C{DEAD} and C{NEXPIRE}
    bits), 1.4's C{^ F N pflags flags} as C{* F N flags} plus
    C{^ F N pflags}, 1.4's C{= F N} (expire an unborn record) as
    C{~ F N EXPIRE|EXPIRED} plus C{- F N}; 1.4's C{! uid} has no 1.5
    line (1.5 raises its expired bound while replaying C{~}) and is left
    to the commit. 1.5's replay of C{<}/C{>} sets the record's flags to
    its pending flags, so the state file writes C{* F N flags} after a
    non-zero UID assignment (see L{needs_flags_after}).
  - L{replay_v5} accepts what 1.5's C{load_state} accepts and fails at
    the same line with its wording; C{%}, C{$} and C{P} (pending flags,
    an upgrade's flag changes, a purged placeholder) are applied as 1.5
    applies them.
  - L{replay_any} dispatches on the version line: following 1.5, C{5}
    and (for state 1.4 left behind) C{4} are replayed; following 1.4,
    only C{4}, as mbsync 1.4 refuses C{5}. Anything else is refused with
    the expected version of the generation in use.
"""

from __future__ import annotations

from msync.errors import StateError
from msync.model import Flags, Side
from msync.sync.journal import (
    JOURNAL_VERSION,
    TUID_LENGTH,
    AssignUid,
    ExpireUnborn,
    JournalOp,
    MakePlaceholder,
    NewRecord,
    SetFindUid,
    SetMaxExpiredFarUid,
    SetMaxUid,
    SetStatus,
    Trashed,
    UidValidities,
    UpgradePlaceholder,
    apply_op,
    assign_uid,
    format_journal_line,
    parse_journal,
    replay,
    upgrade_record,
)
from msync.sync.state import Status, SyncRecord, SyncState
from msync.sync.statetext import as_bytes, read_lines, scan_uints

#: The journal version mbsync 1.5 writes and reads.
JOURNAL_V5 = "5"

# Status bits: msync's (1.4's) value -> 1.5's value (sync_p.h's enum:
# DEAD 1, EXPIRE 2, EXPIRED 4, NEXPIRE 8, PENDING 16, DUMMY_F 32,
# DUMMY_N 64, SKIPPED 128).
_TO_V5 = {
    Status.EXPIRE: 2,
    Status.EXPIRED: 4,
    Status.PENDING: 16,
    Status.DUMMY_F: 32,
    Status.DUMMY_N: 64,
    Status.SKIPPED: 128,
}
_V5_DEAD = 1
_V5_EXPIRED = 4


def status_to_v5(status: Status) -> int:
    """
    A status in 1.5's bit numbering (only the journaled bits).
    """
    return sum(v5 for bit, v5 in _TO_V5.items() if status & bit)


def status_from_v5(bits: int) -> Status:
    """
    A 1.5 status as msync's bits; ephemeral 1.5 bits are dropped.
    """
    status = Status.NONE
    for bit, v5 in _TO_V5.items():
        if bits & v5:
            status |= bit
    return status


def journal_header(version: str) -> bytes:
    """
    The first line of a journal of C{version}.
    """
    return version.encode("ascii") + b"\n"


def format_line(op: JournalOp, version: str) -> bytes:
    """
    The journal line(s), with newlines, for C{op} in C{version}; C{b""}
    for an operation version 5 has no line for.
    """
    if version == JOURNAL_VERSION:
        return format_journal_line(op)
    match op:
        case SetStatus(far, near, status):
            return f"~ {far} {near} {status_to_v5(status)}\n".encode("ascii")
        case UpgradePlaceholder(far, near, pending, flags):
            return f"* {far} {near} {int(flags)}\n^ {far} {near} {int(pending)}\n".encode("ascii")
        case ExpireUnborn(far, near):
            expired = status_to_v5(Status.EXPIRE | Status.EXPIRED)
            return f"~ {far} {near} {expired}\n- {far} {near}\n".encode("ascii")
        case SetMaxExpiredFarUid():
            return b""
    return format_journal_line(op)


def needs_flags_after(op: JournalOp, version: str) -> tuple[int, int] | None:
    """
    Whether, in C{version}, the record's flags must be written again after
    C{op} (1.5's replay of a UID assignment sets the flags to the pending
    ones, which msync does not journal).

    @return: the record's (far, near) UIDs after the operation, or C{None}.
    """
    if version == JOURNAL_VERSION or not isinstance(op, AssignUid) or not op.uid:
        return None
    if op.side is Side.FAR:
        return op.uid, op.near_uid
    return op.far_uid, op.uid


def flags_line(record: SyncRecord) -> bytes:
    """
    C{* F N flags} for a record.
    """
    return f"* {record.far_uid} {record.near_uid} {int(record.flags)}\n".encode("ascii")


# Ops by the number of unsigned arguments mbsync 1.5 scans for them.
_V5_TWO = frozenset(b"NFTP+&-_|")
_V5_THREE = frozenset(b"<>*%~^")


class _Replay5:
    """
    The mutable state of one version 5 replay.
    """

    def __init__(self, state: SyncState, filename: str, expire_side: Side) -> None:
        self.state = state
        self.filename = filename
        self.expire_side = expire_side
        self.last: SyncRecord | None = None
        # 1.5's newmaxuid starts at the max UIDs the state file gave.
        state.replay_max = {side: state.max_uid(side) for side in Side}
        # An upgrade's flag changes ($), per record, until its UID is assigned.
        self.changes: dict[int, tuple[Flags, Flags]] = {}

    def line(self, number: int, line: bytes) -> None:
        where = f"{self.filename}:{number}"
        code = line[:1]
        args = line[2:]
        if code == b"#":
            scanned = scan_uints(args, 2)
            rest = args[scanned[1] :].lstrip() if scanned is not None else b""
            if scanned is None or len(rest) != TUID_LENGTH or rest == args[scanned[1] :]:
                raise StateError(f"malformed journal entry at {where}")
            values = scanned[0]
        elif code and code[0] in _V5_TWO | _V5_THREE or code == b"$":
            count = 2 if code[0] in _V5_TWO else 3 if code[0] in _V5_THREE else 4
            scanned = scan_uints(args, count)
            if scanned is None:
                raise StateError(f"malformed journal entry at {where}")
            values = scanned[0]
        else:
            raise StateError(f"unrecognized journal entry at {where}")
        try:
            self.apply(code, values, rest if code == b"#" else b"")
        except LookupError:
            raise StateError(
                f"journal entry at {where} refers to non-existing sync state entry"
            ) from None
        except ValueError:
            # A side other than 0 or 1: 1.5 would index out of bounds.
            raise StateError(f"malformed journal entry at {where}") from None

    def apply(self, code: bytes, values: list[int], tuid: bytes) -> None:
        a, b = values[0], values[1]
        header: JournalOp | None = None
        match code:
            case b"N":
                header = SetMaxUid(Side(a), b)
            case b"F":
                header = SetFindUid(Side(a), b)
            case b"T":
                header = Trashed(Side(a), b)
            case b"|":
                header = UidValidities(a, b)
            case b"+":
                header = NewRecord(a, b)
        if header is not None:
            self.last = apply_op(self.state, header, self.last)
            raised = self.state.replay_max
            if code == b"N":
                # Sets the max UID and newmaxuid alike.
                raised[Side(a)] = b
            elif code == b"+":
                # A new record raises newmaxuid, not the max UID: what is
                # new in this run stays new (the commit takes it up).
                raised[Side.FAR] = max(raised[Side.FAR], a)
                raised[Side.NEAR] = max(raised[Side.NEAR], b)
            return
        record = self.state.by_pair(a, b, self.last)
        if record is None:
            raise LookupError((a, b))
        self.last = self.record(record, code, values, tuid)

    def record(self, record: SyncRecord, code: bytes, values: list[int], tuid: bytes) -> SyncRecord:
        state = self.state
        match code:
            case b"-":
                record.status = Status.DEAD
            case b"#":
                record.tuid = tuid.decode("ascii", "surrogateescape")
            case b"&":
                record.tuid = None
            case b"<" | b">":
                side = Side.FAR if code == b"<" else Side.NEAR
                self.assign(record, side, values[2])
            case b"*":
                record.flags = Flags(values[2] & 0xFF)
            case b"%":
                record.pending_flags = Flags(values[2] & 0xFF)
            case b"P":
                self.changes.pop(id(record), None)
                record.purging = False
            case b"~":
                record.status = status_from_v5(values[2])
                if values[2] & _V5_EXPIRED:
                    uid = record.uid(self.expire_side.other)
                    state.max_expired_far_uid = max(state.max_expired_far_uid, uid)
            case b"_":
                apply_op(state, MakePlaceholder(record.far_uid, record.near_uid), record)
            case b"^":
                record.pending_flags = Flags(values[2] & 0xFF)
                placeholder = upgrade_record(state, record)
                # 1.5 marks the placeholder for deletion (aflags DELETED).
                self.changes[id(placeholder)] = (Flags.DELETED, Flags.NONE)
                return placeholder
            case b"$":
                self.changes[id(record)] = (Flags(values[2] & 0xFF), Flags(values[3] & 0xFF))
        return record

    def assign(self, record: SyncRecord, side: Side, uid: int) -> None:
        if uid:
            if record.upgrading:
                added, removed = self.changes.pop(id(record), (Flags.NONE, Flags.NONE))
                record.flags = (record.flags | added) & ~removed
            else:
                record.flags = record.pending_flags
        assign_uid(self.state, record, side, uid, follow=False)
        raised = self.state.replay_max
        if uid == raised[side] + 1:
            raised[side] = uid


def replay_v5(
    state: SyncState, text: bytes | str, filename: str, expire_side: Side = Side.NEAR
) -> bool:
    """
    Replay a version 5 journal onto C{state}, as mbsync 1.5 does on load.

    @param expire_side: the channel's C{ExpireSide} (1.5 raises the
        expired bound from the other side's UID).
    @return: whether there was anything to replay (an empty file has not).
    @raise StateError: where and as mbsync 1.5 rejects the journal.
    """
    lines = read_lines(as_bytes(text))
    first = next(lines, None)
    if first is None:
        return False
    _, header, complete = first
    if not complete:
        raise StateError(f"incomplete journal header in {filename}")
    if header != JOURNAL_V5.encode("ascii"):
        got = header.decode("ascii", "replace")
        raise StateError(
            f"incompatible journal version (got {got}, expected {JOURNAL_V5}) in {filename}"
        )
    run = _Replay5(state, filename, expire_side)
    for number, line, complete in lines:
        if not complete:
            raise StateError(f"incomplete journal entry at {filename}:{number}")
        run.line(number, line)
    return True


def journal_version(text: bytes | str) -> str | None:
    """
    The version line of a journal, or C{None} if it has none.
    """
    data = as_bytes(text)
    end = data.find(b"\n")
    if end < 0:
        return None
    return data[:end].decode("ascii", "replace")


def replay_any(
    state: SyncState,
    text: bytes | str,
    filename: str,
    expected: str = JOURNAL_VERSION,
    expire_side: Side = Side.NEAR,
) -> str | None:
    """
    Replay a journal of either version.

    @param expected: the version of the generation in use: C{4} replays
        only version 4 journals (as mbsync 1.4), C{5} both.
    @return: the version replayed, or C{None} for an empty journal.
    @raise StateError: the journal is refused.
    """
    version = journal_version(text)
    if version == JOURNAL_V5 and expected == JOURNAL_V5:
        return JOURNAL_V5 if replay_v5(state, text, filename, expire_side) else None
    if version is not None and version != JOURNAL_VERSION and expected == JOURNAL_V5:
        raise StateError(
            f"incompatible journal version (got {version}, expected {JOURNAL_V5}) in {filename}"
        )
    ops = parse_journal(text, filename)
    if not ops and version is None:
        return None
    replay(state, ops, filename)
    return JOURNAL_VERSION
