# -*- test-case-name: tests.sync.test_partialrun -*-
"""
Tests for the partial run of L{msync.sync.engine.sync_pair}: when only the
far box changed since a sync that left a fixed point, only the records the
far changes touch are parsed and planned, and the state file keeps every
other line as read. Differential: the same random sequence of changes,
synced once with the fast paths (C{quick}) and once in full, leaves the
same state file (byte for byte), the same server box and the same Maildir.
"""

from __future__ import annotations

import os
import random
import re
import zlib
from array import array
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from msync.config import schema
from msync.config.schema import IMAPStore as IMAPStoreConfig
from msync.digests import sha256
from msync.errors import StateError
from msync.model import FlagChange, Flags, LoadRequest
from msync.stores import maildirbox
from msync.stores.maildirbox import MaildirMailbox, scan_fingerprint
from msync.stores.maildirstore import MaildirStore
from msync.sync import quickcheck, statefile, statetext
from msync.sync.engine import sync_pair
from msync.sync.journal import JOURNAL_VERSION
from msync.sync.journal5 import JOURNAL_V5
from msync.sync.options import PairOptions, SideOptions
from msync.sync.results import PairResult
from msync.sync.statelock import SystemCalls
from msync.sync.statepaths import StatePaths, state_paths
from tests.fakes.imapserver import DEFAULT_OPTIONS, MailStore, ServerOptions
from tests.fakes.mailstore import FakeMailbox
from tests.stores.test_imapstore import PASSWORD, FakeNetwork, account
from tests.sync.test_crash import _JournalAbort

FULL = PairOptions(
    far=SideOptions(create=True, expunge=True),
    near=SideOptions(create=True, expunge=True),
    channel="test",
)
_ALL, _NONE = schema.SyncOp.ALL, schema.SyncOp.NONE
OPTIONS = {
    "full": FULL,
    "no-expunge": replace(
        FULL, far=replace(FULL.far, expunge=False), near=replace(FULL.near, expunge=False)
    ),
    "pull": replace(FULL, far=replace(FULL.far, ops=_NONE), near=replace(FULL.near, ops=_ALL)),
    "push": replace(FULL, far=replace(FULL.far, ops=_ALL), near=replace(FULL.near, ops=_NONE)),
    "expunge-near": replace(FULL, far=replace(FULL.far, expunge=False)),
}
_ALL15 = _ALL | schema.SyncOp.OLD
#: Following isync 1.5 (its C{Sync All} includes C{Old}; C{pull} leaves the
#: local messages unknown, so the near max stops below the pulled ones).
OPTIONS15 = {
    name: replace(options, isync15=True)
    for name, options in {
        **OPTIONS,
        "all-old": replace(
            FULL, far=replace(FULL.far, ops=_ALL15), near=replace(FULL.near, ops=_ALL15)
        ),
        "pull-old": replace(
            FULL, far=replace(FULL.far, ops=_NONE), near=replace(FULL.near, ops=_ALL15)
        ),
        "expunge-far-old": replace(
            FULL,
            far=replace(FULL.far, ops=_ALL15),
            near=replace(FULL.near, ops=_ALL15, expunge=False),
        ),
    }.items()
}
_FLAGS = [b"\\Seen", b"\\Flagged", b"\\Answered", b"\\Deleted", b"\\Draft"]
_UID = re.compile(r",U=([0-9]+)")


class _Pair:
    """
    One far box of the fake server and one Maildir INBOX, synced by
    L{sync_pair} in a new session each time.
    """

    def __init__(
        self,
        case: SynchronousTestCase,
        root: str,
        messages: int,
        server: ServerOptions = DEFAULT_OPTIONS,
    ) -> None:
        self.case = case
        self.server = server
        self.mail = MailStore({"user": PASSWORD})
        self.box: FakeMailbox = self.mail.create(b"INBOX")
        for number in range(messages):
            self.box.append(b"Subject: %d\r\n\r\nbody\r\n" % number, [b"\\Seen"] * (number % 2))
        self.root = root
        os.makedirs(root)
        self.paths: StatePaths = state_paths(
            root + "/state/", None, "far", "INBOX", "near", "INBOX", None
        )
        self.tuids = 0
        # Files beside the state as earlier runs left them (_sabotage).
        self.kept: dict[str, list[bytes]] = {}
        # The Maildir's clock: times well past (UIDVALIDITY from it).
        self.clock = Clock()
        self.clock.advance(1_700_000_000)

    def new_tuid(self) -> str:
        self.tuids += 1
        return f"tuid{self.tuids:08d}"

    def sync(
        self, options: PairOptions, quick: bool, state_system: SystemCalls | None = None
    ) -> PairResult:
        """
        One sync; it must succeed.
        """
        done = self.start(options, quick, state_system)
        result = self.case.successResultOf(done)
        return result

    def crash(self, options: PairOptions, state_system: SystemCalls) -> None:
        """
        One sync that dies (a journal line it cannot write: L{_JournalAbort}).
        """
        self.case.failureResultOf(self.start(options, True, state_system), StateError)

    def start(
        self, options: PairOptions, quick: bool, state_system: SystemCalls | None
    ) -> Deferred[PairResult]:
        """
        One sync run to its end: its result, the stores closed.
        """
        network = FakeNetwork(self.mail, self.server)
        far = network.store(IMAPStoreConfig("far", account()))
        near = MaildirStore(
            schema.MaildirStore(name="near", inbox=f"{self.root}/INBOX", path=f"{self.root}/"),
            fsync=False,
            clock=self.clock,
        )
        done = Deferred.fromCoroutine(
            sync_pair(
                far,
                near,
                "INBOX",
                "INBOX",
                options,
                self.paths,
                quick=quick,
                new_tuid=self.new_tuid,
                state_system=state_system,
                journal_version=JOURNAL_V5 if options.isync15 else JOURNAL_VERSION,
            )
        )
        for _ in range(100):
            network.flush()
            if done.called:
                break
        network.flush()
        self.case.successResultOf(near.close())
        return done

    def near(self) -> dict[int, str]:
        """
        The Maildir's files by UID.
        """
        found: dict[int, str] = {}
        for subdir in ("new", "cur"):
            directory = f"{self.root}/INBOX/{subdir}"
            for name in os.listdir(directory) if os.path.isdir(directory) else []:
                match = _UID.search(name)
                found[int(match.group(1)) if match else -len(found) - 1] = f"{subdir}/{name}"
        return found

    def everything(self) -> tuple[object, ...]:
        """
        The state file, the server box and the Maildir (by UID, folder and
        flags: new names carry times and process numbers).
        """
        state = None
        if os.path.exists(self.paths.state):
            with open(self.paths.state, "rb") as file:
                state = file.read()
        far = [(m.uid, sorted(m.flags)) for m in self.box.messages]
        near = sorted(
            (uid, name.split("/")[0], name.rpartition(":2,")[2])
            for uid, name in self.near().items()
        )
        return (state, far, self.box.uid_next, near)


