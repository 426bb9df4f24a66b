# -*- test-case-name: tests.sync.test_reconcile -*-
"""
The working state of one box pair sync, shared by the planner's step
functions (L{msync.sync.reconcile}, L{msync.sync.expiry},
L{msync.sync.flagging}, L{msync.sync.copying}): the loaded messages and
their current flags, the links between messages and records, mbsync's
per-record working values (C{aflags}, C{dflags}, C{wstate}), and the
journal operations and notices not yet handed to the engine.

L{PairWork} is a plain object holding that state; the functions below are
the small operations every step uses (journaling an operation on a
record, linking and unlinking messages, sanitizing flags).

Invariants:
  - L1: pure. No Twisted, no I/O, no clocks; the TUID generator is
    injected.
  - The L{SyncState} changes only through L{log}, which applies an
    operation to it (as journal replay would) and queues it in
    L{PairWork.journal} for the engine to write before it touches a store
    (see L{msync.sync.reconcile} for the exceptions and the journal order).
  - A message is linked to at most one live record per side, and
    C{linked} and the records' own links (L{SyncRecord.linked}) always
    describe the same links; a new L{PairWork} starts with no record
    linked.
  - Nothing per message beyond the listings (columns: L{MessageListing})
    and C{linked}: flags only where we changed them, the link from a
    record to its messages lives on the record (their UIDs; a
    L{MessageInfo} is made from the listing when a step asks for one),
    working values only for records that need them (L{settle}).
  - The per-message flag, status and op arithmetic runs on plain C{int}s
    (the constants below): an operator on an C{enum.Flag} value builds its
    result through the enum machinery, ~15 times an C{int} operation, and
    a resync does several per message. Values become L{Flags}/L{Status}
    again where they leave the planner (actions, journal operations).
    C{~x} of L{Flags} keeps only L{ALL_FLAGS}' bits, so C{f & ~x} is
    written C{f & ~x & ALL}.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from msync.config.schema import SyncOp
from msync.errors import StateError
from msync.model import ALL_BITS, BoxName, Flags, MessageInfo, MessageListing, Side
from msync.sync.journal import TUID_LENGTH, JournalOp, KillRecord, apply_op
from msync.sync.notices import Notice, UnsupportedFlags
from msync.sync.options import PairOptions
from msync.sync.state import Status, SyncRecord, SyncState

__all__ = [
    "ALL",
    "DEAD",
    "DELETED",
    "DUMMIES",
    "DUMMY_F",
    "DUMMY_N",
    "EXPIRE",
    "EXPIRED",
    "EXPIRING",
    "FLAGGED",
    "OP_DELETE",
    "OP_FLAGS",
    "OP_OLD",
    "OP_NEW",
    "OP_RENEW",
    "PENDING",
    "SEEN",
    "SKIPPED",
    "PairWork",
    "RecordWork",
    "WorkBits",
    "current_flags",
    "does",
    "dummy_bit",
    "kill",
    "forget_undeleted",
    "link",
    "linked_record",
    "live",
    "log",
    "message",
    "random_tuid",
    "record_flags",
    "record_op",
    "sanitize",
    "set_current_flags",
    "settle",
    "unlink",
    "work_of",
]

# Flag bits (L{Flags}) as plain ints.
ALL: Final = ALL_BITS
DELETED: Final = int(Flags.DELETED)
FLAGGED: Final = int(Flags.FLAGGED)
SEEN: Final = int(Flags.SEEN)

# Status bits (L{Status}) as plain ints; see L{SyncRecord.status_bits}.
EXPIRE: Final = Status.EXPIRE.value
EXPIRED: Final = Status.EXPIRED.value
PENDING: Final = Status.PENDING.value
DUMMY_F: Final = Status.DUMMY_F.value
DUMMY_N: Final = Status.DUMMY_N.value
SKIPPED: Final = Status.SKIPPED.value
EXPIRING: Final = EXPIRE | EXPIRED
DUMMIES: Final = DUMMY_F | DUMMY_N
DEAD: Final = Status.DEAD.value

# SyncOp bits as plain ints, for L{does}.
OP_NEW: Final = SyncOp.NEW.value
OP_RENEW: Final = SyncOp.RENEW.value
OP_DELETE: Final = SyncOp.DELETE.value
OP_FLAGS: Final = SyncOp.FLAGS.value
OP_OLD: Final = SyncOp.OLD.value


def dummy_bit(side: Side) -> int:
    """
    The placeholder status bit for C{side} (L{Status.dummy}) as an int.
    """
    return DUMMY_F if side is Side.FAR else DUMMY_N


def random_tuid() -> str:
    """
    A fresh 12-character TUID over C{[A-Za-z0-9+/]} (72 random bits, as
    mbsync's C{assign_tuid}).
    """
    # 9 random bytes are exactly 12 base64 digits of that alphabet, taken
    # from a pool read from the system's randomness 512 TUIDs at a time
    # (a first pull asks for one per message; one read each was a system
    # call per message).
    global _tuid_pool, _tuid_used
    size = TUID_LENGTH * 6 // 8
    start = _tuid_used
    if start + size > len(_tuid_pool):
        _tuid_pool, start = secrets.token_bytes(size * 512), 0
    _tuid_used = start + size
    return base64.b64encode(_tuid_pool[start : start + size]).decode("ascii")


#: Random bytes for TUIDs, and how many of them are used (L{random_tuid}).
_tuid_pool = b""
_tuid_used = 0


# Working state.


class WorkBits:
    """
    mbsync's ephemeral C{W_*} record bits (upgrade and purge live on the
    record itself, because journal replay sets them), as plain ints.
    """

    NONE: Final = 0
    NEXPIRE: Final = 1
    DELETE: Final = 2
    DEL_FAR: Final = 4
    DEL_NEAR: Final = 8
    GONE_FAR: Final = 16
    GONE_NEAR: Final = 32

    @classmethod
    def deleted(cls, side: Side) -> int:
        return cls.DEL_FAR if side is Side.FAR else cls.DEL_NEAR

    @classmethod
    def gone(cls, side: Side) -> int:
        """
        The bit of a record whose C{side} message was found expunged when
        loading (isync 1.5's C{S_GONE}).
        """
        return cls.GONE_FAR if side is Side.FAR else cls.GONE_NEAR


@dataclass(slots=True, init=False)
class RecordWork:
    """
    Per-record working values of one run (mbsync C{aflags}, C{dflags},
    C{wstate}), as ints; C{add} and C{remove} are indexed by L{Side}.
    """

    wstate: int
    add: list[int]
    remove: list[int]

    def __init__(
        self,
        wstate: int = WorkBits.NONE,
        add: list[int] | None = None,
        remove: list[int] | None = None,
    ) -> None:
        # Written out: one is made per record with work in every resync.
        self.wstate = wstate
        self.add = [0, 0] if add is None else add
        self.remove = [0, 0] if remove is None else remove


@dataclass(slots=True, eq=False)
class PairWork:
    """
    The working state of one box pair sync, passed to every step.

    @ivar state: the pair's state (after journal replay); every journal
        operation is applied to it as it is decided.
    @ivar options: what to do.
    @ivar existed: the state file existed.
    @ivar replayed: a journal was replayed.
    @ivar boxes: the box names, for messages.
    @ivar uid_validity: the UIDVALIDITY of each open box.
    @ivar new_tuid: the TUID generator.
    @ivar journal: operations decided (and applied to L{state}) but not
        yet taken by the engine (L{msync.sync.reconcile.Step}).
    @ivar notices: notices not yet taken by the engine.
    @ivar last: the record the last journaled operation touched (journal
        replay looks records up from there, and so does L{log}).
    @ivar changed: the sides whose UIDVALIDITY changed.
    @ivar loads_old: per side, whether old (paired) messages were loaded,
        as mbsync would have loaded them (msync may load more: see
        L{driver_widens}).
    @ivar loads_new: per side, whether the messages above its max UID were
        loaded, as mbsync would have loaded them.
    @ivar driver_widens: per side, whether mbsync's driver for its
        store widens a load to what setting flags (the old messages) and
        expunging (every message) need: its Maildir driver does, its IMAP
        driver does not (C{UID STORE} by UID, C{CLOSE}). msync widens the
        load on any store (to expunge by UID), but plans with what mbsync
        saw.
    @ivar find_old: per side, whether copies of an interrupted run are to
        be found by TUID in its listing.
    @ivar messages: each side's listing.
    @ivar flags: per side, the current flags of the loaded messages whose
        flags we changed, by UID (L{current_flags}; the others still have
        their listed flags).
    @ivar linked: the record each loaded message is linked to, by side and
        position in the listing (a list as long as the listing: a slot per
        message, not a dictionary entry; L{linked_record} looks one up by
        UID).
    @ivar work: per-record working values (L{work_of}); only for records
        whose values differ from the defaults (L{settle}).
    @ivar good: the flags each side's box can keep.
    @ivar bad: the unsupported flags each side was already noticed of.
    @ivar op_bits: each side's C{SyncOp} bits as ints, indexed by L{Side}.
    @ivar any_new: per target side, whether anything may be copied there.
    @ivar find_new: per target side, whether copies lack UIDs.
    @ivar did_expunge: per side, whether it was expunged.
    @ivar upgrade_flags: isync 1.5: the flags each placeholder upgrade's
        copy gets (the placeholder's saved flags with the real message's
        changes since the last sync).
    @ivar upgrade_changes: isync 1.5: those changes (added, removed), which
        the record's flags take on once the copy is stored.
    @ivar solo: per side with C{ExpungeSolo}, the UIDs chosen to be
        expunged (L{msync.sync.reconcile.expunge_uids}); only these are
        gone after the expunge.
    @ivar upgrade_masked: isync 1.5: the sides whose C{Upgrade} was
        masked for want of placeholders there (L{options} is without it).
    @ivar old_max: the max UIDs when reconciling started.
    @ivar load_floor: per side, the lowest UID its load covers (before a
        partial run cuts it to the changed messages), or C{None} when it
        loads no message.
    @ivar topping: isync 1.5, in a partial run: per side, the max UID its
        paired messages raise it to in a full listing, up to the first
        unknown one (L{msync.sync.reconcile.topping_raise}); C{None}: the
        listings are whole and raise it themselves.
    @ivar old_max_expired: MaxExpiredFarUid when reconciling started.
    """

    state: SyncState
    options: PairOptions
    existed: bool
    replayed: bool
    boxes: dict[Side, BoxName]
    uid_validity: dict[Side, int]
    new_tuid: Callable[[], str] = random_tuid
    journal: list[JournalOp] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    last: SyncRecord | None = None
    changed: list[Side] = field(default_factory=list)
    loads_old: dict[Side, bool] = field(default_factory=lambda: {Side.FAR: False, Side.NEAR: False})
    find_old: dict[Side, bool] = field(default_factory=lambda: {Side.FAR: False, Side.NEAR: False})
    loads_new: dict[Side, bool] = field(default_factory=lambda: {Side.FAR: False, Side.NEAR: False})
    driver_widens: dict[Side, bool] = field(
        default_factory=lambda: {Side.FAR: True, Side.NEAR: True}
    )
    messages: dict[Side, MessageListing] = field(
        default_factory=lambda: {Side.FAR: MessageListing(), Side.NEAR: MessageListing()}
    )
    flags: dict[Side, dict[int, int]] = field(default_factory=lambda: {Side.FAR: {}, Side.NEAR: {}})
    linked: dict[Side, list[SyncRecord | None]] = field(
        default_factory=lambda: {Side.FAR: [], Side.NEAR: []}
    )
    work: dict[SyncRecord, RecordWork] = field(default_factory=dict)
    good: dict[Side, int] = field(default_factory=lambda: {Side.FAR: ALL, Side.NEAR: ALL})
    bad: dict[Side, int] = field(default_factory=lambda: {Side.FAR: 0, Side.NEAR: 0})
    op_bits: list[int] = field(default_factory=list)
    any_new: dict[Side, bool] = field(default_factory=lambda: {Side.FAR: False, Side.NEAR: False})
    find_new: dict[Side, bool] = field(default_factory=lambda: {Side.FAR: False, Side.NEAR: False})
    did_expunge: dict[Side, bool] = field(
        default_factory=lambda: {Side.FAR: False, Side.NEAR: False}
    )
    solo: dict[Side, frozenset[int]] = field(default_factory=dict)
    upgrade_flags: dict[SyncRecord, int] = field(default_factory=dict)
    upgrade_changes: dict[SyncRecord, tuple[int, int]] = field(default_factory=dict)
    upgrade_masked: frozenset[Side] = frozenset()
    old_max: dict[Side, int] = field(default_factory=dict)
    old_max_expired: int = 0
    load_floor: dict[Side, int | None] = field(default_factory=dict)
    topping: dict[Side, int] | None = None

    def __post_init__(self) -> None:
        self.op_bits = [self.options.side(side).ops.value for side in Side]
        self.old_max = {side: self.state.max_uid(side) for side in Side}
        self.old_max_expired = self.state.max_expired_far_uid
        for record in self.state.records:
            # Links are working data of one sync (a state may be synced
            # again in one process: the daemon, tests).
            record.link(Side.FAR, 0)
            record.link(Side.NEAR, 0)


# Operations shared by the steps.


def does(work: PairWork, side: Side, op: int) -> bool:
    """
    Whether C{side}'s ops include the C{SyncOp} bits C{op} (an int: use the
    C{OP_*} constants).
    """
    return bool(work.op_bits[side] & op)


def log(work: PairWork, op: JournalOp) -> SyncRecord | None:
    """
    Apply C{op} to the state, as journal replay will, and queue it for the
    journal.

    @return: the record C{op} touched (L{msync.sync.journal.apply_op}).
    @raise StateError: C{op} addresses a record that does not exist.
    """
    try:
        work.last = apply_op(work.state, op, work.last, live=True)
    except LookupError:
        raise StateError(
            f"journal entry for {op!r} refers to non-existing sync state entry"
        ) from None
    work.journal.append(op)
    return work.last


def record_op(
    work: PairWork, record: SyncRecord, make: Callable[..., JournalOp], *args: object
) -> None:
    """
    Journal an operation on C{record}, addressed by its current UIDs.
    """
    log(work, make(record.far_uid, record.near_uid, *args))


def kill(work: PairWork, record: SyncRecord) -> None:
    """
    Journal C{record} dead and unlink its messages.
    """
    record_op(work, record, KillRecord)
    unlink(work, record)


def unlink(work: PairWork, record: SyncRecord) -> None:
    """
    Forget the messages linked to C{record}.
    """
    for side in Side:
        uid = record.linked(side)
        record.link(side, 0)
        if uid:
            at = work.messages[side].position(uid)
            if at >= 0 and work.linked[side][at] is record:
                work.linked[side][at] = None


def link(work: PairWork, side: Side, record: SyncRecord, uid: int, at: int = -1) -> None:
    """
    Link the loaded message with C{uid} of C{side} to C{record}.

    @param at: its position in the listing, when the caller knows it.
    """
    if at < 0:
        at = work.messages[side].position(uid)
        if at < 0:
            raise ValueError(f"UID {uid} is not listed on the {side.label} side")
    record.link(side, uid)
    work.linked[side][at] = record


def linked_record(work: PairWork, side: Side, uid: int) -> SyncRecord | None:
    """
    The record the loaded message with C{uid} of C{side} is linked to, if
    any.
    """
    at = work.messages[side].position(uid)
    return None if at < 0 else work.linked[side][at]


def forget_undeleted(work: PairWork) -> None:
    """
    Once the copies are planned, forget every loaded message not flagged
    deleted: what is left to do (copying, finding copies by TUID,
    expunging, purging records) reads the listings only for the deleted
    ones (L{msync.sync.reconcile.expunge_uids}) and the links of records
    only through them. A big first pull then no longer keeps the source
    box's listing while the copies are made.
    """
    for side in Side:
        changed, linked = work.flags[side], work.linked[side]
        listing = work.messages[side]
        kept = []
        for at, (uid, bits) in enumerate(zip(listing.uids, listing.bits, strict=True)):
            flags = changed.get(uid, bits) if changed else bits
            if flags & DELETED:
                kept.append(at)
                continue
            record = linked[at]
            if record is not None and record.linked(side) == uid:
                record.link(side, 0)
            changed.pop(uid, None)
        work.messages[side] = listing.select(kept)
        work.linked[side] = [linked[at] for at in kept]
        # A dictionary never shrinks as entries go: the few left are
        # copied into a new one, and the big table freed.
        work.flags[side] = dict(changed)


def message(work: PairWork, side: Side, record: SyncRecord) -> MessageInfo | None:
    """
    The loaded message of C{record} on C{side}, if any (made from the
    listing: compare messages by UID, not by identity).
    """
    uid = record.linked(side)
    return work.messages[side].find(uid) if uid else None


def record_flags(work: PairWork, side: Side, record: SyncRecord) -> int | None:
    """
    The current flags of C{record}'s message on C{side}, if loaded.
    """
    uid = record.linked(side)
    if not uid:
        return None
    changed = work.flags[side]
    if changed:
        found = changed.get(uid)
        if found is not None:
            return found
    return work.messages[side].flags_of(uid)


def current_flags(work: PairWork, side: Side, info: MessageInfo) -> int:
    """
    The current flags of the loaded message C{info} of C{side}: as listed,
    unless we changed them (L{set_current_flags}).
    """
    changed = work.flags[side]
    if changed:
        found = changed.get(info.uid)
        if found is not None:
            return found
    return int(info.flags)


def set_current_flags(work: PairWork, side: Side, info: MessageInfo, flags: int) -> None:
    """
    Record that the loaded message C{info} of C{side} now has C{flags}.
    """
    work.flags[side][info.uid] = flags


def work_of(work: PairWork, record: SyncRecord) -> RecordWork:
    """
    The working values of C{record}, created on first use.
    """
    found = work.work.get(record)
    if found is None:
        found = work.work[record] = RecordWork()
        if record.purging:
            # mbsync upgrade_srec: the split-off placeholder is to be
            # deleted where it lives.
            found.add[Side.FAR if record.far_uid else Side.NEAR] = DELETED
    return found


def settle(work: PairWork, record: SyncRecord) -> None:
    """
    Forget C{record}'s working values if they are what L{work_of} would
    create again (most records of a resync: nothing to do), so that a big
    box holds no working values per record between steps.
    """
    found = work.work.get(record)
    if (
        found is not None
        and not found.wstate
        and not record.purging
        and not (found.add[0] or found.add[1] or found.remove[0] or found.remove[1])
    ):
        del work.work[record]


def sanitize(work: PairWork, flags: int, side: Side) -> int:
    """
    C{flags} without those C{side}'s box cannot keep (mbsync
    C{sanitize_flags}: one notice per flag and side).
    """
    unsupported = flags & ~(work.good[side] | work.bad[side]) & ALL
    if unsupported:
        work.notices.append(UnsupportedFlags(side, Flags(unsupported)))
        work.bad[side] |= unsupported
    return flags & work.good[side]


def mbsync_loads_from(work: PairWork, t: Side) -> int | None:
    """
    The lowest UID of side C{t}'s messages that mbsync would have loaded
    (msync may load more, to expunge by UID): 0 when its old messages were
    loaded, the one above the max UID when only its new ones were
    (L{PairWork.loads_old}, L{PairWork.loads_new}), C{None} when none.
    """
    if work.loads_old[t]:
        return 0
    if work.loads_new[t]:
        return work.old_max[t] + 1
    return None


def seen_by_mbsync(work: PairWork, t: Side, uid: int) -> bool:
    """
    Whether mbsync would have loaded side C{t}'s message with UID C{uid}
    (L{mbsync_loads_from}).
    """
    start = mbsync_loads_from(work, t)
    return start is not None and uid >= start


def live(work: PairWork) -> list[SyncRecord]:
    """
    The records not killed.
    """
    return [record for record in work.state.records if not record.status_bits & DEAD]
