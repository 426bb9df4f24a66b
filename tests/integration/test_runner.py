# -*- test-case-name: tests.integration.test_runner -*-
"""
L{msync.runner} and the C{msync} command with other processes: the real
mbsync lists the same boxes, a state lock held by another process fails
only its pair, and C{msync -y} run as a user runs it changes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from msync.report import Severity
from tests.test_runner import ListFixture, SyncFixture, make_box


class ListSameAsMbsyncTests(ListFixture):
    """
    C{msync -l} against the installed mbsync.
    """

    def test_same_as_mbsync(self) -> None:
        """
        The real mbsync 1.4 lists the same lines for the same tree.
        """
        rc = os.path.join(self.root, "rc")
        with open(rc, "w") as stream:
            stream.write(self.config_text())
        result = subprocess.run(
            ["mbsync", "-c", rc, "-l", "one", "two", "three", "four"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        output = self.run_list(["one", "two", "three", "four"])
        self.assertEqual(output.lines, result.stdout.splitlines())


class LockedPairTests(SyncFixture):
    """
    A state lock held by another process.
    """

    def test_locked_pair_fails_alone(self) -> None:
        """
        A pair whose state is locked by another process fails with mbsync's
        message; the channel's other pairs are synchronized; status 1.
        """
        make_box(os.path.join(self.root, "near", "x"))
        lock_path = os.path.join(self.root, "near", "x", ".mbsyncstate.lock")
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import fcntl, os, sys, time\n"
                f"fd = os.open({lock_path!r}, os.O_WRONLY | os.O_CREAT, 0o666)\n"
                "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
                "print('locked', flush=True)\n"
                "sys.stdin.read()\n",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(holder.stdout.close)  # type: ignore[union-attr]
        self.addCleanup(holder.wait)
        self.addCleanup(holder.stdin.close)  # type: ignore[union-attr]
        self.assertEqual(holder.stdout.readline(), "locked\n")  # type: ignore[union-attr]

        status, output = self.run_sync("c")
        self.assertEqual(status, 1)
        self.assertIn((Severity.ERROR, "Error: channel :f:x-:n:x is locked"), output.messages)
        self.assertEqual(len(self.near_files("INBOX")), 1)
        self.assertEqual(len(self.near_files("y")), 1)
        self.assertEqual(self.near_files("x"), [])
        last = output.progress[-1]
        self.assertEqual((last.channels_done, last.boxes_done, last.boxes_total), (1, 3, 3))
        self.assertEqual((last.near.new_done, last.near.new_total), (2, 2))


DRY_CONFIG = """\
MaildirStore f
Path {root}/far/
Inbox {root}/far/INBOX
SubFolders Verbatim
Trash Trash

MaildirStore n
Path {root}/near/
Inbox {root}/near/INBOX
SubFolders Verbatim

