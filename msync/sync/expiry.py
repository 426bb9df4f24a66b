# -*- test-case-name: tests.sync.test_reconcile -*-
"""
MaxMessages expiry of the near side, or of the far side with isync 1.5's
C{ExpireSide Far} (mbsync C{box_loaded}, "preparing message expiration"):
which paired messages to expire, and the journaled start or rollback of
each expiry transaction. C{MaxExpiredFarUid} stands for the expired bound
of the other side's UIDs (1.5's C{maxxfuid}).

Invariants:
  - L1: pure. No Twisted, no I/O, no clocks.
  - Flagged messages are never expired, nor unread ones unless
    C{ExpireUnread} says so; C{MaxExpiredFarUid} is raised in memory only
    (journaled by L{msync.sync.reconcile.finish}).
  - Expiry status changes are journaled as C{SetStatus}/C{ExpireUnborn}
    before any flag update acts on them.
"""

from __future__ import annotations

from msync.errors import UnreadExcess
from msync.sync.journal import ExpireUnborn, SetStatus
from msync.sync.pairwork import (
    ALL,
    DELETED,
    EXPIRE,
    EXPIRED,
    EXPIRING,
    FLAGGED,
    PENDING,
    SEEN,
    PairWork,
    WorkBits,
    current_flags,
    dummy_bit,
    live,
    message,
    record_flags,
    record_op,
    unlink,
    work_of,
)
from msync.sync.state import Status, SyncRecord

__all__ = ["expire"]


# MaxMessages (mbsync box_loaded, "preparing message expiration").


def _candidates(work: PairWork) -> list[tuple[SyncRecord, int]]:
    xt = work.options.expire_side
    source = xt.other
    found = []
    for at, info in enumerate(work.messages[source]):
        record = work.linked[source][at]
        if record is None or record.dead:
            continue
        if not record.status_bits & PENDING:
            mine = message(work, xt, record)
            if mine is None:
                continue
            values = work_of(work, record)
            flags = current_flags(work, xt, mine)
            if work.options.isync15 and record.status_bits & dummy_bit(xt):
                # isync 1.5: a placeholder's Flagged and Seen are the real
                # message's (un-seeing the placeholder aside), even without
                # flag propagation.
                if message(work, source, record) is None:
                    continue
                real, base = current_flags(work, source, info), int(record.flags)
                added = real & ~base & (SEEN | FLAGGED)
                removed = ~real & base & SEEN
                flags = (flags & (~(SEEN | FLAGGED) | (base & SEEN)) & ~removed) | added
            flags = (flags | values.add[xt]) & ~values.remove[xt] & ALL
        else:
            flags = work.upgrade_flags.get(record, current_flags(work, source, info))
        if not flags & DELETED or record.status_bits & EXPIRING:
            found.append((record, flags))
    return found


def _choose(work: PairWork) -> int:
    """
    Mark the records to expire (C{NEXPIRE}) and raise MaxExpiredFarUid
    in memory.

    @return: how many unread messages are in excess.
    """
    options, state = work.options, work.state
    xt = options.expire_side
    candidates = _candidates(work)
    excess = len(candidates) - options.max_messages
    unread = 0
    for record, flags in candidates:
        if flags & FLAGGED:
            important = True
        elif not flags & SEEN:
            if excess > 0:
                unread += 1
            important = options.expire_unread is not True
        else:
            important = False
        expiring = record.status_bits & EXPIRING
        mine = record_flags(work, xt, record)
        if important:
            excess -= 1
        elif (
            excess > 0 or expiring == EXPIRING or (expiring and mine is not None and mine & DELETED)
        ):
            work_of(work, record).wstate |= WorkBits.NEXPIRE
            state.max_expired_far_uid = max(state.max_expired_far_uid, record.uid(xt.other))
            excess -= 1
    return unread


def expire(work: PairWork) -> None:
    """
    Decide MaxMessages expiry: journal the start or rollback of each
    record's expiry transaction, and expire unpropagated records.

    @raise UnreadExcess: unread messages exceed MaxMessages while
        C{ExpireUnread} is unset.
    """
    options, state = work.options, work.state
    xt = options.expire_side
    unread = _choose(work)
    if options.expire_unread is None and unread * 2 > options.max_messages:
        raise UnreadExcess(
            f"{work.boxes[xt]}: {unread} unread messages in excess of MaxMessages "
            f"({options.max_messages}).\n"
            "Please set ExpireUnread to decide outcome. Skipping mailbox."
        )
    for record in live(work):
        wanted = bool(work_of(work, record).wstate & WorkBits.NEXPIRE)
        if not record.status_bits & PENDING:
            if message(work, xt, record) is None:
                continue
            if wanted != bool(record.status_bits & EXPIRED) and wanted != bool(
                record.status_bits & EXPIRE
            ):
                status = (record.status & ~Status.EXPIRE) | (
                    Status.EXPIRE if wanted else Status.NONE
                )
                record_op(work, record, SetStatus, status)
        elif wanted:
            state.max_expired_far_uid = max(state.max_expired_far_uid, record.uid(xt.other))
            record_op(work, record, ExpireUnborn)
            unlink(work, record)
