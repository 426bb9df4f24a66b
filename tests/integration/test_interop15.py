# -*- test-case-name: tests.integration.test_interop15 -*-
"""
msync and the real mbsync 1.5.0 (the oracle binary in C{../shared/oracles/},
copied into the test's directory; never downloaded) on one Dovecot account
with non-ASCII and nested folders, the state in 1.5's default location
(C{$HOME/.local/state/isync/}): each continues the other's work, after
clean runs and after runs killed mid-pull, with nothing copied twice and
no folder duplicated.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from msync.compat import Generation
from msync.migrate import renamed
from tests.integration.dovecot import DovecotTestCase
from tests.integration.synctree import MSYNC, far_snapshot, snapshot, write_config
from tests.integration.test_imap_interop import add_far

ORACLE = Path(__file__).resolve().parents[3] / "shared" / "oracles" / "mbsync-1.5.0"
FOLDERS = ("INBOX", "Entwürfe", "Archiv/Bücher", "Sent")

# The ArchWiki channel, with the state in the default (XDG) location.
CHANNEL = """\
Channel c
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
CopyArrivalDate yes
"""


class Oracle15Case(DovecotTestCase):
    """
    A Dovecot account with the corpus, a home directory, a tree, the
    oracle, and ways to run the tools and check the tree.
    """

    def setUp(self) -> None:
        """
        Copy the oracle; start Dovecot; make a home directory, an account
        with the corpus in non-ASCII and nested folders, and a config.
        """
        if not ORACLE.exists():
            self.fail(f"mbsync 1.5.0 oracle missing: {ORACLE}")
        super().setUp()
        self.base = Path(self.mktemp()).resolve()
        self.home = self.base / "home"
        self.home.mkdir(parents=True)
        self.oracle = self.base / "mbsync"
        shutil.copy(ORACLE, self.oracle)
        self.account = self.dovecot.add_account()
        for folder in FOLDERS[1:]:
            self.account.create_mailbox(folder)
        add_far(self.account, 5, 40, FOLDERS)
        self.config = write_config(self.dovecot, self.base, CHANNEL, user=self.account)
        self.mail = self.base / "mail"
        self.state = self.home / ".local" / "state" / "isync"

    def environ(self) -> dict[str, str]:
        """
        The environment both tools run in: the test's home, no XDG
        variables, no explicit generation.
        """
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MSYNC_"))}
        environ["HOME"] = str(self.home)
        return environ

    def tool(self, tool: str, *args: str, status: int | None = 0) -> str:
        """
        Run mbsync 1.5.0 (C{"mbsync"}) or msync with C{-a}.

        @return: standard output and error.
        """
        program = str(self.oracle) if tool == "mbsync" else MSYNC
        done = subprocess.run(
            [program, "-c", str(self.config), *args, "-a"],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.environ(),
        )
        if status is not None:
            self.assertEqual(done.returncode, status, done.stdout + done.stderr)
        return done.stdout + done.stderr

    def folders(self) -> list[str]:
        """
        The local folders (relative paths), sorted.
        """
        found = []
        for path, dirs, _ in os.walk(self.mail):
            for name in dirs:
                if name not in ("cur", "new", "tmp"):
                    found.append(os.path.relpath(os.path.join(path, name), self.mail))
        return sorted(found)

    def assertConverged(self) -> None:
        """
        Every server message is in its local folder exactly once, and the
        folders are 1.5's (UTF-8).
        """
        self.assertEqual(self.folders(), ["Archiv", "Archiv/Bücher", "Entwürfe", "INBOX", "Sent"])
        for folder in FOLDERS:
            far = Counter(m.body.replace(b"\r\n", b"\n") for m in self.account.messages(folder))
            near: Counter[bytes] = Counter()
            for sub in ("cur", "new"):
                for entry in (self.mail / folder / sub).iterdir():
                    body = entry.read_bytes()
                    near[
                        b"".join(
                            line
                            for line in body.splitlines(True)
                            if not line.startswith(b"X-TUID: ")
                        )
                    ] += 1
            self.assertEqual(near, far, folder)
            self.assertEqual(max(near.values(), default=1), 1, folder)


class Interop15Tests(Oracle15Case):
    """
    mbsync 1.5.0 and msync take turns on one account and one tree.
    """

    def test_msync_continues_mbsync15(self) -> None:
        """
        After mbsync 1.5.0 synchronized, msync (choosing 1.5 from the tree)
        finds nothing to do: no folder created, nothing downloaded, the
        state read from the XDG location; then mbsync 1.5.0 again finds
        nothing to do after msync pulled a new message.
        """
        self.tool("mbsync")
        self.assertConverged()
        self.assertTrue(self.state.is_dir())
        before = snapshot(self.mail), far_snapshot(self.account)
        output = self.tool("msync", "-V")
        self.assertIn("Following mbsync 1.5: folder names in UTF-8", output)
        self.assertEqual((snapshot(self.mail), far_snapshot(self.account)), before)
        self.assertFalse((self.home / ".mbsync").exists())
        self.account.add_message("Entwürfe", b"Subject: neu\r\n\r\nneu\r\n", ())
        self.tool("msync")
        self.assertConverged()
        after = snapshot(self.mail), far_snapshot(self.account)
        self.tool("mbsync")
        self.assertEqual((snapshot(self.mail), far_snapshot(self.account)), after)

    def test_mbsync15_continues_msync(self) -> None:
        """
        A fresh setup with MSYNC_COMPAT=1.5: msync makes UTF-8 folders and
        XDG state that mbsync 1.5.0 takes over with nothing to do.
        """
        done = subprocess.run(
            [MSYNC, "-c", str(self.config), "-a"],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(self.environ(), MSYNC_COMPAT="1.5"),
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertConverged()
        before = snapshot(self.mail), far_snapshot(self.account)
        self.tool("mbsync")
        self.assertEqual((snapshot(self.mail), far_snapshot(self.account)), before)

    def test_msync_recovers_killed_mbsync15(self) -> None:
        """
        mbsync 1.5.0 stopped after 30 journal steps (C{-Ts30}, exit 100)
        leaves a version 5 journal; msync chooses 1.5 from it, replays it
        and finishes without copying anything twice.
        """
        output = self.tool("mbsync", "-Ts30", status=100)
        journals = list(self.state.glob("*.journal"))
        self.assertTrue(journals, output)
        self.assertEqual(journals[0].read_text().splitlines()[0], "5")
        output = self.tool("msync", "-V")
        self.assertIn("Following mbsync 1.5: interrupted run's journal version 5", output)
        self.assertConverged()
        self.assertEqual(list(self.state.glob("*.journal")), [])
        after = snapshot(self.mail), far_snapshot(self.account)
        self.tool("mbsync")
        self.assertEqual((snapshot(self.mail), far_snapshot(self.account)), after)

    def test_mbsync15_recovers_killed_msync(self) -> None:
        """
        msync (following 1.5) killed mid-pull leaves a version 5 journal
        that mbsync 1.5.0 replays, finishing without copying anything twice.
        """
        process = subprocess.Popen(
            [MSYNC, "-c", str(self.config), "-a"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(self.environ(), MSYNC_COMPAT="1.5"),
        )
        deadline = time.monotonic() + 60
        killed = False
        while process.poll() is None and time.monotonic() < deadline:
            journals = list(self.state.glob("*.journal")) if self.state.is_dir() else []
            if any(j.read_text().count("\n#") >= 5 for j in journals):
                process.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.001)
        process.wait(30)
        self.assertTrue(killed, "msync finished before it could be killed")
        journal = next(self.state.glob("*.journal"))
        self.assertEqual(journal.read_text().splitlines()[0], "5")
        self.tool("mbsync")
        self.assertConverged()
        after = snapshot(self.mail), far_snapshot(self.account)
        self.tool("msync")
        self.assertEqual((snapshot(self.mail), far_snapshot(self.account)), after)


class MigrationTests(Oracle15Case):
    """
    A tree made by mbsync 1.4.4 is renamed to 1.5's names only on request
    (C{--migrate-names}), after which mbsync 1.5.0 downloads nothing; and
    back again for mbsync 1.4.4.
    """

    def files(self) -> dict[str, list[str]]:
        """
        The message files of every folder, by the folder's decoded name.
        """
        found: dict[str, list[str]] = {}
        for folder in self.folders():
            names: list[str] = []
            for sub in ("cur", "new"):
                path = self.mail / folder / sub
                if path.is_dir():
                    names.extend(f"{sub}/{n}" for n in os.listdir(path))
            decoded = "/".join(renamed(part, Generation.V15) or part for part in folder.split("/"))
            found[decoded] = sorted(names)
        return found

    def mbsync14(self, *args: str) -> str:
        """
        Run the installed mbsync 1.4.4 with C{-a}.
        """
        done = subprocess.run(
            ["mbsync", "-c", str(self.config), *args, "-a"],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.environ(),
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        return done.stdout + done.stderr

    def test_migration_both_ways(self) -> None:
        """
        mbsync 1.4.4 makes C{Entw&APw-rfe}; msync without the request keeps
        following 1.4 (no second folder); C{--compat 1.5 --migrate-names}
        renames folders and state; mbsync 1.5.0 then has nothing to do;
        C{--compat 1.4 --migrate-names} renames them back for 1.4.4.
        """
        self.mbsync14()
        self.assertEqual(
            self.folders(), ["Archiv", "Archiv/B&APw-cher", "Entw&APw-rfe", "INBOX", "Sent"]
        )
        files = self.files()
        output = self.tool("msync", "-V")
        self.assertIn("Following mbsync 1.4: folder names in modified UTF-7", output)
        self.assertEqual(self.files(), files)
        state = self.home / ".mbsync"
        before = sorted(os.listdir(state))
        self.assertIn(":remote:Entw&APw-rfe_:local:Entw&APw-rfe", before)
        output = self.tool("msync", "--compat", "1.5", "--migrate-names")
        self.assertIn(f"Renamed {self.mail}/Entw&APw-rfe -> {self.mail}/Entwürfe", output)
        self.assertEqual(
            sorted(os.listdir(state)),
            sorted(renamed(name, Generation.V15) or name for name in before),
        )
        self.assertEqual(self.files(), files)
        self.tool("mbsync")
        self.assertConverged()
        self.assertEqual(self.files(), files)
        self.assertFalse(self.state.exists())
        self.tool("msync", "--compat", "1.4", "--migrate-names")
        self.assertEqual(sorted(os.listdir(state)), before)
        self.mbsync14()
        self.assertEqual(self.files(), files)

    def test_migration_refused_with_live_journal(self) -> None:
        """
        An interrupted run's journal stops the migration before anything
        is renamed.
        """
        done = subprocess.run(
            ["mbsync", "-c", str(self.config), "-Tj", "-a"],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.environ(),
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        folders = self.folders()
        output = self.tool("msync", "--compat", "1.5", "--migrate-names", status=1)
        self.assertIn("Error: interrupted run's journal", output)
        self.assertEqual(self.folders(), folders)
