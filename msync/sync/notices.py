# -*- test-case-name: tests.sync.test_reconcile -*-
"""
What the planner (L{msync.sync.reconcile}) has to tell the user, as typed
values: mbsync's notices and warnings of a box pair sync. They are worded
by L{msync.report.describe_notice}, not here.

Invariants: L1, pure values; each carries only what its wording needs.
"""

from __future__ import annotations

from typing import TypeAlias

from msync.model import BoxName, Flags, Side
from msync.records import record

__all__ = [
    "ConflictingChanges",
    "LostCopies",
    "Notice",
    "StrayTuid",
    "UIDValidityRecovered",
    "UnsupportedFlags",
]


@record
class UIDValidityRecovered:
    """
    A box's UIDVALIDITY changed, but its messages' Message-IDs still match
    their partners', so the new value was adopted (a notice).
    """

    channel: str
    side: Side
    box: BoxName


@record
class ConflictingChanges:
    """
    A message was expunged on one side while its flags changed on the
    other; the deletion wins (a notice).
    """

    far_uid: int
    near_uid: int


@record
class UnsupportedFlags:
    """
    A side's store cannot keep these flags; they are not propagated to it
    (a notice, once per flag and side).
    """

    side: Side
    flags: Flags


@record
class StrayTuid:
    """
    A replayed record has both UIDs and a TUID; the TUID is ignored (a
    warning).
    """

    far_uid: int
    near_uid: int


@record
class LostCopies:
    """
    Copies stored on C{side} were not found again by their TUIDs; they will
    be copied again next time (a warning).
    """

    side: Side
    count: int


Notice: TypeAlias = (
    UIDValidityRecovered | ConflictingChanges | UnsupportedFlags | StrayTuid | LostCopies
)
