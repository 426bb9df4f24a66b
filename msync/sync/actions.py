# -*- test-case-name: tests.sync.test_actions,tests.sync.test_reconcile -*-
"""
The store operations the planner (L{msync.sync.reconcile}) asks the engine
to carry out: flag updates, trashing, copies.

Invariants: L1, pure values; compared by identity (each names one
operation on one message of one run); C{describe} gives the line
C{--dry-run} prints.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from msync.model import BoxName, FlagChange, Flags, Side
from msync.sync.state import SyncRecord

__all__ = ["CopyMessage", "CopyPlan", "FlagUpdate", "TrashMessage"]


@dataclass(frozen=True, slots=True, eq=False)
class FlagUpdate:
    """
    Change the flags of one message (mbsync C{set_msg_flags}).

    @ivar side: where the message is.
    @ivar uid: its UID.
    @ivar add: flags to set.
    @ivar remove: flags to clear.
    @ivar record: the sync record it belongs to.
    """

    side: Side
    uid: int
    add: Flags
    remove: Flags
    record: SyncRecord

    def change(self) -> FlagChange:
        """
        The store-level change.
        """
        return FlagChange(self.uid, self.add, self.remove)

    def describe(self) -> str:
        """
        A line for C{--dry-run}.
        """
        return (
            f"{self.side.label} side: UID {self.uid}: flags "
            f"+{self.add.letters()} -{self.remove.letters()}"
        )


@dataclass(frozen=True, slots=True, eq=False)
class TrashMessage:
    """
    Put a deleted message into a Trash box before expunging it.

    @ivar side: where the message is.
    @ivar uid: its UID.
    @ivar box: the Trash box.
    @ivar remote: C{TrashRemoteNew}: copy it into the I{other} store's
        Trash; otherwise it goes into this store's Trash.
    @ivar flags: its flags.
    """

    side: Side
    uid: int
    box: BoxName
    remote: bool
    flags: Flags

    def describe(self) -> str:
        """
        A line for C{--dry-run}.
        """
        where = self.side.other if self.remote else self.side
        return f"{self.side.label} side: UID {self.uid}: trash into {where.label} side {self.box}"


@dataclass(frozen=True, slots=True, eq=False)
class CopyMessage:
    """
    Copy a message to the other side (mbsync C{copy_msg}).

    @ivar target: the side to store it on.
    @ivar uid: its UID on the source side (C{target.other}).
    @ivar flags: the flags to store it with.
    @ivar placeholder: store a MaxSize placeholder instead of the message.
    @ivar size: the source message's size as loaded (for the placeholder
        text), or C{None}.
    @ivar record: its sync record (which holds the TUID once assigned).
    """

    target: Side
    uid: int
    flags: Flags
    placeholder: bool
    size: int | None
    record: SyncRecord

    def describe(self) -> str:
        """
        A line for C{--dry-run}.
        """
        what = "placeholder of" if self.placeholder else "copy of"
        return (
            f"{self.target.label} side: store {what} {self.target.other.label} side "
            f"UID {self.uid} with flags {self.flags.letters() or '-'}"
        )


class CopyPlan:
    """
    The copies to one side, in source UID order, as columns: a UID, a flag
    byte, a placeholder byte, a size and the record per copy (about 22
    bytes, where a L{CopyMessage} and its list slot take 90). A
    L{CopyMessage} is made only when a copy is taken (L{take}) or read.

    Invariants: the columns have one entry per copy; L{take} hands the
    copies over in order, each once, and lets go of the record (the
    copies before C{_next} are gone). A size of -1 stands for C{None}.
    UIDs are IMAP UIDs (1 to 2**32-1), flags fit in a byte (L{Flags}).
    """

    __slots__ = ("target", "_uids", "_flags", "_placeholders", "_sizes", "_records", "_next")

    def __init__(self, target: Side) -> None:
        self.target = target
        self._uids = array("I")
        self._flags = bytearray()
        self._placeholders = bytearray()
        self._sizes = array("q")
        self._records: list[SyncRecord | None] = []
        self._next = 0

    def append(
        self, uid: int, flags: Flags, placeholder: bool, size: int | None, record: SyncRecord
    ) -> None:
        """
        Add the copy of source message C{uid} after the others.
        """
        self._uids.append(uid)
        self._flags.append(int(flags))
        self._placeholders.append(placeholder)
        self._sizes.append(-1 if size is None else size)
        self._records.append(record)

    def __len__(self) -> int:
        """
        How many copies are left to take.
        """
        return len(self._uids) - self._next

    def _copy(self, position: int) -> CopyMessage:
        record = self._records[position]
        assert record is not None
        size = self._sizes[position]
        return CopyMessage(
            self.target,
            self._uids[position],
            Flags(self._flags[position]),
            bool(self._placeholders[position]),
            None if size < 0 else size,
            record,
        )

    def __iter__(self) -> Iterator[CopyMessage]:
        """
        The copies left, in order (nothing is taken).
        """
        for position in range(self._next, len(self._uids)):
            yield self._copy(position)

    def take(self) -> CopyMessage:
        """
        The next copy, now taken from the plan.

        @raise IndexError: none is left.
        """
        position = self._next
        if position >= len(self._uids):
            raise IndexError("no copy left")
        copy = self._copy(position)
        self._records[position] = None
        self._next = position + 1
        if self._next == len(self._uids):
            self._uids, self._flags, self._placeholders = array("I"), bytearray(), bytearray()
            self._sizes, self._records, self._next = array("q"), [], 0
        return copy
