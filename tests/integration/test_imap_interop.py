# -*- test-case-name: tests.integration.test_imap_interop -*-
"""
msync and the real mbsync 1.4.4 on the same IMAP<->Maildir data, with the
ArchWiki-style configuration, against one private Dovecot.

Every scenario is built twice from the same seeded corpus, on two accounts
of the same server with two local trees: one tree is synced by mbsync
alone, the other by msync (or by the tools taking turns, or after one of
them was interrupted). Then both sides are compared: the near trees file by
file (names less the unique C{time.pid_n.host} part, new/ vs cur/, flags,
bytes including X-TUID headers, mtimes, state files less UIDVALIDITY
values) and the far accounts message by message (UIDs, flags, bytes,
INTERNALDATEs). A missing Dovecot or mbsync fails the tests.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.corpus import generate_corpus
from tests.integration.dovecot import DovecotAccount, DovecotTestCase
from tests.integration.synctree import (
    ARCHWIKI_CHANNEL,
    MSYNC,
    far_snapshot,
    local_messages,
    run_tool,
    snapshot,
    write_config,
)

FAR_FOLDERS = ("INBOX", "Archive/2024", "Entwürfe", "Sent")
LETTERS = {"\\Draft": "D", "\\Flagged": "F", "$Forwarded": "P", "\\Answered": "R", "\\Seen": "S"}


@dataclass
class Tree:
    """
    One copy of a scenario: a server account, a Maildir tree, a config.
    """

    account: DovecotAccount
    root: Path
    config: Path

    @property
    def mail(self) -> Path:
        """
        The Maildir tree's root.
        """
        return self.root / "mail"


def put_corpus(mail: Path, seed: int, count: int, folders: tuple[str, ...], first: int) -> None:
    """
    Deliver generated messages into local boxes as another program would:
    LF line ends, no C{,U=}, flags in the name, mtime = the message's date.
    """
    for index, message in enumerate(generate_corpus(seed, count, 16 << 10, folders)):
        box = mail / message.folder
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        flags = "".join(sorted(LETTERS[flag] for flag in message.flags))
        name = f"{first + index}.{index}_1.corpus:2,{flags}"
        path = box / ("cur" if "S" in flags else "new") / name
        path.write_bytes(message.data.replace(b"\r\n", b"\n"))
        stamp = message.date.timestamp()
        os.utime(path, (stamp, stamp))


def add_far(account: DovecotAccount, seed: int, count: int, folders: tuple[str, ...]) -> None:
    """
    Append generated messages to the server, with their flags and dates.
    """
    by_box: dict[str, list[tuple[bytes, frozenset[str], object]]] = {}
    for message in generate_corpus(seed, count, 16 << 10, folders):
        by_box.setdefault(message.folder, []).append((message.data, message.flags, message.date))
    for box, messages in sorted(by_box.items()):
        account.add_messages(box, messages)  # type: ignore[arg-type]


class InteropTests(DovecotTestCase):
    """
    The two tools give the same results and continue each other's work.
    """

    def setUp(self) -> None:
        """
        Start Dovecot; fail if mbsync is missing.
        """
        if shutil.which("mbsync") is None:
            self.fail("mbsync not found: the oracle for these tests is mbsync 1.4")
        super().setUp()
        self.base = Path(self.mktemp()).resolve()

    def tree(self, name: str, channels: str = ARCHWIKI_CHANNEL, store_extra: str = "") -> Tree:
        """
        A fresh account and local tree filled from the corpus, and its
        configuration (ArchWiki-style unless told otherwise).
        """
        account = self.dovecot.add_account()
        for folder in FAR_FOLDERS[1:]:
            account.create_mailbox(folder)
        add_far(account, 7, 24, FAR_FOLDERS)
        root = self.base / name
        config = write_config(self.dovecot, root, channels, store_extra=store_extra, user=account)
        put_corpus(root / "mail", 8, 8, ("INBOX", "drafts"), 1700000000)
        return Tree(account, root, config)

    def sync(self, tool: str, tree: Tree, *args: str, status: int = 0) -> str:
        """
        Run a tool on a tree with C{-a}; assert its exit status.

        @return: its standard error.
        """
        result = run_tool(tool, tree.config, *args, "-a")
        self.assertEqual(result.returncode, status, f"{tool}: {result.stdout}{result.stderr}")
        return result.stderr

    def change(self, tree: Tree, seed: int) -> None:
        """
        Changes on both sides: new mail on each, flags set on each, a
        message expunged on the server, a local file deleted.
        """
        add_far(tree.account, seed, 4, ("INBOX", "Sent"))
        tree.account.set_flags("INBOX", 1, ["\\Flagged", "\\Seen"])
        tree.account.expunge("INBOX", 2)
        put_corpus(tree.mail, seed + 1, 3, ("INBOX", "Archive/2024"), 1710000000 + seed)
        oldest = local_messages(tree.mail / "Archive" / "2024")[0]
        base = oldest.path.name.partition(":2,")[0]
        oldest.path.rename(oldest.path.parent.parent / "cur" / f"{base}:2,RS")
        local_messages(tree.mail / "Entw&APw-rfe")[0].path.unlink()

    def near(self, tree: Tree) -> dict[str, object]:
        """
        The near tree as compared: the snapshot plus message file mtimes.
        """
        seen = snapshot(tree.mail)
        for path in tree.mail.rglob("*"):
            if path.parent.name in ("cur", "new") and path.is_file():
                seen.setdefault("mtimes", [])
                mtimes = seen["mtimes"]
                assert isinstance(mtimes, list)
                mtimes.append(int(path.stat().st_mtime))
        if "mtimes" in seen:
            assert isinstance(seen["mtimes"], list)
            seen["mtimes"].sort()
        return seen

    def far(self, tree: Tree) -> dict[str, object]:
        """
        The far side as compared: every box's messages and INTERNALDATEs.
        """
        seen: dict[str, object] = dict(far_snapshot(tree.account))
        for box in tree.account.list_mailboxes():
            dates = self.dovecot.doveadm(
                "fetch", "-u", tree.account.user, "uid date.received.unixtime", "mailbox", box
            )
            seen["dates " + box] = re.findall(r"unixtime: (\d+)", dates)
        return seen

    def assertSame(self, theirs: Tree, ours: Tree) -> None:
        """
        Both copies look the same on both sides, and neither side holds a
        message twice in a box.
        """
        self.maxDiff = None
        self.assertEqual(self.near(ours), self.near(theirs))
        self.assertEqual(self.far(ours), self.far(theirs))
        self.assertNoDuplicates(ours)

    def assertNoDuplicates(self, tree: Tree) -> None:
        """
        No box on either side holds the same message (by Message-ID) twice.
        """
        ids = re.compile(rb"(?im)^Message-ID: *(\S+)")
        for box in tree.account.list_mailboxes():
            found = Counter(ids.findall(b"".join(m.body for m in tree.account.messages(box))))
            self.assertEqual([key for key, n in found.items() if n > 1], [], box)
        for cur in tree.mail.rglob("cur"):
            bodies = [m.body for m in local_messages(cur.parent)]
            found = Counter(ids.findall(b"".join(bodies)))
            self.assertEqual([key for key, n in found.items() if n > 1], [], str(cur))

    def test_same_result(self) -> None:
        """
        mbsync and msync on two identical accounts and trees: the same near
        trees, state files and server contents, after a first run and after
        a second one with changes on both sides.
        """
        theirs, ours = self.tree("mbsync"), self.tree("msync")
        self.sync("mbsync", theirs)
        self.sync("msync", ours)
        self.assertSame(theirs, ours)
        drafts = sum(
            m.folder == "drafts" for m in generate_corpus(8, 8, 16 << 10, ("INBOX", "drafts"))
        )
        self.assertEqual(len(local_messages(ours.mail / "drafts")), drafts)
        self.assertEqual(len(ours.account.messages("drafts")), drafts)
        self.assertComplete(ours)
        self.change(theirs, 20)
        self.change(ours, 20)
        self.sync("mbsync", theirs)
        self.sync("msync", ours)
        self.assertSame(theirs, ours)

    def test_same_result_trash_and_no_expunge(self) -> None:
        """
        The same with an IMAP C{Trash} (deleted mail moved there before
        expunging), and without C{Expunge} (deletions become flags).
        """
        variants = (
            (ARCHWIKI_CHANNEL, "Trash Trash\n"),
            (ARCHWIKI_CHANNEL.replace("Expunge Both\n", ""), ""),
        )
        for number, (channels, store_extra) in enumerate(variants):
            theirs = self.tree(f"mbsync{number}", channels, store_extra)
            ours = self.tree(f"msync{number}", channels, store_extra)
            self.sync("mbsync", theirs)
            self.sync("msync", ours)
            self.change(theirs, 20)
            self.change(ours, 20)
            self.sync("mbsync", theirs)
            self.sync("msync", ours)
            self.assertSame(theirs, ours)
            trashed = "Trash" in ours.account.list_mailboxes()
            self.assertEqual(trashed, bool(store_extra))

    def test_msync_continues_after_mbsync(self) -> None:
        """
        mbsync syncs, then msync continues after changes on both sides:
        nothing is copied twice, and the result is what a second mbsync run
        gives; then mbsync continues after msync.
        """
        alone, mixed = self.tree("alone"), self.tree("mixed")
        self.sync("mbsync", alone)
        self.sync("mbsync", mixed)
        self.change(alone, 20)
        self.change(mixed, 20)
        self.sync("mbsync", alone)
        self.sync("msync", mixed)
        self.assertSame(alone, mixed)
        self.change(alone, 30)
        self.change(mixed, 30)
        self.sync("mbsync", alone)
        self.sync("mbsync", mixed)
        self.assertSame(alone, mixed)

    def test_mbsync_continues_after_msync(self) -> None:
        """
        msync syncs first, then mbsync continues from msync's state files
        after changes on both sides: the same as mbsync twice.
        """
        alone, mixed = self.tree("alone"), self.tree("mixed")
        self.sync("mbsync", alone)
        self.sync("msync", mixed)
        self.change(alone, 20)
        self.change(mixed, 20)
        self.sync("mbsync", alone)
        self.sync("mbsync", mixed)
        self.assertSame(alone, mixed)

    def test_msync_replays_interrupted_mbsync(self) -> None:
        """
        mbsync stopped after a few journal writes (its C{-Tj} test switch,
        leaving journal and C{.new}): msync replays the journal and
        finishes the job without copying anything twice; then an mbsync run
        finds nothing to do.
        """
        tree = self.tree("interrupted")
        self.sync("mbsync", tree, "-Tj12", status=100)
        journals = list(tree.mail.rglob(".mbsyncstate.journal"))
        self.assertNotEqual(journals, [])
        self.sync("msync", tree)
        self.assertEqual(list(tree.mail.rglob(".mbsyncstate.journal")), [])
        self.assertNoDuplicates(tree)
        self.assertComplete(tree)
        before = self.near(tree), self.far(tree)
        self.sync("mbsync", tree)
        self.assertEqual((self.near(tree), self.far(tree)), before)

    def test_mbsync_recovers_interrupted_msync(self) -> None:
        """
        msync killed while its journal is open: mbsync continues from the
        journal msync left, without copying anything twice; a later msync
        run finds nothing to do.
        """
        tree = self.tree("killed")
        put_corpus(tree.mail, 11, 60, ("INBOX",), 1690000000)
        process = subprocess.Popen(
            [MSYNC, "-c", str(tree.config), "-a"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, MSYNC_COMPAT="1.4"),
        )
        journal = tree.mail / "INBOX" / ".mbsyncstate.journal"
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if journal.exists() and journal.read_text().count("\n#") >= 10:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        process.wait(30)
        self.assertEqual(process.returncode, -signal.SIGKILL, "msync finished before the kill")
        self.assertTrue(journal.exists())
        self.sync("mbsync", tree)
        self.assertNoDuplicates(tree)
        self.assertComplete(tree)
        before = self.near(tree), self.far(tree)
        self.sync("msync", tree)
        self.assertEqual((self.near(tree), self.far(tree)), before)

    def assertComplete(self, tree: Tree) -> None:
        """
        Every box holds the same messages (by Message-ID) on both sides.
        """
        ids = re.compile(rb"(?im)^Message-ID: *(\S+)")
        for box in tree.account.list_mailboxes():
            far = sorted(ids.findall(b"".join(m.body for m in tree.account.messages(box))))
            directory = tree.mail / box.replace("Entwürfe", "Entw&APw-rfe")
            near = sorted(ids.findall(b"".join(m.body for m in local_messages(directory))))
            self.assertEqual(near, far, box)
