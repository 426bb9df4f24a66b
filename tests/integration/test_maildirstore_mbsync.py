# -*- test-case-name: tests.integration.test_maildirstore_mbsync -*-
"""
Tests for L{msync.stores.maildirstore} against the real mbsync 1.4.4: it runs
on scratch Maildir-to-Maildir channels and its results are compared with
ours (without the oracle these tests fail).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from msync.config import schema
from msync.errors import MailboxError
from msync.model import FlagChange, Flags, LoadRequest
from msync.stores.interface import BytesSource
from msync.stores.maildirstore import MaildirStore
from tests.stores.maildirfixtures import (
    MBSYNC_NAME,
    MESSAGE,
    NOW,
    files,
    make_config,
    make_maildir,
    make_store,
    make_tree,
    write,
)

MBSYNC = shutil.which("mbsync")

_RC_CHANNEL = """
Channel c
Far :far:
Near :near:
Patterns *
Create Near
SyncState {root}/state/
"""


class MbsyncComparisonTests(SynchronousTestCase):
    """
    The real mbsync 1.4.4 and msync, given the same trees, write the same
    names and list the same boxes.
    """

    def setUp(self) -> None:
        # The test command installs mbsync; without the oracle these tests fail.
        self.assertIsNotNone(MBSYNC, "mbsync 1.4 is not installed")
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(f"{self.root}/state")
        os.makedirs(f"{self.root}/near")

    def mbsync(self, far: str, *arguments: str) -> subprocess.CompletedProcess[str]:
        """
        Run mbsync on channel C{c} from store section C{far} to a Verbatim
        store under C{root/near}.
        """
        near = (
            f"MaildirStore near\nPath {self.root}/near/\nInbox {self.root}/near/INBOX\n"
            "SubFolders Verbatim\n"
        )
        config = f"{self.root}/mbsyncrc"
        with open(config, "w") as handle:
            handle.write(far + "\n" + near + _RC_CHANNEL.format(root=self.root))
        assert MBSYNC is not None
        return subprocess.run(
            [MBSYNC, "-c", config, *arguments, "c"], capture_output=True, text=True, timeout=120
        )

    def age(self, *boxes: str) -> None:
        """
        Date the C{new/} and C{cur/} of boxes back, so that mbsync's race
        guard does not sleep.
        """
        for box in boxes:
            for subdir in ("new", "cur"):
                os.utime(f"{box}/{subdir}", (NOW - 1000, NOW - 1000))

    def test_listing(self) -> None:
        """
        In every SubFolders style, C{mbsync -l} and L{MaildirStore.list_boxes}
        list the same boxes of one tree; without a style both fail.
        """
        tree = f"{self.root}/tree"
        make_tree(tree)
        for style in (*schema.SubFolders, None):
            if style is schema.SubFolders.MAILDIRPP:
                far = f"MaildirStore far\nInbox {tree}/inbox\nSubFolders Maildir++\n"
            else:
                far = f"MaildirStore far\nPath {tree}/\nInbox {tree}/INBOX\n"
                if style is not None:
                    far += f"SubFolders {style.value}\n"
            # The near store is empty, so mbsync -l lists the far store only.
            result = self.mbsync(far, "-l")
            ours = make_store(tree, style)[0].list_boxes()
            if style is None:
                self.assertEqual(result.returncode, 1)
                self.failureResultOf(ours, MailboxError)
            else:
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(self.successResultOf(ours), sorted(result.stdout.split()))

    def test_numbering_and_storing(self) -> None:
        """
        Foreign files get the UIDs and names mbsync gives them; stored
        messages get mbsync's names and placement; flag changes rename as
        mbsync's do; C{.uidvalidity} records the same last UID.
        """
        foreign = [
            "new/1000.2_1.host",
            "cur/999.5_2.host:2,S",
            "new/1000.1_3.host",
            "cur/1000.1_12.host:2,FR",
            "new/998.P7Q2.host",
            "new/998.P7Q10.host",
            "cur/1001.M20P3.host:2,",
            "cur/50.1_1.h,U=1:2,S",
        ]
        for copy in ("theirs", "ours"):
            make_maildir(f"{self.root}/{copy}/INBOX")
            write(f"{self.root}/{copy}/INBOX/.uidvalidity", b"77\n1\n")
            for index, name in enumerate(foreign):
                write(f"{self.root}/{copy}/INBOX/{name}", MESSAGE.replace(b"hi", b"%d" % index))
        self.age(f"{self.root}/theirs/INBOX")
        far = f"MaildirStore far\nPath {self.root}/theirs/\nInbox {self.root}/theirs/INBOX\n"
        result = self.mbsync(far, "-q")
        self.assertEqual(result.returncode, 0, result.stderr)
        store, clock = make_store(f"{self.root}/ours")
        mailbox = self.successResultOf(store.open_box("INBOX"))
        # Numbered by the load that wants new messages, as mbsync's.
        self.successResultOf(mailbox.load(LoadRequest()))
        self.assertEqual(files(f"{self.root}/ours/INBOX"), files(f"{self.root}/theirs/INBOX"))
        self.successResultOf(store.close())

        # What mbsync stored on the near side, in far UID order:
        theirs = f"{self.root}/near/INBOX"
        stored = sorted(files(theirs), key=lambda name: int(name.split(",U=")[1].split(":")[0]))
        first = MBSYNC_NAME.match(stored[0])
        assert first is not None
        stamp, pid, counter, host = (
            first.group(2),
            first.group(3),
            int(first.group(4)),
            first.group(5),
        )
        store = MaildirStore(
            make_config(f"{self.root}/mine"), fsync=True, clock=clock, hostname=host, pid=int(pid)
        )
        clock.advance(int(stamp) - clock.seconds())
        mailbox = self.successResultOf(store.open_box("INBOX", create=True))
        source_store = make_store(f"{self.root}/theirs")[0]
        source = self.successResultOf(source_store.open_box("INBOX"))
        for info in self.successResultOf(source.load(LoadRequest())):
            self.successResultOf(mailbox.store(BytesSource(MESSAGE), info.flags))
        # Holding the lock would block mbsync (F_SETLKW) below.
        self.successResultOf(source_store.close())
        mine = f"{self.root}/mine/INBOX"

        def normalized(names: list[str]) -> list[str]:
            # The per-process counter is ours to share with other stores.
            return sorted(re.sub(r"^(\w+/)\d+\.\d+_\d+\.", r"\1T.P_n.", name) for name in names)

        self.assertEqual(normalized(files(mine)), normalized(files(theirs)))
        for name in files(mine):
            match = MBSYNC_NAME.match(name)
            assert match is not None
            self.assertEqual(match.group(2, 3, 5), (stamp, pid, host))
        self.assertGreaterEqual(counter, 1)
        with (
            open(f"{mine}/.uidvalidity") as ours_file,
            open(f"{theirs}/.uidvalidity") as theirs_file,
        ):
            self.assertEqual(ours_file.read().split()[1], theirs_file.read().split()[1])

        # A flag change: mbsync moves the near copy into cur/ with S.
        [unseen] = [
            name for name in files(f"{self.root}/theirs/INBOX") if name.startswith("new/1000.1_3")
        ]
        os.rename(
            f"{self.root}/theirs/INBOX/{unseen}", f"{self.root}/theirs/INBOX/cur/{unseen[4:]}:2,S"
        )
        self.age(f"{self.root}/theirs/INBOX", theirs)
        result = self.mbsync(far, "-q")
        self.assertEqual(result.returncode, 0, result.stderr)
        uid = int(unseen.split(",U=")[1])  # copied in far UID order: near UID = far UID
        self.successResultOf(mailbox.set_flags([FlagChange(uid, add=Flags.SEEN)]))
        self.assertEqual(normalized(files(mine)), normalized(files(theirs)))
        self.successResultOf(store.close())

    def test_uid_trap(self) -> None:
        """
        Where mbsync refuses a box with a duplicate UID held by copies (same
        bytes), msync repairs it: the copy becomes a new message. (With
        different bytes msync refuses like mbsync: see
        C{test_maildiruids}.)
        """
        box = f"{self.root}/trap/INBOX"
        make_maildir(box)
        write(f"{box}/.uidvalidity", b"77\n2\n")
        write(f"{box}/cur/100.1_1.h,U=1:2,S")
        write(f"{box}/cur/300.1_1.moved,U=1:2,S")
        self.age(box)
        far = f"MaildirStore far\nPath {self.root}/trap/\nInbox {box}\n"
        result = self.mbsync(far, "-q")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Maildir error: duplicate UID 1.", result.stderr)
        store = make_store(f"{self.root}/trap")[0]
        mailbox = self.successResultOf(store.open_box("INBOX"))
        uids = [info.uid for info in self.successResultOf(mailbox.load(LoadRequest()))]
        self.assertEqual(uids, [1, 3])
        self.successResultOf(store.close())
