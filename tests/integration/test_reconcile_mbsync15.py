# -*- test-case-name: tests.integration.test_reconcile_mbsync15 -*-
"""
The isync 1.5 planner table rows of L{tests.sync.test_reconcile15} marked
C{mbsync=True}, checked against the mbsync 1.5.0 oracle
(C{../shared/oracles/mbsync-1.5.0}, copied into the test directory) and
against msync following 1.5 on the same trees: each row is made into a
far and a near Maildir (messages at the row's UIDs) with the row's state
file and an mbsyncrc with its options (in 1.5's spellings), and both
tools run on their own copy. Each must commit the state the row expects
and leave the same messages (UIDs, flags, subjects) in every folder, and
both print the same summary. Journals are not compared: 1.5 journals other
lines (pending flags, its own status numbering) for the same outcome.
The oracle missing fails the tests rather than skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import SyncOp
from msync.model import Side
from msync.sync.options import PairOptions
from tests.integration.mbsynctree import mbsyncrc, write_row_tree
from tests.sync.plantable import PlanRow
from tests.sync.scenarios import add_row_tests, options, state
from tests.sync.test_reconcile15 import ROWS15

ORACLE = Path(__file__).resolve().parents[3] / "shared" / "oracles" / "mbsync-1.5.0"
MSYNC = os.path.join(os.path.dirname(sys.executable), "msync")

_UID = re.compile(r",U=(\d+)")


def mbsyncrc15(root: str, pair: PairOptions) -> str:
    """
    L{mbsyncrc} in isync 1.5's spellings, with the 1.5 channel options.
    """
    text = mbsyncrc(root, pair)
    words = _sync_words15(pair.near.ops, "Pull") + _sync_words15(pair.far.ops, "Push")
    text = re.sub(r"^Sync .*$", f"Sync {' '.join(words) or 'None'}", text, flags=re.M)
    if pair.expire_side is Side.FAR:
        text += "ExpireSide Far\n"
    solo = [side for side in Side if pair.side(side).expunge_solo]
    if solo:
        value = "Both" if len(solo) == 2 else solo[0].label.capitalize()
        text += f"ExpungeSolo {value}\n"
    return text


def _sync_words15(ops: SyncOp, direction: str) -> list[str]:
    """
    One row of the C{Sync} matrix in isync 1.5's words.
    """
    if ops == SyncOp.ALL | SyncOp.OLD:
        return [direction + "Full"]
    if ops == SyncOp.ALL:
        return [direction]
    names = {SyncOp.NEW: "New", SyncOp.OLD: "Old", SyncOp.RENEW: "Upgrade"}
    names |= {SyncOp.DELETE: "Gone", SyncOp.FLAGS: "Flags"}
    return [direction + word for op, word in names.items() if ops & op]


def make_tree(root: str, row: PlanRow) -> None:
    """
    The row's far and near Maildirs, state file and configuration.
    """
    write_row_tree(root, row, mbsyncrc15(root, row.options))


def run_tool(command: list[str], root: str) -> str:
    """
    Run a tool on channel C{test} of the tree; its output.
    """
    past = time.time() - 100
    for directory, _, _ in os.walk(root):
        os.utime(directory, (past, past))
    done = subprocess.run(
        [*command, "-c", os.path.join(root, "rc"), "test"],
        capture_output=True,
        text=True,
        env={"HOME": root, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        timeout=120,
    )
    if done.returncode != 0:
        raise AssertionError(f"{command[0]} exited {done.returncode}: {done.stderr}")
    return done.stdout + done.stderr


def folders(root: str) -> dict[str, list[tuple[str, str, str]]]:
    """
    Every Maildir folder under the tree's far and near sides: its
    messages as (UID or C{?}, flags, subject), sorted.
    """
    found: dict[str, list[tuple[str, str, str]]] = {}
    for side in ("far", "near"):
        for directory, subdirs, _ in os.walk(os.path.join(root, side)):
            if "cur" not in subdirs:
                continue
            messages = []
            for sub in ("cur", "new"):
                for name in os.listdir(os.path.join(directory, sub)):
                    uid = _UID.search(name)
                    flags = name.rpartition(":2,")[2] if ":2," in name else ""
                    with open(os.path.join(directory, sub, name)) as f:
                        subject = next(
                            (line[9:].strip() for line in f if line.startswith("Subject: ")), ""
                        )
                    messages.append((uid.group(1) if uid else "?", flags, subject))
            found[os.path.relpath(directory, root)] = sorted(messages)
    return found


def read_state(root: str) -> str:
    with open(os.path.join(root, "state", "INBOX")) as f:
        return f.read()


class Oracle15TreeCase(SynchronousTestCase):
    """
    A copy of the oracle in the test's directory.
    """

    def setUp(self) -> None:
        if not ORACLE.exists():
            self.fail(f"mbsync 1.5.0 oracle missing: {ORACLE}")
        self.base = Path(self.mktemp()).resolve()
        self.base.mkdir(parents=True)
        self.oracle = str(self.base / "mbsync")
        shutil.copy(ORACLE, self.oracle)


class Mbsync15AgreementTests(Oracle15TreeCase):
    """
    The rows marked C{mbsync=True}: one test method per row (added below).
    """


def _check(case: Mbsync15AgreementTests, row: PlanRow) -> None:
    outputs = {}
    trees = {}
    states = {}
    commands = {"oracle": [case.oracle, "-Tz"], "msync": [MSYNC, "--compat", "1.5"]}
    for name, command in commands.items():
        root = str(case.base / name)
        make_tree(root, row)
        outputs[name] = run_tool(command, root)
        trees[name] = folders(root)
        states[name] = read_state(root)
    case.assertEqual(states["oracle"], row.after, "oracle: state")
    case.assertEqual(states["msync"], row.after, "msync: state")
    case.assertEqual(trees["msync"], trees["oracle"], "messages")
    case.assertEqual(outputs["msync"], outputs["oracle"], "output")
    if row.after == row.before and row.journal == []:
        # mbsync 1.5 keeps the old state file after a run that journaled
        # nothing (save_state), records of messages it expunged included,
        # and so does msync following it; the next run of each finds those
        # messages missing on both sides and writes the same state.
        again = {}
        for name, command in commands.items():
            root = str(case.base / name)
            run_tool(command, root)
            again[name] = read_state(root)
            case.assertEqual(folders(root), trees[name], f"{name}: second run")
        case.assertEqual(again["msync"], again["oracle"], "state of the second run")
        case.assertNotEqual(again["msync"], row.before, "the second run commits")


add_row_tests(
    Mbsync15AgreementTests,
    [row for row in ROWS15 if row.mbsync],
    lambda row: row.name,
    _check,  # type: ignore[arg-type]
    "mbsync 1.5.0 and msync --compat 1.5 agree with the planner table row "
    "{name!r}: same state, messages and output.",
)


class Journal15ReplayTests(Oracle15TreeCase):
    """
    A version 5 journal replayed by mbsync 1.5.0 and by msync following
    1.5, on the same trees: 1.5's C{+} lines raise the max UID the run
    commits (its C{newmaxuid}), and so do UIDs assigned next to that
    raise, though neither makes old what this run takes for new (fuzzer,
    isync 1.5 C{--options} seed 54: a run interrupted while pulling, whose
    new records were killed as deleted, committed C{MaxPulledUid 4} where
    1.5.0 commits 2101).
    """

    def test_new_records_raise_max(self) -> None:
        """
        Far 3 and 4 were made records and killed (C{+}, C{-}); near 1 was
        pushed as far 5 (C{+ 0 1}, C{< 0 1 5}, the far UID next to the
        raise). Both tools commit C{MaxPulledUid 5}; the records of far 1
        and 2 (new, but C{Sync Push}) are not made.
        """
        row = PlanRow(
            "replayed new records",
            far=[(1, "S", "a"), (2, "S", "b"), (3, "T", "c"), (4, "T", "d"), (5, "", "e")],
            near=[(1, "", "e")],
            before=state(0, 0),
            options=options("push", isync15=True),
        )
        journal = "5\n+ 3 0\n- 3 0\n+ 4 0\n- 4 0\n+ 0 1\n< 0 1 5\n"
        commands = {"oracle": [self.oracle, "-Tz"], "msync": [MSYNC, "--compat", "1.5"]}
        states = {}
        for name, command in commands.items():
            root = str(self.base / name)
            make_tree(root, row)
            with open(os.path.join(root, "state", "INBOX.journal"), "w") as f:
                f.write(journal)
            open(os.path.join(root, "state", "INBOX.new"), "w").close()
            run_tool(command, root)
            states[name] = read_state(root)
        self.assertEqual(states["oracle"], state(5, 1, "5 1"), "oracle: state")
        self.assertEqual(states["msync"], states["oracle"], "msync: state")
