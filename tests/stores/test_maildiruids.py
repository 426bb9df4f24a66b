# -*- test-case-name: tests.stores.test_maildiruids -*-
"""
Tests for L{msync.stores.maildiruids} and the opening of a Maildir box in
L{msync.stores.maildirbox}: C{.uidvalidity} and its lock, and scanning,
which numbers foreign files and repairs stray UIDs as mbsync 1.4.4 does.

The tests use a L{Clock} set to L{NOW}, far from the real time of the files
they create, so mbsync's race guard never waits unless a test asks for it.
"""

from __future__ import annotations

import os
import random
import re
from typing import Any

from twisted.logger import capturedLogs

from msync.errors import MailboxError, MessageError
from msync.model import FlagChange, Flags, LoadRequest, UIDInterval
from msync.stores import maildirbox
from msync.stores.maildiruids import LOCK_POLL_INTERVAL, FileEntry, plan_uids, same_bytes
from tests.stores.maildirfixtures import (
    MaildirTestCase,
    files,
    logged,
    make_maildir,
    make_store,
    write,
)


class UIDValidityTests(MaildirTestCase):
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


class ScanTests(MaildirTestCase):
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
        infos = self.successResultOf(mailbox.load(LoadRequest()))
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
        self.assertEqual(
            [(info.uid, info.flags, info.recent) for info in infos],
            [(1, Flags.SEEN, False), (2, Flags.SEEN, False), (3, 0, True), (4, 0, True)],
        )

    def test_duplicate_uid_copy(self) -> None:
        """
        Files carrying one UID with the same bytes (a MUA's copy, a restored
        backup): the original (earliest name) keeps the UID and the copy is
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
        self.assertIn(f"{self.inbox}/cur/300.1_1.moved,U=1:2,S is a copy of", warning)
        self.assertIn(f"{self.inbox}/cur/100.1_1.h,U=1:2,S", warning)
        self.assertIn("UID 3", warning)

    def test_duplicate_uid_different_content_refused(self) -> None:
        """
        Issue 8: a file renamed to carry another's C{,U=} (message 3's file
        now says C{U=1}): which file the state pairs with UID 1 is in doubt,
        so the box is refused with mbsync 1.4.4's exact error, and nothing
        is renamed or recorded; read-only too.
        """
        make_maildir(self.inbox)
        write(f"{self.inbox}/.uidvalidity", b"1\n3\n")
        write(f"{self.inbox}/cur/100.1_1.h,U=1:2,S", b"Message-ID: <m1@x>\n\none\n")
        write(f"{self.inbox}/cur/100.1_2.h,U=2:2,S", b"Message-ID: <m2@x>\n\ntwo\n")
        write(f"{self.inbox}/cur/100.1_3.h,U=1:2,S", b"Message-ID: <m3@x>\n\nthree\n")
        before = files(self.inbox)
        for read_only in (False, True):
            error = self.failureResultOf(
                self.store.open_box("INBOX", read_only=read_only), MailboxError
            ).value
            self.assertEqual(str(error), "Maildir error: duplicate UID 1.")
            self.assertEqual(files(self.inbox), before)
            with open(f"{self.inbox}/.uidvalidity", "rb") as handle:
                self.assertEqual(handle.read(), b"1\n3\n")
        # The lock was released: the box opens once the user resolves it.
        os.rename(f"{self.inbox}/cur/100.1_3.h,U=1:2,S", f"{self.inbox}/cur/100.1_3.h,U=3:2,S")
        mailbox = self.open()
        infos = self.successResultOf(mailbox.load(LoadRequest()))
        self.assertEqual([info.uid for info in infos], [1, 2, 3])

    def test_duplicate_uid_same_size_different_bytes(self) -> None:
        """
        Files of one size but different bytes are not copies.
        """
        make_maildir(self.inbox)
        write(f"{self.inbox}/.uidvalidity", b"1\n1\n")
        write(f"{self.inbox}/new/100.1_1.h,U=1", b"aaaa")
        write(f"{self.inbox}/new/200.1_1.h,U=1", b"aaab")
        error = self.failureResultOf(self.store.open_box("INBOX"), MailboxError).value
        self.assertEqual(str(error), "Maildir error: duplicate UID 1.")

    def test_duplicate_appearing_later(self) -> None:
        """
        A conflicting duplicate made while the box is open fails the next
        load with mbsync's error; nothing is renamed.
        """
        self.prepare(0, "new/100.1_1.h")
        mailbox = self.open()
        self.successResultOf(mailbox.load(LoadRequest()))
        write(f"{self.inbox}/new/200.1_1.h,U=1", b"other\n")
        self.failureResultOf(mailbox.load(LoadRequest()), MailboxError)
        self.assertEqual(files(self.inbox), ["new/100.1_1.h,U=1", "new/200.1_1.h,U=1"])

    def test_beyond_highest(self) -> None:
        """
        A UID beyond the last assigned one is refused with mbsync 1.4.4's
        error (renumbering it would drop its pairing); nothing changes.
        """
        self.prepare(2, "cur/100.1_1.h,U=1:2,S", "new/300.1_1.h,U=70")
        error = self.failureResultOf(self.store.open_box("INBOX"), MailboxError).value
        self.assertEqual(str(error), "Maildir error: UID 70 is beyond highest assigned UID 2.")
        self.assertEqual(files(self.inbox), ["cur/100.1_1.h,U=1:2,S", "new/300.1_1.h,U=70"])

    def test_unpaired_strays_renumbered(self) -> None:
        """
        UIDs the sync state pairs with no message (a file moved in from
        another box with its C{,U=}, as some mail readers do) are repaired:
        a duplicate stays on the original and the other file, like one
        beyond the last assigned UID, is numbered as a new message, with
        warnings. Paired ones in the same box are kept.
        """
        make_maildir(self.inbox)
        write(f"{self.inbox}/.uidvalidity", b"1\n3\n")
        write(f"{self.inbox}/cur/100.1_1.h,U=1:2,S", b"one\n")
        write(f"{self.inbox}/cur/100.1_2.h,U=2:2,S", b"two\n")
        write(f"{self.inbox}/cur/300.1_1.moved,U=2:2,S", b"moved in\n")
        write(f"{self.inbox}/new/400.1_1.moved,U=70", b"beyond\n")
        self.store.expect_pairing("INBOX", {1, 3}.__contains__)
        with capturedLogs() as events:
            mailbox = self.open()
        self.assertEqual(
            files(self.inbox),
            [
                "cur/100.1_1.h,U=1:2,S",
                "cur/100.1_2.h,U=2:2,S",
                "cur/300.1_1.moved,U=4:2,S",
                "new/400.1_1.moved,U=5",
            ],
        )
        self.assertEqual(mailbox.uid_next, 6)
        texts = logged(events)
        [duplicate] = [text for text in texts if "duplicate UID 2" in text]
        self.assertIn("paired with no message", duplicate)
        self.assertIn("300.1_1.moved,U=2:2,S as a new message, UID 4", duplicate)
        [beyond] = [text for text in texts if "beyond highest" in text]
        self.assertIn("UID 70", beyond)
        self.assertIn("UID 5", beyond)

    def test_paired_strays_refused(self) -> None:
        """
        The same files when the state pairs UID 2 (or 70): refused with
        mbsync's error, nothing renamed. A pairing withdrawn (C{None}, e.g.
        a journal to replay) counts every UID as paired.
        """
        make_maildir(self.inbox)
        write(f"{self.inbox}/.uidvalidity", b"1\n3\n")
        write(f"{self.inbox}/cur/100.1_2.h,U=2:2,S", b"two\n")
        write(f"{self.inbox}/cur/300.1_1.moved,U=2:2,S", b"moved in\n")
        before = files(self.inbox)
        self.store.expect_pairing("INBOX", {2}.__contains__)
        error = self.failureResultOf(self.store.open_box("INBOX"), MailboxError).value
        self.assertEqual(str(error), "Maildir error: duplicate UID 2.")
        self.assertEqual(files(self.inbox), before)
        self.store.expect_pairing("INBOX", set().__contains__)
        self.store.expect_pairing("INBOX", None)
        error = self.failureResultOf(self.store.open_box("INBOX"), MailboxError).value
        self.assertEqual(str(error), "Maildir error: duplicate UID 2.")
        os.remove(f"{self.inbox}/cur/300.1_1.moved,U=2:2,S")
        write(f"{self.inbox}/new/400.1_1.moved,U=70", b"beyond\n")
        self.store.expect_pairing("INBOX", {70}.__contains__)
        error = self.failureResultOf(self.store.open_box("INBOX"), MailboxError).value
        self.assertEqual(str(error), "Maildir error: UID 70 is beyond highest assigned UID 3.")
        self.assertEqual(files(self.inbox), ["cur/100.1_2.h,U=2:2,S", "new/400.1_1.moved,U=70"])

    def test_plan_first_error_in_uid_order(self) -> None:
        """
        Like mbsync, the lowest offending UID decides the error.
        """
        entries = [
            FileEntry("new", "1.1_1.h,U=9"),
            FileEntry("new", "2.1_1.h,U=2"),
            FileEntry("new", "3.1_1.h,U=2"),
        ]
        plan = plan_uids(entries, 5, True, lambda a, b: False)
        self.assertEqual(plan.refusal, "Maildir error: duplicate UID 2.")
        self.assertEqual((plan.numbered, plan.fresh), ({}, []))
        plan = plan_uids(entries, 5, True, lambda a, b: True)
        self.assertEqual(plan.refusal, "Maildir error: UID 9 is beyond highest assigned UID 5.")
        # Without a comparison, any duplicate is in doubt.
        self.assertEqual(plan_uids(entries[1:], 5, True).refusal, "Maildir error: duplicate UID 2.")
        # An untrusted UIDVALIDITY renumbers everything: nothing to refuse.
        self.assertIsNone(plan_uids(entries, 5, False).refusal)

    def test_plan_prefers_cur(self) -> None:
        """
        Of equal names in C{cur/} and C{new/}, the one in C{cur/} keeps the
        UID.
        """
        plan = plan_uids(
            [FileEntry("new", "1.1_1.h,U=1"), FileEntry("cur", "1.1_1.h,U=1")],
            1,
            True,
            lambda a, b: True,
        )
        self.assertEqual(plan.numbered, {1: FileEntry("cur", "1.1_1.h,U=1")})
        self.assertEqual(plan.fresh, [FileEntry("new", "1.1_1.h,U=1")])

    def test_same_bytes(self) -> None:
        """
        L{same_bytes} compares whole files, across chunk boundaries; an
        unreadable or missing file is never a copy.
        """
        base = self.mktemp()
        os.makedirs(base)
        one = write(f"{base}/one", b"x" * 100 + b"a")
        two = write(f"{base}/two", b"x" * 100 + b"a")
        three = write(f"{base}/three", b"x" * 100 + b"b")
        self.assertTrue(same_bytes(one, two, chunk_size=7))
        self.assertFalse(same_bytes(one, three, chunk_size=7))
        self.assertFalse(same_bytes(one, f"{base}/missing"))

    def test_unnumbered_until_new_wanted(self) -> None:
        """
        A load of old messages only (a bounded range: mbsync's far box of
        C{Sync Push}) leaves files without C{,U=} as they are, out of the
        listing, and a message stored then takes the next UID; the first
        load that wants new messages numbers them.
        """
        self.prepare(1, "cur/50.1_1.h,U=1:2,S", "new/1000.2_1.host")
        mailbox = self.open()
        infos = self.successResultOf(mailbox.load(LoadRequest(min_uid=1, max_uid=1)))
        self.assertEqual([info.uid for info in infos], [1])
        self.assertEqual(files(self.inbox), ["cur/50.1_1.h,U=1:2,S", "new/1000.2_1.host"])
        with open(f"{self.inbox}/.uidvalidity", "rb") as handle:
            self.assertEqual(handle.read(), b"1\n1\n")
        self.assertEqual(self.put(mailbox), 2)
        infos = self.successResultOf(mailbox.load(LoadRequest()))
        self.assertEqual([info.uid for info in infos], [1, 2, 3])
        self.assertIn("new/1000.2_1.host,U=3", files(self.inbox))

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
        self.successResultOf(mailbox.load(LoadRequest()))
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


class UIDInNameTests(MaildirTestCase):
    """
    The UIDs read from names joined one a line (C{_UID_IN_NAME}) and from
    one name (C{_FIRST_UID}): the first C{,U=} of a line followed by one to
    nine digits (not starting with 0), at most one per line.
    """

    #: The rule as first written: per line, the shortest run up to such a
    #: C{,U=} (slow, as the engine tries it at every position).
    RULE = re.compile(r"^[^\n]*?,U=([1-9][0-9]{0,8})(?![0-9])", re.MULTILINE)

    def test_random(self) -> None:
        """
        Over random texts of names (odd ones: several C{,U=}, a leading
        zero, ten digits, no digits, empty lines), the same UIDs as the
        rule, line by line; one name's as the rule's for its first line.
        """
        rng = random.Random(4)
        pieces = ["a", ".", ",", "U", "=", "0", "1", "9", "\n", ",U=", ",U=1", ",U=0", ":2,S"]
        for _ in range(20000):
            text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 24)))
            self.assertEqual(maildirbox._UID_IN_NAME.findall(text), self.RULE.findall(text), text)
            one = maildirbox._FIRST_UID.match(text)
            rule = self.RULE.match(text)
            self.assertEqual(
                None if one is None else one.group(1), None if rule is None else rule.group(1)
            )
        self.assertEqual(
            maildirbox._UID_IN_NAME.findall(
                "1.a,U=12:2,S\n2.b,U=0,U=7\n3.c,U=1234567890\n4,U=5,U=6"
            ),
            ["12", "7", "5"],
        )
