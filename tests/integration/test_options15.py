# -*- test-case-name: tests.integration.test_options15 -*-
"""
isync 1.5-only options and output, msync (following 1.5) beside the
mbsync 1.5.0 oracle (C{../shared/oracles/mbsync-1.5.0}, copied into the
test directory) on the same Maildir<->Maildir trees: the closing summary,
C{--ext-exit}, C{-u}/C{-g} and the notices for the old spellings.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ORACLE = Path(__file__).resolve().parents[3] / "shared" / "oracles" / "mbsync-1.5.0"
MSYNC = os.path.join(os.path.dirname(sys.executable), "msync")

RC = """\
IMAPAccount a
Host 127.0.0.1
User u
Pass p
SSLType None
SSLVersions TLSv1.2

IMAPStore i
Account a

MaildirStore far
Path {root}/far/
Inbox {root}/far/INBOX

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX
Trash Trash

Channel c
Far :far:
Near :near:
Create Both
Expunge Both
Sync {sync}
"""

# Maildir notices differ in wording between the tools (1.5 names the path).
_NOTICE = re.compile(r"^Maildir notice: .*\n", re.M)


class OracleOptionTests(SynchronousTestCase):
    """
    Both tools on copies of one tree give the same output and status.
    """

    def setUp(self) -> None:
        if not ORACLE.exists():
            self.fail(f"mbsync 1.5.0 oracle missing: {ORACLE}")
        self.base = Path(self.mktemp()).resolve()
        self.base.mkdir(parents=True)
        self.oracle = self.base / "mbsync"
        shutil.copy(ORACLE, self.oracle)

    def tree(self, name: str, sync: str) -> Path:
        """
        Three far messages, one near message flagged deleted, a config.
        """
        root = self.base / name
        for side in ("far", "near"):
            for sub in ("cur", "new", "tmp"):
                (root / side / "INBOX" / sub).mkdir(parents=True)
        for index in range(3):
            (root / "far" / "INBOX" / "cur" / f"100{index}.x:2,S").write_text(
                f"Subject: m{index}\n\nb\n"
            )
        (root / "near" / "INBOX" / "cur" / "2000.y:2,T").write_text("Subject: n\n\nb\n")
        for path in root.rglob("*"):
            os.utime(path, (1_600_000_000, 1_600_000_000))
        (root / "home").mkdir()
        (root / "rc").write_text(RC.format(root=root, sync=sync))
        return root

    def run_both(self, sync: str, *args: str, summary_only: bool = False) -> None:
        """
        Run both tools with C{args} on fresh copies; compare.

        @param summary_only: compare standard output from the summary on
            (msync's C{--dry-run} also lists each planned operation).
        """
        results = []
        self.runs = getattr(self, "runs", 0) + 1
        for tool in ("oracle", "msync"):
            root = self.tree(f"{tool}{self.runs}", sync)
            program = str(self.oracle) if tool == "oracle" else MSYNC
            environ = dict(os.environ, HOME=str(root / "home"), MSYNC_COMPAT="1.5")
            done = subprocess.run(
                [program, "-c", str(root / "rc"), *args, "c"],
                capture_output=True,
                text=True,
                timeout=60,
                env=environ,
                cwd=root,
            )
            out = _NOTICE.sub("", done.stdout)
            if summary_only:
                out = out[out.index("Processed ") :]
            results.append((done.returncode, out, done.stderr))
        self.assertEqual(results[1], results[0])

    def test_summary_and_ext_exit(self) -> None:
        """
        The summary names pulls, trash and expunges per side; C{-e} adds
        64 for the changed near side.
        """
        self.run_both("All", "-e")

    def test_dry_run_summary(self) -> None:
        """
        C{--dry-run} words the summary C{would ...}.
        """
        self.run_both("All", "--dry-run", summary_only=True)

    def test_old_spellings(self) -> None:
        """
        C{-N -d} and C{SSLType}, C{SSLVersions}, C{ReNew}, C{Delete} give
        1.5's notices in 1.5's order; C{-u -g} give none.
        """
        self.run_both("Pull ReNew Delete", "-N", "-d")
        self.run_both("Pull Upgrade Gone", "-u", "-g", "-q")

    def test_relative_paths(self) -> None:
        """
        Relative C{Path}/C{Inbox} are read from the configuration file's
        directory, whatever the current directory (isync 1.5).
        """
        for tool in ("oracle", "msync"):
            root = self.tree(f"relative-{tool}", "All")
            rc = root / "rc"
            rc.write_text(rc.read_text().replace(f"{root}/", ""))
            program = str(self.oracle) if tool == "oracle" else MSYNC
            environ = dict(os.environ, HOME=str(root / "home"), MSYNC_COMPAT="1.5")
            done = subprocess.run(
                [program, "-c", str(rc), "c"],
                capture_output=True,
                text=True,
                timeout=60,
                env=environ,
                cwd=self.base,
            )
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            pulled = sorted(
                re.sub("X-TUID: .*\n", "", p.read_text())
                for p in (root / "near" / "INBOX" / "cur").iterdir()
            )
            self.assertEqual(pulled, [f"Subject: m{i}\n\nb\n" for i in range(3)], tool)
            self.assertFalse((self.base / "far").exists())

    def test_list_stores(self) -> None:
        """
        C{-ls}/C{--list-stores} print each store's boxes under
        C{===== name:} (mbsync in directory order, msync sorted); unknown
        store names are refused before anything is listed.
        """
        root = self.tree("stores", "All")
        rc = (
            (root / "rc").read_text().replace("Trash Trash\n", "Trash Trash\nSubFolders Verbatim\n")
        )
        (root / "rc").write_text(rc)
        for sub in ("cur", "new", "tmp"):
            (root / "near" / "Sub" / "Deep" / sub).mkdir(parents=True, exist_ok=True)
        outputs = []
        for program in (str(self.oracle), MSYNC):
            environ = dict(os.environ, HOME=str(root / "home"), MSYNC_COMPAT="1.5")
            results = []
            for args in (["-ls"], ["--list-stores", "near", "nosuch"]):
                done = subprocess.run(
                    [program, "-c", str(root / "rc"), *args],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    env=environ,
                )
                blocks = [
                    (block.split("\n", 1)[0], sorted(block.split("\n")[1:]))
                    for block in done.stdout.split("===== ")
                    if block
                ]
                results.append((done.returncode, blocks, done.stderr))
            outputs.append(results)
        self.assertEqual(outputs[1], outputs[0])
        self.assertEqual(
            outputs[0][0][1],
            [("far:", ["", "INBOX"]), ("near:", ["", "INBOX", "Sub/Deep"])],
        )

    def quiet_run(self, program: str, root: Path) -> None:
        """
        Run a tool with C{-q} on the tree at C{root}, its files dated in the
        past (no one-second waits); assert success.
        """
        for path in root.rglob("*"):
            os.utime(path, (1_600_000_000, 1_600_000_000))
        environ = dict(os.environ, HOME=str(root / "home"), MSYNC_COMPAT="1.5")
        done = subprocess.run(
            [program, "-c", str(root / "rc"), "-q", "c"],
            capture_output=True,
            text=True,
            timeout=60,
            env=environ,
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

    def test_placeholders(self) -> None:
        """
        With C{MaxSize}, a flagged message too big gets a placeholder too,
        without the flag and naming C{Sync mode Upgrade}; flagging the
        placeholder fetches the real message and flags the placeholder
        deleted; the far side's flag never reaches the placeholder. The
        trees and the state records end alike.
        """
        views = []
        for tool in ("oracle", "msync"):
            root = self.base / f"placeholders-{tool}"
            for side_name in ("far", "near"):
                for sub in ("cur", "new", "tmp"):
                    (root / side_name / "INBOX" / sub).mkdir(parents=True)
            (root / "home").mkdir()
            (root / "rc").write_text(
                f"MaildirStore far\nPath {root}/far/\nInbox {root}/far/INBOX\n\n"
                f"MaildirStore near\nPath {root}/near/\nInbox {root}/near/INBOX\nMaxSize 1k\n\n"
                f"Channel c\nFar :far:\nNear :near:\nSync All\nSyncState {root}/state/\n"
            )
            far = root / "far" / "INBOX" / "cur"
            (far / "1001.x:2,FS").write_text("Subject: big\n\n" + "x" * 3000 + "\n")
            (far / "1002.x:2,S").write_text("Subject: big2\n\n" + "y" * 3000 + "\n")
            program = str(self.oracle) if tool == "oracle" else MSYNC
            self.quiet_run(program, root)
            self.quiet_run(program, root)
            near = root / "near" / "INBOX" / "cur"
            second = next(p for p in near.iterdir() if ",U=2:" in p.name)
            second.rename(near / (second.name[:-1] + "FS"))
            first = next(p for p in far.iterdir() if p.name.startswith("1001"))
            first.rename(far / first.name.replace(",FS", ",F"))
            self.quiet_run(program, root)
            self.quiet_run(program, root)
            view: list[object] = []
            for box in (far, near):
                for path in sorted(box.iterdir(), key=lambda p: p.name.partition(",")[2]):
                    text = path.read_text()
                    view.append((path.name.partition(",")[2], text.split("\n")[0], len(text)))
            state = next((root / "state").glob("*INBOX"))
            view.append(tuple(state.read_text().split("\n\n", 1)[1].splitlines()))
            views.append(view)
        self.assertEqual(views[1], views[0])
        self.assertIn(("U=2:2,FST", "Subject: [placeholder] big2", 184), views[0])
