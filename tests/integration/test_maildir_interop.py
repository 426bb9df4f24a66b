# -*- test-case-name: tests.integration.test_maildir_interop -*-
"""
msync and the real mbsync 1.4 on the same Maildir<->Maildir data, run as the
user runs them (the C{msync} and C{mbsync} commands on an mbsyncrc).

Each test builds two identical trees, runs mbsync on one and msync on the
other, and compares everything a user or a later run can see: file names
(less the unique time.pid_n.host part), flags, new/ vs cur/, contents, and
the state files. Then the tools take turns on one tree: each continues from
the other's state with no message copied twice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import TestCase

MSYNC = os.path.join(os.path.dirname(sys.executable), "msync")

CONFIG = """\
MaildirStore far
Path {root}/far/
Inbox {root}/far/INBOX
SubFolders Verbatim

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX
SubFolders Verbatim

Channel c
Far :far:
Near :near:
Patterns *
Create Both
SyncState *
{extra}
"""

_UNIQUE = re.compile(r"^[0-9]+\.[0-9]+_[0-9]+\.[^,:]+")


def mkbox(path: Path) -> None:
    """
    Create an empty Maildir box.
    """
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)


def put(box: Path, name: str, body: str, flags: str = "") -> None:
    """
    Drop a foreign message (no C{,U=}) into a box, in cur/ if it has flags.
    """
    mkbox(box)
    sub = "cur" if flags else "new"
    (box / sub / f"{name}:2,{flags}").write_text(body)


def snapshot(root: Path) -> dict[str, object]:
    """
    What a user sees of a tree: per file (unique part removed) its content;
    state files with the UIDVALIDITY lines dropped (they come from the clock);
    lock files and msync's sidecars (C{<state>.msync-pair}) left out.
    """
    seen: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        # Lock files, and msync's own no-op sidecar (mbsync keeps none).
        if path.is_dir() or path.name.endswith((".lock", ".msync-pair")) or relative == "rc":
            continue
        head, _, name = relative.rpartition("/")
        name = _UNIQUE.sub("", name)
        key = f"{head}/{name}"
        if path.name == ".uidvalidity":
            seen[key] = path.read_text().splitlines()[1:]
        elif path.name == ".mbsyncstate" or relative.startswith("global/"):
            lines = path.read_text().splitlines()
            seen[key] = [line for line in lines if "UidValidity" not in line]
        else:
            # X-TUID values are random: keep only that the header is there.
            body = re.sub(rb"X-TUID: \S+", b"X-TUID: *", path.read_bytes())
            bodies = seen.setdefault(key, [])
            assert isinstance(bodies, list)
            bodies.append(body)
    return seen


class InteropTests(TestCase):
    """
    msync does what mbsync 1.4.4 does, and continues where it left off.
    """

    def setUp(self) -> None:
        if shutil.which("mbsync") is None:
            self.fail("mbsync is not installed (the test command installs isync)")
        self.base = Path(self.mktemp()).resolve()

    def tree(self, name: str, extra: str = "") -> Path:
        """
        A fresh tree with some far and near messages and its config.
        """
        root = self.base / name
        far, near = root / "far", root / "near"
        for index in range(4):
            flags = "S" if index % 2 else ""
            put(
                far / "INBOX",
                f"100{index}.1_{index}.h",
                f"Subject: in {index}\n\nbody {index}\n",
                flags,
            )
            put(
                far / "work" / "a",
                f"200{index}.1_{index}.h",
                f"Subject: a {index}\n\nx\n",
                "F" * (index % 2),
            )
        put(near / "INBOX", "3000.1_1.h", "Subject: local\n\nlocal\n", "S")
        mkbox(near / "drafts")
        put(near / "drafts", "3001.1_1.h", "Subject: draft\n\nd\n", "D")
        (root / "rc").write_text(CONFIG.format(root=root, extra=extra))
        return root

    def run_tool(self, tool: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """
        Run C{mbsync} or C{msync} on a tree; it must succeed.
        """
        program = MSYNC if tool == "msync" else "mbsync"
        result = subprocess.run(
            [program, "-c", str(root / "rc"), *args, "-a"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(result.returncode, 0, f"{tool}: {result.stdout}{result.stderr}")
        return result

    def change(self, root: Path) -> None:
        """
        Changes on both sides between runs: new mail, flags, a deletion.
        """
        put(root / "far" / "INBOX", "1100.1_9.h", "Subject: later\n\nlater\n")
        near_inbox = root / "near" / "INBOX"
        for path in sorted((near_inbox / "new").iterdir()):
            if ",U=1:" in path.name:
                path.rename(near_inbox / "cur" / (path.name + "RS"))
        far_a = root / "far" / "work" / "a"
        for path in sorted((far_a / "cur").iterdir()):
            if ",U=2:" in path.name:
                path.unlink()

    def assertSameTrees(self, left: Path, right: Path) -> None:
        """
        Both trees look the same to a user.
        """
        self.maxDiff = None
        self.assertEqual(snapshot(left), snapshot(right))

    def test_same_result(self) -> None:
        """
        An initial sync and a resync after changes on both sides give the
        same trees and state with msync as with mbsync.
        """
        theirs, ours = self.tree("mbsync"), self.tree("msync")
        self.run_tool("mbsync", theirs)
        self.run_tool("msync", ours)
        self.assertSameTrees(theirs, ours)
        near_a = ours / "near" / "work" / "a"
        self.assertEqual(len(list((near_a / "new").iterdir())), 4)
        self.assertEqual(len(list((ours / "far" / "drafts" / "new").iterdir())), 1)
        self.change(theirs)
        self.change(ours)
        self.run_tool("mbsync", theirs)
        self.run_tool("msync", ours)
        self.assertSameTrees(theirs, ours)

    def test_same_result_with_expunge(self) -> None:
        """
        With C{Expunge Both}, propagated deletions are expunged alike.
        """
        theirs, ours = self.tree("mbsync", "Expunge Both"), self.tree("msync", "Expunge Both")
        for tool, root in (("mbsync", theirs), ("msync", ours)):
            self.run_tool(tool, root)
            self.change(root)
            self.run_tool(tool, root)
        self.assertSameTrees(theirs, ours)

    def test_taking_turns(self) -> None:
        """
        mbsync then msync then mbsync on one tree: each continues from the
        other's state; nothing is copied twice; the result equals mbsync
        alone.
        """
        alone, mixed = self.tree("alone"), self.tree("mixed")
        self.run_tool("mbsync", alone)
        self.run_tool("mbsync", mixed)
        self.change(alone)
        self.change(mixed)
        self.run_tool("mbsync", alone)
        self.run_tool("msync", mixed)
        self.assertSameTrees(alone, mixed)
        put(alone / "near" / "drafts", "3002.1_1.h", "Subject: d2\n\nd2\n", "D")
        put(mixed / "near" / "drafts", "3002.1_1.h", "Subject: d2\n\nd2\n", "D")
        self.run_tool("mbsync", alone)
        self.run_tool("mbsync", mixed)
        self.assertSameTrees(alone, mixed)
        result = self.run_tool("msync", mixed)
        self.assertEqual(result.stderr, "")
        self.assertSameTrees(alone, mixed)

    def test_noop_run_changes_nothing(self) -> None:
        """
        A second msync run with nothing to do rewrites no file (mtimes and
        names unchanged), as mbsync.
        """
        root = self.tree("noop")
        self.run_tool("msync", root)
        before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
        self.run_tool("msync", root)
        after = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
        self.assertEqual(before, after)


LAYOUT_CONFIG = """\
SyncState {root}/global/

