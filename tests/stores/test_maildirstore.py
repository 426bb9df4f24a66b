# -*- test-case-name: tests.stores.test_maildirstore -*-
"""
Tests for L{msync.stores.maildirstore} and its helpers (L{maildirbox},
L{maildirfiles}, L{maildiruids}): the store contract in every SubFolders
style, and Maildir specifics checked against what mbsync 1.4.4 writes.
UIDVALIDITY and scanning are tested in L{tests.stores.test_maildiruids}.

The unit tests use a L{Clock} set to L{NOW}, far from the real time of the
files they create, so mbsync's race guard never waits unless a test asks
for it. L{tests.integration.test_maildirstore_mbsync} runs the real mbsync on
scratch Maildir-to-Maildir channels and compares its results with ours.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from msync.config import schema
from msync.errors import MailboxError, MailboxMissing, MessageError, shown_name
from msync.model import ALL_FLAGS, FlagChange, Flags, LoadRequest, UIDInterval
from msync.stores.interface import BytesSource
from msync.stores.maildirbox import MaildirMailbox
from msync.stores.maildirfiles import WHOLE_IN_THREAD, MaildirBody, listing_order
from msync.stores.maildirnames import new_name, new_subdir
from msync.stores.maildirstore import MaildirStore
from tests.stores.contract import StoreContractTests
from tests.stores.maildirfixtures import (
    HOST,
    MBSYNC_NAME,
    MESSAGE,
    NOW,
    PID,
    MaildirTestCase,
    files,
    logged,
    make_maildir,
    make_store,
    make_tree,
    write,
)


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


class StoreNamingTests(MaildirTestCase):
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
            match = MBSYNC_NAME.match(name)
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

    def test_placement_is_new_name(self) -> None:
        """
        The names the store makes (its flag-dependent parts made once per
        combination) are L{new_name}'s and L{new_subdir}'s for every flag
        combination, with and without a UID, for the flags a name holds
        only, and with another info delimiter.
        """
        for delimiter in (":", ";"):
            self.store._delimiter = delimiter
            self.store._places.clear()
            for bits in range(1 << len(Flags)):
                for uid in (None, 1, 4294967295):
                    flags = Flags(bits)
                    subdir, name = self.store._placement(uid, flags)
                    match = re.match(r"([0-9]+)\.([0-9]+)_([0-9]+)\.", name)
                    assert match is not None, name
                    stamp, pid, counter = (int(each) for each in match.groups())
                    self.assertEqual((stamp, pid), (NOW, PID))
                    shown = flags & ALL_FLAGS
                    self.assertEqual(
                        (subdir, name),
                        (
                            new_subdir(shown),
                            new_name(NOW, PID, counter, HOST, uid, shown, delimiter),
                        ),
                    )

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

    def test_uidvalidity_file_isync15(self) -> None:
        """
        Following isync 1.5, the notice names the box's directory; the
        file is written all the same.
        """
        self.store.isync15 = True
        with capturedLogs() as events:
            mailbox = self.open()
        self.assertIn(
            f"Maildir notice: no UIDVALIDITY in {self.inbox}, creating new.", logged(events)
        )
        mailbox.close()
        with open(f"{self.inbox}/.uidvalidity", "rb") as handle:
            self.assertEqual(handle.read(), f"{NOW}\n0\n".encode())

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
        without C{,U=} (as mbsync's Trash copies); the next load that wants
        new messages numbers it, not the open alone (as mbsync).
        """
        self.successResultOf(self.store.append("Trash", BytesSource(MESSAGE), Flags.SEEN))
        [name] = files(f"{self.root}/Trash")
        self.assertRegex(name, rf"^cur/{NOW}\.{PID}_\d+\.vm:2,S$")
        trash = self.open("Trash", create=False)
        self.assertEqual(files(f"{self.root}/Trash"), [name])
        self.successResultOf(trash.load(LoadRequest(max_uid=0)))
        self.assertEqual(files(f"{self.root}/Trash"), [name])
        self.successResultOf(trash.load(LoadRequest()))
        [name] = files(f"{self.root}/Trash")
        self.assertRegex(name, rf"^cur/{NOW}\.{PID}_\d+\.vm,U=1:2,S$")


