# -*- test-case-name: tests.sync.test_reconcile -*-
"""
The copy steps of a box pair sync: placeholder upgrades (mbsync
C{upgrade_srec}), the copies to make (mbsync C{msgs_copied}), and what a
copy's outcome means for its record (mbsync C{msg_copied},
C{msgs_found_new}).

Invariants:
  - L1: pure. No Twisted, no I/O, no clocks; the TUID generator is
    injected.
  - Every pending record gets a journaled TUID (after the target's
    UIDNEXT) before any copy is made, so that an interrupted run finds its
    copies again; a copy's UID is journaled as soon as it is known.
  - A copy that cannot be made kills its record; it is not retried.
"""

from __future__ import annotations

from collections.abc import Mapping

from msync.model import Flags, MessageInfo, Side
from msync.report import Severity
from msync.sync.actions import CopyMessage
from msync.sync.journal import (
    AssignTuid,
    AssignUid,
    LoseTuid,
    SetFindUid,
    SetFlags,
    UpgradePlaceholder,
)
from msync.sync.pairwork import (
    ALL,
    DELETED,
    DUMMY_F,
    DUMMY_N,
    FLAGGED,
    OP_RENEW,
    PENDING,
    SEEN,
    PlannerCore,
    RecordWork,
    dummy_bit,
)
from msync.sync.state import SyncRecord

__all__ = ["CopyPlanner"]


class CopyPlanner(PlannerCore):
    """
    The placeholder upgrade and copy steps of
    L{msync.sync.reconcile.PairPlanner}.
    """

    # Placeholders (mbsync box_loaded, upgrade_srec).

    def _maybe_upgrade(
        self, record: SyncRecord, work: RecordWork, msg: Mapping[Side, MessageInfo | None]
    ) -> None:
        status = record.status_bits
        renew = (status & DUMMY_F and self._does(Side.FAR, OP_RENEW)) or (
            status & DUMMY_N and self._does(Side.NEAR, OP_RENEW)
        )
        if not renew:
            return
        flagged = any(
            info is not None and self._flags[side][info.uid] & FLAGGED for side, info in msg.items()
        )
        t = Side.FAR if status & DUMMY_F else Side.NEAR
        dummy = msg[t]
        if not flagged or dummy is None:
            return
        # Flagging either copy asks for the real message. Its flags are
        # decided now, because the placeholder may be gone after a crash.
        pending = (
            ((self._flags[t][dummy.uid] & ~(SEEN | FLAGGED) & ALL) | work.add[t])
            & ~work.remove[t]
            & ALL
        )
        flags = (int(record.flags) | work.add[t]) & ~work.remove[t] & ALL
        placeholder = self._log(
            UpgradePlaceholder(record.far_uid, record.near_uid, Flags(pending), Flags(flags))
        )
        assert placeholder is not None
        self._by_record[t].pop(record, None)
        self._link(t, placeholder, dummy)

    def _continue_upgrade(self, record: SyncRecord) -> None:
        target = Side.FAR if not record.far_uid else Side.NEAR
        source = self.message(target.other, record)
        if source is None:
            return
        if self.options.side(target).expunge and int(record.pending_flags) & DELETED:
            self._kill(record)
            return
        # Copy it as if the source had the placeholder's adjusted flags.
        self._flags[target.other][source.uid] = int(record.pending_flags)
        self._any_new[target] = True

    # Step 9: copies (mbsync msgs_copied, msg_copied, msgs_found_new).

    def copies(self, target: Side) -> list[CopyMessage]:
        """
        The messages to copy to C{target}, in source UID order.
        """
        if not self._any_new[target]:
            return []
        source = target.other
        plan = []
        for info in self._messages[source]:
            record = self._by_uid[source].get(info.uid)
            if record is None or record.dead or not record.status_bits & PENDING:
                continue
            flags = Flags(self._sanitize(self._flags[source][info.uid], target))
            placeholder = bool(record.status_bits & dummy_bit(target))
            plan.append(CopyMessage(target, info.uid, flags, placeholder, info.size, record))
        return plan

    def start_copies(self, uid_next: Mapping[Side, int]) -> dict[Side, list[CopyMessage]]:
        """
        Journal each target's UIDNEXT and a TUID for every pending record
        (the engine must then make the journal durable before copying).

        @param uid_next: each open box's UIDNEXT.
        @return: the copies per target side.
        """
        for side in Side:
            if self._any_new[side]:
                self._log(SetFindUid(side, uid_next[side]))
        if self._any_new[Side.FAR] or self._any_new[Side.NEAR]:
            for record in self._live():
                if record.status_bits & PENDING:
                    tuid = self._new_tuid()
                    self._record_op(record, AssignTuid, tuid)
        return {side: self.copies(side) for side in Side}

    def copied(self, copy: CopyMessage, uid: int | None) -> None:
        """
        Record a stored copy.

        @param uid: its UID, or C{None} if the store could not tell.
        """
        record = copy.record
        if not record.upgrading and copy.flags != record.flags:
            self._record_op(record, SetFlags, copy.flags)
        if uid is None:
            self._find_new[copy.target] = True
        else:
            self._record_op(record, AssignUid, copy.target, uid)

    def copy_failed(self, copy: CopyMessage) -> None:
        """
        Record a copy that cannot be made; it is not retried.
        """
        self._kill(copy.record)

    def tuids_to_find(self, side: Side) -> dict[str, SyncRecord]:
        """
        The TUIDs of copies to C{side} whose UIDs are unknown, if the store
        did not report some; empty otherwise.
        """
        if not self._find_new[side]:
            return {}
        return {
            record.tuid: record
            for record in self._live()
            if not record.uid(side) and record.tuid is not None
        }

    def found(self, side: Side, uids: Mapping[str, int]) -> int:
        """
        Assign the UIDs of copies found by TUID; the others are lost and
        will be copied again next time.

        @return: how many were lost.
        """
        lost = 0
        for record in self._live():
            if record.uid(side) or record.tuid is None:
                continue
            uid = uids.get(record.tuid)
            if uid is None:
                self._record_op(record, LoseTuid)
                lost += 1
            else:
                self._record_op(record, AssignUid, side, uid)
        if lost:
            verb = "push" if side is Side.FAR else "pull"
            self._notify(Severity.WARNING, f"Warning: lost track of {lost} {verb}ed message(s)")
        return lost
