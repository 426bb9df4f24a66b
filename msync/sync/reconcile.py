# -*- test-case-name: tests.sync.test_reconcile -*-
"""
The decisions of the channel synchronizer for one box pair, exactly as
mbsync 1.4 makes them (C{src/sync.c}: C{box_opened2}, C{load_box},
C{box_loaded}, C{flags_set}, C{msgs_flags_set}, C{msg_copied},
C{box_closed_p2}), as step functions of one plain working state.

The planner is a function of the pair's state, the two box listings and
the options, taken in steps where the engine must first carry out what was
decided (the flag updates, trashing and copies report back):

  1. L{plan_loads}: what each side must load;
  2. L{reconcile}: both listings in, the flag updates out;
  3. L{flags_applied} after each side's updates; L{plan_trash} and
     L{trashed} per side;
  4. L{start_copies} (or L{plan_copies} in a dry run); L{copied} or
     L{copy_failed} per copy; L{tuids_to_find} and L{found} where a store
     did not report UIDs;
  5. L{expunge_uids} per side, then L{finish} with the sides expunged.

Every step returns a L{Step}: the journal operations it decided, already
applied to the in-memory state (as journal replay would apply them), the
notices for the user (typed values from L{msync.sync.notices}), and the
store actions to carry out (L{FlagUpdate}, L{TrashMessage},
L{CopyMessage}). The engine (L{msync.sync.engine}) writes the operations
to the journal before it touches a store; a dry run drops them.

The working state is L{msync.sync.pairwork.PairWork}; MaxMessages expiry
lives in L{msync.sync.expiry}, flag updates in L{msync.sync.flagging},
placeholder upgrades and copies in L{msync.sync.copying}.

Invariants:
  - L1: pure. No Twisted, no I/O, no clocks; the TUID generator is
    injected.
  - The L{SyncState} changes only through journal operations, except the
    working values mbsync also keeps in memory only and journals at the
    end (C{MaxPulledUid}/C{MaxPushedUid} raised by new messages: C{N};
    C{MaxExpiredFarUid}: C{!}), so that an interrupted run revisits
    everything it did not finish.
  - A step that raises (L{MailboxError}) leaves the operations it decided
    before in L{PairWork.journal}; mbsync journals them before giving up
    on the box, and so must the engine.
  - Journal order follows mbsync: C{|}, record kills/orphans/upgrades and
    C{+} new records while reconciling, flag results as their updates
    complete, C{T} per trashed message, C{F} per side then C{#} per pending
    record before any copy, C{<}/C{>}/C{-}/C{&} per copy, C{N}, purge, C{!}.
  - Messages are addressed by UID only; a message is linked to at most one
    live record per side.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from msync.config.schema import SyncOp
from msync.errors import MailboxError
from msync.model import Flags, LoadRequest, MessageInfo, MessageListing, Side
from msync.sync.actions import CopyMessage, CopyPlan, FlagUpdate, TrashMessage
from msync.sync.copying import (
    continue_upgrade,
    copies,
    maybe_upgrade,
)
from msync.sync.copying import copied as _copied
from msync.sync.copying import copy_failed as _copy_failed
from msync.sync.copying import found as _found
from msync.sync.copying import start_copies as _start_copies
from msync.sync.copying import tuids_to_find as _tuids_to_find
from msync.sync.expiry import expire
from msync.sync.flagging import flags_applied as _flags_applied
from msync.sync.flagging import plan_flags
from msync.sync.journal import (
    AssignUid,
    JournalOp,
    KillRecord,
    LoseTuid,
    MakePlaceholder,
    NewRecord,
    SetMaxExpiredFarUid,
    SetMaxUid,
    SetStatus,
    Trashed,
    UidValidities,
)
from msync.sync.loading import LoadPlanner, Needs, placeholder_sides
from msync.sync.notices import ConflictingChanges, Notice, UIDValidityRecovered
from msync.sync.pairwork import (
    ALL,
    DELETED,
    DUMMIES,
    EXPIRED,
    EXPIRING,
    FLAGGED,
    OP_DELETE,
    OP_FLAGS,
    OP_NEW,
    OP_OLD,
    OP_RENEW,
    PENDING,
    SEEN,
    SKIPPED,
    PairWork,
    RecordWork,
    WorkBits,
    current_flags,
    does,
    dummy_bit,
    kill,
    link,
    live,
    log,
    mbsync_loads_from,
    message,
    record_flags,
    record_op,
    sanitize,
    seen_by_mbsync,
    settle,
    work_of,
)
from msync.sync.state import Status, SyncRecord

__all__ = [
    "Step",
    "copied",
    "copy_failed",
    "expunge_uids",
    "finish",
    "flags_applied",
    "found",
    "plan_copies",
    "plan_loads",
    "plan_trash",
    "reconcile",
    "start_copies",
    "trashed",
    "tuids_to_find",
]

T = TypeVar("T")

# Both sides, for per-record loops: iterating the Side enum itself goes
# through EnumType.__iter__ each time.
_SIDES = (Side.FAR, Side.NEAR)


@dataclass(frozen=True, slots=True)
class Step(Generic[T]):
    """
    What one planner step decided.

    @ivar journal: the journal operations, in order, already applied to
        the state; to be written before any store is touched.
    @ivar notices: what to tell the user.
    @ivar actions: what the stores are to do (or the step's answer).
    """

    journal: tuple[JournalOp, ...]
    notices: tuple[Notice, ...]
    actions: T


def _step(work: PairWork, actions: T) -> Step[T]:
    """
    Hand the operations and notices decided so far to the caller.
    """
    journal, work.journal = tuple(work.journal), []
    notices, work.notices = tuple(work.notices), []
    return Step(journal, notices, actions)


# Step 1: what to load (mbsync box_opened2 and load_box).


def _known_validity(work: PairWork, side: Side) -> bool:
    return work.existed or work.state.uid_validity(side) != 0


def plan_loads(work: PairWork) -> Step[dict[Side, LoadRequest]]:
    """
    Decide what each side must load.

    @raise MailboxError: both boxes changed UIDVALIDITY.
    """
    work.changed = [
        side
        for side in Side
        if _known_validity(work, side) and work.state.uid_validity(side) != work.uid_validity[side]
    ]
    if len(work.changed) == 2:
        raise MailboxError(
            f"channel {work.options.channel}: UIDVALIDITY of both far side "
            f"{work.boxes[Side.FAR]} and near side {work.boxes[Side.NEAR]} changed."
        )
    if work.options.isync15:
        _mask_upgrade(work)
    loads = LoadPlanner(
        work.state,
        work.options,
        changed=work.changed,
        replayed=work.replayed,
        driver_widens=work.driver_widens,
    )
    requests = loads.requests()
    work.notices.extend(loads.notices)
    # What mbsync would have loaded, which decides what the plan sees.
    work.loads_old = {side: bool(loads.seen[side] & Needs.OLD) for side in Side}
    work.loads_new = {side: bool(loads.seen[side] & Needs.NEW) for side in Side}
    work.find_old = loads.find_old
    work.load_floor = {side: _load_floor(work, loads, requests, side) for side in Side}
    return _step(work, requests)


def _load_floor(
    work: PairWork, loads: LoadPlanner, requests: dict[Side, LoadRequest], side: Side
) -> int | None:
    """
    The lowest UID of C{side} that mbsync would have loaded (its old
    messages from where msync's request starts, or only the new ones),
    or C{None} when it would have loaded none.
    """
    if loads.seen[side] & Needs.OLD:
        return requests[side].min_uid
    if loads.seen[side] & Needs.NEW:
        return work.state.max_uid(side) + 1
    return None


def _mask_upgrade(work: PairWork) -> None:
    """
    isync 1.5 (C{box_opened2}): C{Upgrade} towards a side that holds no
    placeholder (L{placeholder_sides}) is taken out of the ops, so it
    neither widens the loads nor upgrades anything. isync 1.5
    masks it in the channel itself, so the channel's later pairs in the
    run go without it too: the runner carries L{PairWork.upgrade_masked}
    on (L{msync.sync.results.PairResult.upgrade_masked}).
    """
    wanting = work.options.upgrading()
    if not wanting:
        return
    masked = wanting - placeholder_sides(live(work))
    if masked:
        work.upgrade_masked = masked
        work.options = work.options.without_upgrade(masked)
        work.op_bits = [work.options.side(side).ops.value for side in Side]


# Step 2: the listings (mbsync box_loaded, first half), then reconcile.


def _take_listing(work: PairWork, side: Side, messages: Sequence[MessageInfo]) -> None:
    """
    Take a side's loaded messages: find copies of an interrupted run by
    their TUIDs, then pair messages with records by UID.
    """
    # The store's own listing (columns), not a copy: it is only read.
    listing = work.messages[side] = MessageListing.of(messages)
    work.flags[side] = {}
    work.linked[side] = [None] * len(listing)
    if work.find_old[side]:
        _match_tuids(work, side, listing)
    record_of = work.state.by_uid
    linked = work.linked[side]
    for at, uid in enumerate(listing.uids):
        if linked[at] is not None:
            continue
        record = record_of(side, uid)
        if record is not None:
            record.link(side, uid)
            linked[at] = record


def _match_tuids(work: PairWork, side: Side, messages: Sequence[MessageInfo]) -> None:
    position = 0
    for record in live(work):
        if record.uid(side) or not record.tuid:
            continue
        order = list(range(position, len(messages))) + list(range(position))
        match = next((index for index in order if messages[index].tuid == record.tuid), None)
        if match is None:
            record_op(work, record, LoseTuid)
            continue
        info = messages[match]
        position = match + 1
        record_op(work, record, AssignUid, side, info.uid)
        link(work, side, record, info.uid)


def reconcile(
    work: PairWork,
    listings: Mapping[Side, Sequence[MessageInfo]],
    permanent_flags: Mapping[Side, Flags],
) -> Step[list[FlagUpdate]]:
    """
    Decide everything once both sides are loaded: copies of an interrupted
    run, UIDVALIDITY recovery, deletions and flag changes of old records,
    placeholder upgrades, new messages, MaxMessages expiry.

    @param listings: each side's loaded messages.
    @param permanent_flags: the flags each box can keep.
    @return: the flag updates to carry out, far side first per record.
    @raise MailboxError: UIDVALIDITY changed for real, or unread
        messages exceed MaxMessages while C{ExpireUnread} is unset.
    """
    for side in _SIDES:
        _take_listing(work, side, listings[side])
    _recover_uid_validity(work)
    if not _known_validity(work, Side.FAR) or not _known_validity(work, Side.NEAR) or work.changed:
        log(work, UidValidities(work.uid_validity[Side.FAR], work.uid_validity[Side.NEAR]))
    work.old_max = {side: work.state.max_uid(side) for side in Side}
    work.old_max_expired = work.state.max_expired_far_uid
    work.good = {side: int(permanent_flags[side]) & ALL for side in Side}
    for record in live(work):
        _sync_old(work, record)
    for target in Side:
        _sync_new(work, target)
    expiring_ops = work.options.side(work.options.expire_side).ops
    wanted = SyncOp.NEW | SyncOp.RENEW | SyncOp.FLAGS | SyncOp.OLD
    if expiring_ops & wanted and work.options.max_messages:
        expire(work)
    return _step(work, plan_flags(work))


def _where(work: PairWork, side: Side) -> str:
    return f"channel {work.options.channel}, {side.label} side box {work.boxes[side]}"


def _recover_uid_validity(work: PairWork) -> None:
    # mbsync box_loaded: a change is spurious when the paired messages
    # still carry the same Message-IDs.
    for side in work.changed:
        need = got = 0
        for record in live(work):
            need += 1
            mine = message(work, side, record)
            if mine is None or mine.message_id is None:
                continue
            partner = message(work, side.other, record)
            if partner is None:
                continue
            if partner.message_id != mine.message_id:
                raise MailboxError(
                    f"{_where(work, side)}: UIDVALIDITY genuinely changed "
                    f"(at UID {record.uid(side)})."
                )
            got += 1
        if got < 20 and got * 5 < need * 4:
            raise MailboxError(f"{_where(work, side)}: Unable to recover from UIDVALIDITY change.")
        work.notices.append(UIDValidityRecovered(work.options.channel, side, work.boxes[side]))


def _sync_old(work: PairWork, record: SyncRecord) -> None:
    if record.dead:
        return
    record.tuid = None
    # Each side's loaded message as its current flags (None: not loaded),
    # indexed by Side: no message object per record.
    flags = (record_flags(work, Side.FAR, record), record_flags(work, Side.NEAR, record))
    loads_old = work.loads_old
    gone_far = flags[0] is None and loads_old[Side.FAR]
    gone_near = flags[1] is None and loads_old[Side.NEAR]
    if gone_far and gone_near:
        kill(work, record)
        return
    expunged = (gone_far and record.far_uid != 0, gone_near and record.near_uid != 0)
    # A placeholder's record may start an upgrade: its messages as loaded.
    msg = (
        {side: message(work, side, record) for side in _SIDES}
        if record.status_bits & DUMMIES
        else None
    )
    values = work_of(work, record)
    if expunged[0]:
        values.wstate |= WorkBits.GONE_FAR
    if expunged[1]:
        values.wstate |= WorkBits.GONE_NEAR
    _sync_old_side(work, record, values, Side.FAR, flags, expunged)
    _sync_old_side(work, record, values, Side.NEAR, flags, expunged)
    if msg is not None:
        maybe_upgrade(work, record, values, msg)
    if record.upgrading:
        continue_upgrade(work, record)
    settle(work, record)


def _sync_old_side(
    work: PairWork,
    record: SyncRecord,
    values: RecordWork,
    t: Side,
    flags_of: Sequence[int | None],
    expunged: Sequence[bool],
) -> None:
    """
    One direction of L{_sync_old}: propagate to side C{t}.

    @param flags_of: each side's loaded message's current flags, by
        L{Side}; C{None} where none is loaded.
    @param expunged: by L{Side}, whether the message was found expunged.
    """
    source = t.other
    target_flags, source_flags = flags_of[t], flags_of[source]
    if (
        target_flags is not None
        and target_flags & DELETED
        # Loaded as mbsync would have: an expunge that loads nothing more
        # (mbsync's IMAP CLOSE) leaves the record for the next run.
        and seen_by_mbsync(work, t, record.uid(t))
    ):
        values.wstate |= WorkBits.deleted(t)
    if expunged[t] or not record.uid(t):
        # Gone or never stored here: nothing to update; a deletion is
        # propagated in the other direction.
        return
    options = work.options
    xt = options.expire_side
    status = record.status_bits
    if expunged[source]:
        if t is not xt and status & EXPIRING:
            # Don't propagate a deletion that results from expiry.
            if options.isync15 and status & EXPIRING != EXPIRING:
                # isync 1.5: an interrupted expiry whose message is gone
                # since is committed.
                record_op(work, record, SetStatus, record.status | Status.EXPIRE | Status.EXPIRED)
            record_op(work, record, AssignUid, xt, 0)
            return
        if target_flags is not None:
            current, base = target_flags, int(record.flags)
            if (current & ~DELETED & ALL) != (base & ~DELETED & ALL) or (
                not current & DELETED and base & DELETED
            ):
                work.notices.append(ConflictingChanges(record.far_uid, record.near_uid))
        if does(work, t, OP_DELETE):
            values.add[t] = DELETED
            values.wstate |= WorkBits.DELETE
        return
    if source_flags is None or not does(work, t, OP_FLAGS):
        return
    flags = sanitize(work, source_flags, t)
    if t is not xt and status & EXPIRING:
        flags &= ~DELETED & ALL
    base = int(record.flags)
    if status & DUMMIES:
        if status & dummy_bit(source):
            # A placeholder's Seen is meaningless and its Flagged is a
            # request to upgrade (isync 1.5 still propagates un-seeing).
            kept = base & SEEN if options.isync15 else 0
            flags &= (~(SEEN | FLAGGED) | kept) & ALL
        elif options.isync15 and status & dummy_bit(t):
            # isync 1.5: Flagged on a placeholder would ask for an upgrade.
            flags &= ~FLAGGED & ALL
    values.add[t] = flags & ~base & ALL
    values.remove[t] = ~flags & base & ALL


def _sync_new(work: PairWork, t: Side) -> None:
    source = t.other
    renew, new = does(work, t, OP_RENEW), does(work, t, OP_NEW)
    old = does(work, t, OP_OLD)
    side = work.options.side(t)
    # A deleted message would be expunged anyway: by the target (1.4), or
    # by either side (isync 1.5).
    doomed = side.expunge or (work.options.isync15 and work.options.side(source).expunge)
    state = work.state
    # isync 1.5: the unknown messages pulled below MaxExpiredFarUid are
    # expired ones (the bulk range starts above them).
    topping = True
    isync15 = work.options.isync15
    # isync 1.5 tops up over the source messages it loaded, which may be
    # fewer than msync's listing: none (with Sync Push its IMAP driver
    # loads no far message), or only the new ones. Tested inline below
    # (seen_by_mbsync's rule): this loop runs over every listed message.
    loaded_from = mbsync_loads_from(work, source)
    topping = loaded_from is not None
    topping_from = loaded_from or 0
    if isync15 and work.topping is not None:
        # A partial run: its listing lacks the unchanged messages, so the
        # raise was found from the whole box (topping_raise). It decides
        # nothing below: every unknown message lies above it.
        _raise_max(work, source, work.topping[source])
        topping = False
    listing, linked, changed = work.messages[source], work.linked[source], work.flags[source]
    # Over the listing's columns: a message is made only to read its size.
    for at, uid in enumerate(listing.uids):
        current = changed.get(uid) if changed else None
        flags = listing.bits[at] & ALL if current is None else current
        record = linked[at]
        if record is not None:
            if isync15 and topping and uid >= topping_from:
                # isync 1.5: every paired message up to the first unknown
                # one raises the max, whatever the operations (a state
                # that failed to track it is mended).
                _raise_max(work, source, uid)
            if record.status_bits & SKIPPED:
                # Pre-1.4 legacy: skipped for being too big.
                if not isync15:
                    _raise_max(work, source, uid)
                if not renew:
                    continue
                if not flags & FLAGGED:
                    record_op(work, record, MakePlaceholder)
                else:
                    record_op(work, record, SetStatus, Status.PENDING)
            else:
                pending = record.status_bits & PENDING
                if not new and not (isync15 and pending):
                    # isync 1.5 resumes an interrupted copy whatever the
                    # operations.
                    continue
                if new and not isync15:
                    # 1.4: every paired message raises the max (isync 1.5
                    # only those up to the first unknown one, above).
                    _raise_max(work, source, uid)
                if not pending:
                    continue
            if doomed and flags & DELETED:
                # Would be expunged anyway.
                kill(work, record)
                continue
        else:
            if uid >= topping_from and (
                t is not work.options.expire_side or uid > state.max_expired_far_uid
            ):
                topping = False
            if uid <= state.max_uid(source):
                # Not new: expired and pruned, failed, or skipped; isync
                # 1.5's Sync Old propagates it (an expired one only once
                # it became important).
                if not old or (topping and not _important(work, flags)):
                    continue
            elif not new:
                continue
            else:
                state.set_max_uid(source, uid)
            far, near = (uid, 0) if source is Side.FAR else (0, uid)
            if doomed and flags & DELETED:
                if isync15:
                    # isync 1.5 makes the record (for its max UID), then
                    # kills it as one that would be expunged anyway: both
                    # journaled.
                    log(work, NewRecord(far, near))
                    log(work, KillRecord(far, near))
                continue
            created = log(work, NewRecord(far, near))
            assert created is not None
            record = created
            link(work, source, record, uid, at)
        too_big = side.max_size is not None and (listing.size_at(at) or 0) > side.max_size
        if (
            (not flags & FLAGGED or work.options.isync15)
            and too_big
            and not record.upgrading
            and not record.status_bits & DUMMIES
        ):
            record_op(work, record, MakePlaceholder)
        work.any_new[t] = True


def _important(work: PairWork, flags: int) -> bool:
    """
    Whether a message with C{flags} is kept from MaxMessages expiry:
    flagged, or unread unless C{ExpireUnread} is set.
    """
    return bool(flags & FLAGGED) or (not flags & SEEN and work.options.expire_unread is not True)


def _raise_max(work: PairWork, side: Side, uid: int) -> None:
    if work.state.max_uid(side) < uid:
        work.state.set_max_uid(side, uid)


def topping_raise(held: Sequence[int], paired: Sequence[int], floor: int) -> int:
    """
    isync 1.5's raise of a side's max UID (L{_sync_new}) over a listing of
    every message the box holds from C{floor} on: the highest UID of a
    paired message before the first unknown one.

    @param held: every UID the box holds, ascending.
    @param paired: the side's UID of every record (any order; 0 for none).
    @return: that UID, or 0 when no paired message comes first.
    """
    mine = array("I", sorted(paired))
    mine = mine[bisect_left(mine, max(floor, 1)) :]
    listed = held[bisect_left(held, floor) :]
    if not isinstance(listed, array):
        listed = array("I", listed)
    if listed[: len(mine)] == mine:
        # The usual case, compared in C: the box holds every paired UID,
        # each once, before any unknown one.
        return mine[-1] if mine else 0
    pairs = set(mine)
    highest = 0
    for uid in listed:
        if uid not in pairs:
            break
        highest = uid
    return highest


# Flags (mbsync "synchronizing flags", flags_set, flags_set_p2).


def flags_applied(work: PairWork, updates: Sequence[FlagUpdate]) -> Step[None]:
    """
    Record that flag updates were carried out.
    """
    _flags_applied(work, updates)
    return _step(work, None)


# Trash (mbsync msgs_flags_set).


def plan_trash(work: PairWork, t: Side) -> Step[list[TrashMessage]]:
    """
    The deleted messages of side C{t} to put into a Trash box before
    expunging it.
    """
    side, other = work.options.side(t), work.options.side(t.other)
    remote = other.trash is not None and other.trash_remote_new
    if not work.options.expunges(t) or (side.trash is None and not remote):
        return _step(work, [])
    solo = frozenset(_solo_uids(work, t)) if side.expunge_solo else None
    plan = []
    for at, info in enumerate(work.messages[t]):
        if solo is not None and info.uid not in solo:
            continue
        flags = current_flags(work, t, info)
        record = work.linked[t][at]
        if record is not None and record.dead:
            record = None
        if not flags & DELETED or info.uid in work.state.trashed[t]:
            continue
        if t is work.options.expire_side and record is not None and record.status_bits & EXPIRING:
            continue
        unpropagated = record is None or bool(record.status_bits & (PENDING | SKIPPED))
        if side.trash is not None:
            if not side.trash_new_only or unpropagated:
                plan.append(TrashMessage(t, info.uid, side.trash, False, Flags(flags)))
        elif unpropagated and (other.max_size is None or (info.size or 0) <= other.max_size):
            assert other.trash is not None
            plan.append(TrashMessage(t, info.uid, other.trash, True, Flags(flags)))
    return _step(work, plan)


def trashed(work: PairWork, side: Side, uids: Sequence[int]) -> Step[None]:
    """
    Journal messages of C{side} as trashed.
    """
    for uid in uids:
        log(work, Trashed(side, uid))
    return _step(work, None)


# Copies (mbsync msgs_copied, msg_copied, msgs_found_new).


def plan_copies(work: PairWork, target: Side) -> Step[CopyPlan]:
    """
    The messages to copy to C{target}, in source UID order, without
    journaling anything (a dry run's copies).
    """
    return _step(work, copies(work, target))


def start_copies(work: PairWork, uid_next: Mapping[Side, int]) -> Step[dict[Side, CopyPlan]]:
    """
    Journal each target's UIDNEXT and a TUID for every pending record
    (the engine must then make the journal durable before copying).

    @param uid_next: each open box's UIDNEXT.
    @return: the copies per target side.
    """
    return _step(work, _start_copies(work, uid_next))


def copied(work: PairWork, copy: CopyMessage, uid: int | None) -> Step[None]:
    """
    Record a stored copy.

    @param uid: its UID, or C{None} if the store could not tell.
    """
    _copied(work, copy, uid)
    return _step(work, None)


def copy_failed(work: PairWork, copy: CopyMessage) -> Step[None]:
    """
    Record a copy that cannot be made; it is not retried.
    """
    _copy_failed(work, copy)
    return _step(work, None)


def tuids_to_find(work: PairWork, side: Side) -> dict[str, SyncRecord]:
    """
    The TUIDs of copies to C{side} whose UIDs are unknown, if the store
    did not report some; empty otherwise.
    """
    return _tuids_to_find(work, side)


def found(work: PairWork, side: Side, uids: Mapping[str, int]) -> Step[int]:
    """
    Assign the UIDs of copies found by TUID (see L{tuids_to_find}); the
    others are lost and will be copied again next time.

    @return: how many were lost.
    """
    return _step(work, _found(work, side, uids))


# Expunge, purge, commit values (mbsync sync_close, box_closed_p2).


def expunge_uids(work: PairWork, side: Side) -> list[int]:
    """
    The loaded messages of C{side} now flagged deleted; with
    C{ExpungeSolo}, only those without a partner (L{_solo_uids}), which
    are remembered so that L{finish} takes only them as gone.
    """
    if work.options.side(side).expunge_solo:
        uids = _solo_uids(work, side)
        work.solo[side] = frozenset(uids)
        return uids
    listing, changed = work.messages[side], work.flags[side]
    return [
        uid
        for uid, bits in zip(listing.uids, listing.bits, strict=True)
        if changed.get(uid, bits) & DELETED
    ]


def _solo_uids(work: PairWork, t: Side) -> list[int]:
    """
    isync 1.5 C{ExpungeSolo} (C{msgs_flags_set}): the deleted messages of
    C{t} that have no record (isolated), no partner (solo), a partner
    found expunged (orphaned) or about to be expunged by C{Expunge}
    (orphaning), or that expire on this side; never one still being
    paired.
    """
    other = t.other
    expire_side = work.options.expire_side
    expunge_other = work.options.side(other).expunge
    chosen = []
    for at, info in enumerate(work.messages[t]):
        if not current_flags(work, t, info) & DELETED:
            continue
        record = work.linked[t][at]
        if record is not None and not record.dead:
            values = work_of(work, record)
            partner = record.uid(other)
            if not (
                not partner
                or values.wstate & WorkBits.gone(other)
                or (expunge_other and (record_flags(work, other, record) or 0) & DELETED)
                or (t is expire_side and record.status_bits & (EXPIRING | EXPIRED))
            ):
                continue
            if record.status_bits & PENDING:
                continue
        chosen.append(info.uid)
    return chosen


def finish(work: PairWork, expunged: Collection[Side]) -> Step[None]:
    """
    Journal the new max UIDs, purge the records of expunged messages and
    journal MaxExpiredFarUid.

    @param expunged: the sides that were expunged.
    """
    for side in expunged:
        work.did_expunge[side] = True
    state = work.state
    for side in Side:
        # isync 1.5 commits newmaxuid, which a replay raised too.
        _raise_max(work, side, state.replay_max[side])
        if state.max_uid(side) != work.old_max[side]:
            log(work, SetMaxUid(side, state.max_uid(side)))
    if work.options.isync15:
        # isync 1.5 purges on every run (box_closed_p2).
        for record in live(work):
            _purge15(work, record)
    elif any(work.did_expunge.values()) or work.options.max_messages:
        for record in live(work):
            _purge(work, record)
    if state.max_expired_far_uid != work.old_max_expired:
        log(work, SetMaxExpiredFarUid(state.max_expired_far_uid))
    return _step(work, None)


def _gone(work: PairWork, record: SyncRecord, side: Side) -> bool:
    if not work.did_expunge[side]:
        return False
    solo = work.solo.get(side)
    if solo is not None:
        mine = message(work, side, record)
        return mine is not None and mine.uid in solo
    # Read only: a record without working values has none of these bits.
    values = work.work.get(record)
    return values is not None and bool(values.wstate & WorkBits.deleted(side))


def _purge15(work: PairWork, record: SyncRecord) -> None:
    """
    isync 1.5's purge of a record at the end of a run: an expired record
    whose message on the expiring side is gone dies; one gone on both
    sides dies; a near side gone while the far message is deleted, or a
    far side gone while the near one is, loses that side's UID. A message
    is gone when it was found missing on load or expunged by this run;
    deleted when it carries (or was given) C{\\Deleted}.
    """
    far, near = record.far_uid, record.near_uid
    values = work.work.get(record)
    bits = values.wstate if values is not None else 0

    def gone(side: Side) -> bool:
        return bool(bits & WorkBits.gone(side)) or _gone(work, record, side)

    xt = work.options.expire_side
    state = work.state
    other = record.uid(xt.other)
    if (
        record.status_bits & EXPIRED
        and (not record.uid(xt) or gone(xt))
        and state.max_uid(xt.other) >= other
        and state.max_expired_far_uid >= other
    ):
        log(work, KillRecord(far, near))
    elif not near or gone(Side.NEAR):
        if not far or gone(Side.FAR):
            log(work, KillRecord(far, near))
        elif near and bits & WorkBits.deleted(Side.FAR):
            log(work, AssignUid(far, near, Side.NEAR, 0))
    elif far and gone(Side.FAR) and bits & WorkBits.deleted(Side.NEAR):
        log(work, AssignUid(far, near, Side.FAR, 0))


def _purge(work: PairWork, record: SyncRecord) -> None:
    far, near = record.far_uid, record.near_uid
    xt = work.options.expire_side
    if xt is Side.FAR:
        # isync 1.5 ExpireSide Far: an expired record whose far message
        # is gone dies (box_closed_p2's first rule, for the far side).
        other = record.near_uid
        if (
            record.status_bits & EXPIRED
            and (not far or _gone(work, record, Side.FAR))
            and work.state.max_pushed_uid >= other
            and work.state.max_expired_far_uid >= other
        ):
            log(work, KillRecord(far, near))
            return
    if not near or _gone(work, record, Side.NEAR):
        expired = (
            xt is Side.NEAR
            and record.status_bits & EXPIRED
            and work.state.max_pulled_uid >= far
            and work.state.max_expired_far_uid >= far
        )
        if not far or _gone(work, record, Side.FAR) or expired:
            log(work, KillRecord(far, near))
        elif near:
            log(work, AssignUid(far, near, Side.NEAR, 0))
    elif far and _gone(work, record, Side.FAR):
        log(work, AssignUid(far, near, Side.FAR, 0))
