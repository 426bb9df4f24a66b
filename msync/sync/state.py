# -*- test-case-name: tests.sync.test_state -*-
"""
The mbsync 1.4 sync state of one box pair in memory: its records and
header values. Its text format is L{msync.sync.statetext}; where its files
live, L{msync.sync.statepaths}.

Invariants:
  - L1: pure; no files, clocks or Twisted.
  - Records stay in list order (mbsync appends; placeholder upgrades insert
    right after the upgraded record). Dead records (L{Status.DEAD}) stay in
    the list until L{SyncState.purge_dead} so that journal replay can still
    address them, as mbsync does; they are never written.
  - The lookups by far UID and near UID are dictionaries kept current by
    the records themselves: changing C{far_uid}, C{near_uid} or C{status}
    of a record owned by a state reindexes it. A live record is found by
    (far, near) pair through its far (else near) UID; only dead records and
    records without any UID (few: those killed in this run) have a pair
    index of their own.
  - Memory per record is one L{SyncRecord} and one dictionary entry per
    nonzero UID: an index holds the record itself, and a list only where
    several live records share a UID (a broken state). No per-record
    tuple or list, so a 200,000-message state stays small.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence

from msync.model import Flags, Side


class Status(enum.Flag, boundary=enum.KEEP):
    """
    The status bits of a sync record, with mbsync's values (the journal's
    C{~} op stores them numerically). Unknown bits read from a journal are
    kept, as mbsync keeps them in its C{uchar}.
    """

    NONE = 0
    EXPIRE = 1
    EXPIRED = 2
    PENDING = 4
    DUMMY_F = 8
    DUMMY_N = 16
    SKIPPED = 32
    #: Ephemeral: the record was killed; it is never written to a state file.
    DEAD = 128

    @classmethod
    def dummy(cls, side: Side) -> Status:
        """
        The placeholder bit for C{side}.
        """
        return cls.DUMMY_F if side is Side.FAR else cls.DUMMY_N


# Status bits as ints, for per-record tests (enum.Flag operators are slow).
_DEAD = Status.DEAD.value

#: Each status met so far by its bits (a record keeps only the bits).
_STATUSES: dict[int, Status] = {}


def _status_of(bits: int) -> Status:
    status = _STATUSES.get(bits)
    if status is None:
        status = _STATUSES[bits] = Status(bits)
    return status


class _Rare:
    """
    The values of a L{SyncRecord} that most records keep at their
    defaults, made when one is first set.
    """

    __slots__ = ("tuid", "pending_flags", "upgrading", "purging")

    def __init__(self, tuid: str | None) -> None:
        self.tuid = tuid
        self.pending_flags = Flags.NONE
        self.upgrading = False
        self.purging = False


class SyncRecord:
    """
    One pairing of a far and a near message (either UID may be 0: no
    message on that side).

    @ivar flags: the last synchronized flags (baseline of the 3-way merge).
    @ivar tuid: the 12-character TUID journaled for a copy in flight, or
        C{None}.
    @ivar pending_flags: the placeholder's flags journaled by C{^}.
    @ivar upgrading: a placeholder upgrade of this record is in progress.
    @ivar purging: this record holds a placeholder that is to be deleted.

    A record also carries the UID of the loaded message it is linked to on
    each side during one sync (mbsync's C{srec->msg[]}; L{linked},
    L{link}): a slot on the record instead of a dictionary entry per
    message, and a UID, not the message (the listing makes that when
    asked). It is working data of that sync, never part of the state's
    values.
    """

    # Eight slots: the values most records keep at their defaults
    # (placeholder flags, upgrade and purge marks) live in one L{_Rare}
    # made when one is first set (until then the slot holds the TUID
    # alone, which a pull sets on every record), and the status is kept
    # as its bits only; a big box's state holds one record per message.
    __slots__ = (
        "_far",
        "_near",
        "_bits",
        "_owner",
        "flags",
        "_rare",
        "_far_msg",
        "_near_msg",
    )

    def __init__(
        self,
        far_uid: int,
        near_uid: int,
        flags: Flags = Flags.NONE,
        status: Status = Status.NONE,
        tuid: str | None = None,
    ) -> None:
        self._owner: SyncState | None = None
        self._far = far_uid
        self._near = near_uid
        self._bits = status.value
        self.flags = flags
        # The TUID alone, or a _Rare once another rare value is set.
        self._rare: str | _Rare | None = tuid
        self._far_msg = 0
        self._near_msg = 0

    def _kept(self) -> _Rare:
        rare = self._rare
        if rare is None or isinstance(rare, str):
            rare = self._rare = _Rare(rare)
        return rare

    @property
    def tuid(self) -> str | None:
        """
        The TUID journaled for a copy in flight, or C{None}.
        """
        rare = self._rare
        if rare is None or isinstance(rare, str):
            return rare
        return rare.tuid

    @tuid.setter
    def tuid(self, tuid: str | None) -> None:
        rare = self._rare
        if rare is None or isinstance(rare, str):
            self._rare = tuid
        else:
            rare.tuid = tuid

    @property
    def pending_flags(self) -> Flags:
        """
        The placeholder's flags journaled by C{^}.
        """
        rare = self._rare
        return Flags.NONE if rare is None or isinstance(rare, str) else rare.pending_flags

    @pending_flags.setter
    def pending_flags(self, flags: Flags) -> None:
        if flags or isinstance(self._rare, _Rare):
            self._kept().pending_flags = flags

    @property
    def upgrading(self) -> bool:
        """
        Whether a placeholder upgrade of this record is in progress.
        """
        rare = self._rare
        return False if rare is None or isinstance(rare, str) else rare.upgrading

    @upgrading.setter
    def upgrading(self, upgrading: bool) -> None:
        if upgrading or isinstance(self._rare, _Rare):
            self._kept().upgrading = upgrading

    @property
    def purging(self) -> bool:
        """
        Whether this record holds a placeholder that is to be deleted.
        """
        rare = self._rare
        return False if rare is None or isinstance(rare, str) else rare.purging

    @purging.setter
    def purging(self, purging: bool) -> None:
        if purging or isinstance(self._rare, _Rare):
            self._kept().purging = purging

    def linked(self, side: Side) -> int:
        """
        The UID of the loaded message of C{side} this record is linked to
        in the current sync, 0 if none.
        """
        return self._far_msg if side is Side.FAR else self._near_msg

    def link(self, side: Side, uid: int) -> None:
        """
        Link the loaded message with C{uid} of C{side} to this record (0:
        unlink). The record's own UID object is kept when it is that UID
        (no new C{int} per record).
        """
        if side is Side.FAR:
            self._far_msg = self._far if uid == self._far else uid
        else:
            self._near_msg = self._near if uid == self._near else uid

    @property
    def far_uid(self) -> int:
        """
        The far message's UID, 0 if there is none.
        """
        return self._far

    @far_uid.setter
    def far_uid(self, uid: int) -> None:
        self._change(uid, self._near, self.status)

    @property
    def near_uid(self) -> int:
        """
        The near message's UID, 0 if there is none.
        """
        return self._near

    @near_uid.setter
    def near_uid(self, uid: int) -> None:
        self._change(self._far, uid, self.status)

    @property
    def status(self) -> Status:
        """
        The record's status bits.
        """
        return _status_of(self._bits)

    @status.setter
    def status(self, status: Status) -> None:
        self._change(self._far, self._near, status)

    @property
    def status_bits(self) -> int:
        """
        The value of L{status} as an int, for bit tests in per-message
        loops (an operator on an C{enum.Flag} is ~15 times slower).
        """
        return self._bits

    def uid(self, side: Side) -> int:
        """
        The UID on C{side}.
        """
        return self._far if side is Side.FAR else self._near

    def assign(self, side: Side, uid: int, status: Status) -> None:
        """
        Set the UID on C{side} and the status bits at once (the record is
        indexed again once, not twice).
        """
        if side is Side.FAR:
            self._change(uid, self._near, status)
        else:
            self._change(self._far, uid, status)

    def set_uid(self, side: Side, uid: int) -> None:
        """
        Set the UID on C{side}.
        """
        if side is Side.FAR:
            self.far_uid = uid
        else:
            self.near_uid = uid

    @property
    def dead(self) -> bool:
        """
        Whether the record was killed.
        """
        return bool(self._bits & _DEAD)

    def values(self) -> tuple[object, ...]:
        """
        Everything about this record, for comparisons.
        """
        return (
            self._far,
            self._near,
            self.flags,
            self.status,
            self.tuid,
            self.pending_flags,
            self.upgrading,
            self.purging,
        )

    def _change(self, far: int, near: int, status: Status) -> None:
        owner = self._owner
        if owner is None:
            self._far, self._near = far, near
            self._bits = status.value
            return
        bits = status.value
        if not (bits | self._bits) & _DEAD:
            # A live record keeping one UID (a copy's UID arrives, a status
            # changes): only the other side's index changes. Taking it out
            # of the kept side's index and putting it back would leave the
            # same entry, but churn that dictionary into a table three
            # times its size.
            if far and far == self._far and owner._far.get(far) is self:
                _move(owner._near, self._near, near, self)
                self._near, self._bits = near, bits
                return
            if near and near == self._near and owner._near.get(near) is self:
                _move(owner._far, self._far, far, self)
                self._far, self._bits = far, bits
                return
        owner._unindex(self)
        self._far, self._near = far, near
        self._bits = bits
        owner._index(self)

    def __repr__(self) -> str:
        return (
            f"SyncRecord({self._far}, {self._near}, {self.flags!r}, {self.status!r}"
            + (f", tuid={self.tuid!r}" if self.tuid else "")
            + ")"
        )


_Bucket = SyncRecord | list[SyncRecord]


def _add(index: dict[int, _Bucket], key: int, record: SyncRecord) -> None:
    bucket = index.get(key)
    if bucket is None:
        index[key] = record
    elif isinstance(bucket, list):
        bucket.append(record)
    else:
        index[key] = [bucket, record]


def _drop(index: dict[int, _Bucket], key: int, record: SyncRecord) -> None:
    bucket = index[key]
    if not isinstance(bucket, list):
        del index[key]
        return
    for position, candidate in enumerate(bucket):
        if candidate is record:
            del bucket[position]
            break
    if len(bucket) == 1:
        index[key] = bucket[0]


def _move(index: dict[int, _Bucket], old: int, new: int, record: SyncRecord) -> None:
    """
    Index C{record} under C{new} instead of C{old} (0: none) in a live
    index, exactly as dropping and adding it again would leave it.
    """
    if old and old == new and index.get(old) is record:
        return
    if old:
        _drop(index, old, record)
    if new:
        _add(index, new, record)


def _members(bucket: _Bucket | None) -> list[SyncRecord]:
    if bucket is None:
        return []
    return bucket if isinstance(bucket, list) else [bucket]


class SyncState:
    """
    The sync state of one box pair: header values and the ordered records.

    @ivar far_uid_validity: UIDVALIDITY of the far box (0: unknown yet).
    @ivar near_uid_validity: UIDVALIDITY of the near box.
    @ivar max_pulled_uid: highest far UID already propagated far to near.
    @ivar max_pushed_uid: highest near UID already propagated near to far.
    @ivar max_expired_far_uid: far UIDs up to this are expired (MaxMessages);
        with isync 1.5's C{ExpireSide Far}, near UIDs (its C{maxxfuid}:
        UIDs of the side opposite L{expire_side}).
    @ivar expire_side: the side MaxMessages expires (isync 1.5
        C{ExpireSide}); decides the header key that holds
        L{max_expired_far_uid} and which UID journal replay counts.
    @ivar expired_key: the side named by the state file's header key of
        L{max_expired_far_uid} (C{MaxExpiredFarUid}: far), if any.
    @ivar find_uid: per side, the UIDNEXT saved before storing copies (TUID
        search lower bound); only set by journal replay.
    @ivar trashed: per side, UIDs already moved to Trash; only set by replay.
    @ivar replay_max: per side, isync 1.5's C{newmaxuid} as a version 5
        journal's replay left it (its C{+} lines and UID assignments raise
        it, not the max UID that decides what is new in this run); the
        commit takes it into the max UID (L{msync.sync.reconcile.finish}).
        0 when nothing was replayed.
    """

    def __init__(
        self,
        far_uid_validity: int = 0,
        near_uid_validity: int = 0,
        max_pulled_uid: int = 0,
        max_pushed_uid: int = 0,
        max_expired_far_uid: int = 0,
    ) -> None:
        self.far_uid_validity = far_uid_validity
        self.near_uid_validity = near_uid_validity
        self.max_pulled_uid = max_pulled_uid
        self.max_pushed_uid = max_pushed_uid
        self.max_expired_far_uid = max_expired_far_uid
        self.expire_side = Side.NEAR
        self.expired_key: Side | None = None
        self.find_uid: dict[Side, int] = {Side.FAR: 0, Side.NEAR: 0}
        self.trashed: dict[Side, list[int]] = {Side.FAR: [], Side.NEAR: []}
        self.replay_max: dict[Side, int] = {Side.FAR: 0, Side.NEAR: 0}
        self._records: list[SyncRecord] = []
        # Live records by far and by near UID; dead and UID-less records
        # by (far, near) pair (see the module's invariants).
        self._far: dict[int, _Bucket] = {}
        self._near: dict[int, _Bucket] = {}
        self._odd: dict[tuple[int, int], list[SyncRecord]] = {}

    # Header accessors indexed by side.

    def uid_validity(self, side: Side) -> int:
        """
        The UIDVALIDITY recorded for C{side}.
        """
        return self.far_uid_validity if side is Side.FAR else self.near_uid_validity

    def max_uid(self, side: Side) -> int:
        """
        The highest UID of C{side} already propagated (mbsync's C{maxuid}).
        """
        return self.max_pulled_uid if side is Side.FAR else self.max_pushed_uid

    def set_max_uid(self, side: Side, uid: int) -> None:
        """
        Set the highest propagated UID of C{side}.
        """
        if side is Side.FAR:
            self.max_pulled_uid = uid
        else:
            self.max_pushed_uid = uid

    def highest_uid(self, side: Side) -> int:
        """
        The highest UID a live record holds on C{side} (0 if none).
        """
        return max(self._far if side is Side.FAR else self._near, default=0)

    # The record list.

    @property
    def records(self) -> Sequence[SyncRecord]:
        """
        The records in list order, dead ones included. Do not mutate it;
        use L{append}, L{insert_after} and L{purge_dead}.
        """
        return self._records

    def __iter__(self) -> Iterator[SyncRecord]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def append(self, record: SyncRecord) -> SyncRecord:
        """
        Append C{record} (not owned by any state yet) and return it.
        """
        self._adopt(record)
        self._records.append(record)
        return record

    def insert_after(self, existing: SyncRecord, record: SyncRecord) -> SyncRecord:
        """
        Insert C{record} right after C{existing}, as mbsync does when it
        splits a record for a placeholder upgrade.
        """
        self._adopt(record)
        self._records.insert(self._position(existing) + 1, record)
        return record

    def purge_dead(self) -> None:
        """
        Drop every dead record.
        """
        for record in self._records:
            if record.dead:
                self._unindex(record)
                record._owner = None
        self._records = [record for record in self._records if record._owner is self]

    # Lookups.

    def by_uid(self, side: Side, uid: int) -> SyncRecord | None:
        """
        The live record holding C{uid} on C{side}, or C{None}. UID 0 never
        matches.
        """
        bucket = (self._far if side is Side.FAR else self._near).get(uid)
        if isinstance(bucket, list):
            return bucket[0]
        return bucket

    def by_far(self, uid: int) -> SyncRecord | None:
        """
        The live record whose far UID is C{uid}, or C{None}.
        """
        return self.by_uid(Side.FAR, uid)

    def by_near(self, uid: int) -> SyncRecord | None:
        """
        The live record whose near UID is C{uid}, or C{None}.
        """
        return self.by_uid(Side.NEAR, uid)

    def by_pair(
        self,
        far_uid: int,
        near_uid: int,
        start: SyncRecord | None = None,
        *,
        prefer_live: bool = False,
    ) -> SyncRecord | None:
        """
        Find a record (dead ones included) by its UID pair the way mbsync's
        journal replay does: the first match at or after C{start} in list
        order, else the first match from the beginning.

        @param prefer_live: look at dead records only if no live record
            has the pair. A live operation always means a live record (a
            replay can leave a dead record with the pair of a new one,
            e.g. an unborn message expired again after a crash).
        @return: the record, or C{None} if no record has this pair.
        """
        if far_uid:
            found = self._far.get(far_uid)
            if (
                type(found) is SyncRecord
                and found._near == near_uid
                and (prefer_live or (far_uid, near_uid) not in self._odd)
            ):
                # The usual case: one live record has the pair (dead ones
                # with it count only for a replay).
                return found
            live = [rec for rec in _members(found) if rec._near == near_uid]
        elif near_uid:
            found = self._near.get(near_uid)
            if (
                type(found) is SyncRecord
                and not found._far
                and (prefer_live or (0, near_uid) not in self._odd)
            ):
                return found
            live = [rec for rec in _members(found) if not rec._far]
        else:
            live = []
        bucket = live + self._odd.get((far_uid, near_uid), [])
        if not bucket:
            return None
        if prefer_live:
            live = [record for record in bucket if not record.dead]
            bucket = live or bucket
        if len(bucket) == 1:
            return bucket[0]
        # Duplicate pairs are rare (e.g. several dead "0 0" records), so an
        # O(n) scan to honour mbsync's search order is fine here.
        begin = 0 if start is None else self._position(start)
        order = self._records[begin:] + self._records[:begin]
        wanted = {id(record) for record in bucket}
        for record in order:
            if id(record) in wanted:
                return record
        return None  # pragma: no cover - the bucket guarantees a match

    # Comparison.

    def values(self) -> tuple[object, ...]:
        """
        Everything about this state, for comparisons.
        """
        return (
            self.far_uid_validity,
            self.near_uid_validity,
            self.max_pulled_uid,
            self.max_pushed_uid,
            self.max_expired_far_uid,
            dict(self.find_uid),
            {side: list(uids) for side, uids in self.trashed.items()},
            dict(self.replay_max),
            [record.values() for record in self._records],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SyncState):
            return NotImplemented
        return self.values() == other.values()

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, like list

    def __repr__(self) -> str:
        return f"SyncState{self.values()!r}"

    # Index maintenance, called by SyncRecord.

    def _adopt(self, record: SyncRecord) -> None:
        if record._owner is not None:
            raise ValueError("record already belongs to a sync state")
        record._owner = self
        self._index(record)

    def _position(self, record: SyncRecord) -> int:
        for position, candidate in enumerate(self._records):
            if candidate is record:
                return position
        raise ValueError("record not in this sync state")

    # Both sides spelled out: iterating the Side enum costs more than the
    # indexing itself, and this runs for every record loaded or changed.

    def _index(self, record: SyncRecord) -> None:
        far, near = record._far, record._near
        if record._bits & _DEAD or not (far or near):
            self._odd.setdefault((far, near), []).append(record)
            return
        if far:
            _add(self._far, far, record)
        if near:
            _add(self._near, near, record)

    def _unindex(self, record: SyncRecord) -> None:
        far, near = record._far, record._near
        if record._bits & _DEAD or not (far or near):
            key = (far, near)
            bucket = self._odd[key]
            for position, candidate in enumerate(bucket):
                if candidate is record:
                    del bucket[position]
                    break
            if not bucket:
                del self._odd[key]
            return
        if far:
            _drop(self._far, far, record)
        if near:
            _drop(self._near, near, record)
