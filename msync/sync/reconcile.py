# -*- test-case-name: tests.sync.test_reconcile -*-
"""
The decisions of the channel synchronizer for one box pair, exactly as
mbsync 1.4 makes them (C{src/sync.c}: C{box_opened2}, C{load_box},
C{box_loaded}, C{flags_set}, C{msgs_flags_set}, C{msg_copied},
C{box_closed_p2}).

L{PairPlanner} is told what the stores reported (the loaded messages, what
each operation did) and answers with what to do next (L{FlagUpdate},
L{TrashMessage}, L{CopyMessage}, expunge sets); the engine
(L{msync.sync.engine}) carries those out. Every decision that must survive
a crash is written to the journal through the C{log} callable the planner
is given (the state file's C{log}), which also applies it to the state.

The planner's working state lives in L{msync.sync.pairwork}, its MaxMessages
expiry step in L{msync.sync.expiry}, and its placeholder upgrade and copy
steps in L{msync.sync.copying}; L{PairPlanner} combines them.

Invariants:
  - L1: pure. No Twisted, no I/O, no clocks; the TUID generator and the
    journal are injected.
  - The L{SyncState} changes only through C{log}ged journal operations,
    except the working values mbsync also keeps in memory only and
    journals at the end (C{MaxPulledUid}/C{MaxPushedUid} raised by new
    messages: C{N}; C{MaxExpiredFarUid}: C{!}), so that an interrupted run
    revisits everything it did not finish.
  - Journal order follows mbsync: C{|}, record kills/orphans/upgrades and
    C{+} new records while reconciling, flag results as their updates
    complete, C{T} per trashed message, C{F} per side then C{#} per pending
    record before any copy, C{<}/C{>}/C{-}/C{&} per copy, C{N}, purge, C{!}.
  - Messages are addressed by UID only; a message is linked to at most one
    live record per side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from msync.config.schema import SyncOp
from msync.errors import MailboxError
from msync.model import Flags, LoadRequest, MessageInfo, Side
from msync.report import Severity
from msync.sync.actions import CopyMessage, FlagUpdate, TrashMessage
from msync.sync.copying import CopyPlanner
from msync.sync.expiry import ExpiryPlanner
from msync.sync.journal import (
    AssignUid,
    KillRecord,
    LoseTuid,
    MakePlaceholder,
    NewRecord,
    SetFlags,
    SetMaxExpiredFarUid,
    SetMaxUid,
    SetStatus,
    Trashed,
    UidValidities,
)
from msync.sync.loading import LoadPlanner, Needs
from msync.sync.options import PairOptions, SideOptions
from msync.sync.pairwork import (
    ALL,
    DELETED,
    DUMMIES,
    EXPIRE,
    EXPIRED,
    EXPIRING,
    FLAGGED,
    OP_DELETE,
    OP_FLAGS,
    OP_NEW,
    OP_RENEW,
    PENDING,
    SEEN,
    SKIPPED,
    RecordWork,
    WorkBits,
    dummy_bit,
    random_tuid,
)
from msync.sync.state import Status, SyncRecord

# PairOptions, SideOptions, the actions and random_tuid are defined beside
# this module and re-exported: the runner builds PairOptions from here.
__all__ = [
    "CopyMessage",
    "FlagUpdate",
    "PairOptions",
    "PairPlanner",
    "SideOptions",
    "TrashMessage",
    "random_tuid",
]

# Both sides, for per-record loops: iterating the Side enum itself goes
# through EnumType.__iter__ each time.
_SIDES = (Side.FAR, Side.NEAR)


class PairPlanner(ExpiryPlanner, CopyPlanner):
    """
    The decisions of one box pair sync, in mbsync's order. Call, in turn:
    L{load_requests}, L{loaded} for each side, L{reconcile},
    L{flags_applied} per completed update, L{trash_plan}/L{trashed},
    L{start_copies}, L{copied}/L{copy_failed} per copy, L{tuids_to_find}/
    L{found} for stores that did not report UIDs, L{expunge_uids}/
    L{expunged}, and L{finish}.
    """

    # Step 3: what to load (mbsync box_opened2 and load_box).

    def _known_validity(self, side: Side) -> bool:
        return self._existed or self.state.uid_validity(side) != 0

    def load_requests(self) -> dict[Side, LoadRequest]:
        """
        Decide what each side must load.

        @raise MailboxError: both boxes changed UIDVALIDITY.
        """
        self._changed = [
            side
            for side in Side
            if self._known_validity(side)
            and self.state.uid_validity(side) != self._uid_validity[side]
        ]
        if len(self._changed) == 2:
            raise MailboxError(
                f"channel {self.options.channel}: UIDVALIDITY of both far side "
                f"{self._boxes[Side.FAR]} and near side {self._boxes[Side.NEAR]} changed."
            )
        loads = LoadPlanner(
            self.state,
            self.options,
            changed=self._changed,
            replayed=self._replayed,
            notify=self._notify,
        )
        requests = loads.requests()
        self._loads_old = {side: bool(loads.needs[side] & Needs.OLD) for side in Side}
        self._find_old = loads.find_old
        return requests

    # Step 4: what was loaded (mbsync box_loaded, first half).

    def loaded(self, side: Side, messages: Sequence[MessageInfo]) -> None:
        """
        Take a side's loaded messages: find copies of an interrupted run by
        their TUIDs, then pair messages with records by UID.
        """
        self._messages[side] = list(messages)
        self._flags[side] = {info.uid: int(info.flags) for info in messages}
        if self._find_old[side]:
            self._match_tuids(side, self._messages[side])
        for info in messages:
            if info.uid in self._by_uid[side]:
                continue
            record = self.state.by_uid(side, info.uid)
            if record is not None:
                self._link(side, record, info)

    def _match_tuids(self, side: Side, messages: Sequence[MessageInfo]) -> int:
        lost = 0
        position = 0
        for record in self._live():
            if record.uid(side) or not record.tuid:
                continue
            order = list(range(position, len(messages))) + list(range(position))
            match = next((index for index in order if messages[index].tuid == record.tuid), None)
            if match is None:
                self._record_op(record, LoseTuid)
                lost += 1
                continue
            info = messages[match]
            position = match + 1
            self._record_op(record, AssignUid, side, info.uid)
            self._link(side, record, info)
        return lost

    # Steps 5-7: reconcile.

    def reconcile(self, permanent_flags: Mapping[Side, Flags]) -> list[FlagUpdate]:
        """
        Decide everything once both sides are loaded: UIDVALIDITY recovery,
        deletions and flag changes of old records, placeholder upgrades,
        new messages, MaxMessages expiry.

        @param permanent_flags: the flags each box can keep.
        @return: the flag updates to carry out, far side first per record.
        @raise MailboxError: UIDVALIDITY changed for real, or unread
            messages exceed MaxMessages while C{ExpireUnread} is unset.
        """
        self._recover_uid_validity()
        if (
            not self._known_validity(Side.FAR)
            or not self._known_validity(Side.NEAR)
            or (self._changed)
        ):
            far, near = self._uid_validity[Side.FAR], self._uid_validity[Side.NEAR]
            self._log(UidValidities(far, near))
        self._old_max = {side: self.state.max_uid(side) for side in Side}
        self._old_max_expired = self.state.max_expired_far_uid
        self._good = {side: int(permanent_flags[side]) & ALL for side in Side}
        for record in self._live():
            self._sync_old(record)
        for target in Side:
            self._sync_new(target)
        if self._ops(Side.NEAR) & (SyncOp.NEW | SyncOp.RENEW | SyncOp.FLAGS) and (
            self.options.max_messages
        ):
            self._expire()
        return self._plan_flags()

    def _recover_uid_validity(self) -> None:
        # mbsync box_loaded: a change is spurious when the paired messages
        # still carry the same Message-IDs.
        for side in self._changed:
            need = got = 0
            for record in self._live():
                need += 1
                mine = self.message(side, record)
                if mine is None or mine.message_id is None:
                    continue
                partner = self.message(side.other, record)
                if partner is None:
                    continue
                if partner.message_id != mine.message_id:
                    raise MailboxError(
                        f"{self._where(side)}: UIDVALIDITY genuinely changed "
                        f"(at UID {record.uid(side)})."
                    )
                got += 1
            if got < 20 and got * 5 < need * 4:
                raise MailboxError(
                    f"{self._where(side)}: Unable to recover from UIDVALIDITY change."
                )
            self._notify(
                Severity.NOTICE,
                f"Notice: {self._where(side)}: Recovered from change of UIDVALIDITY.",
            )

    def _sync_old(self, record: SyncRecord) -> None:
        if record.dead:
            return
        record.tuid = None
        msg = {side: self.message(side, record) for side in _SIDES}
        gone = {side: msg[side] is None and self._loads_old[side] for side in _SIDES}
        if gone[Side.FAR] and gone[Side.NEAR]:
            self._kill(record)
            return
        expunged = {side: gone[side] and record.uid(side) != 0 for side in _SIDES}
        work = self._work_of(record)
        for t in _SIDES:
            self._sync_old_side(record, work, t, msg, expunged)
        self._maybe_upgrade(record, work, msg)
        if record.upgrading:
            self._continue_upgrade(record)

    def _sync_old_side(
        self,
        record: SyncRecord,
        work: RecordWork,
        t: Side,
        msg: Mapping[Side, MessageInfo | None],
        expunged: Mapping[Side, bool],
    ) -> None:
        source = t.other
        target_msg, source_msg = msg[t], msg[source]
        if target_msg is not None and self._flags[t][target_msg.uid] & DELETED:
            work.wstate |= WorkBits.deleted(t)
        if expunged[t] or not record.uid(t):
            # Gone or never stored here: nothing to update; a deletion is
            # propagated in the other direction.
            return
        if expunged[source]:
            if t is Side.FAR and record.status_bits & EXPIRING:
                # Don't propagate a deletion that results from expiry.
                self._record_op(record, AssignUid, Side.NEAR, 0)
                return
            if target_msg is not None:
                current, base = self._flags[t][target_msg.uid], int(record.flags)
                if (current & ~DELETED & ALL) != (base & ~DELETED & ALL) or (
                    not current & DELETED and base & DELETED
                ):
                    self._notify(
                        Severity.NOTICE,
                        f"Notice: conflicting changes in ({record.far_uid},{record.near_uid})",
                    )
            if self._does(t, OP_DELETE):
                work.add[t] = DELETED
                work.wstate |= WorkBits.DELETE
            return
        if source_msg is None or not self._does(t, OP_FLAGS):
            return
        flags = self._sanitize(self._flags[source][source_msg.uid], t)
        if t is Side.FAR and record.status_bits & EXPIRING:
            flags &= ~DELETED & ALL
        if record.status_bits & dummy_bit(source):
            # A placeholder's Seen is meaningless and its Flagged is a
            # request to upgrade.
            flags &= ~(SEEN | FLAGGED) & ALL
        base = int(record.flags)
        work.add[t] = flags & ~base & ALL
        work.remove[t] = ~flags & base & ALL

    def _sync_new(self, t: Side) -> None:
        source = t.other
        renew, new = self._does(t, OP_RENEW), self._does(t, OP_NEW)
        side = self.options.side(t)
        for info in self._messages[source]:
            flags = self._flags[source][info.uid]
            record = self._by_uid[source].get(info.uid)
            if record is not None:
                if record.status_bits & SKIPPED:
                    # Pre-1.4 legacy: skipped for being too big.
                    self._raise_max(source, info.uid)
                    if not renew:
                        continue
                    if not flags & FLAGGED:
                        self._record_op(record, MakePlaceholder)
                    else:
                        self._record_op(record, SetStatus, Status.PENDING)
                else:
                    if not new:
                        continue
                    self._raise_max(source, info.uid)
                    if not record.status_bits & PENDING:
                        continue
                if side.expunge and flags & DELETED:
                    # Would be expunged anyway.
                    self._kill(record)
                    continue
            else:
                if not new or info.uid <= self.state.max_uid(source):
                    # Not new: expired and pruned, failed, or skipped.
                    continue
                self.state.set_max_uid(source, info.uid)
                if side.expunge and flags & DELETED:
                    continue
                far, near = (info.uid, 0) if source is Side.FAR else (0, info.uid)
                created = self._log(NewRecord(far, near))
                assert created is not None
                record = created
                self._link(source, record, info)
            too_big = side.max_size is not None and (info.size or 0) > side.max_size
            if (
                not flags & FLAGGED
                and too_big
                and not record.upgrading
                and not record.status_bits & DUMMIES
            ):
                self._record_op(record, MakePlaceholder)
            self._any_new[t] = True

    def _raise_max(self, side: Side, uid: int) -> None:
        if self.state.max_uid(side) < uid:
            self.state.set_max_uid(side, uid)

    # Step 8: flags (mbsync "synchronizing flags", flags_set, flags_set_p2).

    def _plan_flags(self) -> list[FlagUpdate]:
        updates: list[FlagUpdate] = []
        for record in self._live():
            for t in _SIDES:
                update = self._plan_flag(record, t)
                if update is not None:
                    updates.append(update)
        return updates

    def _plan_flag(self, record: SyncRecord, t: Side) -> FlagUpdate | None:
        uid = record.uid(t)
        if not uid:
            return None
        work = self._work_of(record)
        add, remove = work.add[t], work.remove[t]
        current = self._record_flags(t, record)
        if work.wstate & WorkBits.DELETE or record.purging:
            if not add:
                # The deletion goes the other way, or the placeholder being
                # purged lives on the other side.
                return None
            if current is None and self._loads_old[t]:
                # The message disappeared meanwhile.
                return None
        elif t is Side.NEAR and bool(record.status_bits & EXPIRE) != bool(
            record.status_bits & EXPIRED
        ):
            # An expiry transaction is ongoing; act on the wanted state, so
            # that cancelled transactions are rolled back too.
            if work.wstate & WorkBits.NEXPIRE:
                add |= DELETED
            else:
                remove |= DELETED
        side = self.options.side(t)
        doomed = ((current or 0) | add) & ~remove & DELETED
        if side.expunge and doomed and (side.trash is None or side.trash_new_only):
            # It is going to be expunged: only the deletion matters.
            work.add[t] &= DELETED
            add &= DELETED
            work.remove[t] = remove = 0
        if current is not None:
            add &= ~current & ALL
            remove &= current
        if add or remove:
            return FlagUpdate(t, uid, Flags(add), Flags(remove), record)
        self._flags_done(record, t)
        return None

    def flags_applied(self, update: FlagUpdate) -> None:
        """
        Record that a flag update was carried out.
        """
        record, t = update.record, update.side
        work = self._work_of(record)
        add, remove = int(update.add), int(update.remove)
        if add & DELETED:
            work.wstate |= WorkBits.deleted(t)
        elif remove & DELETED:
            work.wstate &= ~WorkBits.deleted(t)
        if update.uid in self._flags[t]:
            self._flags[t][update.uid] = (self._flags[t][update.uid] | add) & ~remove & ALL
        self._flags_done(record, t)

    def _flags_done(self, record: SyncRecord, t: Side) -> None:
        work = self._work_of(record)
        if work.wstate & WorkBits.DELETE:
            # The deletion was propagated: the source message is gone.
            self._record_op(record, AssignUid, t.other, 0)
            return
        base = int(record.flags)
        flags = (base | work.add[t]) & ~work.remove[t] & ALL
        if flags != base:
            self._record_op(record, SetFlags, Flags(flags))
        if t is Side.NEAR:
            wanted = bool(work.wstate & WorkBits.NEXPIRE)
            bits = record.status_bits
            if wanted != bool(bits & EXPIRED):
                status = record.status
                status = (status & ~Status.EXPIRED) | (Status.EXPIRED if wanted else Status.NONE)
                self._record_op(record, SetStatus, status)
            elif wanted != bool(bits & EXPIRE):
                status = record.status
                status = (status & ~Status.EXPIRE) | (Status.EXPIRE if wanted else Status.NONE)
                self._record_op(record, SetStatus, status)

    # Trash (mbsync msgs_flags_set).

    def trash_plan(self, t: Side) -> list[TrashMessage]:
        """
        The deleted messages of side C{t} to put into a Trash box before
        expunging it.
        """
        side, other = self.options.side(t), self.options.side(t.other)
        remote = other.trash is not None and other.trash_remote_new
        if not side.expunge or (side.trash is None and not remote):
            return []
        plan = []
        for info in self._messages[t]:
            flags = self._flags[t][info.uid]
            record = self._by_uid[t].get(info.uid)
            if record is not None and record.dead:
                record = None
            if not flags & DELETED or info.uid in self.state.trashed[t]:
                continue
            if t is Side.NEAR and record is not None and record.status_bits & EXPIRING:
                continue
            unpropagated = record is None or bool(record.status_bits & (PENDING | SKIPPED))
            if side.trash is not None:
                if not side.trash_new_only or unpropagated:
                    plan.append(TrashMessage(t, info.uid, side.trash, False, Flags(flags)))
            elif unpropagated and (other.max_size is None or (info.size or 0) <= other.max_size):
                assert other.trash is not None
                plan.append(TrashMessage(t, info.uid, other.trash, True, Flags(flags)))
        return plan

    def trashed(self, side: Side, uids: Sequence[int]) -> None:
        """
        Journal messages of C{side} as trashed.
        """
        for uid in uids:
            self._log(Trashed(side, uid))

    # Step 10: expunge, purge, commit values (mbsync sync_close, box_closed_p2).

    def expunge_uids(self, side: Side) -> list[int]:
        """
        The loaded messages of C{side} now flagged deleted.
        """
        return [info.uid for info in self._messages[side] if self._flags[side][info.uid] & DELETED]

    def expunged(self, side: Side) -> None:
        """
        Record that C{side} was expunged.
        """
        self._did_expunge[side] = True

    def finish(self) -> None:
        """
        Journal the new max UIDs, purge the records of expunged messages
        and journal MaxExpiredFarUid.
        """
        for side in Side:
            if self.state.max_uid(side) != self._old_max[side]:
                self._log(SetMaxUid(side, self.state.max_uid(side)))
        if any(self._did_expunge.values()) or self.options.max_messages:
            for record in self._live():
                self._purge(record)
        if self.state.max_expired_far_uid != self._old_max_expired:
            self._log(SetMaxExpiredFarUid(self.state.max_expired_far_uid))

    def _gone(self, record: SyncRecord, side: Side) -> bool:
        work = self._work_of(record)
        return bool(work.wstate & WorkBits.deleted(side)) and self._did_expunge[side]

    def _purge(self, record: SyncRecord) -> None:
        far, near = record.far_uid, record.near_uid
        if not near or self._gone(record, Side.NEAR):
            expired = (
                record.status_bits & EXPIRED
                and self.state.max_pulled_uid >= far
                and self.state.max_expired_far_uid >= far
            )
            if not far or self._gone(record, Side.FAR) or expired:
                self._log(KillRecord(far, near))
            elif near:
                self._log(AssignUid(far, near, Side.NEAR, 0))
        elif far and self._gone(record, Side.FAR):
            self._log(AssignUid(far, near, Side.FAR, 0))
