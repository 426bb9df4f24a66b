# -*- test-case-name: tests.sync.test_reconcile -*-
"""
The copy steps of a box pair sync: placeholder upgrades (mbsync
C{upgrade_srec}), the copies to make (mbsync C{msgs_copied}), and what a
copy's outcome means for its record (mbsync C{msg_copied},
C{msgs_found_new}).

Invariants:
  - L1: pure. No Twisted, no I/O, no clocks; the TUID generator is
    injected (L{PairWork.new_tuid}).
  - Every pending record gets a journaled TUID (after the target's
    UIDNEXT) before any copy is made, so that an interrupted run finds its
    copies again; a copy's UID is journaled as soon as it is known.
  - A copy that cannot be made kills its record; it is not retried.
"""

from __future__ import annotations

from collections.abc import Mapping

from msync.model import Flags, MessageInfo, Side
from msync.sync.actions import CopyMessage, CopyPlan
from msync.sync.journal import (
    AssignTuid,
    AssignUid,
    LoseTuid,
    SetFindUid,
    SetFlags,
    UpgradePlaceholder,
)
from msync.sync.notices import LostCopies
from msync.sync.pairwork import (
    ALL,
    DELETED,
    DUMMY_F,
    DUMMY_N,
    FLAGGED,
    OP_FLAGS,
    OP_RENEW,
    PENDING,
    SEEN,
    PairWork,
    RecordWork,
    current_flags,
    does,
    dummy_bit,
    forget_undeleted,
    kill,
    link,
    live,
    log,
    message,
    record_op,
    sanitize,
    set_current_flags,
    work_of,
)
from msync.sync.state import SyncRecord

__all__ = [
    "continue_upgrade",
    "copied",
    "copies",
    "copy_failed",
    "found",
    "maybe_upgrade",
    "start_copies",
    "tuids_to_find",
]


# Placeholders (mbsync box_loaded, upgrade_srec).


def maybe_upgrade(
    work: PairWork,
    record: SyncRecord,
    values: RecordWork,
    msg: Mapping[Side, MessageInfo | None],
) -> None:
    """
    Start the upgrade of C{record}'s placeholder if either copy is
    flagged and ReNew allows it.
    """
    status = record.status_bits
    renew = (status & DUMMY_F and does(work, Side.FAR, OP_RENEW)) or (
        status & DUMMY_N and does(work, Side.NEAR, OP_RENEW)
    )
    if not renew:
        return
    flagged = any(
        info is not None and current_flags(work, side, info) & FLAGGED for side, info in msg.items()
    )
    t = Side.FAR if status & DUMMY_F else Side.NEAR
    dummy = msg[t]
    if work.options.isync15:
        # isync 1.5: only flagging the placeholder itself asks for it.
        flagged = dummy is not None and bool(current_flags(work, t, dummy) & FLAGGED)
    if not flagged or dummy is None:
        return
    # Flagging either copy asks for the real message. Its flags are
    # decided now, because the placeholder may be gone after a crash.
    pending = (
        ((current_flags(work, t, dummy) & ~(SEEN | FLAGGED) & ALL) | values.add[t])
        & ~values.remove[t]
        & ALL
    )
    if work.options.isync15:
        kept = int(record.flags) & SEEN
        pending = current_flags(work, t, dummy) & (~(SEEN | FLAGGED) | kept) & ALL
    flags = (int(record.flags) | values.add[t]) & ~values.remove[t] & ALL
    placeholder = log(
        work, UpgradePlaceholder(record.far_uid, record.near_uid, Flags(pending), Flags(flags))
    )
    assert placeholder is not None
    record.link(t, 0)
    link(work, t, placeholder, dummy.uid)


def continue_upgrade(work: PairWork, record: SyncRecord) -> None:
    """
    Go on with an upgrade started (or replayed): the real message is to be
    copied with the placeholder's adjusted flags.
    """
    target = Side.FAR if not record.far_uid else Side.NEAR
    source = message(work, target.other, record)
    if source is None:
        return
    if work.options.side(target).expunge and int(record.pending_flags) & DELETED:
        kill(work, record)
        return
    if work.options.isync15:
        # isync 1.5 (msg_fetched): the copy gets the placeholder's saved
        # flags plus the real message's changes; the real message gets
        # the placeholder's (flags propagated as for any record).
        base = int(record.flags)
        values = work_of(work, record)
        pending = int(record.pending_flags)
        if does(work, target.other, OP_FLAGS):
            wanted = sanitize(work, pending, target.other)
            values.add[target.other] = wanted & ~base & ALL
            values.remove[target.other] = ~wanted & base & ALL
        add = remove = 0
        if does(work, target, OP_FLAGS):
            real = sanitize(work, current_flags(work, target.other, source), target)
            add, remove = real & ~base & ALL, ~real & base & ALL
        work.upgrade_flags[record] = (pending | add) & ~remove & ALL
        work.upgrade_changes[record] = (add, remove)
        work.any_new[target] = True
        return
    # Copy it as if the source had the placeholder's adjusted flags.
    set_current_flags(work, target.other, source, int(record.pending_flags))
    work.any_new[target] = True


