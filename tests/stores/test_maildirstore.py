# -*- test-case-name: tests.stores.test_maildirstore -*-
"""
Tests for L{msync.stores.maildirstore} and its helpers (L{maildirbox},
L{maildirfiles}, L{maildiruids}): the store contract in every SubFolders
style, and Maildir specifics checked against what mbsync 1.4.4 writes.

The unit tests use a L{Clock} set to L{NOW}, far from the real time of the
files they create, so mbsync's race guard never waits unless a test asks
for it. L{MbsyncComparisonTests} run the real mbsync on scratch
Maildir-to-Maildir channels and compare its results with ours.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from msync.config import schema
from msync.errors import MailboxError, MailboxMissing, MessageError
from msync.model import FlagChange, Flags, LoadRequest, UIDInterval
from msync.stores import maildirbox
from msync.stores.interface import BytesSource, IMailbox
from msync.stores.maildirbox import MaildirMailbox
from msync.stores.maildirfiles import MaildirBody
from msync.stores.maildirstore import MaildirStore
from msync.stores.maildiruids import LOCK_POLL_INTERVAL, FileEntry, plan_uids
from tests.stores.contract import StoreContractTests

NOW = 1_600_000_000
PID = 4242
HOST = "vm.example.org"
MESSAGE = (
    b"From: a@example.org\nSubject: hi\nMessage-ID: <m@example.org>\nX-TUID: abcdefghijkl\n\nbody\n"
)
MBSYNC = shutil.which("mbsync")


def make_config(
    root: str, subfolders: schema.SubFolders | None = schema.SubFolders.VERBATIM, **extra: Any
) -> schema.MaildirStore:
    """
    A C{MaildirStore} section with C{Path root/} and C{Inbox root/INBOX}
    (Maildir++: C{Inbox root/inbox}, no Path).
    """
    if subfolders is schema.SubFolders.MAILDIRPP:
        return schema.MaildirStore(name="md", inbox=f"{root}/inbox", subfolders=subfolders, **extra)
    return schema.MaildirStore(
        name="md", inbox=f"{root}/INBOX", path=f"{root}/", subfolders=subfolders, **extra
    )


def make_store(
    root: str, subfolders: schema.SubFolders | None = schema.SubFolders.VERBATIM, **extra: Any
) -> tuple[MaildirStore, Clock]:
    """
    A Maildir store over C{root} with a clock at L{NOW}, pid L{PID} and host
    L{HOST}.
    """
    clock = Clock()
    clock.advance(NOW)
    store = MaildirStore(
        make_config(root, subfolders, **extra), fsync=True, clock=clock, hostname=HOST, pid=PID
    )
    return store, clock


def write(path: str, data: bytes = MESSAGE) -> str:
    """
    Create a file (and its directory), as another program would.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def make_maildir(path: str) -> str:
    """
    Create an empty Maildir folder.
    """
    for subdir in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, subdir), exist_ok=True)
    return path


def files(box: str) -> list[str]:
    """
    The C{subdir/name} of every file in a box's C{new/} and C{cur/}, sorted.
    """
    return sorted(
        f"{subdir}/{name}" for subdir in ("new", "cur") for name in os.listdir(f"{box}/{subdir}")
    )