def _far_flags(pair: _Pair, rng: random.Random) -> None:
    if not pair.box.messages:
        return
    message = rng.choice(pair.box.messages)
    message.flags = {flag for flag in _FLAGS if rng.random() < 0.3}
    pair.box.touch(message)


def _far_new(pair: _Pair, rng: random.Random) -> None:
    for _ in range(rng.randrange(1, 3)):
        flags = [flag for flag in _FLAGS[:3] if rng.random() < 0.3]
        pair.box.append(b"Subject: new %d\r\n\r\nbody\r\n" % rng.randrange(1000), flags)


def _far_expunge(pair: _Pair, rng: random.Random) -> None:
    if pair.box.messages:
        pair.box.expunge(rng.choice(pair.box.messages))


def _near_rename(pair: _Pair, rng: random.Random) -> None:
    files = pair.near()
    if not files:
        return
    name = files[rng.choice(sorted(files))]
    subdir, base = name.split("/")
    letters = "".join(letter for letter in "DFRST" if rng.random() < 0.3)
    os.rename(
        f"{pair.root}/INBOX/{name}",
        f"{pair.root}/INBOX/cur/{base.partition(':2,')[0]}:2,{letters}",
    )


def _near_new(pair: _Pair, rng: random.Random) -> None:
    number = rng.randrange(10**6)
    with open(f"{pair.root}/INBOX/new/{number}.local.host", "wb") as delivered:
        delivered.write(b"Subject: local %d\n\nbody\n" % number)


def _near_remove(pair: _Pair, rng: random.Random) -> None:
    files = pair.near()
    if files:
        os.unlink(f"{pair.root}/INBOX/{files[rng.choice(sorted(files))]}")


# Mostly far changes (the partial run's case), some near ones (a full run).
CHANGES: list[tuple[float, Callable[[_Pair, random.Random], None]]] = [
    (6, _far_flags),
    (2, _far_new),
    (2, _far_expunge),
    (0.5, _near_rename),
    (0.5, _near_new),
    (0.3, _near_remove),
]


def _change_both(
    rng: random.Random,
    changes: list[tuple[float, Callable[[_Pair, random.Random], None]]],
    quick: _Pair,
    full: _Pair,
) -> None:
    """
    Make one to three changes drawn from C{changes} (by weight), each to
    both pairs with the same random draws, so they stay alike.
    """
    for _ in range(rng.randrange(1, 4)):
        weights = [weight for weight, _ in changes]
        change = rng.choices([c for _, c in changes], weights)[0]
        state = rng.getstate()
        change(quick, rng)
        rng.setstate(state)
        change(full, rng)


class DifferentialTests(SynchronousTestCase):
    """
    Fast paths against full runs, on random change sequences (CONDSTORE
    without QRESYNC: expunges show only in the count).
    """

    server = DEFAULT_OPTIONS
    #: How many runs at least are partial (none without CONDSTORE).
    partial_share = 4
    #: The option sets drawn from.
    option_sets = OPTIONS
    seeds = 16

    def test_same_results(self) -> None:
        """
        For several seeds and option sets: after every step of random
        changes (the same in both), the quick pair and the full pair hold
        identical state files, server boxes and Maildirs; most steps were
        partial runs.
        """
        partial = runs = 0
        option_sets = self.option_sets
        for seed in range(self.seeds):
            name = sorted(option_sets)[seed % len(option_sets)]
            options = option_sets[name]
            base = os.path.abspath(self.mktemp())
            quick = _Pair(self, base + "/quick", 30, self.server)
            full = _Pair(self, base + "/full", 30, self.server)
            rng = random.Random(seed)
            for step in range(12):
                where = f"seed {seed} ({name}), step {step}"
                if step:
                    _change_both(rng, CHANGES, quick, full)
                result = quick.sync(options, quick=True)
                full.sync(options, quick=False)
                runs += 1
                partial += result.partial
                self.assertEqual(quick.everything(), full.everything(), where)
        # Most runs after far-only changes go partial.
        if self.partial_share:
            self.assertGreater(partial, runs // self.partial_share)
        else:
            self.assertEqual(partial, 0)

    def test_partial_reads_few(self) -> None:
        """
        A far flag change on a pair left as a fixed point is a partial run
        (where the server can say what changed), and its state file equals
        the full run's.
        """
        base = os.path.abspath(self.mktemp())
        quick = _Pair(self, base + "/quick", 50, self.server)
        full = _Pair(self, base + "/full", 50, self.server)
        for pair in (quick, full):
            pair.sync(FULL, quick=False)
            message = pair.box.messages[10]
            message.flags = {b"\\Flagged"}
            pair.box.touch(message)
        result = quick.sync(FULL, quick=True)
        self.assertEqual(result.partial, bool(self.partial_share))
        self.assertEqual(list(result.flag_updates.values()), [0, 1])
        full.sync(FULL, quick=False)
        self.assertEqual(quick.everything(), full.everything())
        with open(quick.paths.state, "rb") as state:
            self.assertIn(b"11 11 F\n", state.read())


class QresyncDifferentialTests(DifferentialTests):
    """
    The same with QRESYNC (expunges named by C{VANISHED}).
    """

    server = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities | {b"QRESYNC", b"ENABLE"})


class Isync15DifferentialTests(QresyncDifferentialTests):
    """
    The same following isync 1.5: its max UIDs, unjournaled, follow the
    paired messages of a whole listing up to the first unknown one, which
    a partial run finds from the boxes' UIDs; its C{Sync Old}.
    """

    option_sets = OPTIONS15
    seeds = 27
    partial_share = 5


class Isync15CondstoreDifferentialTests(DifferentialTests):
    """
    Following isync 1.5, with CONDSTORE but not QRESYNC.
    """

    option_sets = OPTIONS15
    seeds = 18
    partial_share = 5


