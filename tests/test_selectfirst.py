# -*- test-case-name: tests.test_selectfirst -*-
"""
The first pair's quick check answered by its C{SELECT}
(L{msync.stores.imapstore.IMAPStore.select_first}, used by
L{msync.runner}), and the next pair's C{SELECT} sent while a pair commits
(L{msync.stores.imapstore.IMAPStore.select_ahead}): whole runs of
L{sync_channels} between the fake IMAP server (far) and Maildirs (near).
The commands the server gets are pinned, and every result is compared with
that of a second world synced the old way (a C{STATUS} for every box
first, each pair's C{SELECT} at its turn): the same state files, server
boxes and Maildirs after every run, whatever changed in between.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from dataclasses import replace

from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import IMAPStore as IMAPStoreConfig
from msync.model import BoxName, LoadRequest
from msync.report import Severity
from msync.runner import SyncRequest
from msync.stores.imapbox import imap_fingerprint
from msync.stores.imapstore import IMAPStore as IMAPStoreImpl
from msync.stores.imapstore import _fingerprint_of
from tests.fakes.imapserver import DEFAULT_OPTIONS, MailStore, ServerOptions
from tests.fakes.mailstore import FakeMailbox
from tests.stores.test_imapstore import FakeNetwork, account
from tests.stores.test_listingcache import _FakeBox
from tests.test_hostile import FakeServers, sync_with_fakes

PASSWORD = "select-first-pw"

CONFIG = """\
IMAPAccount acct
Host imap.example
User user
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore far
Account acct

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX
SubFolders Verbatim