def logged(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """
    The formatted text of captured log events.
    """
    return [formatEvent(dict(event)) for event in events]


class _ContractBase(StoreContractTests):
    """
    Runs the contract against a Maildir store of one SubFolders style.
    """

    style: schema.SubFolders | None = schema.SubFolders.VERBATIM

    def make_store(self) -> MaildirStore:
        return make_store(self.mktemp(), self.style)[0]


class VerbatimContractTests(_ContractBase, SynchronousTestCase):
    """
    The contract holds for C{SubFolders Verbatim}.
    """


class MaildirPPContractTests(_ContractBase, SynchronousTestCase):
    """
    The contract holds for C{SubFolders Maildir++}.
    """

    style = schema.SubFolders.MAILDIRPP


class LegacyContractTests(_ContractBase, SynchronousTestCase):
    """
    The contract holds for C{SubFolders Legacy}.
    """

    style = schema.SubFolders.LEGACY


class _MaildirTestCase(SynchronousTestCase):
    """
    A Verbatim store over a fresh root, L{open}ed boxes closed afterwards.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.store, self.clock = make_store(self.root)
        self.addCleanup(self.store.close)

    def open(self, box: str = "INBOX", create: bool = True) -> MaildirMailbox:
        """
        Open a box of the store under test.
        """
        mailbox = self.successResultOf(self.store.open_box(box, create=create))
        assert isinstance(mailbox, MaildirMailbox)
        return mailbox

    def put(self, mailbox: IMailbox, flags: Flags = Flags.NONE, data: bytes = MESSAGE) -> int:
        """
        Store a message and return its UID.
        """
        uid = self.successResultOf(mailbox.store(BytesSource(data), flags))
        assert uid is not None
        return uid

    def read(self, body: Any) -> list[bytes]:
        """
        One pass of a body's chunks.
        """

        async def collect() -> list[bytes]:
            return [chunk async for chunk in body.chunks()]

        result: list[bytes] = self.successResultOf(Deferred.fromCoroutine(collect()))
        return result

    @property
    def inbox(self) -> str:
        """
        The Inbox directory.
        """
        return f"{self.root}/INBOX"


_NAME = re.compile(r"^(new|cur)/(\d+)\.(\d+)_(\d+)\.([^,:]+)(,U=\d+)?(:2,[A-Za-z]*)?$")


class StoreNamingTests(_MaildirTestCase):
    """
    Stored messages get mbsync's names, placement and C{.uidvalidity}.
    """

    def test_names_and_placement(self) -> None:
        """
        Unseen messages go to C{new/} with an empty info part, seen ones
        to C{cur/}; names are C{<time>.<pid>_<n>.<host>,U=<uid>:2,<FLAGS>}
        with the short host name and a counter growing by one.
        """
        mailbox = self.open()
        self.assertEqual(self.put(mailbox), 1)
        self.assertEqual(self.put(mailbox, Flags.SEEN | Flags.FLAGGED), 2)
        names = files(self.inbox)
        counters = {}
        for name in names:
            match = _NAME.match(name)
            assert match is not None, name
            self.assertEqual(match.group(2, 3, 5), (str(NOW), str(PID), "vm"))
            counters[match.group(6)] = int(match.group(4))
        self.assertEqual(counters[",U=2"], counters[",U=1"] + 1)
        expected = [
            f"cur/{NOW}.{PID}_{counters[',U=2']}.vm,U=2:2,FS",
            f"new/{NOW}.{PID}_{counters[',U=1']}.vm,U=1:2,",
        ]
        self.assertEqual(names, expected)
        self.assertEqual(os.listdir(f"{self.inbox}/tmp"), [])

    def test_uidvalidity_file(self) -> None:
        """
        A box without C{.uidvalidity} gets UIDVALIDITY = the clock's time,
        with mbsync's notice; the file records the last UID after stores.
        """
        with capturedLogs() as events:
            mailbox = self.open()
        self.assertIn("Maildir notice: no UIDVALIDITY, creating new.", logged(events))
        self.assertEqual((mailbox.uid_validity, mailbox.uid_next), (NOW, 1))
        self.put(mailbox)
        self.put(mailbox)
        with open(f"{self.inbox}/.uidvalidity", "rb") as handle:
            self.assertEqual(handle.read(), f"{NOW}\n2\n".encode())

    def test_arrival_date(self) -> None:
        """
        The arrival date becomes the file's modification time.
        """
        mailbox = self.open()
        when = datetime(2020, 1, 1, tzinfo=UTC)
        self.successResultOf(mailbox.store(BytesSource(MESSAGE), Flags.NONE, when))
        [name] = files(self.inbox)
        self.assertEqual(os.stat(f"{self.inbox}/{name}").st_mtime, when.timestamp())

    def test_store_failure_leaves_nothing(self) -> None:
        """
        A source announcing the wrong size fails the store with
        L{MessageError}; C{tmp/}, C{new/}, C{cur/} stay empty and the UID
        is not reused.
        """
        mailbox = self.open()
        source = BytesSource(MESSAGE)
        source.size += 1
        self.failureResultOf(mailbox.store(source, Flags.NONE), MessageError)
        self.assertEqual(files(self.inbox) + os.listdir(f"{self.inbox}/tmp"), [])
        self.assertEqual(self.put(mailbox), 2)

    def test_append_without_uid(self) -> None:
        """
        L{MaildirStore.append} into a box that is not open writes a file
        without C{,U=} (as mbsync's Trash copies); the next open numbers it.
        """
        self.successResultOf(self.store.append("Trash", BytesSource(MESSAGE), Flags.SEEN))
        [name] = files(f"{self.root}/Trash")
        self.assertRegex(name, rf"^cur/{NOW}\.{PID}_\d+\.vm:2,S$")
        self.open("Trash", create=False)
        [name] = files(f"{self.root}/Trash")
        self.assertRegex(name, rf"^cur/{NOW}\.{PID}_\d+\.vm,U=1:2,S$")


class UIDValidityTests(_MaildirTestCase):
    """
    C{.uidvalidity} is read, refused when garbage, and locked while open.
    """

    def test_garbage(self) -> None:
        """
        Garbage in C{.uidvalidity} fails the open with L{MailboxError}
        naming the file, which is left alone.
        """
        make_maildir(self.inbox)
        write(f"{self.inbox}/.uidvalidity", b"garbage\n")
        error = self.failureResultOf(self.store.open_box("INBOX"), MailboxError).value
        self.assertIn("cannot read UIDVALIDITY", str(error))
        self.assertIn(f"{self.inbox}/.uidvalidity", str(error))
        with open(f"{self.inbox}/.uidvalidity", "rb") as handle:
            self.assertEqual(handle.read(), b"garbage\n")
        write(f"{self.inbox}/.uidvalidity", b"5\n0\n")
        self.assertEqual(self.open().uid_validity, 5)  # nothing was left locked or open

    def test_existing(self) -> None:
        """
        An existing C{.uidvalidity} gives the UIDVALIDITY and UIDNEXT.
        """
        make_maildir(self.inbox)
        write(f"{self.inbox}/.uidvalidity", b"1234\n56\n")
        mailbox = self.open()
        self.assertEqual((mailbox.uid_validity, mailbox.uid_next), (1234, 57))
        self.assertEqual(self.put(mailbox), 57)

    def test_locked_against_other_process(self) -> None:
        """
        While a box is open another process cannot take the POSIX lock
        mbsync takes on C{.uidvalidity}; after closing it can.
        """
        probe = (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try:\n"
            "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except OSError:\n"
            "    sys.exit(3)\n"
        )
        mailbox = self.open()
        path = f"{self.inbox}/.uidvalidity"
        locked = subprocess.run([sys.executable, "-c", probe, path], timeout=60)
        self.assertEqual(locked.returncode, 3)
        self.successResultOf(mailbox.close())
        free = subprocess.run([sys.executable, "-c", probe, path], timeout=60)
        self.assertEqual(free.returncode, 0)

    def test_locked_against_other_store(self) -> None:
        """
        A second store of this process opening the box waits (polling with
        the clock) until the first closes it.
        """
        mailbox = self.open()
        other, clock = make_store(self.root)
        with capturedLogs() as events:
            opening = other.open_box("INBOX")
            clock.advance(LOCK_POLL_INTERVAL)
        self.assertNoResult(opening)
        self.assertTrue(any("waiting for the lock" in text for text in logged(events)))
        self.successResultOf(mailbox.close())
        clock.advance(LOCK_POLL_INTERVAL)
        self.successResultOf(opening)
        self.successResultOf(other.close())

    def test_missing_uidvalidity_renumbers(self) -> None:
        """
        Without C{.uidvalidity}, existing C{,U=} are ignored and every file
        is renumbered in mbsync's order (as mbsync does).
        """
        write(f"{self.inbox}/cur/200.1_1.h,U=9:2,S")
        write(f"{self.inbox}/new/100.1_1.h,U=4")
        make_maildir(self.inbox)
        self.open()
        self.assertEqual(files(self.inbox), ["cur/200.1_1.h,U=2:2,S", "new/100.1_1.h,U=1"])


class ScanTests(_MaildirTestCase):
    """
    Scanning numbers foreign files and repairs stray UIDs.
    """

    def prepare(self, last_uid: int, *names: str) -> None:
        """
        Make the Inbox with C{.uidvalidity} C{1\\n<last_uid>} and files.
        """
        make_maildir(self.inbox)
        write(f"{self.inbox}/.uidvalidity", f"1\n{last_uid}\n".encode())
        for name in names:
            write(f"{self.inbox}/{name}")

    def test_foreign_files(self) -> None:
        """
        Files without C{,U=} get UIDs in mbsync's order (time, then pid and
        sequence) and are renamed in their subdirectory; dot files are
        skipped; C{.uidvalidity} records the last UID.
        """
        self.prepare(
            1,
            "cur/50.1_1.h,U=1:2,S",
            "new/1000.2_1.host",
            "cur/999.5_2.host:2,S",
            "new/1000.1_3.host",
            "cur/.hidden",
        )
        mailbox = self.open()
        self.assertEqual(
            files(self.inbox),
            [
                "cur/.hidden",
                "cur/50.1_1.h,U=1:2,S",
                "cur/999.5_2.host,U=2:2,S",
                "new/1000.1_3.host,U=3",
                "new/1000.2_1.host,U=4",
            ],
        )
        self.assertEqual(mailbox.uid_next, 5)
        with open(f"{self.inbox}/.uidvalidity", "rb") as handle:
            self.assertEqual(handle.read(), b"1\n4\n")
        infos = self.successResultOf(mailbox.load(LoadRequest()))
        self.assertEqual(
            [(info.uid, info.flags, info.recent) for info in infos],
            [(1, Flags.SEEN, False), (2, Flags.SEEN, False), (3, 0, True), (4, 0, True)],
        )

    def test_duplicate_uid(self) -> None:
        """
        Where mbsync dies with C{duplicate UID}, the copy sorting later is
        numbered as a new message, with a warning naming both files.
        """
        self.prepare(2, "cur/100.1_1.h,U=1:2,S", "cur/300.1_1.moved,U=1:2,S", "new/200.1_1.h,U=2")
        with capturedLogs() as events:
            mailbox = self.open()
        self.assertEqual(
            files(self.inbox),
            ["cur/100.1_1.h,U=1:2,S", "cur/300.1_1.moved,U=3:2,S", "new/200.1_1.h,U=2"],
        )
        self.assertEqual(mailbox.uid_next, 4)
        [warning] = [text for text in logged(events) if "duplicate UID 1" in text]
        self.assertIn(f"{self.inbox}/cur/300.1_1.moved,U=1:2,S", warning)
        self.assertIn(f"{self.inbox}/cur/100.1_1.h,U=1:2,S", warning)
        self.assertIn("UID 3", warning)

    def test_beyond_highest(self) -> None:
        """
        Where mbsync dies with C{UID n is beyond highest assigned UID m},
        the file is numbered as a new message, with a warning.
        """
        self.prepare(2, "cur/100.1_1.h,U=1:2,S", "new/300.1_1.h,U=70")
        with capturedLogs() as events:
            self.open()
        self.assertEqual(files(self.inbox), ["cur/100.1_1.h,U=1:2,S", "new/300.1_1.h,U=3"])
        [warning] = [text for text in logged(events) if "beyond highest" in text]
        self.assertIn("UID 70", warning)
        self.assertIn(f"{self.inbox}/new/300.1_1.h,U=70", warning)

    def test_plan_prefers_cur(self) -> None:
        """
        Of equal names in C{cur/} and C{new/}, the one in C{cur/} keeps the
        UID.
        """
        plan = plan_uids(
            [FileEntry("new", "1.1_1.h,U=1"), FileEntry("cur", "1.1_1.h,U=1")], 1, True
        )
        self.assertEqual(plan.numbered, {1: FileEntry("cur", "1.1_1.h,U=1")})
        self.assertEqual(plan.fresh, [FileEntry("new", "1.1_1.h,U=1")])

    def test_new_files_seen_by_load(self) -> None:
        """
        Files delivered while the box is open are numbered by the next load.
        """
        self.prepare(0)
        mailbox = self.open()
        write(f"{self.inbox}/new/5.5_5.h")
        [info] = self.successResultOf(mailbox.load(LoadRequest()))
        self.assertEqual((info.uid, info.recent), (1, True))
        self.assertEqual(files(self.inbox), ["new/5.5_5.h,U=1"])

    def test_junk_entries(self) -> None:
        """
        Directories inside C{cur/} are ignored with a warning naming them,
        and left in place.
        """
        self.prepare(0, "cur/1.1_1.h:2,S")
        os.mkdir(f"{self.inbox}/cur/junk")
        with capturedLogs() as events:
            mailbox = self.open()
        self.assertEqual(
            [info.uid for info in self.successResultOf(mailbox.load(LoadRequest()))], [1]
        )
        self.assertTrue(any(f"{self.inbox}/cur/junk" in text for text in logged(events)))
        self.assertTrue(os.path.isdir(f"{self.inbox}/cur/junk"))

    def test_unreadable_file(self) -> None:
        """
        A file that cannot be read fails C{fetch} with L{MessageError} and
        a header load with L{MailboxError}, both naming it; it stays.
        """
        self.prepare(0, "cur/1.1_1.h:2,S")
        mailbox = self.open()
        path = f"{self.inbox}/cur/1.1_1.h,U=1:2,S"

        def refuse(*args: object, **kwargs: object) -> Any:
            raise PermissionError(13, "Permission denied", path)

        # chmod 000 does not stop root, so refuse the reads themselves.
        self.patch(maildirbox, "MaildirBody", refuse)
        self.patch(maildirbox, "read_tracking_headers", refuse)
        error = self.failureResultOf(mailbox.fetch(1), MessageError).value
        self.assertIn(path, str(error))
        request = LoadRequest(tuids=UIDInterval())
        self.assertIn(path, str(self.failureResultOf(mailbox.load(request), MailboxError).value))
        self.assertTrue(os.path.exists(path))

    def test_stale_tmp(self) -> None:
        """
        Opening removes C{tmp/} files whose ctime is 24 hours old, with
        mbsync's notice, and keeps younger ones.
        """
        self.prepare(0)
        stale = write(f"{self.inbox}/tmp/old")
        self.clock.advance(os.stat(stale).st_ctime + 24 * 3600 - self.clock.seconds())
        with capturedLogs() as events:
            self.open().close()
        self.assertEqual(os.listdir(f"{self.inbox}/tmp"), [])
        self.assertIn(f"Maildir notice: removing stale file {stale}", logged(events))
        young = write(f"{self.inbox}/tmp/young")
        self.clock.advance(os.stat(young).st_ctime + 24 * 3600 - 1 - self.clock.seconds())
        self.open().close()
        self.assertEqual(os.listdir(f"{self.inbox}/tmp"), ["young"])

    def test_race_guard(self) -> None:
        """
        If C{new/} was modified by someone else during the current second,
        the scan sleeps a second (on the clock) with mbsync's notice.
        """
        self.prepare(0, "new/1.1_1.h")
        mtime = int(os.stat(f"{self.inbox}/new").st_mtime)
        self.clock.advance(mtime - self.clock.seconds())
        with capturedLogs() as events:
            opening = self.store.open_box("INBOX")
            self.assertNoResult(opening)
            self.clock.advance(1)
        self.successResultOf(opening)
        self.assertIn(
            "Maildir notice: sleeping due to recent directory modification.", logged(events)
        )

    def test_own_changes_do_not_wait(self) -> None:
        """
        The store's own changes in the current second do not make the
        next scan wait.
        """
        self.clock.advance(int(os.stat(self.root).st_mtime) - self.clock.seconds())
        mailbox = self.open()
        self.put(mailbox)
        self.successResultOf(mailbox.set_flags([FlagChange(1, add=Flags.SEEN)]))
        self.assertEqual(len(self.successResultOf(mailbox.load(LoadRequest()))), 1)


class MailboxOperationTests(_MaildirTestCase):
    """
    Flags, trash, expunge, fetch and headers behave as mbsync's driver.
    """

    def test_set_flags_renames_into_cur(self) -> None:
        """
        Setting flags renames the file into C{cur/}, keeping other info
        letters (Dovecot keywords) in mbsync's order.
        """
        make_maildir(self.inbox)
        write(f"{self.inbox}/new/1.1_1.h")
        write(f"{self.inbox}/cur/2.1_1.h:2,Sa")
        mailbox = self.open()
        self.successResultOf(
            mailbox.set_flags(
                [FlagChange(1, add=Flags.SEEN), FlagChange(2, add=Flags.FLAGGED | Flags.DELETED)]
            )
        )
        self.assertEqual(files(self.inbox), ["cur/1.1_1.h,U=1:2,S", "cur/2.1_1.h,U=2:2,FSTa"])

    def test_set_flags_after_external_rename(self) -> None:
        """
        A file renamed by a MUA after the scan is found again.
        """
        mailbox = self.open()
        uid = self.put(mailbox)
        [name] = files(self.inbox)
        os.rename(f"{self.inbox}/{name}", f"{self.inbox}/cur/{name[4:-3]}:2,R")
        self.successResultOf(mailbox.set_flags([FlagChange(uid, add=Flags.SEEN)]))
        self.assertEqual(files(self.inbox), [f"cur/{name[4:-3]}:2,RS"])
        body = self.successResultOf(mailbox.fetch(uid))
        self.assertEqual(body.flags, Flags.ANSWERED | Flags.SEEN)

    def test_trash_naming(self) -> None:
        """
        Trashing renames into the Trash box (created) with a fresh base
        name without C{,U=}, keeping the info part and new/ or cur/.
        """
        mailbox = self.open()
        seen = self.put(mailbox, Flags.SEEN | Flags.DELETED)
        unseen = self.put(mailbox, Flags.DELETED)
        self.assertEqual(self.successResultOf(mailbox.trash([seen, unseen], "Trash")), [1, 2])
        self.assertEqual(files(self.inbox), [])
        names = files(f"{self.root}/Trash")
        self.assertEqual(len(names), 2)
        self.assertRegex(names[0], rf"^cur/{NOW}\.{PID}_\d+\.vm:2,ST$")
        self.assertRegex(names[1], rf"^new/{NOW}\.{PID}_\d+\.vm:2,T$")

    def test_trash_into_itself(self) -> None:
        """
        Trashing into the open box itself fails with L{MailboxError}.
        """
        mailbox = self.open()
        self.put(mailbox)
        self.failureResultOf(mailbox.trash([1], "INBOX"), MailboxError)

    def test_expunge_only_deleted(self) -> None:
        """
        Expunge unlinks exactly the files carrying C{T}; one whose C{T} was
        removed behind our back stays.
        """
        mailbox = self.open()
        keep = self.put(mailbox, Flags.SEEN)
        gone = self.put(mailbox, Flags.SEEN | Flags.DELETED)
        undeleted = self.put(mailbox, Flags.DELETED)
        [name] = [name for name in files(self.inbox) if name.startswith("new/")]
        os.rename(f"{self.inbox}/{name}", f"{self.inbox}/cur/{name[4:-3]}:2,")
        self.assertEqual(self.successResultOf(mailbox.expunge()), [gone])
        remaining = [info.uid for info in self.successResultOf(mailbox.load(LoadRequest()))]
        self.assertEqual(remaining, [keep, undeleted])

    def test_big_message_streamed(self) -> None:
        """
        A 5 MB message is written from chunks and fetched in chunks of at
        most 64 KiB, byte for byte, twice; its headers are read without the
        body.
        """
        line = b"x" * 99 + b"\n"
        data = MESSAGE + line * (5 * 1024 * 1024 // len(line))
        mailbox = self.open()
        uid = self.successResultOf(mailbox.store(BytesSource(data, 8192), Flags.NONE))
        assert uid is not None
        body = self.successResultOf(mailbox.fetch(uid))
        assert isinstance(body, MaildirBody)
        chunks = self.read(body)
        self.assertGreater(len(chunks), 70)
        self.assertLessEqual(max(len(chunk) for chunk in chunks), 64 * 1024)
        self.assertTrue(b"".join(chunks) == data)
        self.assertTrue(b"".join(self.read(body)) == data)
        body.close()
        every = UIDInterval()
        [info] = self.successResultOf(
            mailbox.load(LoadRequest(sizes=every, tuids=every, message_ids=every))
        )
        self.assertEqual(
            (info.size, info.tuid, info.message_id), (len(data), "abcdefghijkl", "<m@example.org>")
        )

    def test_body_survives_rename(self) -> None:
        """
        A fetched body reads the same bytes after its file was renamed.
        """
        mailbox = self.open()
        uid = self.put(mailbox)
        body = self.successResultOf(mailbox.fetch(uid))
        self.successResultOf(mailbox.set_flags([FlagChange(uid, add=Flags.SEEN)]))
        self.assertEqual(b"".join(self.read(body)), MESSAGE)


class BoxTests(_MaildirTestCase):
    """
    Box names, creation, deletion and listing.
    """

    def test_path_escape_refused(self) -> None:
        """
        Names that would leave Path or Inbox fail with L{MailboxError}
        naming the mailbox, and create nothing.
        """
        for name in ("../evil", "a/../../evil", "/abs", "a\0b", "INBOX/../x"):
            for deferred in (
                self.store.open_box(name, create=True),
                self.store.create_box(name),
                self.store.append(name, BytesSource(MESSAGE), Flags.NONE),
            ):
                error = self.failureResultOf(deferred, MailboxError).value
                self.assertIn(name, str(error))
        self.assertEqual(os.listdir(self.root), [])
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(self.root), "evil")))

    def test_open_missing(self) -> None:
        """
        A folder without C{cur/} is missing.
        """
        os.makedirs(f"{self.root}/NoCur/new")
        self.failureResultOf(self.store.open_box("NoCur"), MailboxMissing)

    def test_open_adds_new_and_tmp(self) -> None:
        """
        A box with only C{cur/} gets C{new/} and C{tmp/}.
        """
        os.makedirs(f"{self.root}/Only/cur")
        self.open("Only", create=False)
        self.assertEqual(
            sorted(os.listdir(f"{self.root}/Only")), [".uidvalidity", "cur", "new", "tmp"]
        )

    def test_delete_box(self) -> None:
        """
        Deleting removes C{tmp/}, C{new/}, C{cur/} with their files and
        C{.uidvalidity}, keeping subfolders (and so the directory).
        """
        self.successResultOf(self.store.create_box("A/B"))
        self.successResultOf(self.store.append("A", BytesSource(MESSAGE), Flags.SEEN))
        self.successResultOf(self.store.close())
        self.store, self.clock = make_store(self.root)
        self.open("A").close()
        self.successResultOf(self.store.delete_box("A"))
        self.assertEqual(os.listdir(f"{self.root}/A"), ["B"])
        self.successResultOf(self.store.delete_box("A/B"))
        self.assertFalse(os.path.exists(f"{self.root}/A/B"))
        self.assertEqual(self.successResultOf(self.store.list_boxes()), [])

    def test_delete_inbox_refused(self) -> None:
        """
        The inbox cannot be deleted.
        """
        make_maildir(self.inbox)
        self.failureResultOf(self.store.delete_box("INBOX"), MailboxError)
        self.assertTrue(os.path.isdir(f"{self.inbox}/cur"))

    def test_depth_limit(self) -> None:
        """
        Listing fails with mbsync's message on a folder nested
        L{MAX_LIST_DEPTH} deep (a symlink loop, say).
        """
        os.makedirs(f"{self.root}/loop")
        os.symlink("..", f"{self.root}/loop/again")
        error = self.failureResultOf(self.store.list_boxes(), MailboxError).value
        self.assertIn("is too deeply nested. Symlink loop?", str(error))

    def test_map_inbox_and_flatten(self) -> None:
        """
        With C{MapInbox} the inbox is listed under its alias (shadowing a
        folder of that name); with C{Flatten} the delimiter becomes C{/}.
        """
        make_maildir(f"{self.root}/INBOX")
        make_maildir(f"{self.root}/Alias")
        make_maildir(f"{self.root}/a.b")
        store, _ = make_store(self.root, None, map_inbox="Alias", flatten=".")
        self.assertEqual(self.successResultOf(store.list_boxes()), ["Alias", "a/b"])
        mailbox = self.successResultOf(store.open_box("Alias"))
        self.assertEqual(mailbox.uid_next, 1)
        self.assertTrue(os.path.exists(f"{self.root}/INBOX/.uidvalidity"))
        self.successResultOf(store.close())


def _tree(root: str) -> None:
    """
    The folder tree the listing comparisons use (observed with C{mbsync -l}).
    """
    for folder in (
        "INBOX",
        "INBOX/sub",
        "INBOX/.lsub",
        "INBOX2",
        "top",
        "top/kid",
        "top/.dot",
        "nobox/kid2",
        "nobox/.k3",
        "plain/x",
        "inbox",
        "inbox/.a.b",
        "inbox/..kid",
        "inbox/.INBOX",
        "inbox/nodot",
    ):
        make_maildir(f"{root}/{folder}")
    os.makedirs(f"{root}/top/cur/notabox/cur")


class ListingTests(SynchronousTestCase):
    """
    Listings in each style equal what mbsync 1.4.4 listed for the same tree.
    """

    def listing(self, subfolders: schema.SubFolders | None) -> list[str]:
        """
        List the test tree in a style.
        """
        root = os.path.abspath(self.mktemp())
        _tree(root)
        store = make_store(root, subfolders)[0]
        boxes: list[str] = self.successResultOf(store.list_boxes())
        return boxes

    def test_verbatim(self) -> None:
        """
        Verbatim lists every folder with C{cur/}, dot folders included.
        """
        self.assertEqual(
            self.listing(schema.SubFolders.VERBATIM),
            [
                "INBOX",
                "INBOX/.lsub",
                "INBOX/sub",
                "INBOX2",
                "inbox",
                "inbox/..kid",
                "inbox/.INBOX",
                "inbox/.a.b",
                "inbox/nodot",
                "nobox/.k3",
                "nobox/kid2",
                "plain/x",
                "top",
                "top/.dot",
                "top/kid",
            ],
        )

    def test_legacy(self) -> None:
        """
        Legacy lists subfolders only with their C{.}, which it strips.
        """
        self.assertEqual(
            self.listing(schema.SubFolders.LEGACY),
            [
                "INBOX",
                "INBOX/lsub",
                "INBOX2",
                "inbox",
                "inbox/.kid",
                "inbox/INBOX",
                "inbox/a.b",
                "nobox/k3",
                "top",
                "top/dot",
            ],
        )

    def test_maildirpp(self) -> None:
        """
        Maildir++ lists the C{.} entries of Inbox, ignoring C{.INBOX} with
        mbsync's warning.
        """
        with capturedLogs() as events:
            listed = self.listing(schema.SubFolders.MAILDIRPP)
        self.assertEqual(listed, ["INBOX", "INBOX/kid", "a/b"])
        self.assertTrue(any("ignoring INBOX in" in text for text in logged(events)))

    def test_unset_style(self) -> None:
        """
        Without a style, a nested folder without C{.} fails the listing
        with mbsync's message.
        """
        root = os.path.abspath(self.mktemp())
        _tree(root)
        store = make_store(root, None)[0]
        error = self.failureResultOf(store.list_boxes(), MailboxError).value
        self.assertIn("does not specify SubFolders style", str(error))

    def test_inbox_under_path_ignored(self) -> None:
        """
        A literal C{INBOX} folder under Path that is not the Inbox is
        ignored with mbsync's warning.
        """
        root = os.path.abspath(self.mktemp())
        make_maildir(f"{root}/mail/INBOX")
        make_maildir(f"{root}/mail/Sent")
        make_maildir(f"{root}/inbox")
        config = schema.MaildirStore(
            name="md",
            inbox=f"{root}/inbox",
            path=f"{root}/mail/",
            subfolders=schema.SubFolders.VERBATIM,
        )
        store = MaildirStore(config, fsync=False, clock=Clock())
        with capturedLogs() as events:
            self.assertEqual(self.successResultOf(store.list_boxes()), ["INBOX", "Sent"])
        self.assertIn(f"Maildir warning: ignoring INBOX in {root}/mail/", logged(events))


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
        _tree(tree)
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
        self.assertEqual(files(f"{self.root}/ours/INBOX"), files(f"{self.root}/theirs/INBOX"))
        self.successResultOf(store.close())

        # What mbsync stored on the near side, in far UID order:
        theirs = f"{self.root}/near/INBOX"
        stored = sorted(files(theirs), key=lambda name: int(name.split(",U=")[1].split(":")[0]))
        first = _NAME.match(stored[0])
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
            match = _NAME.match(name)
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
        Where mbsync refuses a box with a duplicate UID, msync repairs it.
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