Channel c
Far :f:
Near :n:
Patterns * !Trash
Create Both
Expunge Both
SyncState {root}/state/
"""

MSYNC = os.path.join(os.path.dirname(sys.executable), "msync")


def disk_snapshot(root: str) -> dict[str, tuple[int, int, bytes | None]]:
    """
    Everything under C{root}: per path its mode, modification time (ns)
    and, for files, contents.
    """
    seen: dict[str, tuple[int, int, bytes | None]] = {}
    for directory, subdirs, names in os.walk(root):
        for name in subdirs + names:
            path = os.path.join(directory, name)
            status = os.lstat(path)
            data = None
            if name in names:
                with open(path, "rb") as handle:
                    data = handle.read()
            seen[os.path.relpath(path, root)] = (status.st_mode, status.st_mtime_ns, data)
    return seen


class DryRunTests(SynchronousTestCase):
    """
    C{msync -y -a}, run as a user runs it, changes nothing at all on disk
    and prints the operations a real run then carries out.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        for number in (1, 2, 3):
            path = os.path.join(self.root, "far", "INBOX", "cur", f"100000000{number}.1_1.h:2,S")
            self.write(path, f"Subject: m{number}\nMessage-ID: <{number}@x>\n\nbody\n")
        for subdir in ("new", "tmp"):
            os.makedirs(os.path.join(self.root, "far", "INBOX", subdir))
        os.makedirs(os.path.join(self.root, "near"))
        self.config = os.path.join(self.root, "rc")
        self.write(self.config, DRY_CONFIG.format(root=self.root))
        self.msync("-a")

    def write(self, path: str, text: str) -> None:
        """
        Create a file and its directories, as another program would.
        """
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as stream:
            stream.write(text)

    def msync(self, *args: str) -> list[str]:
        """
        Run C{msync -c rc ARGS}; it must succeed.

        @return: its standard output lines, Maildir notices left out.
        """
        done = subprocess.run(
            [MSYNC, "-c", self.config, *args], capture_output=True, text=True, timeout=120
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertEqual(done.stderr, "")
        return [line for line in done.stdout.splitlines() if not line.startswith("Maildir notice")]

    def box_files(self, *parts: str) -> list[str]:
        """
        The C{subdir/name} of the message files of a box, sorted.
        """
        base = os.path.join(self.root, *parts)
        return sorted(
            f"{sub}/{name}"
            for sub in ("new", "cur")
            if os.path.isdir(os.path.join(base, sub))
            for name in os.listdir(os.path.join(base, sub))
        )

    def test_dry_run_changes_nothing(self) -> None:
        """
        With new messages on both sides (unnumbered files), a flag change,
        a deletion with C{Expunge Both} and a Trash, and a far box that the
        near side lacks (C{Create Both}) with neither C{.uidvalidity} nor
        C{new/} and C{tmp/}, C{-y} prints each operation and leaves every
        file and directory as it was (contents and modification times, no
        lock file, no state file). A real run then does exactly that work:
        the provisional UIDs printed are those it gives, and a second dry
        run finds nothing left to do.
        """
        far, near = os.path.join(self.root, "far"), os.path.join(self.root, "near")
        self.write(f"{far}/INBOX/new/1500000000.9_9.other", "Subject: new far\n\nnf\n")
        self.write(f"{near}/INBOX/new/1500000001.9_9.other", "Subject: new near\n\nnn\n")
        os.rename(
            f"{far}/INBOX/cur/1000000002.1_1.h,U=2:2,S",
            f"{far}/INBOX/cur/1000000002.1_1.h,U=2:2,FS",
        )
        [third] = [name for name in self.box_files("near", "INBOX") if ",U=3:" in name]
        os.rename(f"{near}/INBOX/{third}", f"{near}/INBOX/{third}T")
        self.write(f"{far}/Projects/cur/1500000002.1_1.h:2,S", "Subject: project\n\np\n")
        before = disk_snapshot(self.root)
        plan = self.msync("-y", "-a")
        self.assertEqual(disk_snapshot(self.root), before)
        self.assertEqual(
            plan,
            [
                "Channel c, box INBOX: would change the flags of far side UID 3: add T (deleted).",
                "Channel c, box INBOX: would change the flags of near side UID 2: add F (flagged).",
                "Channel c, box INBOX: would move far side UID 3 into the far side's trash box Trash.",
                "Channel c, box INBOX: would copy near side UID 4 to the far side, with no flags.",
                "Channel c, box INBOX: would copy far side UID 4 to the near side, with no flags.",
                "Channel c, box INBOX: would expunge far side UID 3.",
                "Channel c, box INBOX: would expunge near side UID 3.",
                "Channel c, box Projects: would create near side box Projects.",
                "Channel c, box Projects: would copy far side UID 1 to the near side, with flags S (seen).",
            ],
        )
        self.assertEqual(self.msync("-a"), [])
        far_inbox = self.box_files("far", "INBOX")
        self.assertIn("new/1500000000.9_9.other,U=4", far_inbox)
        self.assertEqual(len(far_inbox), 4)
        self.assertTrue(far_inbox[-1].endswith(",U=5:2,"), far_inbox)
        near_inbox = self.box_files("near", "INBOX")
        self.assertIn("new/1500000001.9_9.other,U=4", near_inbox)
        self.assertIn("cur/1000000002.1_1.h,U=2:2,FS", far_inbox)
        self.assertEqual(sum(name.endswith(":2,FS") for name in near_inbox), 1)
        self.assertEqual(len(near_inbox), 4)
        self.assertFalse(any(",U=3:" in name for name in far_inbox + near_inbox))
        [trashed] = self.box_files("far", "Trash")
        self.assertTrue(trashed.endswith(":2,ST"), trashed)
        self.assertEqual(self.box_files("far", "Projects"), ["cur/1500000002.1_1.h,U=1:2,S"])
        self.assertEqual(len(self.box_files("near", "Projects")), 1)
        self.assertEqual(self.msync("-y", "-a"), [])
