# -*- test-case-name: tests.integration.test_reconcile_mbsync -*-
"""
The planner table rows of L{tests.sync.test_reconcile} marked
C{mbsync=True}, checked against the installed mbsync 1.4.4: each row is
made into a far and a near Maildir (messages at the row's UIDs) with the
row's state file and an mbsyncrc with its options, and C{mbsync -Tjz} is
run on it (C{-Tj} keeps the journal and leaves the state it would commit
in C{.new}). mbsync must write the state the row expects, journal the
same lines (TUIDs masked; in the same order where the row says so) and
print the row's notices. These runs need C{mbsync}; missing, they fail
rather than skip.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from twisted.trial.unittest import SynchronousTestCase

from msync.report import describe_notice
from tests.integration.mbsynctree import find_mbsync, mbsyncrc, write_row_tree
from tests.sync.plantable import PlanRow
from tests.sync.scenarios import add_row_tests
from tests.sync.test_reconcile import ROWS

_TUID = re.compile(r"^(# \d+ \d+ ).{12}$")
_FIND = re.compile(r"^F (\d) (\d+)$")


@dataclass(frozen=True)
class MbsyncRun:
    """
    What mbsync did with a row.
    """

    journal: list[str]
    state: str
    output: str


def mask_tuids(lines: Sequence[str]) -> list[str]:
    """
    Journal lines with every TUID replaced by C{TUID}.
    """
    return [_TUID.sub(r"\1TUID", line) for line in lines]


def _uid_next(line: str) -> str:
    """
    mbsync's C{F} line as msync's stores would make it: mbsync's Maildir
    driver reports the last UID it assigned as the box's UIDNEXT (its
    C{get_uidnext} returns C{nuid}), msync's stores report the next one;
    the planner journals what the store reports.
    """
    found = _FIND.match(line)
    if found is None:
        return line
    return f"F {found.group(1)} {int(found.group(2)) + 1}"


def run_mbsync(mbsync: str, root: str, row: PlanRow) -> MbsyncRun:
    """
    Make the row's tree under C{root} and run C{mbsync -Tjz} on it.
    """
    write_row_tree(root, row, mbsyncrc(root, row.options))
    if row.replay:
        with open(os.path.join(root, "state", "INBOX.journal"), "w") as f:
            f.write("".join(line + "\n" for line in ["4", *row.replay]))
        with open(os.path.join(root, "state", "INBOX.new"), "w"):
            pass
    past = time.time() - 100
    for directory, _, _ in os.walk(root):
        os.utime(directory, (past, past))
    done = subprocess.run(
        [mbsync, "-c", os.path.join(root, "rc"), "-Tjz", "test"],
        capture_output=True,
        text=True,
        env={"HOME": root, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        timeout=120,
    )
    if done.returncode != (1 if row.error else 0):
        raise AssertionError(f"mbsync exited {done.returncode}: {done.stderr}")
    journal: list[str] = []
    after = row.before or ""
    base = os.path.join(root, "state", "INBOX")
    if os.path.exists(base + ".journal"):
        with open(base + ".journal") as f:
            lines = f.read().splitlines()[1:]
        # mbsync appends to the journal it replayed.
        if lines[: len(row.replay)] != list(row.replay):
            raise AssertionError(f"mbsync rewrote the replayed journal: {lines}")
        journal = [_uid_next(line) for line in lines[len(row.replay) :]]
    if os.path.exists(base + ".new"):
        with open(base + ".new") as f:
            after = f.read()
    return MbsyncRun(journal, after, done.stdout + done.stderr)


class MbsyncAgreementTests(SynchronousTestCase):
    """
    The rows marked C{mbsync=True}: one test method per row (added below).
    """


def _check(case: SynchronousTestCase, row: PlanRow) -> None:
    got = run_mbsync(find_mbsync(case), os.path.abspath(case.mktemp()), row)
    if row.error is None:
        case.assertEqual(got.state, row.after, "state")
    else:
        # Nothing is committed; mbsync names the error as the planner does.
        case.assertIn(row.error, got.output)
    expected = mask_tuids(row.journal)
    if row.same_order:
        case.assertEqual(mask_tuids(got.journal), expected, "journal")
    else:
        case.assertEqual(sorted(mask_tuids(got.journal)), sorted(expected), "journal lines")
    for notice in row.notices:
        case.assertIn(describe_notice(notice)[1], got.output)


add_row_tests(
    MbsyncAgreementTests,
    [row for row in ROWS if row.mbsync],
    lambda row: row.name,
    _check,
    "mbsync 1.4.4 agrees with the planner table row {name!r}: same state, "
    "journal lines and notices.",
)
