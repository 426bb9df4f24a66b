# -*- test-case-name: tests.sync.test_journal -*-
"""
The mbsync 1.4 sync journal (version C{4}): typed operations, their line
format, and their replay onto a L{SyncState}.

Invariants:
  - L1: pure; text in, values out.
  - C{format_journal_line} writes exactly the line mbsync 1.4 writes for the
    same operation; C{parse_journal} accepts exactly what mbsync 1.4
    C{load_state} accepts and fails with L{StateError} at the same line,
    with mbsync's wording (without C{"Error: "}).
  - C{replay} changes a state exactly as mbsync's replay does. Records are
    addressed by their (far, near) UID pair, searched from the record the
    previous operation touched onward, then from the start. An operation
    being made (not replayed) prefers a live record to a dead one with the
    same pair: after a crash, replay leaves dead records whose pairs the
    resumed run reuses (mbsync addresses its records directly there).
  - A journal whose last line is incomplete (crash mid-write) is rejected
    with C{incomplete journal entry at <file>:<line>}, as mbsync 1.4 does
    (verified by truncating real journals); an empty journal means "nothing
    to replay". The caller replays only when C{<state>.new} exists.
  - Only version C{4} is read. mbsync 1.5 writes version C{5} and 1.4 refuses
    it; so do we: 1.5 changed the meaning of status bits and ops (its
    records carry bits 1.4 does not know), so replaying a v5 journal with v4
    semantics would silently corrupt the state. Refusing leaves the journal
    in place for the user (or 1.5) to recover.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeAlias

from msync.errors import StateError
from msync.model import Flags, Side
from msync.records import record
from msync.sync.state import Status, SyncRecord, SyncState
from msync.sync.statetext import as_bytes, read_lines, scan_uint, scan_uints

#: The journal version mbsync 1.4 writes and reads.
JOURNAL_VERSION = "4"
#: The first line of every journal.
JOURNAL_HEADER = b"4\n"
#: Length of a TUID.
TUID_LENGTH = 12


@record
class UidValidities:
    """
    C{| uvF uvN}: a new UIDVALIDITY pair was adopted.
    """

    far: int
    near: int


@record
class NewRecord:
    """
    C{+ F N}: a new record (one UID 0), status PENDING, appended.
    """

    far_uid: int
    near_uid: int


@record
class AssignTuid:
    """
    C{# F N TUID}: a TUID was assigned before storing a copy.
    """

    far_uid: int
    near_uid: int
    tuid: str


@record
class LoseTuid:
    """
    C{& F N}: the copy carrying the TUID was not found; stays PENDING.
    """

    far_uid: int
    near_uid: int


@record
class AssignUid:
    """
    C{< F N uid} (far) or C{> F N uid} (near): the UID on C{side} is now
    C{uid} (0: the message is gone).
    """

    far_uid: int
    near_uid: int
    side: Side
    uid: int


@record
class SetFlags:
    """
    C{* F N flags}: the record's synchronized flags (numeric).
    """

    far_uid: int
    near_uid: int
    flags: Flags


@record
class SetStatus:
    """
    C{~ F N status}: the record's status bits (numeric).
    """

    far_uid: int
    near_uid: int
    status: Status


@record
class MakePlaceholder:
    """
    C{_ F N}: the copy on the empty side is a placeholder.
    """

    far_uid: int
    near_uid: int


@record
class UpgradePlaceholder:
    """
    C{^ F N pflags flags}: a placeholder upgrade started; the record is
    split and the placeholder moves to a new record right after it.
    """

    far_uid: int
    near_uid: int
    pending_flags: Flags
    flags: Flags


@record
class KillRecord:
    """
    C{- F N}: the record is dead.
    """

    far_uid: int
    near_uid: int


@record
class ExpireUnborn:
    """
    C{= F N}: an unpropagated record expired; killed, and
    MaxExpiredFarUid raised to its far UID.
    """

    far_uid: int
    near_uid: int


@record
class SetMaxUid:
    """
    C{N side uid}: MaxPulledUid (far) or MaxPushedUid (near).
    """

    side: Side
    uid: int


@record
class SetFindUid:
    """
    C{F side uid}: UIDNEXT of C{side} saved before storing copies.
    """

    side: Side
    uid: int


@record
class Trashed:
    """
    C{T side uid}: the message was moved to C{side}'s Trash.
    """

    side: Side
    uid: int


@record
class SetMaxExpiredFarUid:
    """
    C{! uid}: MaxExpiredFarUid.
    """

    uid: int


RecordOp: TypeAlias = (
    AssignTuid
    | LoseTuid
    | AssignUid
    | SetFlags
    | SetStatus
    | MakePlaceholder
    | UpgradePlaceholder
    | KillRecord
    | ExpireUnborn
)
JournalOp: TypeAlias = (
    UidValidities | NewRecord | RecordOp | SetMaxUid | SetFindUid | Trashed | SetMaxExpiredFarUid
)

_SIDE_CODES = {Side.FAR: "<", Side.NEAR: ">"}


def _new_record_line(op: NewRecord) -> bytes:
    return f"+ {op.far_uid} {op.near_uid}\n".encode("ascii")


def _assign_tuid_line(op: AssignTuid) -> bytes:
    return f"# {op.far_uid} {op.near_uid} {op.tuid}\n".encode("ascii")


def _assign_uid_line(op: AssignUid) -> bytes:
    return f"{_SIDE_CODES[op.side]} {op.far_uid} {op.near_uid} {op.uid}\n".encode("ascii")


def _set_flags_line(op: SetFlags) -> bytes:
    return f"* {op.far_uid} {op.near_uid} {int(op.flags)}\n".encode("ascii")


#: The lines of a pull's operations (several per message), by type: one
#: lookup instead of the match statement's tests, case after case.
_PULL_LINES: dict[type, Callable[[Any], bytes]] = {
    NewRecord: _new_record_line,
    AssignTuid: _assign_tuid_line,
    AssignUid: _assign_uid_line,
    SetFlags: _set_flags_line,
}


def format_journal_line(op: JournalOp) -> bytes:
    """
    The journal line (with newline) mbsync 1.4 writes for C{op}.
    """
    line = _PULL_LINES.get(type(op))
    if line is not None:
        return line(op)
    # Every operation, the pull's included: tests check the lines by type
    # against these.
    match op:
        case UidValidities(far, near):
            text = f"| {far} {near}"
        case NewRecord(far, near):
            text = f"+ {far} {near}"
        case AssignTuid(far, near, tuid):
            text = f"# {far} {near} {tuid}"
        case LoseTuid(far, near):
            text = f"& {far} {near}"
        case AssignUid(far, near, side, uid):
            text = f"{_SIDE_CODES[side]} {far} {near} {uid}"
        case SetFlags(far, near, flags):
            text = f"* {far} {near} {int(flags)}"
        case SetStatus(far, near, status):
            text = f"~ {far} {near} {status.value}"
        case MakePlaceholder(far, near):
            text = f"_ {far} {near}"
        case UpgradePlaceholder(far, near, pending, flags):
            text = f"^ {far} {near} {int(pending)} {int(flags)}"
        case KillRecord(far, near):
            text = f"- {far} {near}"
        case ExpireUnborn(far, near):
            text = f"= {far} {near}"
        case SetMaxUid(side, uid):
            text = f"N {side.value} {uid}"
        case SetFindUid(side, uid):
            text = f"F {side.value} {uid}"
        case Trashed(side, uid):
            text = f"T {side.value} {uid}"
        case SetMaxExpiredFarUid(uid):
            text = f"! {uid}"
    return text.encode("ascii") + b"\n"


# Ops by the number of unsigned arguments mbsync scans for them.
_TWO_ARGS = frozenset(b"NFT+&-=_|")


def _side(value: int, where: str) -> Side:
    # mbsync indexes a two-element array with this value unchecked; anything
    # but 0 or 1 would be memory corruption there, so call it malformed.
    if value not in (0, 1):
        raise StateError(f"malformed journal entry at {where}")
    return Side(value)


def _parse_tuid_line(args: bytes, where: str) -> AssignTuid:
    # sscanf(args, "%u %u %n") and then exactly TUID_LENGTH bytes remain.
    scanned = scan_uints(args, 2)
    if scanned is None:
        raise StateError(f"malformed journal entry at {where}")
    (far, near), position = scanned
    space_end = position
    while space_end < len(args) and args[space_end] in b" \t\n\v\f\r":
        space_end += 1
    if space_end == position or len(args) - space_end != TUID_LENGTH:
        raise StateError(f"malformed journal entry at {where}")
    tuid = args[space_end:].decode("ascii", "surrogateescape")
    return AssignTuid(far, near, tuid)


def parse_journal_line(line: bytes, where: str) -> JournalOp:
    """
    Parse one journal line (without newline) as mbsync 1.4 does.

    @param where: C{"<file>:<line>"} for error messages.
    @raise StateError: C{malformed journal entry} or C{unrecognized journal
        entry}.
    """
    code = line[:1]
    # mbsync skips the op character and the one after it unchecked.
    args = line[2:]
    if code == b"#":
        return _parse_tuid_line(args, where)
    if code == b"!":
        single = scan_uint(args, 0)
        if single is None:
            raise StateError(f"malformed journal entry at {where}")
        return SetMaxExpiredFarUid(single[0])
    count = 2 if code and code[0] in _TWO_ARGS else 4 if code == b"^" else 3
    scanned = scan_uints(args, count)
    if scanned is None:
        raise StateError(f"malformed journal entry at {where}")
    values = scanned[0]
    a, b = values[0], values[1]
    match code:
        case b"|":
            return UidValidities(a, b)
        case b"+":
            return NewRecord(a, b)
        case b"&":
            return LoseTuid(a, b)
        case b"_":
            return MakePlaceholder(a, b)
        case b"-":
            return KillRecord(a, b)
        case b"=":
            return ExpireUnborn(a, b)
        case b"N":
            return SetMaxUid(_side(a, where), b)
        case b"F":
            return SetFindUid(_side(a, where), b)
        case b"T":
            return Trashed(_side(a, where), b)
        case b"<":
            return AssignUid(a, b, Side.FAR, values[2])
        case b">":
            return AssignUid(a, b, Side.NEAR, values[2])
        case b"*":
            return SetFlags(a, b, Flags(values[2] & 0xFF))
        case b"~":
            return SetStatus(a, b, Status(values[2] & 0xFF))
        case b"^":
            return UpgradePlaceholder(a, b, Flags(values[2] & 0xFF), Flags(values[3] & 0xFF))
    # mbsync would first look the pair up and may report a missing record
    # instead; either way the journal is rejected at this line.
    raise StateError(f"unrecognized journal entry at {where}")


def parse_journal(text: bytes | str, filename: str) -> list[JournalOp]:
    """
    Parse a whole journal. An empty journal has nothing to replay.

    @param filename: the journal's name, used in error messages.
    @return: the operations; operation C{i} is on line C{i + 2}.
    @raise StateError: where and as mbsync 1.4 rejects the journal
        (incomplete header, other version, incomplete, malformed or
        unrecognized entry).
    """
    lines = read_lines(as_bytes(text))
    first = next(lines, None)
    if first is None:
        return []
    _, header, complete = first
    if not complete:
        raise StateError(f"incomplete journal header in {filename}")
    if header != JOURNAL_VERSION.encode("ascii"):
        got = header.decode("ascii", "replace")
        raise StateError(
            f"incompatible journal version (got {got}, expected {JOURNAL_VERSION}) in {filename}"
        )
    ops: list[JournalOp] = []
    for number, line, complete in lines:
        where = f"{filename}:{number}"
        if not complete:
            raise StateError(f"incomplete journal entry at {where}")
        ops.append(parse_journal_line(line, where))
    return ops


_PENDING: Final = Status.PENDING.value


def assign_uid(
    state: SyncState, record: SyncRecord, side: Side, uid: int, *, follow: bool = True
) -> None:
    """
    Give C{record} the UID C{uid} on C{side} as mbsync's C{assign_uid}
    does: the side's max UID follows when C{uid} is the next one (after
    what a version 5 replay raised, L{SyncState.replay_max}: 1.5's
    C{newmaxuid}), and the record is no longer pending, upgrading or
    carrying a TUID.

    @param follow: whether the max UID follows (a version 5 replay raises
        L{SyncState.replay_max} itself instead).
    """
    status = record.status
    if status.value & _PENDING:
        status = Status(status.value & ~_PENDING)
    record.assign(side, uid, status)
    if follow and uid == max(state.max_uid(side), state.replay_max[side]) + 1:
        state.set_max_uid(side, uid)
    record.upgrading = False
    record.tuid = None


def upgrade_record(state: SyncState, record: SyncRecord) -> SyncRecord:
    """
    Split C{record} for a placeholder upgrade as mbsync's C{upgrade_srec}
    does: the placeholder's UID moves to a new record inserted right after
    it (marked for purging), and C{record} becomes PENDING and upgrading.

    @return: the new placeholder record.
    """
    side = Side.FAR if record.status & Status.DUMMY_F else Side.NEAR
    placeholder = SyncRecord(0, 0)
    placeholder.set_uid(side, record.uid(side))
    placeholder.purging = True
    state.insert_after(record, placeholder)
    record.set_uid(side, 0)
    record.status = (record.status & ~(Status.DUMMY_F | Status.DUMMY_N)) | Status.PENDING
    record.upgrading = True
    return placeholder


def _apply_to_record(state: SyncState, record: SyncRecord, op: RecordOp) -> SyncRecord:
    # A pull's operations first, without the match statement's tests.
    if isinstance(op, AssignUid):
        assign_uid(state, record, op.side, op.uid)
        return record
    if isinstance(op, SetFlags):
        record.flags = op.flags
        record.purging = False
        return record
    if isinstance(op, AssignTuid):
        record.tuid = op.tuid
        return record
    # The others.
    match op:
        case KillRecord():
            record.status = Status.DEAD
        case ExpireUnborn():
            uid = record.uid(state.expire_side.other)
            state.max_expired_far_uid = max(state.max_expired_far_uid, uid)
            record.status = Status.DEAD
        case LoseTuid():
            record.tuid = None
        case SetStatus(status=status):
            record.status = status
        case MakePlaceholder():
            side = Side.FAR if not record.far_uid else Side.NEAR
            record.status = Status.PENDING | Status.dummy(side)
        case UpgradePlaceholder(pending_flags=pending, flags=flags):
            record.pending_flags = pending
            record.flags = flags
            return upgrade_record(state, record)
    return record


def apply_op(
    state: SyncState,
    op: JournalOp,
    last: SyncRecord | None = None,
    *,
    live: bool = False,
) -> SyncRecord | None:
    """
    Apply one operation to C{state} as mbsync's replay does.

    @param last: the record the previous operation touched; record lookups
        start there.
    @param live: the operation is being made now, not replayed: it means a
        live record whenever one has its UID pair (see L{SyncState.by_pair}).
        Replay looks at dead records too, as mbsync's does.
    @return: the record this operation touched (the next C{last}), or
        C{last} for operations on the header.
    @raise LookupError: no record has the operation's UID pair.
    """
    if isinstance(op, RecordOp):
        # The usual case (a record's operation), without the header's cases.
        record = state.by_pair(op.far_uid, op.near_uid, last, prefer_live=live)
        if record is None:
            raise LookupError((op.far_uid, op.near_uid))
        return _apply_to_record(state, record, op)
    match op:
        case UidValidities(far, near):
            state.far_uid_validity, state.near_uid_validity = far, near
        case NewRecord(far, near):
            return state.append(SyncRecord(far, near, status=Status.PENDING))
        case SetMaxUid(side, uid):
            state.set_max_uid(side, uid)
        case SetFindUid(side, uid):
            state.find_uid[side] = uid
        case Trashed(side, uid):
            state.trashed[side].append(uid)
        case SetMaxExpiredFarUid(uid):
            state.max_expired_far_uid = uid
        case _:
            record = state.by_pair(op.far_uid, op.near_uid, last, prefer_live=live)
            if record is None:
                raise LookupError((op.far_uid, op.near_uid))
            return _apply_to_record(state, record, op)
    return last


def replay(state: SyncState, ops: list[JournalOp], filename: str = "journal") -> None:
    """
    Replay parsed journal operations onto C{state}, as mbsync does on load.

    @param filename: the journal's name, for error messages; operation
        C{i} is reported as line C{i + 2} (line 1 is the version).
    @raise StateError: an operation refers to a record that does not exist
        (C{journal entry at <file>:<line> refers to non-existing sync state
        entry}).
    """
    last: SyncRecord | None = None
    for index, op in enumerate(ops):
        try:
            last = apply_op(state, op, last)
        except LookupError:
            raise StateError(
                f"journal entry at {filename}:{index + 2} refers to non-existing sync state entry"
            ) from None