class Isync15ToppingTests(SynchronousTestCase):
    """
    Following isync 1.5, a partial run raises a max UID as a full run's
    listing would: by the paired messages before the first unknown one,
    which the partial listing lacks.
    """

    server = QresyncDifferentialTests.server

    def _pairs(self, options: PairOptions) -> tuple[_Pair, _Pair]:
        base = os.path.abspath(self.mktemp())
        return (
            _Pair(self, base + "/quick", 5, self.server),
            _Pair(self, base + "/full", 5, self.server),
        )

    def test_far_unknown_gone(self) -> None:
        """
        Pushing only (flags pulled): the far box's own messages stay
        unknown, so the copies pushed there (UIDs 6 to 8) leave
        C{MaxPulledUid} at 0. Once those unknown messages are expunged and
        a copy is flagged, a full listing pairs every far message, raising
        C{MaxPulledUid} to 8: the partial run writes the same.
        """
        options = replace(
            OPTIONS15["full"],
            far=replace(FULL.far, ops=_ALL),
            near=replace(FULL.near, ops=schema.SyncOp.FLAGS),
        )
        quick, full = self._pairs(options)
        for pair in (quick, full):
            pair.sync(options, quick=False)
            os.makedirs(f"{pair.root}/INBOX/new", exist_ok=True)
            for number in range(3):
                with open(f"{pair.root}/INBOX/new/{number}.local.host", "wb") as delivered:
                    delivered.write(b"Subject: local %d\n\nbody\n" % number)
            pair.sync(options, quick=False)
            pair.sync(options, quick=False)
        with open(quick.paths.state, "rb") as state:
            self.assertIn(b"MaxPulledUid 0\n", state.read())
        for pair in (quick, full):
            for message in list(pair.box.messages[:5]):
                pair.box.expunge(message)
            copy = pair.box.messages[1]
            self.assertEqual(copy.uid, 7)
            copy.flags = {b"\\Flagged"}
            pair.box.touch(copy)
        result = quick.sync(options, quick=True)
        self.assertTrue(result.partial)
        full.sync(options, quick=False)
        self.assertEqual(quick.everything(), full.everything())
        with open(quick.paths.state, "rb") as state:
            self.assertIn(b"MaxPulledUid 8\n", state.read())

    def test_unknown_old(self) -> None:
        """
        With C{Sync Old}, an unknown far message at or below the max UID
        (here a new one already deleted: the near side would expunge it, so
        isync 1.5 makes its record and kills it at once, raising the max,
        and the far side, which does not expunge, keeps it) is journaled by
        every full run: such a pair gets a full run.
        """
        options = OPTIONS15["expunge-far-old"]
        options = replace(
            options,
            far=replace(options.far, expunge=False),
            near=replace(options.near, expunge=True),
        )
        quick, full = self._pairs(options)
        for pair in (quick, full):
            pair.sync(options, quick=False)
            pair.box.append(b"Subject: doomed\r\n\r\nbody\r\n", [b"\\Deleted"])
            pair.sync(options, quick=False)
            pair.sync(options, quick=False)
            message = pair.box.messages[0]
            message.flags = {b"\\Flagged"}
            pair.box.touch(message)
        with open(quick.paths.state, "rb") as state:
            text = state.read()
        self.assertIn(b"MaxPulledUid 6\n", text)
        self.assertNotIn(b"\n6 ", text)
        result = quick.sync(options, quick=True)
        self.assertFalse(result.partial)
        full.sync(options, quick=False)
        self.assertEqual(quick.everything(), full.everything())


class ToppingRaiseTests(SynchronousTestCase):
    """
    L{reconcile.topping_raise}: the highest paired UID before the first
    unknown one, in a listing from the floor on.
    """

    def test_cases(self) -> None:
        """
        Every paired UID first (in C, any order of the records): the
        highest; an unknown one stops it; one below the floor does not; a
        paired UID the box no longer holds is skipped; none paired: 0.
        """
        from msync.sync.reconcile import topping_raise

        held = array("I", [2, 3, 5, 8, 9])
        self.assertEqual(topping_raise(held, array("I", [5, 0, 3, 2]), 1), 5)
        self.assertEqual(topping_raise(held, [2, 3, 5, 8, 9], 1), 9)
        self.assertEqual(topping_raise(held, [2, 5, 8], 1), 2)
        self.assertEqual(topping_raise(held, [5, 8], 4), 8)
        self.assertEqual(topping_raise(held, [5, 8], 3), 0)
        self.assertEqual(topping_raise(held, [4, 5, 8, 9], 4), 9)
        self.assertEqual(topping_raise(held, [2, 3, 4, 5], 1), 5)
        self.assertEqual(topping_raise(held, [], 1), 0)
        self.assertEqual(topping_raise([], [1, 2], 1), 0)

    def test_random(self) -> None:
        """
        Against the rule written plainly, on random boxes and records.
        """
        from msync.sync.reconcile import topping_raise

        rng = random.Random(5)
        for _ in range(500):
            held = sorted(rng.sample(range(1, 40), rng.randrange(0, 20)))
            paired = [uid for uid in held if rng.random() < 0.8]
            paired += rng.sample(range(1, 40), rng.randrange(0, 3)) + [0] * rng.randrange(2)
            rng.shuffle(paired)
            floor = rng.randrange(1, 20)
            expected = 0
            for uid in held:
                if uid < floor:
                    continue
                if uid not in paired:
                    break
                expected = uid
            self.assertEqual(topping_raise(array("I", held), paired, floor), expected)


class NoCondstoreDifferentialTests(DifferentialTests):
    """
    The same without CONDSTORE: no run can be partial.
    """

    server = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities - {b"CONDSTORE"})
    partial_share = 0


class NoModseqDifferentialTests(NoCondstoreDifferentialTests):
    """
    The same on a CONDSTORE server whose box is NOMODSEQ.
    """

    server = replace(DEFAULT_OPTIONS, nomodseq=True)