# Copies (mbsync msgs_copied, msg_copied, msgs_found_new).


def copies(work: PairWork, target: Side) -> CopyPlan:
    """
    The messages to copy to C{target}, in source UID order.
    """
    plan = CopyPlan(target)
    if not work.any_new[target]:
        return plan
    source = target.other
    listing, linked, changed = work.messages[source], work.linked[source], work.flags[source]
    # Over the listing's columns: a message is made only for a copy.
    for at, uid in enumerate(listing.uids):
        record = linked[at]
        if record is None or record.dead or not record.status_bits & PENDING:
            continue
        upgraded = work.upgrade_flags.get(record)
        if upgraded is not None:
            flags = Flags(upgraded)
        else:
            current = changed.get(uid) if changed else None
            if current is None:
                current = listing.bits[at] & ALL
            flags = Flags(sanitize(work, current, target))
        placeholder = bool(record.status_bits & dummy_bit(target))
        if placeholder and work.options.isync15:
            # isync 1.5: a flagged placeholder would ask for its upgrade.
            flags &= ~Flags.FLAGGED
        plan.append(uid, flags, placeholder, listing.size_at(at), record)
    return plan


def start_copies(work: PairWork, uid_next: Mapping[Side, int]) -> dict[Side, CopyPlan]:
    """
    Journal each target's UIDNEXT and a TUID for every pending record (the
    engine must then make the journal durable before copying).

    @param uid_next: each open box's UIDNEXT.
    @return: the copies per target side.
    """
    for side in Side:
        if work.any_new[side]:
            log(work, SetFindUid(side, uid_next[side]))
    # The copies first (no TUID is read to plan them): then the loaded
    # messages not flagged deleted are let go before a TUID and a journal
    # operation are made for every copy.
    plans = {side: copies(work, side) for side in Side}
    forget_undeleted(work)
    if work.any_new[Side.FAR] or work.any_new[Side.NEAR]:
        for record in live(work):
            if record.status_bits & PENDING:
                record_op(work, record, AssignTuid, work.new_tuid())
    return plans


def copied(work: PairWork, copy: CopyMessage, uid: int | None) -> None:
    """
    Record a stored copy.

    @param uid: its UID, or C{None} if the store could not tell.
    """
    record = copy.record
    changes = work.upgrade_changes.get(record) if record.upgrading else None
    if changes is not None:
        # isync 1.5 (assign_uid): an upgrade's record takes the changes
        # made to the copy.
        flags = Flags((int(record.flags) | changes[0]) & ~changes[1] & ALL)
        if flags != record.flags:
            record_op(work, record, SetFlags, flags)
    elif not record.upgrading and copy.flags != record.flags:
        record_op(work, record, SetFlags, copy.flags)
    if uid is None:
        work.find_new[copy.target] = True
    else:
        record_op(work, record, AssignUid, copy.target, uid)


def copy_failed(work: PairWork, copy: CopyMessage) -> None:
    """
    Record a copy that cannot be made; it is not retried.
    """
    kill(work, copy.record)


def tuids_to_find(work: PairWork, side: Side) -> dict[str, SyncRecord]:
    """
    The TUIDs of copies to C{side} whose UIDs are unknown, if the store
    did not report some; empty otherwise.
    """
    if not work.find_new[side]:
        return {}
    return {
        record.tuid: record
        for record in live(work)
        if not record.uid(side) and record.tuid is not None
    }


def found(work: PairWork, side: Side, uids: Mapping[str, int]) -> int:
    """
    Assign the UIDs of copies found by TUID; the others are lost and will
    be copied again next time.

    @return: how many were lost.
    """
    lost = 0
    for record in live(work):
        if record.uid(side) or record.tuid is None:
            continue
        uid = uids.get(record.tuid)
        if uid is None:
            record_op(work, record, LoseTuid)
            lost += 1
        else:
            record_op(work, record, AssignUid, side, uid)
    if lost:
        work.notices.append(LostCopies(side, lost))
    return lost
