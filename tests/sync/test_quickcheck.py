# -*- test-case-name: tests.sync.test_quickcheck -*-
"""
Tests for L{msync.sync.quickcheck} and the no-op fast path of
L{msync.sync.engine.sync_pair}: a pair of the fake IMAP server (CONDSTORE)
and a Maildir is skipped with one C{STATUS} and a listing of names when
neither box nor the state file changed since the last sync, and synced in
full whenever anything did, or the server, the options or the run cannot
vouch for it.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from dataclasses import replace

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from msync.config import schema
from msync.config.schema import IMAPStore as IMAPStoreConfig
from msync.errors import StoreUnavailable
from msync.model import Side
from msync.stores import maildirbox
from msync.stores.imapbox import imap_fingerprint
from msync.stores.maildirbox import maildir_fingerprint, scan_fingerprint, vouched_fingerprint
from msync.stores.maildirstore import MaildirStore
from msync.sync.engine import sync_pair
from msync.sync.options import PairOptions, SideOptions
from msync.sync.quickcheck import sidecar_path
from msync.sync.results import PairResult
from msync.sync.statepaths import state_paths
from tests.fakes.imapserver import DEFAULT_OPTIONS, MailStore, ServerOptions
from tests.stores.maildirfixtures import make_maildir, make_store, write
from tests.stores.test_imapstore import PASSWORD, FakeNetwork, account

FULL = PairOptions(
    far=SideOptions(create=True, expunge=True),
    near=SideOptions(create=True, expunge=True),
    channel="test",
)

# Commands of any session, before a box is named.
_SESSION = {b"CAPABILITY", b"AUTHENTICATE", b"LOGIN", b"NAMESPACE", b"ENABLE"}


class FingerprintTests(SynchronousTestCase):
    """
    The fingerprints themselves.
    """

    def test_imap(self) -> None:
        """
        The IMAP fingerprint holds the four STATUS values in order.
        """
        self.assertEqual(imap_fingerprint(7, 12, 11, 300), b"imap 7 12 11 300")

    def test_maildir_order_free(self) -> None:
        """
        The Maildir fingerprint does not depend on the listing's order, and
        differs when a name, the UIDVALIDITY or the last UID does.
        """
        first = maildir_fingerprint(5, 2, ["2,U=2"], ["1,U=1:2,S", "3,U=3:2,"])
        self.assertEqual(first, maildir_fingerprint(5, 2, ["2,U=2"], ["3,U=3:2,", "1,U=1:2,S"]))
        self.assertNotEqual(first, maildir_fingerprint(5, 2, ["2,U=2"], ["1,U=1:2,", "3,U=3:2,"]))
        self.assertNotEqual(first, maildir_fingerprint(6, 2, ["2,U=2"], ["1,U=1:2,S", "3,U=3:2,"]))
        self.assertNotEqual(first, maildir_fingerprint(5, 3, ["2,U=2"], ["1,U=1:2,S", "3,U=3:2,"]))

    def test_maildir_directory_counts(self) -> None:
        """
        The same name in C{new/} or in C{cur/}, and names that join to the
        same text, give different fingerprints.
        """
        self.assertNotEqual(
            maildir_fingerprint(5, 2, ["a"], []), maildir_fingerprint(5, 2, [], ["a"])
        )
        self.assertNotEqual(
            maildir_fingerprint(5, 2, [], ["a", "b"]), maildir_fingerprint(5, 2, [], ["a\nb"])
        )
        self.assertNotEqual(
            maildir_fingerprint(5, 2, ["a"], ["b"]), maildir_fingerprint(5, 2, ["a", "b"], [])
        )

    def test_maildir_digest_of_all_names(self) -> None:
        """
        A big box's names are digested in pieces, to the digest of all of
        them sorted and joined by NUL: the fingerprint a sidecar written
        before holds (as for a small box, whose value is pinned here).
        """
        names = [f"{uid},U={uid}:2,S" for uid in range(1, 10_001)]
        fresh = [f"n{uid},U={uid}" for uid in range(10_001, 10_004)]
        digest = hashlib.sha256(b"5 10003\n")
        digest.update("\0".join(sorted(fresh)).encode())
        digest.update(b"/")
        digest.update("\0".join(sorted(names)).encode())
        expected = b"maildir2 " + digest.hexdigest().encode("ascii")
        self.assertEqual(maildir_fingerprint(5, 10_003, list(fresh), names[::-1]), expected)
        self.assertEqual(
            maildir_fingerprint(5, 2, ["2,U=2"], ["1,U=1:2,S"]),
            b"maildir2 " + hashlib.sha256(b"5 2\n2,U=2/1,U=1:2,S").hexdigest().encode("ascii"),
        )


def _two_message_box(case: SynchronousTestCase) -> str:
    """
    A Maildir box with UIDVALIDITY 1700000000 and two seen messages (UIDs
    1 and 2) in C{cur/}.

    @return: its path.
    """
    path = os.path.abspath(str(case.mktemp()))
    for subdir in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, subdir))
    with open(os.path.join(path, ".uidvalidity"), "w") as recorded:
        recorded.write("1700000000\n2\n")
    for uid in (1, 2):
        open(os.path.join(path, "cur", f"{uid}.x,U={uid}:2,S"), "w").close()
    return path


def _rename_while_listed(case: SynchronousTestCase, path: str, names: list[str]) -> None:
    """
    Patch C{os.listdir} so that each listing of the box's C{cur/} renames
    a file there from C{names[0]} to C{names[1]}, and so on, once it has
    read the names.
    """
    cur = os.path.join(path, "cur")
    listdir = os.listdir

    def racing(directory: str) -> list[str]:
        found = listdir(directory)
        if directory == cur:
            for old, new in itertools.pairwise(names):
                os.rename(os.path.join(cur, old), os.path.join(cur, new))
        return found

    case.patch(os, "listdir", racing)


class MaildirHintTests(SynchronousTestCase):
    """
    L{scan_fingerprint}'s hint: directory times old enough to trust stand
    for the listing.
    """

    def setUp(self) -> None:
        self.start = time.time()
        self.path = _two_message_box(self)
        self.age(100)

    def age(self, seconds: float) -> None:
        """
        Set every time of the box C{seconds} into the past (the same times
        again for the same C{seconds}).
        """
        then = int(self.start) - seconds
        for name in (".uidvalidity", "new", "cur", "tmp"):
            os.utime(os.path.join(self.path, name), (then, then))

    def test_hint_stands_for_listing(self) -> None:
        """
        Old times give a hint; with it the box is not listed again: a
        rename whose directory time is put back goes unseen (which only a
        listing-free answer can miss), while one that moves the time is
        seen.
        """
        first = scan_fingerprint(self.path, None, time.time())
        assert first is not None
        digest, _, hint = first.partition(b";")
        self.assertTrue(hint)
        cur = os.path.join(self.path, "cur")
        os.rename(os.path.join(cur, "1.x,U=1:2,S"), os.path.join(cur, "1.x,U=1:2,FS"))
        self.age(100)
        self.assertEqual(scan_fingerprint(self.path, first, time.time()), first)
        self.assertNotEqual(scan_fingerprint(self.path, None, time.time()), first)
        os.rename(os.path.join(cur, "1.x,U=1:2,FS"), os.path.join(cur, "1.x,U=1:2,S"))
        again = scan_fingerprint(self.path, first, time.time())
        assert again is not None
        self.assertEqual(again.partition(b";")[0], digest)
        self.assertNotEqual(again, first)

    def test_fresh_times_no_hint(self) -> None:
        """
        Times within the last second give no hint (mbsync's race rule).
        """
        self.age(0)
        found = scan_fingerprint(self.path, None, time.time())
        assert found is not None
        self.assertNotIn(b";", found)

    def test_same_as_listing(self) -> None:
        """
        The scan's fingerprint is the digest of the names it lists, dot
        files left out, whatever else sorts around them.
        """
        for name in (".hidden", "..x", "-1,U=9:2,", "z.y"):
            open(os.path.join(self.path, "cur", name), "w").close()
        open(os.path.join(self.path, "new", ".dot"), "w").close()
        open(os.path.join(self.path, "new", "3.n"), "w").close()
        found = scan_fingerprint(self.path, None, time.time())
        assert found is not None
        expected = maildir_fingerprint(
            1700000000, 2, ["3.n"], ["1.x,U=1:2,S", "2.x,U=2:2,S", "-1,U=9:2,", "z.y"]
        )
        self.assertEqual(found.partition(b";")[0], expected)

    def test_change_during_listing(self) -> None:
        """
        A rename while the box is listed (the directory's time moves under
        the listing) gives no hint, even with old times before and after:
        the next look lists again and sees the box as it is then.
        """
        listdir = os.listdir
        _rename_while_listed(self, self.path, ["1.x,U=1:2,S", "1.x,U=1:2,FS"])
        found = scan_fingerprint(self.path, None, time.time())
        self.patch(os, "listdir", listdir)
        assert found is not None
        self.assertNotIn(b";", found)
        self.age(100)
        again = scan_fingerprint(self.path, found, time.time())
        assert again is not None
        self.assertNotEqual(again.partition(b";")[0], found)
        self.assertIn(b";", again)

    def test_change_in_same_second(self) -> None:
        """
        mbsync's race: a listing in the second of the last change gives no
        hint, so a second change within that second, which may leave the
        directory's time as it was, is still seen by the next listing.
        """
        self.age(0)
        first = scan_fingerprint(self.path, None, self.start)
        assert first is not None
        self.assertNotIn(b";", first)
        cur = os.path.join(self.path, "cur")
        os.rename(os.path.join(cur, "2.x,U=2:2,S"), os.path.join(cur, "2.x,U=2:2,RS"))
        self.age(0)
        second = scan_fingerprint(self.path, first, self.start)
        assert second is not None
        self.assertNotEqual(second, first)

    def test_hint_needs_every_time(self) -> None:
        """
        The hint holds only while every time it names is unchanged: the
        C{.uidvalidity} or C{tmp/} moving is enough to list again.
        """
        first = scan_fingerprint(self.path, None, time.time())
        assert first is not None
        self.assertIn(b";", first)
        for name in (".uidvalidity", "tmp"):
            self.age(100)
            later = int(self.start) - 50
            os.utime(os.path.join(self.path, name), (later, later))
            again = scan_fingerprint(self.path, first, time.time())
            assert again is not None
            self.assertEqual(again.partition(b";")[0], first.partition(b";")[0])
            self.assertNotEqual(again, first)

    def test_tmp_file(self) -> None:
        """
        A file in tmp/ (which an open may remove, by its age) means no
        fingerprint.
        """
        open(os.path.join(self.path, "tmp", "x"), "w").close()
        self.assertIsNone(scan_fingerprint(self.path, None, time.time()))


class VouchedTests(SynchronousTestCase):
    """
    L{vouched_fingerprint}: a listing at the end of a sync gives the hint
    at once, its times held against a file made just before it instead of
    the clock's second.
    """

    def setUp(self) -> None:
        self.path = _two_message_box(self)
        self.fingerprint = maildir_fingerprint(1700000000, 2, [], ["1.x,U=1:2,S", "2.x,U=2:2,S"])

    def times(self, nanoseconds: int) -> None:
        """
        Give the box's C{.uidvalidity}, C{new/} and C{cur/} the time
        C{nanoseconds}.
        """
        for name in (".uidvalidity", "new", "cur"):
            os.utime(os.path.join(self.path, name), ns=(nanoseconds, nanoseconds))

    def test_fresh_times(self) -> None:
        """
        Times 50 ms old (more than a tick of the file system's clock, too
        recent for the clock's one-second rule) give a hint, which the
        next look takes without listing; the probe file is gone.
        """
        self.times(time.time_ns() - 50_000_000)
        found = vouched_fingerprint(self.path, self.fingerprint)
        digest, _, hint = found.partition(b";")
        self.assertEqual(digest, self.fingerprint)
        self.assertTrue(hint)
        self.assertEqual(os.listdir(os.path.join(self.path, "tmp")), [])
        listed = []
        listdir = os.listdir

        def counting(path: str) -> list[str]:
            listed.append(path)
            return listdir(path)

        self.patch(os, "listdir", counting)
        self.assertEqual(scan_fingerprint(self.path, found, time.time()), found)
        self.assertEqual(listed, [])

    def test_times_not_before_probe(self) -> None:
        """
        A directory time not older than the probe's (a change the listing
        may have missed could have left it so) gives no hint.
        """
        for name in ("new", "cur", ".uidvalidity"):
            self.times(time.time_ns() - 50_000_000)
            later = time.time_ns() + 10_000_000_000
            os.utime(os.path.join(self.path, name), ns=(later, later))
            self.assertEqual(vouched_fingerprint(self.path, self.fingerprint), self.fingerprint)

    def test_same_tick(self) -> None:
        """
        A probe no later than the directories' times (made in the tick of
        the last change) is made again once: a later one gives the hint,
        a second one in the same tick none.
        """
        stamp = time.time_ns() - 50_000_000
        self.times(stamp)
        self.patch(maildirbox, "PROBE_RETRY", 0)
        for probes, hinted in (([stamp, stamp + 1], True), ([stamp, stamp], False)):
            made = iter(probes)
            self.patch(maildirbox, "_file_system_now", lambda directory, made=made: next(made))
            found = vouched_fingerprint(self.path, self.fingerprint)
            self.assertEqual(b";" in found, hinted)
            self.assertEqual(list(made), [])

    def test_other_names(self) -> None:
        """
        A listing that finds other names than the fingerprint's gives no
        hint (the sync's fingerprint stays, the next run lists).
        """
        self.times(time.time_ns() - 50_000_000)
        os.rename(
            os.path.join(self.path, "cur", "2.x,U=2:2,S"),
            os.path.join(self.path, "cur", "2.x,U=2:2,RS"),
        )
        self.assertEqual(vouched_fingerprint(self.path, self.fingerprint), self.fingerprint)

    def test_change_during_listing(self) -> None:
        """
        A rename while the box is listed gives no hint.
        """
        self.times(time.time_ns() - 50_000_000)
        _rename_while_listed(self, self.path, ["1.x,U=1:2,S", "1.x,U=1:2,FS", "1.x,U=1:2,S"])
        self.assertEqual(vouched_fingerprint(self.path, self.fingerprint), self.fingerprint)

    def test_probe_left(self) -> None:
        """
        A probe file left in C{tmp/} (a run killed between making and
        removing it) does not stop the box's fingerprint, as a file being
        delivered there does.
        """
        self.times(time.time_ns() - 50_000_000)
        open(os.path.join(self.path, "tmp", ".msync-probe.1.1"), "w").close()
        found = vouched_fingerprint(self.path, self.fingerprint)
        self.assertIn(b";", found)
        listed = scan_fingerprint(self.path, None, time.time())
        assert listed is not None
        self.assertEqual(listed.partition(b";")[0], self.fingerprint)
        open(os.path.join(self.path, "tmp", "1.delivery"), "w").close()
        self.assertIsNone(scan_fingerprint(self.path, None, time.time()))

    def test_no_probe(self) -> None:
        """
        Without a C{tmp/} to make the probe in, no hint.
        """
        self.times(time.time_ns() - 50_000_000)
        os.rmdir(os.path.join(self.path, "tmp"))
        self.assertEqual(vouched_fingerprint(self.path, self.fingerprint), self.fingerprint)


class _PairCase(SynchronousTestCase):
    """
    A pair of the fake server's INBOX (six messages) and a Maildir INBOX.
    """

    server_options: ServerOptions = DEFAULT_OPTIONS
    #: The Maildir store's clock (0: every directory time is too fresh
    #: to give a hint).
    now = 0.0

    def setUp(self) -> None:
        self.mail = MailStore({"user": PASSWORD})
        self.box = self.mail.create(b"INBOX")
        for number in range(6):
            self.box.append(b"Subject: %d\r\n\r\nbody\r\n" % number, [b"\\Seen"] * (number % 2))
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.paths = state_paths(self.root + "/state/", None, "far", "INBOX", "near", "INBOX", None)

    def run_pair(self, options: PairOptions = FULL, *, quick: bool = True) -> PairResult:
        """
        One sync in a new session with fresh stores; the commands the
        server got are in C{self.sent}.
        """
        network = FakeNetwork(self.mail, self.server_options)
        far = network.store(IMAPStoreConfig("far", account()))
        clock = Clock()
        clock.advance(self.now)
        near = MaildirStore(
            schema.MaildirStore(name="near", inbox=f"{self.root}/INBOX", path=f"{self.root}/"),
            fsync=False,
            clock=clock,
        )
        done = Deferred.fromCoroutine(
            sync_pair(far, near, "INBOX", "INBOX", options, self.paths, quick=quick)
        )
        for _ in range(50):
            network.flush()
            if done.called:
                break
        result = self.successResultOf(done)
        network.flush()
        self.successResultOf(near.close())
        self.sent = [command for command in network.commands() if not command.startswith(b"LOGIN")]
        return result

    def near_files(self) -> list[str]:
        """
        The names in the Maildir INBOX.
        """
        return sorted(
            f"{subdir}/{name}"
            for subdir in ("new", "cur")
            for name in os.listdir(f"{self.root}/INBOX/{subdir}")
        )

    def state(self) -> bytes:
        with open(self.paths.state, "rb") as state:
            return state.read()

    def sidecar(self) -> bool:
        return os.path.exists(sidecar_path(self.paths))

    def everything(self) -> tuple[object, ...]:
        """
        Both boxes and the state file, as a sync leaves them.
        """
        state = self.state() if os.path.exists(self.paths.state) else None
        far = [(m.uid, sorted(m.flags)) for m in self.box.messages]
        return (state, self.near_files(), far, self.box.uid_next)


class QuickPairTests(_PairCase):
    """
    Whole pairs over the fake server and a Maildir.
    """

    def settled(self, options: PairOptions = FULL) -> None:
        """
        Sync, then check the sidecar was written.
        """
        self.assertFalse(self.run_pair(options).unchanged)
        self.assertTrue(os.path.exists(sidecar_path(self.paths)))

    def assert_skipped(self, options: PairOptions = FULL) -> None:
        """
        The next run is skipped: one STATUS, nothing else, no file changed.
        """
        files, state = self.near_files(), self.state()
        sidecar = os.stat(sidecar_path(self.paths))
        result = self.run_pair(options)
        self.assertTrue(result.unchanged)
        self.assertEqual(
            [
                command.split(b" ")[0]
                for command in self.sent
                if command.split(b" ")[0] not in _SESSION
            ],
            [b"STATUS"],
        )
        self.assertEqual((self.near_files(), self.state()), (files, state))
        self.assertEqual(os.stat(sidecar_path(self.paths)).st_ino, sidecar.st_ino)
        self.assertFalse(os.path.exists(self.paths.lock))

    def assert_full(self, options: PairOptions = FULL) -> PairResult:
        result = self.run_pair(options)
        self.assertFalse(result.unchanged)
        self.assertIn(b"SELECT", b" ".join(self.sent))
        return result

    def test_unchanged_skipped(self) -> None:
        """
        After a pull the next run only asks STATUS: no SELECT, no FETCH,
        nothing written, the Maildir untouched.
        """
        self.settled()
        self.assertEqual(len(self.near_files()), 6)
        self.assert_skipped()
        self.assert_skipped()

    def test_hint_kept(self) -> None:
        """
        Once the Maildir's times are old enough, the first skip keeps them
        as a hint in the sidecar (rewritten once); the next skip leaves it.
        """
        self.now = time.time() + 100
        self.settled()
        with open(sidecar_path(self.paths), "rb") as sidecar:
            self.assertNotIn(b";", sidecar.read())
        self.assertTrue(self.run_pair().unchanged)
        with open(sidecar_path(self.paths), "rb") as sidecar:
            self.assertIn(b";", sidecar.read())
        self.assert_skipped()

    def test_no_hint_while_fresh(self) -> None:
        """
        While the Maildir's times are within the store clock's last second,
        a skip keeps no hint (a change later in that second might leave
        them as they are): the sidecar stays as the pull wrote it and every
        skip lists the names.
        """
        self.settled()
        with open(sidecar_path(self.paths), "rb") as sidecar:
            written = sidecar.read()
        self.now = time.time()
        self.assert_skipped()
        with open(sidecar_path(self.paths), "rb") as sidecar:
            self.assertEqual(sidecar.read(), written)
        self.assertNotIn(b";", written)

    def test_far_flag_change(self) -> None:
        """
        A flag changed on the server raises HIGHESTMODSEQ: a full run takes
        the change to the Maildir, and the one after it is skipped again.
        """
        self.settled()
        message = self.box.messages[0]
        message.flags = {b"\\Flagged"}
        self.box.touch(message)
        result = self.assert_full()
        self.assertEqual(result.flag_updates, {Side.FAR: 0, Side.NEAR: 1})
        self.assertEqual(sum(name.endswith(":2,F") for name in self.near_files()), 1)
        self.assert_skipped()

    def test_far_new_and_expunged(self) -> None:
        """
        A new message, and then an expunge, on the server each make a full
        run.
        """
        self.settled()
        self.box.append(b"Subject: new\r\n\r\nbody\r\n", [])
        self.assert_full()
        self.assertEqual(len(self.near_files()), 7)
        self.box.messages.pop(0)
        self.box.highest_modseq += 1
        self.assert_full()
        self.assertEqual(len(self.near_files()), 6)

    def test_near_change(self) -> None:
        """
        A Maildir file renamed (a flag set locally) makes a full run, which
        takes the flag to the server; that run changed the server, so the
        sidecar is gone until a run that changes nothing writes it again.
        """
        self.settled()
        name = next(n for n in self.near_files() if n.startswith("cur/") or n.startswith("new/"))
        subdir, base = name.split("/")
        os.rename(
            f"{self.root}/INBOX/{subdir}/{base}",
            f"{self.root}/INBOX/cur/{base.partition(':')[0]}:2,F",
        )
        self.assert_full()
        self.assertTrue(any(b"\\Flagged" in m.flags for m in self.box.messages))
        self.assertFalse(os.path.exists(sidecar_path(self.paths)))
        self.settled()
        self.assert_skipped()

    def test_new_local_file(self) -> None:
        """
        A message delivered into new/ makes a full run.
        """
        self.settled()
        with open(f"{self.root}/INBOX/new/1.2.host", "wb") as delivered:
            delivered.write(b"Subject: local\n\nbody\n")
        self.assert_full()
        self.assertEqual(len(self.box.messages), 7)

    def test_state_rewritten(self) -> None:
        """
        A state file rewritten by someone else (mbsync writes a new file
        and renames it over), even with the same bytes, makes a full run.
        """
        self.settled()
        data = self.state()
        with open(self.paths.state + ".other", "wb") as other:
            other.write(data)
        os.replace(self.paths.state + ".other", self.paths.state)
        self.assert_full()
        self.assert_skipped()

    def test_journal_left(self) -> None:
        """
        A journal and C{.new} left by an interrupted run make a full run.
        """
        self.settled()
        for path in (self.paths.journal, self.paths.new):
            with open(path, "wb") as left:
                left.write(b"4\n" if path == self.paths.journal else b"")
        self.assert_full()

    def test_other_options(self) -> None:
        """
        Other options (here C{-n}-like: new messages only) make a full run.
        """
        self.settled()
        pull_new = replace(
            FULL, near=replace(FULL.near, ops=schema.SyncOp.NEW), far=replace(FULL.far)
        )
        self.assert_full(pull_new)

    def test_not_quick(self) -> None:
        """
        With C{quick} off (C{-V}) the pair is synced in full.
        """
        self.settled()
        self.assertFalse(self.run_pair(quick=False).unchanged)
        self.assertIn(b"SELECT", b" ".join(self.sent))

    def test_dry_run(self) -> None:
        """
        A dry run is never skipped and writes no sidecar.
        """
        self.settled()
        dry = replace(FULL, dry_run=True)
        self.assertFalse(self.run_pair(dry).unchanged)
        self.assertIn(b"EXAMINE", b" ".join(self.sent))

    def test_failed_run(self) -> None:
        """
        A run that fails after changing something (the connection breaks on
        the UID STORE that takes a local flag to the server) leaves the old
        sidecar, which cannot vouch for the changed pair: the next run is a
        full one, which finishes the work; the run after that is skipped.
        """
        self.settled()
        name = self.near_files()[0]
        subdir, base = name.split("/")
        os.rename(
            f"{self.root}/INBOX/{subdir}/{base}",
            f"{self.root}/INBOX/cur/{base.partition(':')[0]}:2,F",
        )
        broken = replace(self.server_options, garbage_on=b"UID STORE")
        network = FakeNetwork(self.mail, broken)
        far = network.store(IMAPStoreConfig("far", account()))
        near = MaildirStore(
            schema.MaildirStore(name="near", inbox=f"{self.root}/INBOX", path=f"{self.root}/"),
            fsync=False,
            clock=Clock(),
        )
        done = Deferred.fromCoroutine(
            sync_pair(far, near, "INBOX", "INBOX", FULL, self.paths, quick=True)
        )
        for _ in range(50):
            network.flush()
        self.failureResultOf(done, StoreUnavailable)
        self.assertTrue(os.path.exists(sidecar_path(self.paths)))
        self.assertFalse(any(b"\\Flagged" in m.flags for m in self.box.messages))
        self.assert_full()
        self.assertTrue(any(b"\\Flagged" in m.flags for m in self.box.messages))
        self.settled()
        self.assert_skipped()

    def test_trash_not_vouched(self) -> None:
        """
        A channel with Trash writes no sidecar: every run is full.
        """
        trash = replace(FULL, near=replace(FULL.near, trash="Trash"))
        self.assertFalse(self.run_pair(trash).unchanged)
        self.assertFalse(os.path.exists(sidecar_path(self.paths)))


def _far_flag(case: _PairCase, flags: set[bytes]) -> None:
    message = case.box.messages[1]
    message.flags = flags
    case.box.touch(message)


def _near_rename(case: _PairCase, letters: str) -> None:
    name = case.near_files()[2]
    subdir, base = name.split("/")
    os.rename(
        f"{case.root}/INBOX/{subdir}/{base}",
        f"{case.root}/INBOX/cur/{base.partition(':')[0]}:2,{letters}",
    )


def _near_new(case: _PairCase) -> None:
    with open(f"{case.root}/INBOX/new/1.2.host", "wb") as delivered:
        delivered.write(b"Subject: local\n\nbody\n")


CHANGES = {
    "far-flagged": lambda case: _far_flag(case, {b"\\Flagged"}),
    "far-deleted": lambda case: _far_flag(case, {b"\\Deleted"}),
    "far-new": lambda case: case.box.append(b"Subject: new\r\n\r\nbody\r\n", []),
    "far-expunged": lambda case: case.box.expunge(case.box.messages[0]),
    "near-flagged": lambda case: _near_rename(case, "F"),
    "near-deleted": lambda case: _near_rename(case, "ST"),
    "near-new": _near_new,
    "near-removed": lambda case: os.unlink(f"{case.root}/INBOX/{case.near_files()[0]}"),
}


class FixedPointTests(_PairCase):
    """
    The promise a sidecar rests on: after a run that wrote one, a full run
    changes nothing, for every change of one side and every combination
    of C{Expunge} and C{Sync} directions.
    """

    def test_full_run_after_sidecar_changes_nothing(self) -> None:
        """
        For each change and option combination: sync, change, sync; if that
        sync wrote a sidecar, a full run (not quick) leaves both boxes and
        the state file exactly as they were.
        """
        vouched = 0
        all_ops, none = schema.SyncOp.ALL, schema.SyncOp.NONE
        directions = {
            "both": (all_ops, all_ops),
            "pull": (none, all_ops),
            "push": (all_ops, none),
            "new": (schema.SyncOp.NEW, schema.SyncOp.NEW),
        }
        expunges = {"none": (False, False), "far": (True, False), "near": (False, True)}
        expunges["both"] = (True, True)
        for change_name, change in CHANGES.items():
            for direction, (far_ops, near_ops) in directions.items():
                for expunge, (far_expunge, near_expunge) in expunges.items():
                    where = f"{change_name}, Sync {direction}, Expunge {expunge}"
                    self.tearDown()
                    self.setUp()
                    options = replace(
                        FULL,
                        far=replace(FULL.far, ops=far_ops, expunge=far_expunge),
                        near=replace(FULL.near, ops=near_ops, expunge=near_expunge),
                    )
                    self.run_pair(options)
                    try:
                        change(self)
                    except IndexError:
                        # Nothing to change on that side (Sync kept it empty).
                        continue
                    self.run_pair(options)
                    if not self.sidecar():
                        continue
                    vouched += 1
                    before = self.everything()
                    result = self.run_pair(options, quick=False)
                    self.assertFalse(result.unchanged, where)
                    self.assertEqual(self.everything(), before, where)
                    self.assertTrue(self.sidecar(), where)
        # Most can vouch (84 of 128: not those that changed the server).
        self.assertGreater(vouched, len(CHANGES) * 8)


class IMAPExpungeTests(_PairCase):
    """
    An expunge on the server side plans with what mbsync 1.4.4 would have
    loaded: its IMAP driver loads nothing more to expunge (it C{CLOSE}s),
    so with no other need for the old messages, the records of messages
    expunged unseen keep their far UIDs until the next run.
    """

    def expunge_deleted(self, far_ops: schema.SyncOp, near_ops: schema.SyncOp) -> PairOptions:
        """
        Sync everything, delete the server's UID 2 behind the sync's back,
        then sync with C{Expunge Both} and these C{Sync} operations (to
        the far and the near side), which expunges it.

        @return: those options.
        """
        self.run_pair(FULL)
        self.assertIn(b"\n1 1 \n", self.state())
        _far_flag(self, {b"\\Deleted"})
        options = replace(
            FULL, far=replace(FULL.far, ops=far_ops), near=replace(FULL.near, ops=near_ops)
        )
        self.run_pair(options)
        self.assertEqual([m.uid for m in self.box.messages], [1, 3, 4, 5, 6])
        return options

    def test_expunged_unseen(self) -> None:
        """
        C{Sync Pull New} with C{Expunge Both}: the deleted server message is
        expunged, its record keeps the far UID (as mbsync's, which saw
        neither the deletion nor the expunge), and so it does while no run
        loads the old messages; the first that does finds it gone.
        """
        pull_new = self.expunge_deleted(schema.SyncOp.NONE, schema.SyncOp.NEW)
        self.assertIn(b"\n2 2 S\n", self.state())
        self.assertFalse(self.sidecar())
        self.assertFalse(self.run_pair(pull_new).unchanged)
        self.assertIn(b"\n2 2 S\n", self.state())
        self.assertEqual(len(self.near_files()), 6)
        self.run_pair(FULL)
        self.assertNotIn(b"\n2 ", self.state())
        self.assertEqual(len(self.near_files()), 5)

    def test_flags_pushed_unseen(self) -> None:
        """
        C{Sync Push Flags}: flags go to the server by UID, so mbsync loads
        none of its old messages; one deleted there and expunged keeps its
        record too.
        """
        self.expunge_deleted(schema.SyncOp.FLAGS, schema.SyncOp.NONE)
        self.assertIn(b"\n2 2 S\n", self.state())

    def test_expunged_seen(self) -> None:
        """
        With flags synced, the old messages are loaded anyway: the record
        is updated in the run that expunges (as mbsync's).
        """
        self.run_pair(FULL)
        _far_flag(self, {b"\\Deleted"})
        self.run_pair(FULL)
        self.assertEqual([m.uid for m in self.box.messages], [1, 3, 4, 5, 6])
        self.assertNotIn(b"\n2 ", self.state())
        self.assertEqual(len(self.near_files()), 5)


class MaildirFixedPointTests(SynchronousTestCase):
    """
    Runs that leave work for the next one write no sidecar, so that the
    next run is a full one, as mbsync 1.4.4's is (found by
    L{tests.integration.fuzzinterop}): Maildir on both sides.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        for side in ("far", "near"):
            make_maildir(f"{self.root}/{side}/INBOX")
        write(f"{self.root}/far/INBOX/new/100.1_1.h", b"Subject: far\n\nbody\n")
        self.paths = state_paths(self.root + "/state/", None, "far", "INBOX", "near", "INBOX", None)

    def run_pair(self, options: PairOptions) -> PairResult:
        stores = [make_store(f"{self.root}/{side}")[0] for side in ("far", "near")]
        far, near = stores
        done = Deferred.fromCoroutine(
            sync_pair(far, near, "INBOX", "INBOX", options, self.paths, quick=True)
        )
        result = self.successResultOf(done)
        for store in stores:
            self.successResultOf(store.close())
        return result

    def records(self) -> list[str]:
        with open(self.paths.state, encoding="ascii") as state:
            header, _, records = state.read().partition("\n\n")
        return [line for line in header.splitlines() if line.startswith("Max")] + [
            line.strip() for line in records.splitlines()
        ]

    def test_expunged(self) -> None:
        """
        A run that expunged a message keeps its record's UID (as mbsync);
        no sidecar, so the next run finds the message gone and clears it.
        """
        with open(f"{self.root}/near/INBOX/cur/200.1_1.h:2,ST", "wb") as message:
            message.write(b"Subject: near\n\nbody\n")
        options = replace(FULL, far=replace(FULL.far, expunge=False))
        self.assertFalse(self.run_pair(options).unchanged)
        self.assertEqual(self.records(), ["MaxPulledUid 2", "MaxPushedUid 2", "2 1 ST", "1 2"])
        self.assertFalse(os.path.exists(sidecar_path(self.paths)))
        self.assertFalse(self.run_pair(options).unchanged)
        self.assertEqual(self.records(), ["MaxPulledUid 2", "MaxPushedUid 2", "2 0 ST", "1 2"])

    def test_max_uid_left_below(self) -> None:
        """
        A copy stored above a gap in the near box's UIDs leaves
        C{MaxPushedUid} below it (as mbsync); no sidecar, so the next run
        raises it, and only the run after that may be skipped.
        """
        with open(f"{self.root}/near/INBOX/.uidvalidity", "wb") as uids:
            uids.write(b"1700000000\n5\n")
        self.assertFalse(self.run_pair(FULL).unchanged)
        self.assertEqual(self.records(), ["MaxPulledUid 1", "MaxPushedUid 0", "1 6"])
        self.assertFalse(os.path.exists(sidecar_path(self.paths)))
        self.assertFalse(self.run_pair(FULL).unchanged)
        self.assertEqual(self.records(), ["MaxPulledUid 1", "MaxPushedUid 6", "1 6"])
        self.assertTrue(os.path.exists(sidecar_path(self.paths)))
        self.assertTrue(self.run_pair(FULL).unchanged)


class NoCondstoreTests(QuickPairTests):
    """
    A server without CONDSTORE (Office 365): never skipped.
    """

    server_options = replace(
        DEFAULT_OPTIONS, capabilities=DEFAULT_OPTIONS.capabilities - {b"CONDSTORE"}
    )

    def settled(self, options: PairOptions = FULL) -> None:
        self.assertFalse(self.run_pair(options).unchanged)
        self.assertFalse(os.path.exists(sidecar_path(self.paths)))

    def assert_skipped(self, options: PairOptions = FULL) -> None:
        self.assert_full(options)

    def test_failed_run(self) -> None:
        """
        (No sidecar without CONDSTORE.)
        """
        self.settled()

    def test_hint_kept(self) -> None:
        """
        (No sidecar without CONDSTORE, so no hint in one.)
        """
        self.now = time.time() + 100
        self.settled()
        self.assert_full()

    def test_no_hint_while_fresh(self) -> None:
        """
        (No sidecar without CONDSTORE.)
        """
        self.settled()


class NoModseqTests(NoCondstoreTests):
    """
    A CONDSTORE server whose boxes are NOMODSEQ: never skipped.
    """

    server_options = replace(DEFAULT_OPTIONS, nomodseq=True)


class PrefetchTests(SynchronousTestCase):
    """
    L{msync.stores.imapstore.IMAPStore.prefetch_fingerprints}: the STATUS
    commands of many boxes go out together and answer later asks.
    """

    def setUp(self) -> None:
        self.mail = MailStore({"user": PASSWORD})
        for name in (b"INBOX", b"Archive", b"Sent"):
            box = self.mail.create(name)
            box.append(b"Subject: x\r\n\r\nbody\r\n", [])
        self.network = FakeNetwork(self.mail)
        self.store = self.network.store(IMAPStoreConfig("far", account()))

    def statuses(self) -> list[bytes]:
        return [c for c in self.network.commands() if c.startswith(b"STATUS")]

    def test_used_once(self) -> None:
        """
        Each box's next ask is answered from the prefetched STATUS (a box
        that cannot be asked about gives C{None}, no error); a later ask
        sends STATUS again.
        """
        self.store.prefetch_fingerprints(["INBOX", "Archive", "Sent", "Missing"])
        self.network.flush()
        self.assertEqual(len(self.statuses()), 4)
        archive = self.mail.get(b"Archive")
        assert archive is not None
        expected = imap_fingerprint(archive.uid_validity, 2, 1, archive.highest_modseq)
        self.assertEqual(self.successResultOf(self.store.box_fingerprint("Archive")), expected)
        self.assertIsNone(self.successResultOf(self.store.box_fingerprint("Missing")))
        self.assertEqual(len(self.statuses()), 4)
        again = self.store.box_fingerprint("Archive")
        self.network.flush()
        self.assertEqual(self.successResultOf(again), expected)
        self.assertEqual(len(self.statuses()), 5)

    def test_pipelined(self) -> None:
        """
        The STATUS commands are in flight together: a server that answers
        BAD to a command arriving while another is in flight refuses all
        but the first, whose box alone gets a fingerprint.
        """
        self.network = FakeNetwork(self.mail, replace(DEFAULT_OPTIONS, reject_pipelining=True))
        self.store = self.network.store(IMAPStoreConfig("far", account()))
        self.store.prefetch_fingerprints(["INBOX", "Archive", "Sent"])
        self.network.flush()
        found = [
            self.successResultOf(self.store.box_fingerprint(name))
            for name in ("INBOX", "Archive", "Sent")
        ]
        self.assertIsNotNone(found[0])
        self.assertEqual(found[1:], [None, None])