MaildirStore far
Inbox {root}/far
SubFolders Maildir++

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX
SubFolders Legacy
Flatten .

Channel c
Far :far:
Near :near:
Patterns *
Create Both
"""


class LayoutInteropTests(InteropTests):
    """
    Maildir++ on one side, Legacy with C{Flatten .} on the other: the same
    boxes, files and state file names (the flattened near box names) as
    mbsync.
    """

    def tree(self, name: str, extra: str = "") -> Path:
        """
        A Maildir++ far tree (INBOX at the root, folders as C{.a.b}).
        """
        root = self.base / name
        far = root / "far"
        for index in range(3):
            put(far, f"100{index}.1_{index}.h", f"Subject: in {index}\n\nbody\n", "S" * (index % 2))
            put(far / ".Work", f"200{index}.1_{index}.h", f"Subject: w {index}\n\nx\n")
            put(far / ".Work.Sub", f"300{index}.1_{index}.h", f"Subject: s {index}\n\ny\n", "F")
        (root / "near").mkdir(parents=True)
        (root / "rc").write_text(LAYOUT_CONFIG.format(root=root) + extra)
        return root

    def change(self, root: Path) -> None:
        """
        A new far message and a new near folder message.
        """
        put(root / "far" / ".Work", "2100.1_9.h", "Subject: later\n\nlater\n")

    def test_same_result(self) -> None:
        """
        Two runs give the same trees and global state file names.
        """
        theirs, ours = self.tree("mbsync"), self.tree("msync")
        for tool, root in (("mbsync", theirs), ("msync", ours)):
            self.run_tool(tool, root)
            self.change(root)
            self.run_tool(tool, root)
        self.assertSameTrees(theirs, ours)
        self.assertEqual(
            sorted(
                p.name
                for p in (ours / "global").iterdir()
                if not p.name.endswith((".lock", ".msync-pair"))
            ),
            [":far:INBOX_:near:INBOX", ":far:Work!Sub_:near:Work.Sub", ":far:Work_:near:Work"],
        )

    def test_same_result_with_expunge(self) -> None:
        """
        Not repeated for this layout (covered by the parent class).
        """

    def test_taking_turns(self) -> None:
        """
        Not repeated for this layout (covered by the parent class).
        """

    def test_noop_run_changes_nothing(self) -> None:
        """
        Not repeated for this layout (covered by the parent class).
        """
