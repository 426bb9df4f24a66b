# -*- test-case-name: tests.sync.test_results -*-
"""
What a box pair sync reports: mbsync's progress counters while it runs
(L{PairProgress}) and what it did at the end (L{PairResult}).

Invariants: L1, pure values; counters only grow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from msync.model import BoxName, Side
from msync.records import record
from msync.report import SideCounters

__all__ = ["PairProgress", "PairResult"]


class PairProgress:
    """
    mbsync's progress counters for the operations of one box pair, per
    target side (C{F: +new *flags #trash}); totals grow as work is found.

    @ivar on_change: called after every change, e.g. to redraw the
        progress line.
    """

    def __init__(self, on_change: Callable[[PairProgress], None] | None = None) -> None:
        self.on_change = on_change
        self._counts = {side: [0] * 8 for side in Side}

    def counters(self, side: Side) -> SideCounters:
        """
        The counters of operations applied to C{side}.
        """
        return SideCounters(*self._counts[side])

    def add(self, side: Side, kind: str, *, done: int = 0, total: int = 0) -> None:
        """
        Count work on C{side}.

        @param kind: C{"new"}, C{"flags"}, C{"trash"} or C{"expunge"}.
        """
        index = {"new": 0, "flags": 2, "trash": 4, "expunge": 6}[kind]
        self._counts[side][index] += done
        self._counts[side][index + 1] += total
        if self.on_change is not None:
            self.on_change(self)


@record
class PairResult:
    """
    What one box pair sync did (or, in a dry run, would do).

    @ivar far_box: the far box.
    @ivar near_box: the near box.
    @ivar stored: messages stored per target side (pushed to far, pulled
        to near).
    @ivar flag_updates: flag changes applied per side.
    @ivar trashed: messages trashed per side (where they were deleted).
    @ivar expunged: messages expunged per side.
    @ivar expunge_flagged: messages flagged deleted when the side was
        expunged, trashed ones included (isync 1.5's summary counts these).
    @ivar created: sides whose box was created.
    @ivar deleted_box: the side whose box was removed (C{Remove}), or
        C{None}.
    @ivar state_deleted: the pair's state was deleted (both boxes gone).
    @ivar skipped: a reason the pair was skipped without error (mbsync
        warns), or C{None}.
    @ivar unchanged: nothing changed since the last sync, which was found
        without opening the boxes (L{msync.sync.quickcheck}).
    @ivar planned: in a dry run, a description of every operation that
        would have been carried out; otherwise empty.
    @ivar partial: only the records the far box's changes touched were
        read and planned (L{msync.sync.engine}'s partial run).
    @ivar upgrade_masked: isync 1.5: the sides whose C{Upgrade} this pair
        masked, for the channel's later pairs too
        (L{msync.sync.reconcile.plan_loads}).
    """

    far_box: BoxName
    near_box: BoxName
    stored: dict[Side, int] = field(default_factory=lambda: {Side.FAR: 0, Side.NEAR: 0})
    flag_updates: dict[Side, int] = field(default_factory=lambda: {Side.FAR: 0, Side.NEAR: 0})
    trashed: dict[Side, int] = field(default_factory=lambda: {Side.FAR: 0, Side.NEAR: 0})
    expunged: dict[Side, int] = field(default_factory=lambda: {Side.FAR: 0, Side.NEAR: 0})
    expunge_flagged: dict[Side, int] = field(default_factory=lambda: {Side.FAR: 0, Side.NEAR: 0})
    created: frozenset[Side] = frozenset()
    deleted_box: Side | None = None
    state_deleted: bool = False
    skipped: str | None = None
    planned: tuple[str, ...] = ()
    unchanged: bool = False
    partial: bool = False
    upgrade_masked: frozenset[Side] = frozenset()

    def changed(self, side: Side) -> bool:
        """
        Whether anything was written to C{side}'s store (mbsync 1.5
        C{--ext-exit}).
        """
        return bool(
            self.stored[side]
            or self.flag_updates[side]
            or self.trashed[side]
            or self.expunged[side]
            or side in self.created
            or self.deleted_box is side
        )