class MailboxOperationTests(MaildirTestCase):
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
        self.successResultOf(mailbox.load(LoadRequest()))
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

    def _recent(self, subdir: str) -> None:
        """
        Set the clock to the second in which C{subdir} of the inbox was
        last modified (a scan then waits unless the change is known as
        ours).
        """
        mtime = os.stat(f"{self.inbox}/{subdir}").st_mtime_ns // 1_000_000_000
        self.clock.advance(mtime - self.clock.seconds())

    def _age(self, subdir: str) -> None:
        """
        Set C{subdir}'s modification time an hour back: a foreign change
        made by the test no longer counts as recent.
        """
        path = f"{self.inbox}/{subdir}"
        old = os.stat(path).st_mtime - 3600
        os.utime(path, (old, old))

    def _three_messages(self, *names: str) -> MaildirMailbox:
        """
        The inbox opened with the message files C{names} (relative to it,
        UIDs 1 to 3, the last one assigned 3).
        """
        make_maildir(self.inbox)
        for name in names:
            write(f"{self.inbox}/{name}")
        write(f"{self.inbox}/.uidvalidity", b"1\n3\n")
        return self.open()

    def _assert_times_known(self, mailbox: MaildirMailbox) -> None:
        """
        The box knows the directories' current times as its own (the race
        guard does not wait for them).
        """
        self.assertEqual(
            mailbox._known,
            {subdir: os.stat(f"{self.inbox}/{subdir}").st_mtime_ns for subdir in ("new", "cur")},
        )

    def test_set_flags_batch_rescans_midway(self) -> None:
        """
        In a batch of flag changes, a file renamed by a MUA after the scan
        is found by one rescan and renamed; the batch's earlier renames
        are known as ours before that rescan (it does not wait for them)
        and the directories' times are noted after the batch.
        """
        mailbox = self._three_messages(
            "cur/1.1_1.h,U=1:2,", "cur/2.1_1.h,U=2:2,", "cur/3.1_1.h,U=3:2,"
        )
        os.rename(f"{self.inbox}/cur/2.1_1.h,U=2:2,", f"{self.inbox}/cur/2.1_1.h,U=2:2,R")
        self._age("cur")
        os.rename(f"{self.inbox}/cur/1.1_1.h,U=1:2,", f"{self.inbox}/cur/1.1_1.h,U=1:2,P")
        self._recent("cur")
        os.rename(f"{self.inbox}/cur/1.1_1.h,U=1:2,P", f"{self.inbox}/cur/1.1_1.h,U=1:2,")
        self._age("cur")
        changes = [FlagChange(uid, add=Flags.SEEN) for uid in (1, 2, 3)]
        with capturedLogs() as events:
            self.successResultOf(mailbox.set_flags(changes))
        self.assertNotIn(
            "Maildir notice: sleeping due to recent directory modification.", logged(events)
        )
        self.assertEqual(
            files(self.inbox),
            ["cur/1.1_1.h,U=1:2,S", "cur/2.1_1.h,U=2:2,RS", "cur/3.1_1.h,U=3:2,S"],
        )
        self._assert_times_known(mailbox)
        body = self.successResultOf(mailbox.fetch(2))
        self.assertEqual(body.flags, Flags.ANSWERED | Flags.SEEN)

    def test_set_flags_batch_file_gone(self) -> None:
        """
        A file deleted after the scan is looked for by one rescan and
        skipped; the rest of the batch is renamed.
        """
        mailbox = self._three_messages("new/1.1_1.h,U=1", "new/2.1_1.h,U=2", "cur/3.1_1.h,U=3:2,S")
        os.unlink(f"{self.inbox}/new/2.1_1.h,U=2")
        changes = [
            FlagChange(1, add=Flags.FLAGGED),
            FlagChange(2, add=Flags.FLAGGED),
            FlagChange(3, remove=Flags.SEEN),
        ]
        self.successResultOf(mailbox.set_flags(changes))
        self.assertEqual(files(self.inbox), ["cur/1.1_1.h,U=1:2,F", "cur/3.1_1.h,U=3:2,"])
        self._assert_times_known(mailbox)
        listed = self.successResultOf(mailbox.load(LoadRequest()))
        self.assertEqual(
            [(info.uid, info.flags) for info in listed], [(1, Flags.FLAGGED), (3, Flags.NONE)]
        )

    def test_set_flags_batch_fails_midway(self) -> None:
        """
        A rename that fails stops the batch with mbsync's error; the
        renames before it stay indexed and their directories' times are
        known as ours (the next scan does not wait for them).
        """
        mailbox = self._three_messages(
            "new/1.1_1.h,U=1", "cur/2.1_1.h,U=2:2,", "cur/3.1_1.h,U=3:2,"
        )
        # The second's new name is taken by a directory: its rename fails.
        blocker = f"{self.inbox}/cur/2.1_1.h,U=2:2,S"
        os.mkdir(blocker)
        write(f"{blocker}/x")
        self._age("cur")
        changes = [FlagChange(uid, add=Flags.SEEN) for uid in (1, 2, 3)]
        failure = self.failureResultOf(mailbox.set_flags(changes), MailboxError)
        self.assertIn("Maildir error: cannot rename", str(failure.value))
        self.assertIn("2.1_1.h,U=2:2,", str(failure.value))
        self._assert_times_known(mailbox)
        self.assertEqual(self.successResultOf(mailbox.fetch(1)).flags, Flags.SEEN)
        self.assertEqual(self.successResultOf(mailbox.fetch(3)).flags, Flags.NONE)
        self._recent("cur")
        with capturedLogs() as events:
            listed = self.successResultOf(mailbox.load(LoadRequest()))
        self.assertNotIn(
            "Maildir notice: sleeping due to recent directory modification.", logged(events)
        )
        self.assertEqual(
            [(info.uid, info.flags) for info in listed],
            [(1, Flags.SEEN), (2, Flags.NONE), (3, Flags.NONE)],
        )

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
        Trashing into the open box itself renames the file in place under a
        fresh name without C{,U=}, as mbsync 1.4.4 does when the Trash box
        is synchronized too: the message stays, its old UID is gone.
        """
        mailbox = self.open()
        self.put(mailbox)
        self.assertEqual(self.successResultOf(mailbox.trash([1], "INBOX")), [1])
        names = files(self.inbox)
        self.assertEqual(len(names), 1)
        self.assertNotIn(",U=", names[0])

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


class BoxTests(MaildirTestCase):
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
                self.assertIn(shown_name(name), str(error))
        self.assertEqual(os.listdir(self.root), [])
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(self.root), "evil")))

    def test_open_missing(self) -> None:
        """
        A folder without C{cur/} is missing.
        """
        os.makedirs(f"{self.root}/NoCur/new")
        self.failureResultOf(self.store.open_box("NoCur"), MailboxMissing)

    def test_open_missing_inbox_creates_it(self) -> None:
        """
        INBOX is created when missing even without C{create}, as mbsync's
        C{maildir_open_box} does (it validates INBOX with create set).
        """
        self.assertFalse(os.path.exists(self.inbox))
        mailbox = self.open("INBOX", create=False)
        self.assertEqual(mailbox.name, "INBOX")
        self.assertEqual(sorted(os.listdir(self.inbox)), [".uidvalidity", "cur", "new", "tmp"])

    def test_nested_box_parents_private(self) -> None:
        """
        Creating C{x/y/z} creates C{x} and C{x/y} mode 0700 like the box and
        its subdirectories, whatever the umask (mbsync 1.4.4, verified:
        C{os.makedirs} gave the parents 0755); existing parents are kept.
        """
        old = os.umask(0o022)
        self.addCleanup(os.umask, old)
        os.mkdir(f"{self.root}/kept", 0o755)
        self.successResultOf(self.store.create_box("x/y/z"))
        self.successResultOf(self.store.create_box("kept/a/b"))
        for directory in ("x", "x/y", "x/y/z", "x/y/z/cur", "x/y/z/new", "kept/a", "kept/a/b"):
            mode = os.stat(f"{self.root}/{directory}").st_mode & 0o777
            self.assertEqual(mode, 0o700, directory)
        self.assertEqual(os.stat(f"{self.root}/kept").st_mode & 0o777, 0o755)

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


class ListingTests(SynchronousTestCase):
    """
    Listings in each style equal what mbsync 1.4.4 listed for the same tree.
    """

    def test_listing_order_isync15(self) -> None:
        """
        L{listing_order}: isync 1.5's C{--list-stores} order is the reverse
        of discovery: Path's folders depth first in directory order (the
        nested Inbox skipped), then INBOX and its folders; INBOX is listed
        even when it does not exist.
        """
        root = os.path.abspath(self.mktemp())
        for folder in ("a", "b/c", "INBOX/sub", "d"):
            make_maildir(os.path.join(root, folder))
        store = make_store(root)[0]
        boxes: list[str] = self.successResultOf(store.list_boxes())
        found = []
        for entry in os.listdir(root):
            found += {"a": ["a"], "b": ["b/c"], "d": ["d"]}.get(entry, [])
        expected = ["INBOX/sub", "INBOX", *reversed(found)]
        self.assertEqual(listing_order(store.layout, boxes), expected)
        self.assertEqual(
            listing_order(replace(store.layout, inbox=f"{root}/none"), ["a"])[:1], ["INBOX"]
        )

    def listing(self, subfolders: schema.SubFolders | None) -> list[str]:
        """
        List the test tree in a style.
        """
        root = os.path.abspath(self.mktemp())
        make_tree(root)
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
        make_tree(root)
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


def tree_snapshot(root: str) -> dict[str, tuple[str, int, int, bytes]]:
    """
    Everything on disk under C{root}: per relative path its kind, mode,
    modification time (ns) and, for files, contents.
    """
    seen: dict[str, tuple[str, int, int, bytes]] = {}
    for directory, subdirs, names in os.walk(root):
        for name in subdirs + names:
            path = os.path.join(directory, name)
            status = os.lstat(path)
            kind = "dir" if name in subdirs else "file"
            data = b""
            if kind == "file":
                with open(path, "rb") as handle:
                    data = handle.read()
            seen[os.path.relpath(path, root)] = (kind, status.st_mode, status.st_mtime_ns, data)
    return seen


class ReadOnlyTests(MaildirTestCase):
    """
    A box opened read-only (C{--dry-run}) changes nothing on disk and gives
    the files a read-write open would number the UIDs it would give them.
    """

    def read_only(self, box: str = "INBOX") -> MaildirMailbox:
        """
        Open a box read-only.
        """
        mailbox = self.successResultOf(self.store.open_box(box, read_only=True))
        assert isinstance(mailbox, MaildirMailbox)
        self.assertTrue(mailbox.read_only)
        return mailbox

    def contents(self, mailbox: MaildirMailbox) -> dict[int, bytes]:
        """
        Every message of an open box by UID, read through the box.
        """
        infos = self.successResultOf(mailbox.load(LoadRequest()))
        return {
            info.uid: b"".join(self.read(self.successResultOf(mailbox.fetch(info.uid))))
            for info in infos
        }

    def test_provisional_uids_change_nothing(self) -> None:
        """
        Files without C{,U=} get provisional UIDs above the recorded last
        UID, the same at every load and the same a read-write open then
        gives them; no file is renamed, no stale C{tmp/} file removed, no
        lock file or directory touched (modification times included).
        """
        mailbox = self.open()
        self.put(mailbox, Flags.SEEN, b"Subject: numbered\n\nold\n")
        self.successResultOf(mailbox.close())
        write(f"{self.inbox}/new/1500000000.1_1.other", b"Subject: a\n\nfirst\n")
        write(f"{self.inbox}/cur/1500000001.1_1.other:2,FS", b"Subject: b\n\nsecond\n")
        stale = write(f"{self.inbox}/tmp/1400000000.1_1.other", b"half")
        # Far beyond the stale file's ctime: a read-write open removes it.
        self.clock.advance(os.stat(stale).st_ctime - NOW + 3 * 86400)
        before = tree_snapshot(self.root)
        box = self.read_only()
        self.assertEqual(box.uid_next, 4)
        seen = self.contents(box)
        self.assertEqual(self.contents(box), seen)
        self.assertEqual(self.successResultOf(box.find_by_tuid(["abcdefghijkl"], 1)), {})
        self.assertEqual(sorted(seen), [1, 2, 3])
        self.successResultOf(box.close())
        self.assertEqual(tree_snapshot(self.root), before)
        writable = self.open(create=False)
        self.successResultOf(writable.load(LoadRequest()))
        self.assertEqual(writable.uid_next, 4)
        self.assertEqual(self.contents(writable), seen)
        self.assertFalse(os.path.exists(stale))

    def test_no_uidvalidity_no_subdirs(self) -> None:
        """
        Without C{.uidvalidity} the box reports a UIDVALIDITY from the clock
        and numbers every file from 1 (as a read-write open would, which
        ignores their old C{,U=}), without creating C{.uidvalidity},
        C{new/} or C{tmp/}; the read-write open agrees.
        """
        write(f"{self.inbox}/cur/1500000000.1_1.other,U=7:2,S", b"Subject: a\n\nfirst\n")
        write(f"{self.inbox}/cur/1500000001.1_1.other:2,", b"Subject: b\n\nsecond\n")
        before = tree_snapshot(self.root)
        box = self.read_only()
        self.assertEqual((box.uid_validity, box.uid_next), (NOW, 3))
        seen = self.contents(box)
        self.successResultOf(box.close())
        self.assertEqual(tree_snapshot(self.root), before)
        writable = self.open(create=False)
        self.assertEqual((writable.uid_validity, writable.uid_next), (NOW, 3))
        self.assertEqual(self.contents(writable), seen)

    def test_missing_inbox(self) -> None:
        """
        A missing INBOX, which a read-write open creates, opens empty and
        is not created; other missing boxes are L{MailboxMissing}.
        """
        box = self.read_only()
        self.assertEqual(self.successResultOf(box.load(LoadRequest())), [])
        self.successResultOf(box.close())
        self.failureResultOf(self.store.open_box("Other", read_only=True), MailboxMissing)
        self.assertEqual(os.listdir(self.root), [])

    def test_no_lock(self) -> None:
        """
        A read-only box takes no C{.uidvalidity} lock: another store opens
        the box read-write meanwhile, without waiting.
        """
        self.successResultOf(self.open().close())
        box = self.read_only()
        other, _ = make_store(self.root)
        self.addCleanup(other.close)
        writable = self.successResultOf(other.open_box("INBOX"))
        self.successResultOf(writable.close())
        self.successResultOf(box.close())


class OverlappedStoreTests(MaildirTestCase):
    """
    With C{in_thread} (the reactor's thread pool in real runs), stores
    overlap: UIDs are taken in call order, each file is created, synced and
    renamed into place by its own blocking job, after the C{.uidvalidity}
    record of its UID (one record serving every UID promised so far), and
    other operations wait for them.
    """

    def setUp(self) -> None:
        super().setUp()
        self.pending: list[tuple[Callable[[], object], Deferred[object]]] = []

        def in_thread(work: Callable[[], object]) -> Deferred[object]:
            waiting: Deferred[object] = Deferred()
            self.pending.append((work, waiting))
            return waiting

        self.store.in_thread = in_thread

    def run_job(self, index: int) -> None:
        work, waiting = self.pending.pop(index)
        try:
            result = work()
        except Exception as error:
            waiting.errback(error)
        else:
            waiting.callback(result)

    def recorded(self) -> bytes:
        with open(f"{self.inbox}/.uidvalidity", "rb") as handle:
            return handle.read().split(b"\n")[1]

    def test_overlap(self) -> None:
        """
        Both messages wait for their jobs, nothing in C{tmp/} yet; the
        second's job records UID 2 (covering UID 1 as well) and puts its
        file in place first; a load called meanwhile answers only after
        both.
        """
        mailbox = self.open()
        first = mailbox.store(BytesSource(b"Subject: 1\n\none\n"), Flags.NONE)
        second = mailbox.store(BytesSource(b"Subject: 2\n\ntwo\n"), Flags.NONE)
        self.assertEqual(len(self.pending), 2)
        self.assertEqual(os.listdir(f"{self.inbox}/tmp"), [])
        self.assertEqual(self.recorded(), b"0")
        loaded = mailbox.load(LoadRequest())
        self.assertNoResult(loaded)
        self.run_job(1)  # file 2 first
        self.assertEqual(self.recorded(), b"2")
        self.assertEqual(self.successResultOf(second), 2)
        self.assertNoResult(first)
        self.assertNoResult(loaded)
        self.assertEqual(len(files(self.inbox)), 1)
        self.run_job(0)
        self.assertEqual(self.successResultOf(first), 1)
        self.assertEqual([info.uid for info in self.successResultOf(loaded)], [1, 2])
        self.assertEqual(os.listdir(f"{self.inbox}/tmp"), [])
        self.assertEqual(len(files(self.inbox)), 2)
        self.assertEqual(self.recorded(), b"2")

    def test_big_message(self) -> None:
        """
        A message above L{WHOLE_IN_THREAD} is streamed from the caller's
        thread: one job creates the file (after the UID's record), the
        caller writes it, a second job syncs and renames it.
        """
        body = b"Subject: big\n\n" + b"x" * WHOLE_IN_THREAD
        mailbox = self.open()
        stored = mailbox.store(BytesSource(body), Flags.SEEN)
        self.assertEqual(len(self.pending), 1)
        self.run_job(0)
        self.assertEqual(self.recorded(), b"1")
        self.assertEqual(len(self.pending), 1)
        (name,) = os.listdir(f"{self.inbox}/tmp")
        with open(f"{self.inbox}/tmp/{name}", "rb") as handle:
            self.assertEqual(handle.read(), body)
        self.assertNoResult(stored)
        self.run_job(0)
        self.assertEqual(self.successResultOf(stored), 1)
        self.assertEqual(os.listdir(f"{self.inbox}/tmp"), [])
        self.assertEqual(os.listdir(f"{self.inbox}/cur"), [name])

    def test_failed_job(self) -> None:
        """
        A file that cannot be created fails the store with mbsync's error;
        its UID stays recorded (as mbsync records it before the file).
        """
        mailbox = self.open()
        os.rmdir(f"{self.inbox}/tmp")
        stored = mailbox.store(BytesSource(b"Subject: 1\n\none\n"), Flags.NONE)
        self.run_job(0)
        failure = self.failureResultOf(stored, MailboxError)
        self.assertIn("cannot create", str(failure.value))
        self.assertEqual(self.recorded(), b"1")