Channel ch
Far :far:
Near :near:
Patterns {patterns}
Create Both
Expunge Both
SyncState *
"""

BOXES = (b"INBOX", b"Archive", b"Sent")
QRESYNC = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities | {b"QRESYNC", b"ENABLE"})
# What the quick check's STATUS asks.
ITEMS = b"(UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ RECENT)"
_UID = re.compile(r",U=([0-9]+)")
_FLAGS = [b"\\Seen", b"\\Flagged", b"\\Answered", b"\\Deleted", b"\\Draft"]


class _StatusFirst(IMAPStoreImpl):
    """
    The IMAP store as before C{select_first} and C{select_ahead}: every
    quick check asks a C{STATUS}, every pair's C{SELECT} goes out at its
    turn (the reference the new way must equal).
    """

    def select_first(self, name: BoxName, path: str, then: object = ()) -> bool:
        return False

    def select_ahead(self, name: BoxName, path: str, known: bytes) -> bool:
        return False


class _World:
    """
    Far boxes of a fake server and a Maildir tree, synced by whole runs.

    @ivar sent: the commands of the last run (tags, LOGIN, LOGOUT left out).
    @ivar status: its exit status.
    @ivar said: what it said besides info messages.
    """

    def __init__(
        self, case: SynchronousTestCase, root: str, status_first: bool, patterns: str
    ) -> None:
        self.case = case
        self.root = root
        self.status_first = status_first
        self.patterns = patterns
        self.options = QRESYNC
        os.makedirs(os.path.join(root, "near"))
        self.mail = MailStore({"user": PASSWORD})
        for name in BOXES:
            box = self.mail.get(name) or self.mail.create(name)
            for number in range(4):
                box.append(b"Subject: %s %d\r\n\r\nbody\r\n" % (name, number))
        self.sent: list[bytes] = []
        # The boxes whose SELECT went out ahead in the last run, and the
        # inode of the INBOX pair's state file and the INBOX Maildir's
        # messages each time.
        self.ahead: list[tuple[BoxName, int, list[tuple[int, str, str]]]] = []
        # The same, each time the reactor's turn that writes a SELECT sent
        # ahead came (the IMAPStore.sent asked for right after it).
        self.turns: list[tuple[int, list[tuple[int, str, str]]]] = []

    def state(self, name: str) -> str:
        return os.path.join(self.root, "near", name, ".mbsyncstate")

    def box(self, name: bytes) -> FakeMailbox:
        box = self.mail.get(name)
        assert box is not None
        return box

    def sync(self) -> list[bytes]:
        """
        One C{msync ch} run, no internal error logged.
        """
        text = CONFIG.format(root=self.root, password=PASSWORD, patterns=self.patterns)
        network = FakeServers(self.mail, self.options)
        ahead = self.ahead = []
        turns = self.turns = []
        inbox = self.state("INBOX")
        near = self.near

        def inbox_inode() -> int:
            return os.stat(inbox).st_ino if os.path.exists(inbox) else 0

        # Set by a SELECT sent ahead, until the turn asked for after it.
        waiting: list[BoxName] = []

        class _Ahead(IMAPStoreImpl):
            def select_ahead(self, name: BoxName, path: str, known: bytes) -> bool:
                sent = super().select_ahead(name, path, known)
                if sent:
                    ahead.append((name, inbox_inode(), near("INBOX")))
                    waiting.append(name)
                return sent

            def sent(self) -> Deferred[None]:
                def came(result: None) -> None:
                    turns.append((inbox_inode(), near("INBOX")))

                turn = super().sent()
                if waiting:
                    waiting.clear()
                    turn.addCallback(came)
                return turn

        kind = _StatusFirst if self.status_first else _Ahead
        with capturedLogs() as logs:
            done, output = sync_with_fakes(text, self.root, network, kind)
        failures = [each["log_failure"] for each in logs if "log_failure" in each]
        if failures:
            failures[0].raiseException()
        self.status = self.case.successResultOf(done)
        self.said = [text for severity, text in output.messages if severity is not Severity.INFO]
        self.sent = [
            command
            for command in network.commands()
            if not command.startswith((b"LOGIN", b"LOGOUT"))
        ]
        return self.sent

    def near(self, name: str) -> list[tuple[int, str, str]]:
        """
        A Maildir box's messages as (UID, folder, flags): new names carry
        times and process numbers.
        """
        found = []
        for subdir in ("new", "cur"):
            directory = os.path.join(self.root, "near", name, subdir)
            for file in os.listdir(directory) if os.path.isdir(directory) else []:
                match = _UID.search(file)
                uid = int(match.group(1)) if match else -1
                found.append((uid, subdir, file.rpartition(":2,")[2]))
        return sorted(found)

    def everything(self) -> list[object]:
        """
        Per box: the state file, the server box and the Maildir box.
        """
        found: list[object] = []
        for name in BOXES:
            text = name.decode()
            path = os.path.join(self.root, "near", text, ".mbsyncstate")
            state = None
            if os.path.exists(path):
                with open(path, "rb") as file:
                    state = file.read()
            box = self.mail.get(name)
            far = None
            if box is not None:
                far = (
                    box.uid_validity,
                    box.uid_next,
                    [(m.uid, sorted(m.flags)) for m in box.messages],
                )
            found.append((text, state, far, self.near(text)))
        return found


class _Case(SynchronousTestCase):
    """
    Two worlds alike: C{self.new} syncs the new way, C{self.old} asks
    C{STATUS} first; every change is made to both.
    """

    patterns = "*"

    def setUp(self) -> None:
        base = os.path.abspath(self.mktemp())
        self.new = _World(self, os.path.join(base, "new"), False, self.patterns)
        self.old = _World(self, os.path.join(base, "old"), True, self.patterns)

    def both(self, change: Callable[[_World], object]) -> None:
        change(self.new)
        change(self.old)

    def sync(self, said: list[str] | None = None) -> list[bytes]:
        """
        Sync both worlds; they must end alike, saying C{said} (nothing but
        info messages by default) and exiting 0 unless they say an error.
        The new world's commands.
        """
        self.old.sync()
        sent = self.new.sync()
        expected = said or []
        self.assertEqual((self.new.status, self.new.said), (int(bool(expected)), expected))
        self.assertEqual((self.old.status, self.old.said), (self.new.status, self.new.said))
        self.assertEqual(self.new.everything(), self.old.everything())
        return sent

    def settled(self) -> None:
        """
        A pull, then a run that leaves every sidecar (the Maildir's new
        names then have their UIDs).
        """
        self.sync()
        self.sync()


def _flag(name: bytes, index: int = 0) -> Callable[[_World], None]:
    def change(world: _World) -> None:
        box = world.box(name)
        message = box.messages[index]
        message.flags ^= {b"\\Flagged"}
        box.touch(message)

    return change


def _status(name: bytes) -> bytes:
    return b"STATUS " + name + b" " + ITEMS


class SelectFirstTests(_Case):
    """
    The command sequence with a server offering CONDSTORE and QRESYNC.
    """

    def test_first_changed(self) -> None:
        """
        The first pair's box is selected without a STATUS first, and
        before the LIST (after which Dovecot's every SELECT re-reads the
        box's UID list); the other boxes' STATUS follow; only the changed
        box is selected.
        """
        self.settled()
        inbox = self.new.box(b"INBOX").highest_modseq
        self.both(_flag(b"INBOX", 1))
        self.assertEqual(
            self.sync(),
            [
                b"NAMESPACE",
                b"ENABLE QRESYNC",
                b"SELECT INBOX",
                b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d VANISHED)" % inbox,
                b'LIST "" *',
                _status(b"Archive"),
                _status(b"Sent"),
            ],
        )
        self.assertEqual(self.new.near("INBOX")[1][2], "F")
        # The old way: a STATUS of every box, then the SELECT.
        self.assertEqual(
            self.old.sent[:5],
            [b"NAMESPACE", b'LIST "" *', _status(b"INBOX"), _status(b"Archive"), _status(b"Sent")],
        )

    def test_nothing_changed(self) -> None:
        """
        A no-op: the first box's SELECT and its FETCH of nothing, the
        others' STATUS; no file is written.
        """
        self.settled()
        before = self.new.everything()
        stamps = {
            name: os.stat(os.path.join(self.new.root, "near", name, ".mbsyncstate")).st_ino
            for name in ("INBOX", "Archive", "Sent")
        }
        sent = self.sync()
        self.assertEqual(
            [command.split(b" ")[0] for command in sent],
            [b"NAMESPACE", b"ENABLE", b"SELECT", b"UID", b"LIST", b"STATUS", b"STATUS"],
        )
        self.assertEqual(self.new.everything(), before)
        for name, inode in stamps.items():
            path = os.path.join(self.new.root, "near", name, ".mbsyncstate")
            self.assertEqual(os.stat(path).st_ino, inode)

    def test_later_changed(self) -> None:
        """
        The first pair unchanged, a later one changed: its SELECT goes out
        when its turn comes (the first box's early SELECT let go).
        """
        self.settled()
        self.both(_flag(b"Sent", 2))
        sent = self.sync()
        self.assertEqual(sent.count(b"SELECT INBOX"), 1)
        self.assertEqual(sent.count(b"SELECT Sent"), 1)
        self.assertNotIn(b"SELECT Archive", sent)
        self.assertEqual(sent.index(_status(b"Sent")) + 1, sent.index(b"SELECT Sent"))
        self.assertNotIn(_status(b"INBOX"), sent)

    def test_new_messages(self) -> None:
        """
        New messages in the first box are fetched behind its early SELECT.
        """
        self.settled()
        self.both(lambda world: world.box(b"INBOX").append(b"Subject: new\r\n\r\nnew\r\n"))
        sent = self.sync()
        self.assertNotIn(_status(b"INBOX"), sent)
        self.assertEqual(len(self.new.near("INBOX")), 5)

    def test_no_qresync(self) -> None:
        """
        Without QRESYNC (CONDSTORE alone) every box is asked a STATUS first,
        as before.
        """
        condstore = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities)
        self.assertIn(b"CONDSTORE", condstore.capabilities)
        self.new.options = self.old.options = condstore
        self.settled()
        self.both(_flag(b"INBOX"))
        sent = self.sync()
        self.assertEqual(sent[2:5], [_status(b"INBOX"), _status(b"Archive"), _status(b"Sent")])
        self.assertEqual(sent, self.old.sent)

    def test_no_condstore(self) -> None:
        """
        Without CONDSTORE nothing is vouched for: no STATUS, every pair
        synced in full, as before.
        """
        plain = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities - {b"CONDSTORE"})
        self.new.options = self.old.options = plain
        self.settled()
        self.both(_flag(b"Archive"))
        sent = self.sync()
        self.assertFalse([command for command in sent if command.startswith(b"STATUS")])
        self.assertEqual(sent, self.old.sent)

    def test_nomodseq(self) -> None:
        """
        A box that turned NOMODSEQ since: its SELECT says so, the pair runs
        in full on that SELECT (no STATUS of it, no second SELECT).
        """
        self.settled()
        self.new.options = self.old.options = replace(QRESYNC, nomodseq=True)
        self.both(_flag(b"INBOX", 2))
        sent = self.sync()
        self.assertEqual(sent.count(b"SELECT INBOX"), 1)
        self.assertNotIn(_status(b"INBOX"), sent)

    def test_modseq_backwards(self) -> None:
        """
        HIGHESTMODSEQ lower than the sidecar's (a restored server): the
        pair runs, as after a STATUS saying so.
        """
        self.settled()

        def restore(world: _World) -> None:
            box = world.box(b"INBOX")
            box.highest_modseq -= 3
            box.messages[0].flags ^= {b"\\Answered"}

        self.both(restore)
        sent = self.sync()
        self.assertEqual(sent.count(b"SELECT INBOX"), 1)
        self.assertEqual(self.new.near("INBOX")[0][2], "R")

    def test_uidvalidity_changed(self) -> None:
        """
        A new UIDVALIDITY: the pair runs (mbsync's UIDVALIDITY handling),
        as after a STATUS saying so.
        """
        self.settled()

        def renumber(world: _World) -> None:
            world.box(b"INBOX").uid_validity += 100

        self.both(renumber)
        sent = self.sync(
            ["Error: channel ch, far side box INBOX: Unable to recover from UIDVALIDITY change."]
        )
        self.assertEqual(sent.count(b"SELECT INBOX"), 1)
        self.assertNotIn(_status(b"INBOX"), sent)


class SelectAheadTests(_Case):
    """
    The next pair's C{SELECT} sent while a pair commits (C{select_ahead}).
    """

    def test_next_changed(self) -> None:
        """
        Every box's flags changed on the server: the second and third
        boxes' SELECT and FETCH go out ahead, each right after the pair
        before was reconciled (its Maildir not yet renamed, its state not
        committed); the commands are those of each SELECT at its turn.
        """
        self.settled()
        modseqs = [self.new.box(name).highest_modseq for name in BOXES]
        before = self.new.near("INBOX")
        for name in BOXES:
            self.both(_flag(name, 1))
        inode = os.stat(self.new.state("INBOX")).st_ino
        sent = self.sync()
        self.assertEqual([each[0] for each in self.new.ahead], ["Archive", "Sent"])
        # The INBOX pair had neither renamed nor committed when Archive's
        # SELECT went out, nor when the reactor's turn that writes it came:
        # the pair waited for that turn before its renames and commit.
        self.assertEqual(self.new.ahead[0][1:], (inode, before))
        self.assertEqual(len(self.new.turns), 2)
        self.assertEqual(self.new.turns[0], (inode, before))
        self.assertNotEqual(self.new.near("INBOX"), before)
        self.assertNotEqual(os.stat(self.new.state("INBOX")).st_ino, inode)
        fetch = b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d VANISHED)"
        self.assertEqual(
            sent,
            [
                b"NAMESPACE",
                b"ENABLE QRESYNC",
                b"SELECT INBOX",
                fetch % modseqs[0],
                b'LIST "" *',
                _status(b"Archive"),
                _status(b"Sent"),
                b"SELECT Archive",
                fetch % modseqs[1],
                b"SELECT Sent",
                fetch % modseqs[2],
            ],
        )
        self.assertEqual(self.old.sent[-4:], sent[-4:])
        for name in BOXES:
            self.assertEqual(self.new.near(name.decode())[1][2], "F")

    def test_next_unchanged(self) -> None:
        """
        The next pair unchanged (its STATUS vouches for it): nothing is sent
        ahead, it is skipped unopened; a later changed pair is selected at
        its turn.
        """
        self.settled()
        self.both(_flag(b"INBOX", 0))
        self.both(_flag(b"Sent", 0))
        sent = self.sync()
        self.assertEqual(self.new.ahead, [])
        self.assertNotIn(b"SELECT Archive", sent)
        self.assertEqual(sent.count(b"SELECT Sent"), 1)

    def test_new_messages(self) -> None:
        """
        New messages in the next box: fetched behind its SELECT sent ahead.
        """
        self.settled()
        self.both(_flag(b"INBOX", 0))
        self.both(lambda world: world.box(b"Archive").append(b"Subject: n\r\n\r\nnew\r\n"))
        self.sync()
        self.assertEqual([each[0] for each in self.new.ahead], ["Archive"])
        self.assertEqual(len(self.new.near("Archive")), 5)

    def test_after_copies(self) -> None:
        """
        New messages in the first box: the next box's SELECT goes out only
        once they are copied (the first box's FETCH of their bodies is
        before it), still before the first pair commits.
        """
        self.settled()
        self.both(lambda world: world.box(b"INBOX").append(b"Subject: n\r\n\r\nnew\r\n"))
        self.both(_flag(b"Archive", 0))
        inode = os.stat(self.new.state("INBOX")).st_ino
        sent = self.sync()
        self.assertEqual([each[:2] for each in self.new.ahead], [("Archive", inode)])
        # The new message is in the Maildir already.
        self.assertEqual(len(self.new.ahead[0][2]), 5)
        bodies = [n for n, c in enumerate(sent) if b"BODY.PEEK[]" in c]
        self.assertTrue(bodies)
        self.assertLess(bodies[-1], sent.index(b"SELECT Archive"))

    def test_far_flag_update(self) -> None:
        """
        A near change to send to the server in the first pair (so a full
        run): the next box's SELECT goes out after that pair's STORE.
        """
        self.settled()

        def near_flag(world: _World) -> None:
            box = os.path.join(world.root, "near", "INBOX")
            sub, name = min((sub, n) for sub in ("cur", "new") for n in os.listdir(f"{box}/{sub}"))
            base, _, flags = name.partition(":2,")
            os.rename(
                os.path.join(box, sub, name),
                os.path.join(box, "cur", base + ":2," + "".join(sorted(flags + "F"))),
            )

        self.both(near_flag)
        self.both(_flag(b"INBOX", 2))
        self.both(_flag(b"Archive", 0))
        sent = self.sync()
        stores = [n for n, c in enumerate(sent) if c.startswith(b"UID STORE")]
        self.assertTrue(stores)
        self.assertEqual([each[0] for each in self.new.ahead], ["Archive"])
        self.assertLess(stores[-1], sent.index(b"SELECT Archive"))

    def test_verbose(self) -> None:
        """
        Nothing goes ahead with -V (no quick check, every SELECT at its
        turn).
        """
        self.settled()
        for name in BOXES:
            self.both(_flag(name, 2))
        text = CONFIG.format(root=self.new.root, password=PASSWORD, patterns="*")
        network = FakeServers(self.new.mail, QRESYNC)
        request = SyncRequest(verbose=True)
        done, _ = sync_with_fakes(text, self.new.root, network, IMAPStoreImpl, request)
        self.assertEqual(self.successResultOf(done), 0)
        self.assertEqual(
            [c for c in network.commands() if c.startswith(b"SELECT")],
            [b"SELECT INBOX", b"SELECT Archive", b"SELECT Sent"],
        )


class MissingBoxTests(_Case):
    """
    The first pair's box gone from the server: its early SELECT fails, the
    quick check says changed, and the opening meets that failure (as
    mbsync: a box the state knows is not created again).
    """

    patterns = "Archive Sent"

    def test_missing(self) -> None:
        self.settled()

        def remove(world: _World) -> None:
            del world.mail.mailboxes[b"Archive"]

        self.both(remove)
        sent = self.sync(["Error: channel ch: far side box Archive cannot be opened."])
        self.assertEqual(
            sent,
            [
                b"NAMESPACE",
                b'LIST "" *',
                b"ENABLE QRESYNC",
                b"SELECT Archive",
                # Sent behind the SELECT: it fails with it.
                b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 5 VANISHED)",
                _status(b"Sent"),
            ],
        )
        self.assertEqual(self.old.sent[2:4], [_status(b"Archive"), _status(b"Sent")])


# Changes to the far boxes (the quick check's business) and a few near.
def _far_flags(world: _World, rng: random.Random) -> None:
    box = world.box(rng.choice(BOXES))
    if box.messages:
        message = rng.choice(box.messages)
        message.flags = {flag for flag in _FLAGS if rng.random() < 0.3}
        box.touch(message)


def _far_new(world: _World, rng: random.Random) -> None:
    box = world.box(rng.choice(BOXES))
    box.append(b"Subject: new %d\r\n\r\nbody\r\n" % rng.randrange(1000))


def _far_expunge(world: _World, rng: random.Random) -> None:
    box = world.box(rng.choice(BOXES))
    if box.messages:
        box.expunge(rng.choice(box.messages))


def _near_new(world: _World, rng: random.Random) -> None:
    number = rng.randrange(10**6)
    name = rng.choice(BOXES).decode()
    with open(os.path.join(world.root, "near", name, "new", f"{number}.local.host"), "wb") as file:
        file.write(b"Subject: local %d\n\nbody\n" % number)


def _uid_of_name(name: str) -> int:
    match = _UID.search(name)
    return int(match.group(1)) if match else 0


def _near_flags(world: _World, rng: random.Random) -> None:
    name = rng.choice(BOXES).decode()
    box = os.path.join(world.root, "near", name)
    # By UID (names differ between the worlds in their times), then the
    # names without one (those of _near_new, alike in both).
    files = sorted(
        ((sub, n) for sub in ("cur", "new") for n in os.listdir(os.path.join(box, sub))),
        key=lambda found: (_uid_of_name(found[1]), found[1] if "U=" not in found[1] else ""),
    )
    if files:
        sub, file = rng.choice(files)
        flags = "".join(letter for letter in "DFRST" if rng.random() < 0.3)
        base = file.partition(":2,")[0]
        os.rename(os.path.join(box, sub, file), os.path.join(box, "cur", f"{base}:2,{flags}"))


CHANGES: list[tuple[float, Callable[[_World, random.Random], None]]] = [
    (5, _far_flags),
    (2, _far_new),
    (2, _far_expunge),
    (1, _near_new),
    (2, lambda world, rng: None),
]


class DifferentialTests(_Case):
    """
    A random sequence of changes, synced the new way and the old: the same
    results after every run.
    """

    def test_same_results(self) -> None:
        rng = random.Random(11)
        self.settled()
        # Runs in which the old way accessed the first box twice (its
        # STATUS, then its SELECT); the new way always once. Boxes whose
        # SELECT went out ahead.
        doubled = ahead = 0
        for _ in range(30):
            for _ in range(rng.randrange(0, 3)):
                change = rng.choices([c for _, c in CHANGES], [w for w, _ in CHANGES])[0]
                state = rng.getstate()
                change(self.new, rng)
                rng.setstate(state)
                change(self.old, rng)
            sent = self.sync()
            self.assertNotIn(_status(b"INBOX"), sent)
            self.assertEqual(sent.count(b"SELECT INBOX"), 1)
            accesses = [self.old.sent.count(c) for c in (_status(b"INBOX"), b"SELECT INBOX")]
            doubled += accesses == [1, 1]
            ahead += len(self.new.ahead)
        self.assertGreaterEqual(doubled, 3)
        self.assertGreaterEqual(ahead, 3)


class AheadDifferentialTests(_Case):
    """
    Changes on both sides, flags included (a near flag change is a STORE,
    a near deletion an expunge on the server): the same results the new
    way (first box by its SELECT, SELECTs ahead) and the old, after every
    run; SELECTs went ahead.
    """

    def test_same_results(self) -> None:
        rng = random.Random(12)
        changes = [*CHANGES, (4, _near_flags)]
        self.settled()
        ahead = 0
        for _ in range(30):
            for _ in range(rng.randrange(1, 4)):
                change = rng.choices([c for _, c in changes], [w for w, _ in changes])[0]
                state = rng.getstate()
                change(self.new, rng)
                rng.setstate(state)
                change(self.old, rng)
            # Conflicting changes make both say a notice: the same one.
            self.old.sync()
            self.new.sync()
            self.assertEqual((self.new.status, self.new.said), (self.old.status, self.old.said))
            self.assertEqual(self.new.everything(), self.old.everything())
            ahead += len(self.new.ahead)
        self.assertGreaterEqual(ahead, 3)


class StoreTests(_FakeBox, SynchronousTestCase):
    """
    L{IMAPStoreImpl.select_first} on its own: when it sends, and the
    fingerprint its C{SELECT} gives.
    """

    options = QRESYNC

    def setUp(self) -> None:
        super().setUp()
        self.archive = self.mail.create(b"Archive")
        self.archive.append(b"Subject: a\r\n\r\nbody\r\n")
        # The listing cache a sync left.
        mailbox = self.open()
        self.resolve(mailbox.load(LoadRequest()))
        mailbox.save_listing()
        self.resolve(mailbox.close())
        self.assertTrue(os.path.exists(self.path))

    def connected(self) -> IMAPStoreImpl:
        store = self.network.store(IMAPStoreConfig("far", account()))
        self.resolve(Deferred.fromCoroutine(store.session()))
        return store

    def shown(self) -> list[bytes]:
        server = self.network.servers[-1]
        return [c.split(b" ", 1)[1].rstrip(b"\r\n") for c in server.commands[1:]]

    def selected_then(self, command: bytes) -> list[bytes]:
        """
        The commands of a session whose INBOX C{SELECT} and listing FETCH
        went out early, then C{command}.
        """
        modseq = self.box.highest_modseq
        return [
            b"NAMESPACE",
            b"ENABLE QRESYNC",
            b"SELECT INBOX",
            b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq,
            command,
        ]

    def status_fingerprint(self, name: BoxName) -> bytes | None:
        """
        What a C{STATUS} says, in a session of its own.
        """
        return self.resolve(self.connected().box_fingerprint(name))

    def test_fingerprint_from_select(self) -> None:
        """
        The box's fingerprint is its SELECT's, equal to a STATUS's; the
        other boxes' STATUS go once the SELECT has answered; opening the
        box sends nothing more.
        """
        expected = self.status_fingerprint("INBOX")
        archive = self.status_fingerprint("Archive")
        store = self.connected()
        self.assertTrue(store.select_first("INBOX", self.path, then=["Archive"]))
        self.assertTrue(store.selecting("INBOX"))
        self.assertEqual(self.resolve(store.box_fingerprint("INBOX")), expected)
        self.assertEqual(self.resolve(store.box_fingerprint("Archive")), archive)
        self.assertEqual(self.shown(), self.selected_then(b"STATUS Archive " + ITEMS))
        mailbox = self.resolve(store.open_box("INBOX"))
        self.assertEqual(len(self.shown()), 5)
        self.assertFalse(store.selecting("INBOX"))
        self.resolve(mailbox.close())

    def test_first_box_before_list(self) -> None:
        """
        L{IMAPStoreImpl.expect_first_box} before connecting: the box's
        C{SELECT} and its FETCH go out once logged in, before the C{LIST}
        that would have gone with the C{NAMESPACE}; the listing takes that
        LIST's answer, and the box's fingerprint and opening take the
        SELECT's. Once connected, the hint does nothing.
        """
        expected = self.status_fingerprint("INBOX")
        store = self.network.store(IMAPStoreConfig("far", account()))
        store.expect_list_boxes()
        store.expect_first_box("INBOX", self.path)
        self.resolve(Deferred.fromCoroutine(store.session()))
        self.assertTrue(store.selecting("INBOX"))
        listed: list[str] = self.resolve(store.list_boxes())
        self.assertEqual(sorted(listed), ["Archive", "INBOX"])
        self.assertEqual(self.resolve(store.box_fingerprint("INBOX")), expected)
        self.assertEqual(self.shown(), self.selected_then(b'LIST "" *'))
        mailbox = self.resolve(store.open_box("INBOX"))
        self.assertEqual(len(self.shown()), 5)
        self.resolve(mailbox.close())
        store.expect_first_box("Archive", self.path)
        self.assertIsNone(store._first_hint)

    def test_first_box_not_offered(self) -> None:
        """
        Without QRESYNC the hint sends nothing, and the LIST still goes
        out before anything is asked.
        """
        self.network = FakeNetwork(self.mail, DEFAULT_OPTIONS)
        store = self.network.store(IMAPStoreConfig("far", account()))
        store.expect_list_boxes()
        store.expect_first_box("INBOX", self.path)
        self.resolve(Deferred.fromCoroutine(store.session()))
        self.assertFalse(store.selecting("INBOX"))
        self.assertEqual(self.shown(), [b"NAMESPACE", b'LIST "" *'])

    def test_forget_unopened(self) -> None:
        """
        A box whose pair was skipped: its SELECT let go, another box's may
        go out early.
        """
        store = self.connected()
        self.assertTrue(store.select_first("INBOX", self.path))
        self.assertIsNotNone(self.resolve(store.box_fingerprint("INBOX")))
        self.assertFalse(store.expect_listing("Archive", self.path, select_now=True))
        store.forget_unopened()
        self.assertFalse(store.selecting("INBOX"))
        self.assertTrue(store.expect_listing("Archive", self.path, select_now=True))
        self.network.flush()
        self.assertEqual(self.shown()[-2], b"SELECT Archive")

    def test_select_ahead(self) -> None:
        """
        The next box's SELECT goes ahead only once its STATUS has answered
        and says it changed, and only while no box is open; a pair's
        C{forget_unopened} keeps it, its own box's lets it go.
        """
        archive = self.status_fingerprint("Archive")
        assert archive is not None
        store = self.connected()
        store.prefetch_fingerprints(["Archive"])
        # Not answered yet.
        self.assertFalse(store.select_ahead("Archive", self.path, b"other"))
        self.network.flush()
        # Answered, and as the sidecar knew it.
        self.assertFalse(store.select_ahead("Archive", self.path, archive))
        mailbox = self.resolve(store.open_box("INBOX"))
        self.assertFalse(store.select_ahead("Archive", self.path, b"other"))
        self.resolve(mailbox.close())
        self.assertTrue(store.select_ahead("Archive", self.path, b"other"))
        self.network.flush()
        self.assertEqual(self.shown()[-2], b"SELECT Archive")
        store.forget_unopened("INBOX")
        self.assertTrue(store.selecting("Archive"))
        self.assertEqual(self.resolve(store.box_fingerprint("Archive")), archive)
        store.forget_unopened("Archive")
        self.assertFalse(store.selecting("Archive"))

    def test_not_sent(self) -> None:
        """
        Nothing goes out (and the caller asks STATUS as before) without a
        listing cache, for a box already prefetched, or before connecting.
        """
        store = self.connected()
        sent = self.shown()
        self.assertFalse(store.select_first("INBOX", self.path + ".missing"))
        store.prefetch_fingerprints(["INBOX"])
        self.assertFalse(store.select_first("INBOX", self.path))
        self.network.flush()
        self.assertEqual(self.shown(), [*sent, b"STATUS INBOX " + ITEMS])
        fresh = self.network.store(IMAPStoreConfig("far", account()))
        self.assertFalse(fresh.select_first("INBOX", self.path))

    def test_not_offered(self) -> None:
        """
        A server without QRESYNC (its SELECT need not say HIGHESTMODSEQ):
        STATUS as before.
        """
        self.network = FakeNetwork(self.mail, DEFAULT_OPTIONS)
        store = self.connected()
        self.assertFalse(store.select_first("INBOX", self.path))
        self.assertFalse(store.selecting("INBOX"))

    def test_vouching(self) -> None:
        """
        The fingerprint's values: a missing one, mod-sequences 0 (none) or
        a message still \\Recent vouch for nothing.
        """
        self.assertEqual(_fingerprint_of(5, 9, 8, 70, 0), imap_fingerprint(5, 9, 8, 70))
        self.assertIsNone(_fingerprint_of(5, 9, 8, 70, 1))
        self.assertIsNone(_fingerprint_of(5, 9, 8, 70, None))
        self.assertIsNone(_fingerprint_of(5, 9, 8, 0, 0))
        self.assertIsNone(_fingerprint_of(5, 9, 8, None, 0))
        self.assertIsNone(_fingerprint_of(5, 9, None, 70, 0))
        self.assertIsNone(_fingerprint_of(5, None, 8, 70, 0))
        self.assertIsNone(_fingerprint_of(None, 9, 8, 70, 0))
