# -*- test-case-name: tests.sync.test_results -*-
"""
Tests for L{msync.sync.results}: progress counters and pair results.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.model import Side
from msync.report import SideCounters
from msync.sync.results import PairProgress, PairResult


class PairProgressTests(SynchronousTestCase):
    """
    L{PairProgress}.
    """

    def test_counts_per_side_and_kind(self) -> None:
        """
        Work is counted per target side and kind, and every change is
        reported to C{on_change}.
        """
        seen: list[SideCounters] = []
        progress = PairProgress(lambda p: seen.append(p.counters(Side.NEAR)))
        progress.add(Side.NEAR, "new", total=3)
        progress.add(Side.NEAR, "new", done=1)
        progress.add(Side.NEAR, "flags", total=2, done=2)
        progress.add(Side.FAR, "trash", total=1)
        self.assertEqual(
            progress.counters(Side.NEAR),
            SideCounters(new_done=1, new_total=3, flags_done=2, flags_total=2),
        )
        self.assertEqual(progress.counters(Side.FAR), SideCounters(trash_total=1))
        self.assertEqual(len(seen), 4)
        self.assertEqual(seen[0], SideCounters(new_total=3))


class PairResultTests(SynchronousTestCase):
    """
    L{PairResult}.
    """

    def test_changed(self) -> None:
        """
        A side changed when anything was stored, flagged, trashed, expunged,
        created or deleted there.
        """
        self.assertFalse(PairResult("a", "b").changed(Side.FAR))
        stored = PairResult("a", "b", stored={Side.FAR: 0, Side.NEAR: 1})
        self.assertEqual((stored.changed(Side.FAR), stored.changed(Side.NEAR)), (False, True))
        self.assertTrue(PairResult("a", "b", created=frozenset({Side.FAR})).changed(Side.FAR))
        self.assertTrue(PairResult("a", "b", deleted_box=Side.NEAR).changed(Side.NEAR))
        flagged = PairResult("a", "b", flag_updates={Side.FAR: 2, Side.NEAR: 0})
        self.assertTrue(flagged.changed(Side.FAR))
