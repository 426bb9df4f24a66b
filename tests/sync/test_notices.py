# -*- test-case-name: tests.sync.test_notices -*-
"""
Tests for L{msync.sync.notices} and their wording by
L{msync.report.describe_notice}: mbsync 1.4's classes and texts.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.model import Flags, Side
from msync.report import Severity, describe_notice
from msync.sync.notices import (
    ConflictingChanges,
    LostCopies,
    Notice,
    StrayTuid,
    UIDValidityRecovered,
    UnsupportedFlags,
)
from tests.sync.scenarios import add_row_tests

ROWS: list[tuple[str, Notice, Severity, str]] = [
    (
        "UIDVALIDITY recovered",
        UIDValidityRecovered("chan", Side.NEAR, "INBOX"),
        Severity.NOTICE,
        "Notice: channel chan, near side box INBOX: Recovered from change of UIDVALIDITY.",
    ),
    (
        "conflicting changes",
        ConflictingChanges(3, 4),
        Severity.NOTICE,
        "Notice: conflicting changes in (3,4)",
    ),
    (
        "unsupported flags",
        UnsupportedFlags(Side.FAR, Flags.DRAFT | Flags.FLAGGED),
        Severity.NOTICE,
        "Notice: far side store does not support flag(s) 'DF'; not propagating.",
    ),
    (
        "stray TUID",
        StrayTuid(5, 6),
        Severity.WARNING,
        "Warning: sync record (5,6) has stray TUID. Ignoring.",
    ),
    (
        "lost pushed copies",
        LostCopies(Side.FAR, 2),
        Severity.WARNING,
        "Warning: lost track of 2 pushed message(s)",
    ),
    (
        "lost pulled copies",
        LostCopies(Side.NEAR, 1),
        Severity.WARNING,
        "Warning: lost track of 1 pulled message(s)",
    ),
]


class WordingTests(SynchronousTestCase):
    """
    One test method per notice kind (added below).
    """


def _check(case: SynchronousTestCase, row: tuple[str, Notice, Severity, str]) -> None:
    _, notice, severity, text = row
    case.assertEqual(describe_notice(notice), (severity, text))


add_row_tests(
    WordingTests,
    ROWS,
    lambda row: row[0],
    _check,
    "The {name} notice has mbsync 1.4's class and wording.",
)
