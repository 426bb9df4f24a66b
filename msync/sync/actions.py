# -*- test-case-name: tests.sync.test_reconcile -*-
"""
The store operations the planner (L{msync.sync.reconcile}) asks the engine
to carry out: flag updates, trashing, copies.

Invariants: L1, pure values; compared by identity (each names one
operation on one message of one run); C{describe} gives the line
C{--dry-run} prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from msync.model import BoxName, FlagChange, Flags, Side
from msync.sync.state import SyncRecord

__all__ = ["CopyMessage", "FlagUpdate", "TrashMessage"]


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
