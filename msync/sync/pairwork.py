# -*- test-case-name: tests.sync.test_reconcile -*-
"""
The working state of one box pair sync, shared by the steps of
L{msync.sync.reconcile.PairPlanner}: the loaded messages and their current
flags, the links between messages and records, and mbsync's per-record
working values (C{aflags}, C{dflags}, C{wstate}).

L{PlannerCore} holds that state and the small operations every step uses
(journaling an operation on a record, linking and unlinking messages,
sanitizing flags); the steps themselves live in L{msync.sync.reconcile},
L{msync.sync.expiry} and L{msync.sync.copying}.

Invariants:
  - L1: pure. No Twisted, no I/O, no clocks; the TUID generator and the
    journal are injected.
  - The L{SyncState} changes only through C{log}ged journal operations
    (see L{msync.sync.reconcile} for the exceptions and the journal order).
  - A message is linked to at most one live record per side, and
    C{_by_uid} and C{_by_record} always describe the same links.
  - The per-message flag, status and op arithmetic runs on plain C{int}s
    (the constants below): an operator on an C{enum.Flag} value builds its
    result through the enum machinery, ~15 times an C{int} operation, and
    a resync does several per message. Values become L{Flags}/L{Status}
    again where they leave the planner (actions, journal operations).
    C{~x} of L{Flags} keeps only L{ALL_FLAGS}' bits, so C{f & ~x} is
    written C{f & ~x & ALL}.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from msync.config.schema import SyncOp
from msync.model import ALL_FLAGS, BoxName, Flags, MessageInfo, Side
from msync.report import Severity
from msync.sync.journal import TUID_LENGTH, JournalOp, KillRecord
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
    "OP_NEW",
    "OP_RENEW",
    "PENDING",
    "SEEN",
    "SKIPPED",
    "PlannerCore",
    "RecordWork",
    "WorkBits",
    "dummy_bit",
    "random_tuid",
]

_TUID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# Flag bits (L{Flags}) as plain ints.
ALL: Final = int(ALL_FLAGS)
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

# SyncOp bits as plain ints, for L{PlannerCore._does}.
OP_NEW: Final = SyncOp.NEW.value
OP_RENEW: Final = SyncOp.RENEW.value
OP_DELETE: Final = SyncOp.DELETE.value
OP_FLAGS: Final = SyncOp.FLAGS.value


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
    return "".join(secrets.choice(_TUID_ALPHABET) for _ in range(TUID_LENGTH))


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

    @classmethod
    def deleted(cls, side: Side) -> int:
        return cls.DEL_FAR if side is Side.FAR else cls.DEL_NEAR


@dataclass(slots=True)
class RecordWork:
    """
    Per-record working values of one run (mbsync C{aflags}, C{dflags},
    C{wstate}), as ints; C{add} and C{remove} are indexed by L{Side}.
    """

    wstate: int = WorkBits.NONE
    add: list[int] = field(default_factory=lambda: [0, 0])
    remove: list[int] = field(default_factory=lambda: [0, 0])


class PlannerCore:
    """
    The working state of one box pair sync and the operations shared by
    the planner's steps; L{msync.sync.reconcile.PairPlanner} is the whole
    planner.
    """

    def __init__(
        self,
        state: SyncState,
        options: PairOptions,
        *,
        log: Callable[[JournalOp], SyncRecord | None],
        notify: Callable[[Severity, str], None],
        existed: bool,
        replayed: bool,
        boxes: Mapping[Side, BoxName],
        uid_validity: Mapping[Side, int],
        new_tuid: Callable[[], str] = random_tuid,
    ) -> None:
        """
        @param state: the pair's state (after journal replay).
        @param options: what to do.
        @param log: journals an operation and applies it to C{state}.
        @param notify: shows an mbsync message (notice, warning).
        @param existed: the state file existed.
        @param replayed: a journal was replayed.
        @param boxes: the box names, for messages.
        @param uid_validity: the UIDVALIDITY of each open box.
        @param new_tuid: the TUID generator.
        """
        self.state = state
        self.options = options
        self._log = log
        self._notify = notify
        self._existed = existed
        self._replayed = replayed
        self._boxes = dict(boxes)
        self._uid_validity = dict(uid_validity)
        self._new_tuid = new_tuid
        self._loads_old = {Side.FAR: False, Side.NEAR: False}
        self._find_old = {Side.FAR: False, Side.NEAR: False}
        self._changed: list[Side] = []
        self._messages: dict[Side, list[MessageInfo]] = {Side.FAR: [], Side.NEAR: []}
        self._flags: dict[Side, dict[int, int]] = {Side.FAR: {}, Side.NEAR: {}}
        self._by_uid: dict[Side, dict[int, SyncRecord]] = {Side.FAR: {}, Side.NEAR: {}}
        self._by_record: dict[Side, dict[SyncRecord, MessageInfo]] = {Side.FAR: {}, Side.NEAR: {}}
        self._work: dict[SyncRecord, RecordWork] = {}
        self._good = {Side.FAR: ALL, Side.NEAR: ALL}
        self._bad = {Side.FAR: 0, Side.NEAR: 0}
        self._op_bits = [options.side(side).ops.value for side in Side]
        self._any_new = {Side.FAR: False, Side.NEAR: False}
        self._find_new = {Side.FAR: False, Side.NEAR: False}
        self._did_expunge = {Side.FAR: False, Side.NEAR: False}
        self._old_max = {side: state.max_uid(side) for side in Side}
        self._old_max_expired = state.max_expired_far_uid

    # Helpers.

    def _ops(self, side: Side) -> SyncOp:
        return self.options.side(side).ops

    def _does(self, side: Side, op: int) -> bool:
        """
        Whether C{side}'s ops include the C{SyncOp} bits C{op} (an int:
        use the C{OP_*} constants).
        """
        return bool(self._op_bits[side] & op)

    def _record_op(self, record: SyncRecord, make: Callable[..., JournalOp], *args: object) -> None:
        """
        Journal an operation on C{record}, addressed by its current UIDs.
        """
        self._log(make(record.far_uid, record.near_uid, *args))

    def _kill(self, record: SyncRecord) -> None:
        self._record_op(record, KillRecord)
        self._unlink(record)

    def _unlink(self, record: SyncRecord) -> None:
        for side in Side:
            info = self._by_record[side].pop(record, None)
            if info is not None and self._by_uid[side].get(info.uid) is record:
                del self._by_uid[side][info.uid]

    def _link(self, side: Side, record: SyncRecord, info: MessageInfo) -> None:
        self._by_record[side][record] = info
        self._by_uid[side][info.uid] = record

    def message(self, side: Side, record: SyncRecord) -> MessageInfo | None:
        """
        The loaded message of C{record} on C{side}, if any.
        """
        return self._by_record[side].get(record)

    def flags_of(self, side: Side, uid: int) -> Flags:
        """
        The current flags of a loaded message (after our updates).
        """
        return Flags(self._flags[side][uid])

    def _record_flags(self, side: Side, record: SyncRecord) -> int | None:
        info = self.message(side, record)
        return None if info is None else self._flags[side][info.uid]

    def _work_of(self, record: SyncRecord) -> RecordWork:
        work = self._work.get(record)
        if work is None:
            work = self._work[record] = RecordWork()
            if record.purging:
                # mbsync upgrade_srec: the split-off placeholder is to be
                # deleted where it lives.
                work.add[Side.FAR if record.far_uid else Side.NEAR] = DELETED
        return work

    def _sanitize(self, flags: int, side: Side) -> int:
        unsupported = flags & ~(self._good[side] | self._bad[side]) & ALL
        if unsupported:
            # mbsync sanitize_flags: one notice per flag and store.
            self._notify(
                Severity.NOTICE,
                f"Notice: {side.label} side store does not support flag(s) "
                f"'{Flags(unsupported).letters()}'; not propagating.",
            )
            self._bad[side] |= unsupported
        return flags & self._good[side]

    def _live(self) -> list[SyncRecord]:
        return [record for record in self.state.records if not record.status_bits & DEAD]

    def _where(self, side: Side) -> str:
        return f"channel {self.options.channel}, {side.label} side box {self._boxes[side]}"
