# -*- test-case-name: tests.sync.test_reconcile -*-
"""
MaxMessages expiry of the near side (mbsync C{box_loaded}, "preparing
message expiration"): which paired messages to expire, and the journaled
start or rollback of each expiry transaction.

Invariants:
  - L1: pure. No Twisted, no I/O, no clocks.
  - Flagged messages are never expired, nor unread ones unless
    C{ExpireUnread} says so; C{MaxExpiredFarUid} is raised in memory only
    (journaled by L{msync.sync.reconcile.PairPlanner.finish}).
  - Expiry status changes are journaled as C{SetStatus}/C{ExpireUnborn}
    before any flag update acts on them.
"""

from __future__ import annotations

from msync.errors import MailboxError
from msync.model import Side
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
    PlannerCore,
    WorkBits,
)
from msync.sync.state import Status, SyncRecord

__all__ = ["ExpiryPlanner"]


class ExpiryPlanner(PlannerCore):
    """
    The MaxMessages expiry step of L{msync.sync.reconcile.PairPlanner}.
    """

    # MaxMessages (mbsync box_loaded, "preparing message expiration").

    def _expiry_candidates(self) -> list[tuple[SyncRecord, int]]:
        found = []
        for info in self._messages[Side.FAR]:
            record = self._by_uid[Side.FAR].get(info.uid)
            if record is None or record.dead:
                continue
            if not record.status_bits & PENDING:
                near = self.message(Side.NEAR, record)
                if near is None:
                    continue
                work = self._work_of(record)
                flags = (
                    (self._flags[Side.NEAR][near.uid] | work.add[Side.NEAR])
                    & ~work.remove[Side.NEAR]
                    & ALL
                )
            else:
                flags = self._flags[Side.FAR][info.uid]
            if not flags & DELETED or record.status_bits & EXPIRING:
                found.append((record, flags))
        return found

    def _expire(self) -> None:
        candidates = self._expiry_candidates()
        excess = len(candidates) - self.options.max_messages
        unread = 0
        for record, flags in candidates:
            if flags & FLAGGED:
                important = True
            elif not flags & SEEN:
                if excess > 0:
                    unread += 1
                important = self.options.expire_unread is not True
            else:
                important = False
            expiring = record.status_bits & EXPIRING
            near = self._record_flags(Side.NEAR, record)
            if important:
                excess -= 1
            elif (
                excess > 0
                or expiring == EXPIRING
                or (expiring and near is not None and near & DELETED)
            ):
                self._work_of(record).wstate |= WorkBits.NEXPIRE
                self.state.max_expired_far_uid = max(self.state.max_expired_far_uid, record.far_uid)
                excess -= 1
        if self.options.expire_unread is None and unread * 2 > self.options.max_messages:
            raise MailboxError(
                f"{self._boxes[Side.NEAR]}: {unread} unread messages in excess of MaxMessages "
                f"({self.options.max_messages}).\n"
                "Please set ExpireUnread to decide outcome. Skipping mailbox."
            )
        for record in self._live():
            wanted = bool(self._work_of(record).wstate & WorkBits.NEXPIRE)
            if not record.status_bits & PENDING:
                if self.message(Side.NEAR, record) is None:
                    continue
                if wanted != bool(record.status_bits & EXPIRED) and wanted != bool(
                    record.status_bits & EXPIRE
                ):
                    status = (record.status & ~Status.EXPIRE) | (
                        Status.EXPIRE if wanted else Status.NONE
                    )
                    self._record_op(record, SetStatus, status)
            elif wanted:
                self.state.max_expired_far_uid = max(self.state.max_expired_far_uid, record.far_uid)
                self._record_op(record, ExpireUnborn)
                self._unlink(record)
