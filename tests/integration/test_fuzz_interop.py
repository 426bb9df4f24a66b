# -*- test-case-name: tests.integration.test_fuzz_interop -*-
"""
The differential fuzzer (L{tests.integration.fuzzinterop}) on the seeds
that found differences from mbsync 1.4.4, each for as many rounds as it
took: files left unnumbered by a load of old messages only (C{Sync Push},
C{Sync Push Flags}), and runs that left work for the next one (an expunge,
C{MaxPushedUid} below a copy) but were taken for fixed points, so the next
run was skipped; and with the far side on Dovecot, records updated for
messages expunged on the server that mbsync's IMAP driver never loaded. These runs need C{mbsync}; missing, they fail rather
than skip. Longer campaigns: C{python -m tests.integration.fuzzinterop}.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from twisted.trial.unittest import TestCase

from tests.integration.dovecot import DovecotServer, DovecotTestCase
from tests.integration.fuzzinterop import run_seed


def _need_mbsync(case: TestCase) -> Path:
    """
    Fail C{case} if mbsync is missing; else a work directory for it.
    """
    if shutil.which("mbsync") is None:
        case.fail("mbsync is not installed (the test command installs isync)")
    return Path(case.mktemp()).resolve()


def _replay(
    case: TestCase,
    base: Path,
    seed: int,
    rounds: int,
    server: DovecotServer | None = None,
    isync15: bool = False,
    options: bool = False,
) -> None:
    """
    Run a seed's rounds (see L{run_seed}); each must agree.
    """
    fuzz = run_seed(base / f"seed-{seed}", seed, rounds, server, isync15, options)
    case.assertEqual(fuzz.log.count(f"-- round {rounds - 1} agreed"), 1)


class FuzzInteropTests(TestCase):
    """
    msync and mbsync agree round after round on the seeds that once
    diverged.
    """

    def setUp(self) -> None:
        self.base = _need_mbsync(self)

    def check(self, seed: int, rounds: int) -> None:
        _replay(self, self.base, seed, rounds)

    def test_push_flags_leaves_near_unnumbered(self) -> None:
        """
        C{Sync Push Flags}: the near box is loaded for nothing new, so its
        files stay without C{,U=}.
        """
        self.check(1, 1)

    def test_push_leaves_far_unnumbered(self) -> None:
        """
        C{Sync Push}: the far box's own files stay without C{,U=}, the
        pushed copies take UIDs 1, 2, ...
        """
        self.check(3, 1)

    def test_expunge_then_skip(self) -> None:
        """
        C{Expunge Far}: the run after the expunge clears the records' far
        UIDs (not skipped).
        """
        self.check(7, 2)

    def test_max_pushed_uid_raised_next_run(self) -> None:
        """
        A pull stored above a gap in the near UIDs: the next run raises
        C{MaxPushedUid} (not skipped).
        """
        self.check(9, 7)


class ImapFuzzInteropTests(DovecotTestCase):
    """
    The same with the far side on a private Dovecot.
    """

    def setUp(self) -> None:
        self.base = _need_mbsync(self)
        super().setUp()

    def check(self, seed: int, rounds: int, isync15: bool = False, options: bool = False) -> None:
        _replay(self, self.base, seed, rounds, self.dovecot, isync15, options)

    def test_expunged_unloaded(self) -> None:
        """
        C{Sync Pull New}, C{Expunge Both}: a message deleted on the server
        is expunged unseen; its record keeps its far UID.
        """
        self.check(2, 3)

    def test_expunged_unloaded_records_kept(self) -> None:
        """
        C{Sync New}, C{Expunge Both}: records whose near message is gone
        and whose far one is expunged unseen stay, as mbsync's.
        """
        self.check(4, 5)

    def test_pushed_copy_deleted_unloaded(self) -> None:
        """
        C{Sync Push Flags}, C{Expunge Far}: a record of a pushed copy
        (its far UID above C{MaxPulledUid}) whose far message is deleted
        is not seen by mbsync, which loads no far message above its max
        without C{New} from there; it stays.
        """
        self.check(36, 7)

    def test_isync15_max_uid_while_topping(self) -> None:
        """
        Against mbsync 1.5.0: every paired message up to the first unknown
        one raises the max UID, whatever the operations.
        """
        self.check(2, 4, isync15=True)

    def test_isync15_purge(self) -> None:
        """
        Against mbsync 1.5.0: its end-of-run purge (a side gone is orphaned
        only when the other side's message is deleted).
        """
        self.check(4, 5, isync15=True)

    def test_isync15_upgrade_masked(self) -> None:
        """
        Against mbsync 1.5.0: C{Upgrade} is masked on a side without
        placeholders, so pushing flags loads no far message and a far
        message expunged meanwhile is not taken for gone (round 3).
        """
        self.check(3, 7, isync15=True)

    def test_isync15_end_unjournaled(self) -> None:
        """
        Against mbsync 1.5.0: the end's max UIDs and purge are not
        journaled, a propagated deletion orphans nothing before the purge,
        and a run that journaled nothing leaves the state file as it was
        (round 4); a new deleted message is journaled made and killed.
        """
        self.check(7, 5, isync15=True)

    def test_isync15_expiring_side_paired_only(self) -> None:
        """
        Against mbsync 1.5.0: with MaxMessages, a first pull loads only the
        paired messages of the expiring near side, so its messages already
        there stay unnumbered and the pulled ones take UIDs 1 and up
        (round 0).
        """
        self.check(13, 2, isync15=True)

    def test_isync15_resumes_pending(self) -> None:
        """
        Against mbsync 1.5.0: a run that replays the journal of a box
        skipped for MaxMessages resumes its pending copies whatever the
        operations, loading their sources for them (round 7).
        """
        self.check(11, 8, isync15=True)

    def test_isync15_max_uid_stops_at_unknown(self) -> None:
        """
        Against mbsync 1.5.0: the max UIDs follow the paired messages only
        up to the first unknown one, in a full run (round 9), and no
        partial run (which lists only the records a change touched) raises
        them past messages never propagated (round 6).
        """
        self.check(20, 10, isync15=True)

    def test_isync15_placeholders_counted_with_upgrade(self) -> None:
        """
        Against mbsync 1.5.0, with MaxMessages and MaxSize (C{--options}):
        placeholders count for the far side's load only after a replay or
        with C{Upgrade}, so with C{Sync Pull New} a record whose far message
        is gone and which has no near one is not found missing (round 4).
        """
        self.check(10, 5, isync15=True, options=True)

    def test_isync15_push_delete_unloaded_target(self) -> None:
        """
        Against mbsync 1.5.0 (C{--options} seed 40): with C{Sync Push}
        mbsync loads no far message, so it sends the deletion of a pushed
        copy whose near message is gone although the far copy already
        carries C{\\Deleted}, and its purge then orphans the near side
        (round 4): msync's own listing of the far box must not optimize
        that update away.
        """
        self.check(40, 5, isync15=True, options=True)
