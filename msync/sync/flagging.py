# -*- test-case-name: tests.sync.test_reconcile -*-
"""
The flag step of a box pair sync (mbsync "synchronizing flags",
C{flags_set}, C{flags_set_p2}): the flag updates reconciling decided, and
what their completion means for each record (its synchronized flags, a
propagated deletion, the state of an expiry transaction).

Invariants:
  - L1: pure. No Twisted, no I/O, no clocks.
  - An update changes only flags the message does not already have (or
    lacks); a message about to be expunged gets only its deletion.
  - A record's new flags are journaled (C{*}) only once its updates are
    done, and a propagated deletion orphans the source side (C{<}/C{>} 0;
    isync 1.5 leaves that to its end-of-run purge).
"""

from __future__ import annotations

from collections.abc import Sequence

from msync.model import Side, flags_value
from msync.sync.actions import FlagUpdate
from msync.sync.journal import AssignUid, SetFlags, SetStatus
from msync.sync.pairwork import (
    ALL,
    DELETED,
    EXPIRE,
    EXPIRED,
    EXPIRING,
    PairWork,
    RecordWork,
    WorkBits,
    live,
    record_flags,
    record_op,
    seen_by_mbsync,
    settle,
    work_of,
)
from msync.sync.state import Status, SyncRecord

__all__ = ["flags_applied", "plan_flags"]

# Both sides, for per-record loops (see msync.sync.reconcile).
_SIDES = (Side.FAR, Side.NEAR)


# Flags (mbsync "synchronizing flags", flags_set, flags_set_p2).


def plan_flags(work: PairWork) -> list[FlagUpdate]:
    """
    The flag updates to carry out after reconciling, far side first per
    record; records needing none are done at once.
    """
    updates: list[FlagUpdate] = []
    for record in live(work):
        if record.far_uid or record.near_uid:
            values = work_of(work, record)
            for t in _SIDES:
                if _quiet(record, values, t):
                    continue
                update = _plan_flag(work, record, t, values)
                if update is not None:
                    updates.append(update)
        settle(work, record)
    return updates


def _quiet(record: SyncRecord, values: RecordWork, t: Side) -> bool:
    """
    Whether L{_plan_flag} would leave side C{t} of C{record} as it is:
    nothing to add or remove there, no deletion or purge under way, no
    expiry mark, flags within the six (most records of a full run, and
    the unchanged side of a changed message).
    """
    return not (
        values.add[t]
        or values.remove[t]
        or values.wstate
        or record.status_bits & EXPIRING
        or record.flags > ALL
        or record.purging
    )


def _plan_flag(
    work: PairWork, record: SyncRecord, t: Side, values: RecordWork
) -> FlagUpdate | None:
    uid = record.uid(t)
    if not uid:
        return None
    add, remove = values.add[t], values.remove[t]
    current = record_flags(work, t, record)
    if values.wstate & WorkBits.DELETE or record.purging:
        if not add:
            # The deletion goes the other way, or the placeholder being
            # purged lives on the other side.
            return None
        if current is None and work.loads_old[t]:
            # The message disappeared meanwhile.
            return None
    elif t is work.options.expire_side and bool(record.status_bits & EXPIRE) != bool(
        record.status_bits & EXPIRED
    ):
        # An expiry transaction is ongoing; act on the wanted state, so
        # that cancelled transactions are rolled back too.
        if values.wstate & WorkBits.NEXPIRE:
            add |= DELETED
        else:
            remove |= DELETED
    side = work.options.side(t)
    doomed = ((current or 0) | add) & ~remove & DELETED
    if side.expunge and doomed and (side.trash is None or side.trash_new_only):
        # It is going to be expunged: only the deletion matters.
        values.add[t] &= DELETED
        add &= DELETED
        values.remove[t] = remove = 0
    if current is not None and seen_by_mbsync(work, t, uid):
        # Only what mbsync would know of the message optimizes the update
        # away (msync may have loaded more, to expunge by UID): else the
        # update goes out, as mbsync's does.
        add &= ~current & ALL
        remove &= current
    if add or remove:
        return FlagUpdate(t, uid, flags_value(add), flags_value(remove), record)
    _flags_done(work, record, t, values)
    return None


def flags_applied(work: PairWork, updates: Sequence[FlagUpdate]) -> None:
    """
    Record that flag updates were carried out: journal the records' new
    flags, propagated deletions and expiry status.
    """
    for update in updates:
        record, t = update.record, update.side
        values = work_of(work, record)
        add, remove = int(update.add), int(update.remove)
        if add & DELETED:
            values.wstate |= WorkBits.deleted(t)
        elif remove & DELETED:
            values.wstate &= ~WorkBits.deleted(t)
        current = _loaded_flags(work, t, record, update.uid)
        if current is not None:
            work.flags[t][update.uid] = (current | add) & ~remove & ALL
        _flags_done(work, record, t, values)


def _loaded_flags(work: PairWork, t: Side, record: SyncRecord, uid: int) -> int | None:
    """
    The current flags of the loaded message of side C{t} with UID C{uid},
    if any: normally the one linked to C{record}, else the one linked to
    another record under that UID (a state with a UID twice). Works on
    the listing's columns: no message object per update.
    """
    at = work.messages[t].position(uid)
    if at < 0:
        return None
    if record.linked(t) == uid:
        return record_flags(work, t, record)
    other = work.linked[t][at]
    if other is None or other.linked(t) != uid:
        return None
    return record_flags(work, t, other)


def _flags_done(work: PairWork, record: SyncRecord, t: Side, values: RecordWork) -> None:
    if values.wstate & WorkBits.DELETE:
        # The deletion was propagated: the source message is gone. isync
        # 1.5 journals nothing here: its end-of-run purge orphans the
        # record (reconcile._purge15), unjournaled.
        if not work.options.isync15:
            record_op(work, record, AssignUid, t.other, 0)
        return
    base = int(record.flags)
    flags = (base | values.add[t]) & ~values.remove[t] & ALL
    if record.purging and work.options.isync15:
        # isync 1.5 journals a purged placeholder (P) and keeps the
        # record's flags; the mark is not in the state file either way.
        record.purging = False
    elif flags != base:
        record_op(work, record, SetFlags, flags_value(flags))
    if t is work.options.expire_side:
        wanted = bool(values.wstate & WorkBits.NEXPIRE)
        bits = record.status_bits
        if wanted != bool(bits & EXPIRED):
            status = record.status
            status = (status & ~Status.EXPIRED) | (Status.EXPIRED if wanted else Status.NONE)
            record_op(work, record, SetStatus, status)
        elif wanted != bool(bits & EXPIRE):
            status = record.status
            status = (status & ~Status.EXPIRE) | (Status.EXPIRE if wanted else Status.NONE)
            record_op(work, record, SetStatus, status)
