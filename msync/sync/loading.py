# -*- test-case-name: tests.sync.test_loading -*-
"""
What each side of a box pair must load, as mbsync 1.4 decides it
(C{box_opened2}, C{load_box}): old paired UIDs for flags and deletions,
new UIDs above the max, sizes for MaxSize, TUIDs after a crash, Message-IDs
for UIDVALIDITY recovery, and with MaxMessages the unexpired far range plus
the still-paired older UIDs.

Invariants: L1, pure. msync loads like mbsync's Maildir driver for every
store (C{maildir_prepare_load_box}: setting flags implies loading old
messages, expunging implies loading everything), because expunging by UID
needs every deleted message's UID.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

from msync.config.schema import SyncOp
from msync.model import LoadRequest, Side, UIDInterval
from msync.sync.notices import Notice, StrayTuid
from msync.sync.options import PairOptions
from msync.sync.pairwork import DUMMY_F, DUMMY_N, PENDING, SKIPPED
from msync.sync.state import Status, SyncRecord, SyncState

__all__ = ["LoadPlanner", "Needs", "placeholder_sides"]

_INFINITY = 1 << 32


def placeholder_sides(records: Iterable[SyncRecord]) -> frozenset[Side]:
    """
    The sides that hold a placeholder among live C{records} (isync 1.5's
    C{any_dummies}): a record marked dummy on a side counts for that side;
    a legacy skipped record for the far side when it has no far UID, else
    for the near side.
    """
    found: set[Side] = set()
    for record in records:
        bits = record.status_bits
        if bits & DUMMY_F:
            found.add(Side.FAR)
        elif bits & DUMMY_N:
            found.add(Side.NEAR)
        elif bits & SKIPPED:
            found.add(Side.FAR if not record.far_uid else Side.NEAR)
        if len(found) == 2:
            break
    return frozenset(found)


class Needs(enum.Flag):
    """
    mbsync's C{OPEN_*} bits: what a side's load must cover.
    """

    NONE = 0
    OLD = enum.auto()
    NEW = enum.auto()
    FLAGS = enum.auto()
    OLD_IDS = enum.auto()
    NEW_SIZE = enum.auto()
    FIND = enum.auto()
    SETFLAGS = enum.auto()
    APPEND = enum.auto()
    EXPUNGE = enum.auto()
    ALL_SIZES = enum.auto()
    #: isync 1.5 Sync Old: every message up to the max UID, paired or not.
    UNPAIRED = enum.auto()


class LoadPlanner:
    """
    Decide the loads of one box pair sync.

    @ivar needs: what each side's load covers (after L{requests}).
    @ivar find_old: per side, whether copies of an interrupted run are to
        be found by TUID in the load.
    @ivar notices: mbsync's warnings about the state (after L{requests}).
    """

    def __init__(
        self,
        state: SyncState,
        options: PairOptions,
        *,
        changed: Sequence[Side],
        replayed: bool,
        driver_widens: dict[Side, bool] | None = None,
    ) -> None:
        """
        @param changed: the sides whose UIDVALIDITY changed (at most one).
        @param replayed: a journal was replayed.
        @param driver_widens: per side, whether mbsync's driver for
            its store widens a load for setting flags and expunging
            (Maildir, the default) or loads only what is asked (IMAP): see
            L{seen}.
        """
        self.state = state
        self.options = options
        self._changed = list(changed)
        self._replayed = replayed
        self._driver_widens = driver_widens or {Side.FAR: True, Side.NEAR: True}
        self.notices: list[Notice] = []
        self.needs = {Side.FAR: Needs.NONE, Side.NEAR: Needs.NONE}
        #: What mbsync would have loaded on each side, with its driver for
        #: that store: L{needs} without the widening for setting flags and
        #: expunging where that driver does not widen (msync loads it
        #: anyway, to expunge by UID); the planner judges by this.
        self.seen = {Side.FAR: Needs.NONE, Side.NEAR: Needs.NONE}
        self.find_old = {Side.FAR: False, Side.NEAR: False}

    def _ops(self, side: Side) -> SyncOp:
        return self.options.side(side).ops

    def _live(self) -> list[SyncRecord]:
        return [record for record in self.state.records if not record.dead]

    def requests(self) -> dict[Side, LoadRequest]:
        """
        The load request of each side.
        """
        opts = self.needs
        if self._changed:
            opts[Side.FAR] = opts[Side.NEAR] = Needs.OLD | Needs.OLD_IDS
        for side in Side:
            self._open_options(side)
        if self._replayed:
            self._open_for_replay()
        for side in Side:
            # mbsync's Maildir driver widens (maildir_prepare_load_box);
            # msync does for every store.
            self.seen[side] = opts[side]
            if opts[side] & Needs.SETFLAGS:
                opts[side] |= Needs.OLD
            if opts[side] & Needs.EXPUNGE:
                opts[side] |= Needs.OLD | Needs.NEW | Needs.FLAGS
            if self._driver_widens[side]:
                self.seen[side] = opts[side]
        return {side: self._request(side) for side in Side}

    def _open_options(self, t: Side) -> None:
        opts, ops, other = self.needs, self._ops(t), t.other
        side = self.options.side(t)
        if ops & (SyncOp.DELETE | SyncOp.FLAGS):
            opts[t] |= Needs.SETFLAGS
            opts[other] |= Needs.OLD
            if ops & SyncOp.FLAGS:
                opts[other] |= Needs.FLAGS
        if ops & SyncOp.OLD:
            self._copies_to(t, old=Needs.OLD | Needs.UNPAIRED | Needs.FLAGS)
        if ops & (SyncOp.NEW | SyncOp.RENEW):
            self._copies_to(t, new=bool(ops & SyncOp.NEW))
            if ops & SyncOp.RENEW:
                opts[t] |= Needs.OLD | Needs.FLAGS | Needs.SETFLAGS
                opts[other] |= Needs.OLD | Needs.FLAGS
            self._skip_doomed(t)
        if side.expunge_solo:
            # isync 1.5: a solo message is told by its partner's absence.
            opts[t] |= Needs.EXPUNGE
            opts[other] |= Needs.OLD
        elif side.expunge:
            opts[t] |= Needs.EXPUNGE
            other_side = self.options.side(other)
            if side.trash is not None:
                if not side.trash_new_only:
                    opts[t] |= Needs.OLD
                opts[t] |= Needs.NEW | Needs.FLAGS
            elif other_side.trash is not None and other_side.trash_remote_new:
                opts[t] |= Needs.NEW | Needs.FLAGS
                if other_side.max_size is not None:
                    opts[t] |= Needs.ALL_SIZES
        xt = self.options.expire_side
        if (
            t is xt
            and self._ops(xt) & (SyncOp.NEW | SyncOp.RENEW | SyncOp.FLAGS | SyncOp.OLD)
            and self.options.max_messages
        ):
            if self.options.isync15:
                # isync 1.5 (any_expiring): the paired messages of the
                # expiring side, not its new ones; the other side's flags
                # when messages may be propagated to the expiring side.
                opts[xt] |= Needs.OLD | Needs.FLAGS
                if self._dummies(xt):
                    opts[xt.other] |= Needs.OLD | Needs.FLAGS
                elif self._ops(xt) & (SyncOp.OLD | SyncOp.NEW | SyncOp.RENEW):
                    opts[xt.other] |= Needs.FLAGS
            else:
                opts[xt] |= Needs.OLD | Needs.NEW | Needs.FLAGS

    def _copies_to(self, t: Side, *, old: Needs = Needs.NONE, new: bool = False) -> None:
        """
        What copying messages to side C{t} needs (mbsync's C{OPEN_APPEND}
        there): the source's old messages, loaded as C{old} says, or its
        new ones, with their sizes when C{t} has a C{MaxSize}.
        """
        opts, source = self.needs, t.other
        sized = self.options.side(t).max_size is not None
        opts[t] |= Needs.APPEND
        if old:
            opts[source] |= old
            if sized:
                opts[source] |= Needs.ALL_SIZES
        if new:
            opts[source] |= Needs.NEW
            if sized:
                opts[source] |= Needs.FLAGS | Needs.NEW_SIZE

    def _skip_doomed(self, t: Side) -> None:
        """
        Don't propagate doomed messages: the source's flags, when C{t}
        expunges (or, for isync 1.5, either side does).
        """
        source = t.other
        if self.options.side(t).expunge or (
            self.options.isync15 and self.options.side(source).expunge
        ):
            self.needs[source] |= Needs.FLAGS

    def _dummies(self, side: Side) -> bool:
        """
        isync 1.5's C{any_dummies} for C{side}: counted only after a
        journal replay or with C{Upgrade} in the operations (else it stays
        0, placeholders or not).
        """
        if not (self._replayed or any(self._ops(each) & SyncOp.RENEW for each in Side)):
            return False
        return side in placeholder_sides(self._live())

    def _open_for_replay(self) -> None:
        opts = self.needs
        for record in self._live():
            if record.tuid:
                if not record.far_uid:
                    opts[Side.FAR] |= Needs.NEW | Needs.FIND
                    self.find_old[Side.FAR] = True
                elif not record.near_uid:
                    opts[Side.NEAR] |= Needs.NEW | Needs.FIND
                    self.find_old[Side.NEAR] = True
                else:
                    self.notices.append(StrayTuid(record.far_uid, record.near_uid))
            if record.purging:
                opts[Side.FAR if record.far_uid else Side.NEAR] |= Needs.SETFLAGS
            if record.upgrading:
                target = Side.FAR if not record.far_uid else Side.NEAR
                opts[target] |= Needs.APPEND
                opts[target.other] |= Needs.OLD
            elif self.options.isync15 and record.status_bits & PENDING:
                # isync 1.5 resumes an interrupted copy whatever the
                # operations (any_old, any_new): its source is loaded.
                target = Side.FAR if not record.far_uid else Side.NEAR
                source = target.other
                if record.uid(source) <= self.state.max_uid(source):
                    self._copies_to(target, old=Needs.OLD)
                else:
                    self._copies_to(target, new=True)
                self._skip_doomed(target)

    def _seen_uid(self, side: Side) -> int:
        return max((record.uid(side) for record in self._live()), default=0)

    def _far_exceptions(self, min_uid: int) -> frozenset[int]:
        # With MaxMessages the far fetch (the near one with ExpireSide
        # Far) is the unexpired range plus the still-paired messages below.
        xt = self.options.expire_side
        side = xt.other
        found = set()
        # Tested per record: plain ints, not enum.Flag operators (slow).
        needs_new = bool(self.needs[side] & Needs.NEW)
        pending = Status.PENDING.value
        max_uid = self.state.max_uid(side)
        for record in self._live():
            uid = record.uid(side)
            if not uid or uid >= min_uid:
                continue
            if needs_new and uid >= max_uid:
                continue
            if not record.uid(xt) and not record.status_bits & pending:
                continue
            found.add(uid)
        return frozenset(found)

    def _request(self, side: Side) -> LoadRequest:
        opts = self.needs[side]
        exceptions: frozenset[int] = frozenset()
        if not opts & Needs.OLD:
            low = _INFINITY
        elif (
            side is self.options.expire_side.other
            and self.options.max_messages
            and not opts & Needs.UNPAIRED
        ):
            low = self.state.max_expired_far_uid + 1
            exceptions = self._far_exceptions(low)
        else:
            low = 1
        high: int | None = 0
        id_limit: int | None = None
        max_uid = self.state.max_uid(side)
        if opts & Needs.NEW:
            low = min(low, max_uid + 1)
            high = None
            if opts & Needs.OLD_IDS:
                id_limit = self._seen_uid(side)
        elif opts & Needs.UNPAIRED:
            high = max(self._seen_uid(side), max_uid)
        elif opts & Needs.OLD:
            high = self._seen_uid(side)
        if low >= _INFINITY:
            low, high = 1, 0
        sizes = None
        if opts & Needs.ALL_SIZES:
            sizes = UIDInterval(1)
        elif opts & Needs.NEW_SIZE:
            sizes = UIDInterval(max_uid + 1)
        find_from = max(1, self.state.find_uid[side])
        return LoadRequest(
            min_uid=max(1, low),
            max_uid=high,
            uids=exceptions,
            sizes=sizes,
            tuids=UIDInterval(find_from) if opts & Needs.FIND else None,
            message_ids=UIDInterval(1, id_limit) if opts & Needs.OLD_IDS else None,
        )