class UnlistedMaildirTests(SynchronousTestCase):
    """
    A Maildir box opened unlisted (L{MaildirStore.open_box_unlisted}):
    loads of UIDs one by one read one listing of names; its fingerprint is
    the one a scan gives; anything a scan would change makes it scan.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        for subdir in ("cur", "new", "tmp"):
            os.makedirs(f"{self.root}/INBOX/{subdir}")
        for uid in range(1, 9):
            subdir = "new" if uid % 4 == 0 else "cur"
            letters = ":2,S" if subdir == "cur" else ""
            with open(f"{self.root}/INBOX/{subdir}/{uid}.m.host,U={uid}{letters}", "wb") as file:
                file.write(b"Subject: %d\n\nbody\n" % uid)
        with open(f"{self.root}/INBOX/.uidvalidity", "w") as file:
            file.write("1700000000\n8\n")
        clock = Clock()
        clock.advance(1_700_000_000)
        self.store = MaildirStore(
            schema.MaildirStore(name="near", inbox=f"{self.root}/INBOX", path=f"{self.root}/"),
            fsync=False,
            clock=clock,
        )

    def open(self) -> MaildirMailbox:
        box = self.successResultOf(self.store.open_box_unlisted("INBOX"))
        assert isinstance(box, MaildirMailbox)
        return box

    def fingerprint(self) -> bytes:
        found = scan_fingerprint(f"{self.root}/INBOX")
        assert found is not None
        return found.partition(b";")[0]

    def test_some(self) -> None:
        """
        UIDs one by one: just those are reported, the box stays unlisted,
        its fingerprint is the scan's before and after its own changes.
        """
        box = self.open()
        infos = self.successResultOf(
            box.load(LoadRequest(min_uid=1, max_uid=0, uids=frozenset({2, 4, 99})))
        )
        self.assertEqual(
            [(i.uid, i.flags, i.recent) for i in infos],
            [(2, Flags.SEEN, False), (4, Flags.NONE, True)],
        )
        self.assertTrue(box.unlisted)
        self.assertEqual(box.fingerprint(), self.fingerprint())
        self.successResultOf(box.set_flags([FlagChange(2, add=Flags.FLAGGED)]))
        self.successResultOf(box.expunge([]))
        self.assertEqual(box.fingerprint(), self.fingerprint())
        # A range means a whole scan.
        infos = self.successResultOf(box.load(LoadRequest()))
        self.assertEqual([i.uid for i in infos], list(range(1, 9)))
        self.assertFalse(box.unlisted)
        self.successResultOf(box.close())

    def test_hidden(self) -> None:
        """
        Names starting with C{.} are no messages: the box stays unlisted,
        they are not reported and not in its fingerprint (as a scan's).
        """
        for name in ("cur/.hidden,U=3:2,S", "new/.x"):
            with open(f"{self.root}/INBOX/{name}", "wb") as file:
                file.write(b"Subject: hidden\n\nbody\n")
        box = self.open()
        infos = self.successResultOf(
            box.load(LoadRequest(min_uid=1, max_uid=0, uids=frozenset({3, 4})))
        )
        self.assertEqual([(i.uid, i.flags) for i in infos], [(3, Flags.SEEN), (4, Flags.NONE)])
        self.assertTrue(box.unlisted)
        self.assertEqual(box.fingerprint(), self.fingerprint())
        self.successResultOf(box.close())

    def test_unnumbered(self) -> None:
        """
        A file without a UID makes the first load a whole scan; a load of
        old messages only leaves it unnumbered (as mbsync), one of new
        messages numbers it.
        """
        with open(f"{self.root}/INBOX/new/9.m.host", "wb") as file:
            file.write(b"Subject: 9\n\nbody\n")
        box = self.open()
        infos = self.successResultOf(
            box.load(LoadRequest(min_uid=1, max_uid=0, uids=frozenset({2, 9})))
        )
        self.assertEqual([i.uid for i in infos], [2])
        self.assertFalse(box.unlisted)
        self.assertTrue(os.path.exists(f"{self.root}/INBOX/new/9.m.host"))
        infos = self.successResultOf(box.load(LoadRequest(min_uid=9)))
        self.assertEqual([i.uid for i in infos], [9])
        self.successResultOf(box.close())

    def test_duplicate(self) -> None:
        """
        A UID held twice makes the first load a whole scan.
        """
        with open(f"{self.root}/INBOX/cur/copy.m.host,U=3:2,S", "wb") as file:
            file.write(b"Subject: 3\n\nbody\n")
        box = self.open()
        self.successResultOf(box.load(LoadRequest(min_uid=1, max_uid=0, uids=frozenset({3}))))
        self.assertFalse(box.unlisted)
        self.successResultOf(box.close())

    def test_odd_uid(self) -> None:
        """
        A UID written with a leading zero, or a name with two C{,U=}, makes
        the first load a whole scan, which reads them as mbsync does.
        """
        os.rename(
            f"{self.root}/INBOX/cur/3.m.host,U=3:2,S", f"{self.root}/INBOX/cur/3.m.host,U=03:2,S"
        )
        box = self.open()
        infos = self.successResultOf(
            box.load(LoadRequest(min_uid=1, max_uid=0, uids=frozenset({3})))
        )
        self.assertEqual([i.uid for i in infos], [3])
        self.assertFalse(box.unlisted)
        self.successResultOf(box.close())
        os.rename(
            f"{self.root}/INBOX/cur/5.m.host,U=5:2,S", f"{self.root}/INBOX/cur/5.m.host,U=5,U=6:2,S"
        )
        box = self.open()
        self.successResultOf(box.load(LoadRequest(min_uid=1, max_uid=0, uids=frozenset({5}))))
        self.assertFalse(box.unlisted)
        self.successResultOf(box.close())


class RaceTests(SynchronousTestCase):
    """
    A change to the Maildir after the quick check looked and before the
    partial run lists the names.
    """

    def test_near_change_after_check(self) -> None:
        """
        A file renamed (flagged) in between makes the run a full one, which
        takes the new flag to the server.
        """
        pair = _Pair(self, os.path.abspath(self.mktemp()), 10)
        pair.sync(FULL, quick=False)
        message = pair.box.messages[2]
        message.flags = {b"\\Answered"}
        pair.box.touch(message)
        checked = quickcheck.near_unchanged

        async def racing(*arguments: Any) -> bytes | None:
            found = await checked(*arguments)
            name = pair.near()[7]
            base = name.split("/")[1].partition(":2,")[0]
            os.rename(f"{pair.root}/INBOX/{name}", f"{pair.root}/INBOX/cur/{base}:2,F")
            return found

        self.patch(quickcheck, "near_unchanged", racing)
        result = pair.sync(FULL, quick=True)
        self.assertFalse(result.partial)
        flags = {m.uid: m.flags for m in pair.box.messages}
        self.assertEqual((flags[3], flags[7]), ({b"\\Answered"}, {b"\\Flagged"}))


class HintTests(SynchronousTestCase):
    """
    A partial run whose quick check saw the Maildir with a hint (times old
    enough to trust): the names listed are vouched for by the times still
    being those, not by a second fingerprint.
    """

    def hinted(self) -> _Pair:
        """
        A pair at a fixed point whose sidecar holds the near box's hint,
        then changed on the far side.
        """
        pair = _Pair(self, os.path.abspath(self.mktemp()), 10)
        pair.sync(FULL, quick=False)
        # The clock well past the files' times: the next check keeps a hint.
        pair.clock.advance(400_000_000)
        self.assertTrue(pair.sync(FULL, quick=True).unchanged)
        with open(quickcheck.sidecar_path(pair.paths), "rb") as sidecar:
            self.assertIn(b";", sidecar.read().split(b"\n")[4])
        message = pair.box.messages[2]
        message.flags = {b"\\Answered"}
        pair.box.touch(message)
        return pair

    def test_one_fingerprint(self) -> None:
        """
        The partial run takes the near box's fingerprint once (for the
        sidecar it leaves), and takes the far change across.
        """
        pair = self.hinted()
        taken = []
        fingerprint = MaildirMailbox.fingerprint

        def counted(box: MaildirMailbox) -> bytes | None:
            taken.append(box)
            return fingerprint(box)

        self.patch(MaildirMailbox, "fingerprint", counted)
        result = pair.sync(FULL, quick=True)
        self.assertTrue(result.partial)
        self.assertEqual(len(taken), 1)
        self.assertEqual(pair.near()[3].rpartition(":2,")[2], "R")
        self.assertTrue(pair.sync(FULL, quick=True).unchanged)

    def test_near_change_after_check(self) -> None:
        """
        A file renamed in between changes the times: the fingerprint is
        taken, differs, and the run is a full one.
        """
        pair = self.hinted()
        checked = quickcheck.near_unchanged

        async def racing(*arguments: Any) -> bytes | None:
            found = await checked(*arguments)
            self.assertIn(b";", found or b"")
            name = pair.near()[7]
            base = name.split("/")[1].partition(":2,")[0]
            os.rename(f"{pair.root}/INBOX/{name}", f"{pair.root}/INBOX/cur/{base}:2,F")
            return found

        self.patch(quickcheck, "near_unchanged", racing)
        result = pair.sync(FULL, quick=True)
        self.assertFalse(result.partial)
        flags = {m.uid: m.flags for m in pair.box.messages}
        self.assertEqual((flags[3], flags[7]), ({b"\\Answered"}, {b"\\Flagged"}))


class PartialCrashTests(SynchronousTestCase):
    """
    A partial run interrupted at every journal line (as if the process died
    there) and run again ends exactly where the uninterrupted partial run
    ends: nothing lost, nothing duplicated, the same state file.
    """

    server = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities | {b"QRESYNC", b"ENABLE"})

    def prepare(self, root: str) -> _Pair:
        """
        A pair synced to a fixed point (its sidecar written), then changed
        on the far side only: flags set and cleared, two new messages, one
        expunged.
        """
        pair = self.pair(root)
        pair.sync(FULL, quick=False)
        self.assertTrue(pair.sync(FULL, quick=True).unchanged)
        for index, flags in ((3, {b"\\Flagged"}), (5, set()), (8, {b"\\Deleted"})):
            message = pair.box.messages[index]
            message.flags = flags
            pair.box.touch(message)
        pair.box.append(b"Subject: new 1\r\n\r\nbody\r\n", [b"\\Seen"])
        pair.box.append(b"Subject: new 2\r\n\r\nbody\r\n", [])
        pair.box.expunge(pair.box.messages[12])
        return pair

    def pair(self, root: str) -> _Pair:
        return _Pair(self, root, 30, self.server)

    def test_journal_aborts(self) -> None:
        """
        Dying before each journal line of the partial run, then running
        again (partial or full, as the leftover journal decides) twice,
        gives the uninterrupted result.
        """
        base = os.path.abspath(self.mktemp())
        reference = self.prepare(base + "/reference")
        counting = _JournalAbort(0)
        result = reference.sync(FULL, quick=True, state_system=counting)
        self.assertTrue(result.partial)
        # The new records, the flags, the TUIDs, the copies (both copies'
        # lines in one write: their bodies come in one FETCH and their
        # files are stored together) and the ends.
        self.assertGreaterEqual(counting.written, 5)
        reference.sync(FULL, quick=True)
        expected = reference.everything()
        # 30 + 2 new - 1 expunged - 1 deleted (expunged by the sync).
        state, far, _, near = expected
        self.assertEqual(len(far), 30)  # type: ignore[arg-type]
        self.assertEqual(len(near), 30)  # type: ignore[arg-type]
        for line in range(1, counting.written + 1):
            pair = self.prepare(f"{base}/{line}")
            pair.crash(FULL, _JournalAbort(line))
            self.assertTrue(os.path.exists(pair.paths.new) or line == 1, line)
            pair.sync(FULL, quick=True)
            pair.sync(FULL, quick=True)
            self.assertEqual(pair.everything(), expected, f"journal line {line}")


def _small_caches(case: SynchronousTestCase) -> None:
    """
    Save the Maildir's names and the state's records cache whatever their
    size (the thresholds are for speed only).
    """
    case.patch(maildirbox, "NAMES_CACHE_MIN", 0)
    case.patch(statefile, "RECORDS_CACHE_MIN", 0)


def _hinted_pair(
    case: SynchronousTestCase, root: str, messages: int, server: ServerOptions = DEFAULT_OPTIONS
) -> _Pair:
    """
    A pair whose Maildir clock is well past its files' times, so that a
    quick check keeps a hint (and a partial run may read the saved names).
    """
    pair = _Pair(case, root, messages, server)
    pair.clock.advance(400_000_000)
    return pair


def _listings(case: SynchronousTestCase) -> list[str]:
    """
    Count the listings of the Maildir's message directories from now on.
    """
    listed: list[str] = []
    real = os.listdir

    def counting(path: Any = ".") -> list[str]:
        if str(path).endswith(("/new", "/cur")):
            listed.append(str(path))
        return real(path)

    case.patch(os, "listdir", counting)
    return listed


class VouchedTests(SynchronousTestCase):
    """
    A full run leaves the near box's fingerprint with a hint that a
    listing at its end vouched for (L{MaildirMailbox.vouched}), though its
    own changes are too recent for the clock (the Maildir store's clock is
    at 0 here): the next run lists nothing. A partial run leaves none.
    """

    def setUp(self) -> None:
        _small_caches(self)
        self.pair = _Pair(self, os.path.abspath(self.mktemp()), 20)

    def near_hint(self) -> bytes:
        with open(quickcheck.sidecar_path(self.pair.paths), "rb") as sidecar:
            return sidecar.read().split(b"\n")[4].partition(b";")[2]

    def test_full_run(self) -> None:
        """
        After the first pull, the quick check lists neither directory.
        """
        self.pair.sync(FULL, quick=False)
        self.assertTrue(self.near_hint())
        listed = _listings(self)
        self.assertTrue(self.pair.sync(FULL, quick=True).unchanged)
        self.assertEqual(listed, [])

    def test_small_box(self) -> None:
        """
        A box too small for its names to be saved is not listed again at
        the end: no hint, and the next quick check lists it.
        """
        self.patch(maildirbox, "NAMES_CACHE_MIN", 21)
        self.pair.sync(FULL, quick=False)
        self.assertEqual(self.near_hint(), b"")
        listed = _listings(self)
        self.assertTrue(self.pair.sync(FULL, quick=True).unchanged)
        self.assertEqual(len(listed), 2)

    def test_partial_run(self) -> None:
        """
        A partial run (its box unlisted) leaves no hint: the next run
        lists the box once, then it is unchanged.
        """
        self.pair.sync(FULL, quick=False)
        message = self.pair.box.messages[2]
        message.flags = {b"\\Answered"}
        self.pair.box.touch(message)
        self.assertTrue(self.pair.sync(FULL, quick=True).partial)
        self.assertEqual(self.near_hint(), b"")
        self.assertEqual(self.pair.near()[3].rpartition(":2,")[2], "R")
        listed = _listings(self)
        self.assertTrue(self.pair.sync(FULL, quick=True).unchanged)
        self.assertEqual(len(listed), 2)


class SavedNamesTests(SynchronousTestCase):
    """
    A partial run whose quick check saw the Maildir with a hint reads the
    names saved by the last sync instead of listing the box, and the state
    file's record lines are vouched for by the records cache.
    """

    def setUp(self) -> None:
        _small_caches(self)

    def hinted(self) -> _Pair:
        pair = _hinted_pair(self, os.path.abspath(self.mktemp()), 20)
        pair.sync(FULL, quick=False)
        self.assertTrue(pair.sync(FULL, quick=True).unchanged)
        message = pair.box.messages[2]
        message.flags = {b"\\Answered"}
        pair.box.touch(message)
        return pair

    def listings(self) -> list[str]:
        return _listings(self)

    def test_no_listing(self) -> None:
        """
        The partial run lists neither C{new/} nor C{cur/}, reads no record
        line's form, takes the far change across, and leaves a pair the
        next quick check finds unchanged.
        """
        pair = self.hinted()
        self.assertTrue(os.path.exists(pair.paths.state + ".msync-near"))
        self.assertTrue(os.path.exists(pair.paths.state + ".msync-records"))
        listed = self.listings()
        self.patch(statetext, "_CANONICAL_BODY", re.compile(rb"(?!)"))
        result = pair.sync(FULL, quick=True)
        self.assertTrue(result.partial)
        self.assertEqual(listed, [])
        self.assertEqual(pair.near()[3].rpartition(":2,")[2], "R")
        self.assertTrue(pair.sync(FULL, quick=True).unchanged)


class SavedNamesFileTests(UnlistedMaildirTests):
    """
    The names of a Maildir box saved between runs
    (L{maildirbox.write_saved_names}): read back only when whole, of this
    version, and exactly the names of the fingerprint the caller knows.
    """

    def save(self) -> tuple[str, bytes]:
        """
        Save the box's names as a sync would (its fingerprint taken, then
        saved); return the file and the fingerprint.
        """
        _small_caches(self)
        path = f"{self.root}/state.msync-near"
        box = self.successResultOf(self.store.open_box("INBOX"))
        assert isinstance(box, MaildirMailbox)
        box.use_listing_cache(path)
        found = box.fingerprint()
        assert found is not None
        box.save_listing()
        self.successResultOf(box.close())
        self.assertEqual(found, self.fingerprint())
        return path, found

    def adopt(self, path: str, known: bytes) -> tuple[MaildirMailbox, bool]:
        box = self.open()
        box.use_listing_cache(path)
        return box, box.use_saved_names(known)

    def test_read_back(self) -> None:
        """
        The names read back are the box's, sorted, with their UIDs; loads
        of UIDs one by one answer from them, and the fingerprint is the
        scan's, before and after the box's own changes.
        """
        path, known = self.save()
        saved = maildirbox.read_saved_names(path, 1700000000, 8, known)
        assert saved is not None
        (new, new_uids), (cur, cur_uids) = saved
        self.assertEqual(new, ["4.m.host,U=4", "8.m.host,U=8"])
        self.assertEqual(list(new_uids), [4, 8])
        self.assertEqual(list(cur_uids), [1, 2, 3, 5, 6, 7])
        self.assertEqual(cur[2], "3.m.host,U=3:2,S")
        box, adopted = self.adopt(path, known)
        self.assertTrue(adopted)
        listed = []
        real = os.listdir

        def unlisted(path: str) -> list[str]:
            listed.append(path)
            return []

        self.patch(os, "listdir", unlisted)
        infos = self.successResultOf(
            box.load(LoadRequest(min_uid=1, max_uid=0, uids=frozenset({2, 4, 99})))
        )
        self.assertEqual(
            [(i.uid, i.flags, i.recent) for i in infos],
            [(2, Flags.SEEN, False), (4, Flags.NONE, True)],
        )
        self.assertEqual(listed, [])
        self.assertEqual(box.fingerprint(), known)
        self.successResultOf(box.set_flags([FlagChange(2, add=Flags.FLAGGED)]))
        found = box.fingerprint()
        box.save_listing()
        self.successResultOf(box.close())
        self.patch(os, "listdir", real)
        self.assertEqual(found, self.fingerprint())
        # What the box saved is its new names.
        saved = maildirbox.read_saved_names(path, 1700000000, 8, self.fingerprint())
        assert saved is not None
        self.assertEqual(saved[1][0][1], "2.m.host,U=2:2,FS")

    def test_refused(self) -> None:
        """
        A saved file that is corrupt, truncated, of another version, of
        another UIDVALIDITY or last UID, or of other names than the known
        fingerprint's, is not taken: the box lists its names.
        """
        path, known = self.save()
        with open(path, "rb") as file:
            good = file.read()
        bad = {
            "flipped": good[:40] + bytes([good[40] ^ 1]) + good[41:],
            "truncated": good[:-9],
            "empty": b"",
            "version": good.replace(b"msync-names 2", b"msync-names 3", 1),
        }
        for what, data in bad.items():
            with open(path, "wb") as file:
                file.write(data)
            self.assertIsNone(maildirbox.read_saved_names(path, 1700000000, 8, known), what)
        with open(path, "wb") as file:
            file.write(good)
        self.assertIsNone(maildirbox.read_saved_names(path, 1700000001, 8, known))
        self.assertIsNone(maildirbox.read_saved_names(path, 1700000000, 9, known))
        self.assertIsNone(maildirbox.read_saved_names(path, 1700000000, 8, known[:-1] + b"0"))
        self.assertIsNone(maildirbox.read_saved_names(path + ".missing", 1700000000, 8, known))
        # Names changed since they were saved: the known fingerprint is
        # the new one, the saved names are not taken.
        os.rename(
            f"{self.root}/INBOX/cur/5.m.host,U=5:2,S", f"{self.root}/INBOX/cur/5.m.host,U=5:2,"
        )
        box, adopted = self.adopt(path, self.fingerprint())
        self.assertFalse(adopted)
        self.successResultOf(box.load(LoadRequest(min_uid=1, max_uid=0, uids=frozenset({5}))))
        self.assertEqual(box.fingerprint(), self.fingerprint())
        self.successResultOf(box.close())

    def test_version_1(self) -> None:
        """
        A file of version 1 (whose names were digested again when read) is
        not taken, even whole and of the known fingerprint's names: its box
        is listed.
        """
        path, known = self.save()
        with open(path, "rb") as file:
            body = file.read()[:-4]
        end = body.index(b"\n")
        words = body[:end].split(b" ")
        old = b"msync-names 1 %s %s" % (words[2], words[3]) + body[end:]
        with open(path, "wb") as file:
            file.write(old + zlib.crc32(old).to_bytes(4, "big"))
        self.assertIsNone(maildirbox.read_saved_names(path, 1700000000, 8, known))
        box, adopted = self.adopt(path, known)
        self.assertFalse(adopted)
        self.successResultOf(box.close())

    def test_wrong_uid(self) -> None:
        """
        A saved UID that its name does not carry (which the CRC and the
        digest cannot tell) makes the load a whole scan, not a wrong
        answer.
        """
        path, known = self.save()
        saved = maildirbox.read_saved_names(path, 1700000000, 8, known)
        assert saved is not None
        (new, new_uids), (cur, cur_uids) = saved
        cur_uids[0], cur_uids[1] = cur_uids[1], cur_uids[0]
        maildirbox.write_saved_names(
            path, maildirbox.names_to_save(1700000000, 8, [(new, new_uids), (cur, cur_uids)])
        )
        box, adopted = self.adopt(path, known)
        self.assertTrue(adopted)
        infos = self.successResultOf(
            box.load(LoadRequest(min_uid=1, max_uid=0, uids=frozenset({1})))
        )
        self.assertEqual([(i.uid, i.flags) for i in infos], [(1, Flags.SEEN)])
        self.assertFalse(box.unlisted)
        self.successResultOf(box.close())

    def test_small_box(self) -> None:
        """
        A box with fewer names than L{maildirbox.NAMES_CACHE_MIN} saves
        none (and removes what an earlier sync saved).
        """
        path, _ = self.save()
        self.patch(maildirbox, "NAMES_CACHE_MIN", 9)
        box = self.successResultOf(self.store.open_box("INBOX"))
        assert isinstance(box, MaildirMailbox)
        box.use_listing_cache(path)
        self.assertIsNotNone(box.fingerprint())
        box.save_listing()
        self.successResultOf(box.close())
        self.assertFalse(os.path.exists(path))


def _sabotage(pair: _Pair, rng: random.Random) -> None:
    """
    Damage what msync keeps beside the state (never the state itself, nor
    the boxes): the saved names or the records cache removed, corrupted,
    truncated, or put back as an earlier sync left them (stale).
    """
    path = pair.paths.state + rng.choice([".msync-near", ".msync-records"])
    if not os.path.exists(path):
        return
    with open(path, "rb") as file:
        data = file.read()
    kind = rng.randrange(4)
    earlier = [kept for kept in pair.kept.get(path, []) if kept != data]
    if kind == 0:
        os.remove(path)
        return
    if kind == 1 and data:
        at = rng.randrange(len(data))
        data = data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :]
    elif kind == 2:
        data = data[: rng.randrange(len(data) + 1)]
    elif earlier:
        data = rng.choice(earlier)
    with open(path, "wb") as file:
        file.write(data)


def _state_edit(pair: _Pair, rng: random.Random) -> None:
    """
    Another program rewrites the state file (mbsync, a user): one record's
    flags changed, the file written anew (new inode and time).
    """
    if not os.path.exists(pair.paths.state):
        return
    with open(pair.paths.state, "rb") as file:
        header, _, body = file.read().partition(b"\n\n")
    lines = body.split(b"\n")[:-1]
    if lines:
        at = rng.randrange(len(lines))
        far, near, _ = lines[at].split(b" ")
        lines[at] = b"%s %s %s" % (far, near, rng.choice([b"", b"S", b"FS", b"RS"]))
    os.remove(pair.paths.state)
    with open(pair.paths.state, "wb") as file:
        file.write(header + b"\n\n" + b"".join(line + b"\n" for line in lines))


class CachedDifferentialTests(SynchronousTestCase):
    """
    Fast paths with the saved names and the records cache against full
    runs: the Maildir clock well past the files' times (so quick checks
    keep hints and partial runs read the saved names), a no-op run after
    each sync (which leaves the hint), and those files damaged at random
    between runs on the quick side. The results stay identical, byte for
    byte; damaged files are never taken.
    """

    server = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities | {b"QRESYNC", b"ENABLE"})

    def setUp(self) -> None:
        _small_caches(self)
        self.adopted: list[bool] = []
        self.vouched: list[bool] = []
        use_saved_names = MaildirMailbox.use_saved_names
        parse_records_cache = statetext.parse_records_cache

        def adopting(box: MaildirMailbox, known: bytes) -> bool:
            taken = use_saved_names(box, known)
            self.adopted.append(taken)
            return taken

        def parsing(data: bytes | None, text: bytes) -> Any:
            found = parse_records_cache(data, text)
            self.vouched.append(found is not None)
            return found

        self.patch(MaildirMailbox, "use_saved_names", adopting)
        self.patch(statefile, "parse_records_cache", parsing)

    def test_same_results(self) -> None:
        """
        For several seeds and option sets: after every step of random
        changes (the same on both sides) and damage (the quick side only),
        both pairs hold identical state files, server boxes and Maildirs;
        many partial runs read the saved names and the records cache, and
        some found them damaged.
        """
        partial = 0
        changes = [*CHANGES, (0.5, _state_edit)]
        for seed in range(10):
            name = sorted(OPTIONS)[seed % len(OPTIONS)]
            options = OPTIONS[name]
            base = os.path.abspath(self.mktemp())
            quick = _hinted_pair(self, base + "/quick", 30, self.server)
            full = _hinted_pair(self, base + "/full", 30, self.server)
            rng = random.Random(1000 + seed)
            for step in range(10):
                where = f"seed {seed} ({name}), step {step}"
                if step:
                    _change_both(rng, changes, quick, full)
                    if rng.random() < 0.5:
                        _sabotage(quick, rng)
                result = quick.sync(options, quick=True)
                full.sync(options, quick=False)
                partial += result.partial
                self.assertEqual(quick.everything(), full.everything(), where)
                for suffix in (".msync-near", ".msync-records"):
                    if os.path.exists(quick.paths.state + suffix):
                        with open(quick.paths.state + suffix, "rb") as file:
                            quick.kept.setdefault(quick.paths.state + suffix, []).append(
                                file.read()
                            )
                # The no-op that keeps the hint (a full run on the other side).
                quick.sync(options, quick=True)
                full.sync(options, quick=False)
                self.assertEqual(quick.everything(), full.everything(), where + " (again)")
        self.assertGreater(partial, 20)
        self.assertGreater(self.adopted.count(True), 10)
        self.assertGreater(self.adopted.count(False), 0)
        self.assertGreater(self.vouched.count(True), 10)
        self.assertGreater(self.vouched.count(False), 0)


class CachedPartialCrashTests(PartialCrashTests):
    """
    The same, where the partial run reads the saved Maildir names and the
    records cache (and the run after the crash finds them as the crashed
    run left them).
    """

    def setUp(self) -> None:
        _small_caches(self)
        self.adopted: list[bool] = []
        use_saved_names = MaildirMailbox.use_saved_names

        def adopting(box: MaildirMailbox, known: bytes) -> bool:
            taken = use_saved_names(box, known)
            self.adopted.append(taken)
            return taken

        self.patch(MaildirMailbox, "use_saved_names", adopting)

    def pair(self, root: str) -> _Pair:
        return _hinted_pair(self, root, 30, self.server)

    def test_journal_aborts(self) -> None:
        """
        As without the caches; the crashed runs read the saved names.
        """
        super().test_journal_aborts()
        self.assertGreater(self.adopted.count(True), 5)


class NamesToSaveTests(SynchronousTestCase):
    """
    L{maildirbox.names_to_save}: one text, made once, digested to the
    fingerprint a fresh listing gives.
    """

    def test_random(self) -> None:
        """
        Over random names (some beyond ASCII, some not UTF-8), a box's
        names saved give L{maildirbox.maildir_fingerprint}'s fingerprint of
        the same names in any order, big boxes (OpenSSL's SHA-256) and
        small ones alike; their text is what the fingerprint digests and
        the UIDs are those of the names, C{new/}'s first.
        """
        rng = random.Random(5)
        letters = ["a", "b", "z", ".", ",", "\u00e9", "\udcff", "\U0001f600", "0"]
        for count in (0, 1, 7, 300, maildirbox.BULK_NAMES + 5):
            names = sorted(
                {
                    "".join(rng.choice(letters) for _ in range(rng.randrange(1, 12)))
                    + f",U={uid}:2,"
                    for uid in range(1, count + 1)
                }
            )
            split = rng.randrange(len(names) + 1) if names else 0
            new, cur = names[:split], names[split:]
            new_uids = array("I", range(len(new)))
            cur_uids = array("I", range(len(new), len(names)))
            saved = maildirbox.names_to_save(
                7, count, [(list(new), new_uids), (list(cur), cur_uids)]
            )
            shuffled = list(cur)
            rng.shuffle(shuffled)
            expected = maildirbox.maildir_fingerprint(7, count, new[::-1], shuffled)
            self.assertEqual(saved.fingerprint, expected)
            self.assertEqual(saved.counts, (len(new), len(cur)))
            self.assertEqual(list(saved.uids), list(range(len(names))))
            digest = sha256(saved.text).hexdigest().encode("ascii")
            self.assertEqual(b"maildir2 " + digest, expected)
            self.assertTrue(saved.text.startswith(b"7 %d\n" % count))


class UnlistedFingerprintRandomTests(SynchronousTestCase):
    """
    The fingerprint of a box opened unlisted, after loads of random UIDs
    (in one or several loads) and random flag changes (some moving files
    from C{new/} to C{cur/}), from listed names or from saved ones: always
    the one a fresh scan gives, and the names it saves are the box's.
    """

    def test_random(self) -> None:
        rng = random.Random(9)
        for round in range(12):
            root = os.path.abspath(self.mktemp())
            for subdir in ("cur", "new", "tmp"):
                os.makedirs(f"{root}/INBOX/{subdir}")
            count = rng.randrange(1, 70)
            for uid in range(1, count + 1):
                subdir = rng.choice(["new", "cur"])
                letters = rng.choice(["", ":2,", ":2,S", ":2,FS"]) if subdir == "cur" else ""
                stamp = rng.randrange(10**6)
                with open(f"{root}/INBOX/{subdir}/{stamp}.{uid}.h,U={uid}{letters}", "wb") as f:
                    f.write(b"Subject: %d\n\nbody\n" % uid)
            with open(f"{root}/INBOX/.uidvalidity", "w") as file:
                file.write(f"1700000000\n{count}\n")
            clock = Clock()
            clock.advance(1_700_000_000)
            store = MaildirStore(
                schema.MaildirStore(name="near", inbox=f"{root}/INBOX", path=f"{root}/"),
                fsync=False,
                clock=clock,
            )
            self.patch(maildirbox, "NAMES_CACHE_MIN", 0)
            path = f"{root}/state.msync-near"
            known = scan_fingerprint(f"{root}/INBOX")
            assert known is not None
            if round % 2:
                # Saved names first (from a whole open), then adopted.
                whole = self.successResultOf(store.open_box("INBOX"))
                assert isinstance(whole, MaildirMailbox)
                whole.use_listing_cache(path)
                self.assertEqual(whole.fingerprint(), known)
                whole.save_listing()
                self.successResultOf(whole.close())
            box = self.successResultOf(store.open_box_unlisted("INBOX"))
            assert isinstance(box, MaildirMailbox)
            box.use_listing_cache(path)
            if round % 2:
                self.assertTrue(box.use_saved_names(known))
            for _ in range(rng.randrange(1, 4)):
                wanted = frozenset(rng.sample(range(1, count + 5), rng.randrange(0, count + 1)))
                self.successResultOf(box.load(LoadRequest(min_uid=1, max_uid=0, uids=wanted)))
                self.assertTrue(box.unlisted)
                changes = [
                    FlagChange(uid, add=rng.choice([Flags.SEEN, Flags.FLAGGED, Flags.NONE]))
                    for uid in wanted
                    if uid <= count and rng.random() < 0.5
                ]
                self.successResultOf(box.set_flags(changes))
                found = box.fingerprint()
                fresh = scan_fingerprint(f"{root}/INBOX")
                assert fresh is not None
                self.assertEqual(found, fresh.partition(b";")[0])
            box.save_listing()
            self.successResultOf(box.close())
            assert found is not None
            saved = maildirbox.read_saved_names(path, 1700000000, count, found)
            assert saved is not None
            self.assertEqual(
                [sorted(names) for names, _ in saved],
                [sorted(os.listdir(f"{root}/INBOX/{subdir}")) for subdir in ("new", "cur")],
            )
            for names, uids in saved:
                self.assertEqual(
                    [int(name.split(",U=")[1].split(":")[0]) for name in names], list(uids)
                )


class PartialOptionsTests(SynchronousTestCase):
    """
    Which options allow a partial run.
    """

    def test_following_isync15(self) -> None:
        """
        Following isync 1.5 as 1.4, C{Sync Old} included (its unknown old
        messages are looked for in the run itself); not with MaxMessages.
        """
        from msync.sync.engine import _partial_options
        from tests.sync.scenarios import options

        self.assertTrue(_partial_options(options()))
        self.assertTrue(_partial_options(options(isync15=True)))
        self.assertTrue(_partial_options(options("all pull-old push-old", isync15=True)))
        self.assertFalse(_partial_options(options(isync15=True, max_messages=10)))
