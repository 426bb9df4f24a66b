# -*- test-case-name: tests.stores.test_listingcache -*-
"""
Tests for L{msync.stores.listingcache} and the CONDSTORE loads of
L{msync.stores.imapbox.IMAPMailbox} that use it: the file format, and
against the fake server that a load with a listing sends only
C{CHANGEDSINCE} and answers exactly as a full load, falling back to the
full load whenever the listing cannot be trusted.
"""

from __future__ import annotations

import os
import random
from array import array
from dataclasses import replace

from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import IMAPStore as IMAPStoreConfig
from msync.errors import MailboxMissing
from msync.model import Flags, LoadRequest, MessageListing, UIDInterval
from msync.stores.imapbox import IMAPMailbox
from msync.stores.imapstore import IMAPStore
from msync.stores.interface import IListingCache, ListingChanges
from msync.stores.listingcache import (
    Listing,
    ListingAnswer,
    SortedUIDs,
    format_listing,
    parse_listing,
)
from tests.fakes.imapserver import DEFAULT_OPTIONS, MailStore, ServerOptions
from tests.stores.test_imapstore import PASSWORD, FakeNetwork, PumpingMixin, account


class ListingFormatTests(SynchronousTestCase):
    """
    The listing file: round trip, and every damaged file refused.
    """

    def listing(self) -> Listing:
        return Listing(77, 1234).updated({3: 16, 1: 0, 900: 34}, 1234)

    def test_round_trip(self) -> None:
        """
        A formatted listing parses back equal, UIDs ascending.
        """
        parsed = parse_listing(format_listing(self.listing()))
        assert parsed is not None
        self.assertEqual((parsed.uid_validity, parsed.modseq), (77, 1234))
        self.assertEqual(list(parsed.items()), [(1, 0), (3, 16), (900, 34)])

    def test_damaged(self) -> None:
        """
        Truncated, flipped, foreign or empty data is no listing.
        """
        data = format_listing(self.listing())
        flipped = bytearray(data)
        flipped[30] ^= 1
        for bad in (b"", data[:-1], data[:20], bytes(flipped), b"x" + data, b"\n" * 8):
            self.assertIsNone(parse_listing(bad), bad)
        other = data.replace(b"msync-listing 1 ", b"msync-listing 2 ", 1)
        self.assertIsNone(parse_listing(other))

    def test_not_ascending(self) -> None:
        """
        A file (checksum intact) whose UIDs are not strictly ascending is
        no listing: a UID repeated, or two out of order.
        """
        for uids in ([1, 3, 3], [3, 1, 900], [1, 900, 3]):
            listing = replace(self.listing(), uids=array("I", uids))
            self.assertIsNone(parse_listing(format_listing(listing)), uids)
        single = replace(self.listing(), uids=array("I", [5]), flags=bytearray(b"\0"))
        parsed = parse_listing(format_listing(single))
        assert parsed is not None
        self.assertEqual(list(parsed.items()), [(5, 0)])

    def test_updated(self) -> None:
        """
        Changes replace flags, add new UIDs in order, keep the rest.
        """
        updated = self.listing().updated({3: 2, 2: 8, 1000: 1}, 1300)
        self.assertEqual(updated.modseq, 1300)
        self.assertEqual(list(updated.items()), [(1, 0), (2, 8), (3, 2), (900, 34), (1000, 1)])
        self.assertEqual((updated.get(3), updated.get(4)), (2, None))


class ListingAnswerTests(SynchronousTestCase):
    """
    L{ListingAnswer}: FETCH answers collected into columns as they arrive
    say what the same answers merged by UID say.
    """

    def test_in_order(self) -> None:
        """
        Answers in ascending UID order make the listing, the changes and
        the recent UIDs they name, recent left out of the flag bits.
        """
        answer = ListingAnswer()
        answer.add(2, 16, False)
        answer.add(5, 3, True)
        answer.add(9, 0, False)
        self.assertEqual(len(answer), 3)
        self.assertEqual(answer.changes(), {2: 16, 5: 3, 9: 0})
        self.assertEqual(list(answer.recent()), [5])
        listing = answer.listing(77, 40)
        self.assertEqual((listing.uid_validity, listing.modseq), (77, 40))
        self.assertEqual(list(listing.items()), [(2, 16), (5, 3), (9, 0)])
        self.assertEqual(listing, Listing(77, 0).updated(answer.changes(), 40))

    def test_repeated_and_unordered(self) -> None:
        """
        A UID answered again takes the flags of its last answer carrying
        FLAGS (an answer without FLAGS changes nothing; alone it means no
        flags), recent included; the result is ascending.
        """
        answer = ListingAnswer()
        answer.add(9, 4, True)
        answer.add(3, 1, False)
        answer.add(9, 2, False)
        answer.add(3, None, False)
        answer.add(6, None, False)
        answer.add(1, 8, True)
        self.assertEqual(len(answer), 4)
        self.assertEqual(answer.changes(), {1: 8, 3: 1, 6: 0, 9: 2})
        self.assertEqual(list(answer.recent()), [1])
        self.assertEqual(list(answer.listing(1, 5).items()), [(1, 8), (3, 1), (6, 0), (9, 2)])

    def test_random_against_merged(self) -> None:
        """
        On random answer sequences the columns agree with a dictionary
        merge of the same answers.
        """
        rng = random.Random(11)
        for _ in range(200):
            answer = ListingAnswer()
            merged: dict[int, tuple[int, bool]] = {}
            for _ in range(rng.randrange(0, 30)):
                uid = rng.randrange(1, 40)
                flags = None if rng.random() < 0.2 else rng.randrange(0, 64)
                recent = flags is not None and rng.random() < 0.3
                answer.add(uid, flags, recent)
                if flags is not None:
                    merged[uid] = (flags, recent)
                else:
                    merged.setdefault(uid, (0, False))
            self.assertEqual(answer.changes(), {uid: bits for uid, (bits, _) in merged.items()})
            self.assertEqual(
                list(answer.recent()), sorted(uid for uid, (_, r) in merged.items() if r)
            )
            self.assertEqual(len(answer), len(merged))

    def test_sorted_uids(self) -> None:
        """
        L{SortedUIDs} holds exactly its UIDs.
        """
        uids = SortedUIDs(array("I", [3, 8, 20]))
        self.assertEqual([uid in uids for uid in (1, 3, 4, 8, 20, 21)], [0, 1, 0, 1, 1, 0])
        self.assertNotIn("3", uids)
        self.assertEqual((len(uids), list(uids)), (3, [3, 8, 20]))


class _FakeBox(PumpingMixin):
    """
    A fake server's INBOX with six messages, opened in new sessions.
    """

    options: ServerOptions = DEFAULT_OPTIONS
    #: Open with IMAPStore.expect_listing: the listing FETCH goes out
    #: right behind the SELECT.
    early = False

    def setUp(self) -> None:
        self.mail = MailStore({"user": PASSWORD})
        self.network = FakeNetwork(self.mail, self.options)
        self.path = os.path.abspath(self.mktemp())
        box = self.mail.create(b"INBOX")
        for number in range(6):
            box.append(b"Subject: %d\r\n\r\nbody\r\n" % number, [b"\\Seen"] * (number % 2))
        self.box = box

    def open(self, cached: bool = True) -> IMAPMailbox:
        """
        A new session's INBOX, using the listing file when C{cached}.
        """
        store = self.network.store(IMAPStoreConfig("far", account()))
        if cached and self.early:
            store.expect_listing("INBOX", self.path)
        mailbox = self.resolve(store.open_box("INBOX"))
        assert isinstance(mailbox, IMAPMailbox)
        if cached:
            mailbox.use_listing_cache(self.path)
        return mailbox

    def load(self, request: LoadRequest | None = None) -> tuple[MessageListing, list[bytes]]:
        """
        Load with the listing in a new session; check the answer equals a
        full load's (another session); return it and the FETCH commands.
        """
        request = request or LoadRequest()
        before = len(self.network.commands())
        mailbox = self.open()
        infos = self.resolve(mailbox.load(request))
        mailbox.save_listing()
        fetches = [c for c in self.network.commands()[before:] if c.startswith(b"UID FETCH")]
        full = self.resolve(self.open(cached=False).load(request))
        self.assertEqual(infos, full)
        return infos, fetches

    def change(self, uid: int, flags: set[bytes]) -> None:
        message = next(m for m in self.box.messages if m.uid == uid)
        message.flags = flags
        self.box.touch(message)


class CondstoreLoadTests(_FakeBox, SynchronousTestCase):
    """
    Loads with a listing file over the fake server (CONDSTORE, no QRESYNC).
    """

    def test_provides(self) -> None:
        """
        The IMAP mailbox offers the listing cache.
        """
        self.assertTrue(IListingCache.providedBy(self.open(cached=False)))

    def test_first_load(self) -> None:
        """
        Without a file the whole box is fetched with mod-sequences, and
        the listing saved at the server's HIGHESTMODSEQ.
        """
        infos, fetches = self.load()
        self.assertEqual(fetches, [b"UID FETCH 1:* (UID FLAGS MODSEQ)"])
        self.assertEqual([info.flags for info in infos], [Flags.NONE, Flags.SEEN] * 3)
        with open(self.path, "rb") as saved:
            listing = parse_listing(saved.read())
        assert listing is not None
        self.assertEqual(listing.modseq, self.box.highest_modseq)
        self.assertEqual(len(listing), 6)

    def test_changed_since(self) -> None:
        """
        The next load asks only for changes; changed flags and new
        messages are reported, the rest comes from the file.
        """
        self.load()
        modseq = self.box.highest_modseq
        self.change(2, {b"\\Flagged"})
        self.box.append(b"Subject: new\r\n\r\nnew\r\n", [b"\\Answered"])
        infos, fetches = self.load()
        self.assertEqual(fetches, [b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)" % modseq])
        self.assertEqual(
            [(info.uid, info.flags) for info in infos],
            [
                (1, Flags.NONE),
                (2, Flags.FLAGGED),
                (3, Flags.NONE),
                (4, Flags.SEEN),
                (5, Flags.NONE),
                (6, Flags.SEEN),
                (7, Flags.ANSWERED),
            ],
        )
        # A few changes are not worth rewriting the file for: the next load
        # asks from the same mod-sequence.
        _, fetches = self.load()
        self.assertEqual(fetches, [b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)" % modseq])

    def test_rewritten_after_many_changes(self) -> None:
        """
        Once more messages changed than the threshold (16 for a small
        box), the file is brought up to date and the next load asks from
        there.
        """
        self.load()
        for number in range(17):
            self.box.append(b"Subject: more %d\r\n\r\nx\r\n" % number)
        infos, _ = self.load()
        self.assertEqual(len(infos), 23)
        _, fetches = self.load()
        self.assertEqual(
            fetches, [b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)" % self.box.highest_modseq]
        )

    def test_saved_only_when_asked(self) -> None:
        """
        A load alone writes nothing (the engine saves after its commit).
        """
        self.resolve(self.open().load(LoadRequest()))
        self.assertFalse(os.path.exists(self.path))

    def test_extras_fetched(self) -> None:
        """
        Messages wanting more than flags (sizes, TUIDs) are still fetched
        for those items; UIDs outside the request are not reported.
        """
        self.load()
        request = LoadRequest(min_uid=3, uids=frozenset({1}), sizes=UIDInterval(5))
        infos, fetches = self.load(request)
        self.assertEqual([info.uid for info in infos], [1, 3, 4, 5, 6])
        self.assertEqual([info.size for info in infos], [None, None, None, 20, 20])
        self.assertIn(b"UID FETCH 5:* (UID FLAGS RFC822.SIZE)", fetches)

    def test_expunged(self) -> None:
        """
        Without VANISHED an expunge shows as a count that does not match:
        the whole box is fetched again.
        """
        self.load()
        del self.box.messages[2]
        infos, fetches = self.load()
        self.assertEqual([info.uid for info in infos], [1, 2, 4, 5, 6])
        self.assertEqual(fetches[-1], b"UID FETCH 1:* (UID FLAGS MODSEQ)")

    def test_modseq_backwards(self) -> None:
        """
        A server whose HIGHESTMODSEQ is below the file's (restored from a
        backup) is not asked for changes since: everything is fetched.
        """
        self.load()
        with open(self.path, "rb") as saved:
            listing = parse_listing(saved.read())
        assert listing is not None
        with open(self.path, "wb") as out:
            out.write(format_listing(replace(listing, modseq=listing.modseq + 50)))
        self.change(3, {b"\\Deleted"})
        infos, fetches = self.load()
        self.assertEqual(fetches, [b"UID FETCH 1:* (UID FLAGS MODSEQ)"])
        self.assertEqual(infos[2].flags, Flags.DELETED)

    def test_uidvalidity_changed(self) -> None:
        """
        A file of another UIDVALIDITY is not used.
        """
        self.load()
        with open(self.path, "rb") as saved:
            listing = parse_listing(saved.read())
        assert listing is not None
        with open(self.path, "wb") as out:
            out.write(format_listing(replace(listing, uid_validity=listing.uid_validity + 1)))
        _, fetches = self.load()
        self.assertEqual(fetches, [b"UID FETCH 1:* (UID FLAGS MODSEQ)"])

    def test_damaged_file(self) -> None:
        """
        A damaged file means a full load, and is replaced.
        """
        self.load()
        with open(self.path, "r+b") as out:
            out.truncate(10)
        _, fetches = self.load()
        self.assertEqual(fetches, [b"UID FETCH 1:* (UID FLAGS MODSEQ)"])
        _, fetches = self.load()
        self.assertEqual(len(fetches), 1)
        self.assertIn(b"CHANGEDSINCE", fetches[0])


class NoCondstoreLoadTests(_FakeBox, SynchronousTestCase):
    """
    A server without CONDSTORE: plain loads, no file (an old one removed).
    """

    options = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities - {b"CONDSTORE"})

    def test_plain(self) -> None:
        """
        The load is mbsync's plain UID FETCH; no file is left.
        """
        with open(self.path, "wb") as out:
            out.write(format_listing(Listing(1000, 3)))
        infos, fetches = self.load()
        self.assertEqual(fetches, [b"UID FETCH 1:* (UID FLAGS)"])
        self.assertEqual(len(infos), 6)
        self.assertFalse(os.path.exists(self.path))


class NoModseqLoadTests(_FakeBox, SynchronousTestCase):
    """
    A CONDSTORE server whose mailbox is NOMODSEQ: the MODSEQ fetch is
    refused, so the load is the plain one and no file is kept.
    """

    options = ServerOptions(nomodseq=True)

    def test_plain(self) -> None:
        """
        One refused MODSEQ fetch, then mbsync's plain UID FETCH.
        """
        infos, fetches = self.load()
        self.assertEqual(
            fetches, [b"UID FETCH 1:* (UID FLAGS MODSEQ)", b"UID FETCH 1:* (UID FLAGS)"]
        )
        self.assertEqual(len(infos), 6)
        self.assertFalse(os.path.exists(self.path))


class ListingWithoutTests(SynchronousTestCase):
    """
    L{Listing.without}: expunged UID ranges taken out.
    """

    def test_ranges(self) -> None:
        """
        UIDs inside any range go (overlapping and unsorted ranges, and
        UIDs the listing never had, included); the rest keep their flags.
        """
        listing = Listing(5, 40).updated({uid: uid % 3 for uid in range(1, 11)}, 40)
        kept = listing.without([(9, 20), (2, 3), (3, 4), (100, 200)])
        self.assertEqual(list(kept.items()), [(1, 1), (5, 2), (6, 0), (7, 1), (8, 2)])
        self.assertEqual((kept.uid_validity, kept.modseq), (5, 40))
        self.assertIs(listing.without([]), listing)


class ListingEditTests(SynchronousTestCase):
    """
    L{Listing.updated} and L{Listing.without} against a dictionary model,
    on random listings, changes and ranges (changes inside, between and
    above the listed UIDs; ranges overlapping, empty and outside).
    """

    def test_random(self) -> None:
        """
        Both give the model's UIDs and flags, in ascending order.
        """
        rng = random.Random(5)
        for _ in range(300):
            model = {uid: rng.randrange(64) for uid in rng.sample(range(1, 80), rng.randrange(30))}
            listing = Listing(1, 5).updated(model, 5)
            self.assertEqual(list(listing.items()), sorted(model.items()))
            changes = {rng.randrange(1, 100): rng.randrange(64) for _ in range(rng.randrange(6))}
            model.update(changes)
            changed = listing.updated(changes, 9)
            self.assertEqual((list(changed.items()), changed.modseq), (sorted(model.items()), 9))
            ranges = []
            for _ in range(rng.randrange(4)):
                first = rng.randrange(1, 100)
                ranges.append((first, first + rng.randrange(-1, 10)))
            left = changed.without(ranges)
            expected = {
                uid: bits
                for uid, bits in model.items()
                if not any(first <= uid <= last for first, last in ranges)
            }
            self.assertEqual(list(left.items()), sorted(expected.items()))
            # The original is left as it was.
            self.assertEqual(list(changed.items()), sorted(model.items()))


class QresyncLoadTests(_FakeBox, SynchronousTestCase):
    """
    Loads with a listing file over a fake server offering QRESYNC: the
    changes FETCH also names the expunged UIDs (C{VANISHED (EARLIER)}).
    """

    options = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities | {b"QRESYNC", b"ENABLE"})

    def expunge(self, uid: int) -> None:
        self.box.expunge(next(m for m in self.box.messages if m.uid == uid))

    def test_enabled_before_select(self) -> None:
        """
        QRESYNC is enabled once per session, before its first SELECT.
        """
        self.open()
        commands = [c.split(b" ")[0] for c in self.network.commands()]
        self.assertLess(commands.index(b"ENABLE"), commands.index(b"SELECT"))
        self.assertIn(b"ENABLE QRESYNC", self.network.commands())
        self.assertEqual(commands.count(b"ENABLE"), 1)

    def test_expunged(self) -> None:
        """
        An expunge and a flag change since the listing cost one FETCH of
        the changes, not the whole box; the answer is the full load's.
        """
        self.load()
        modseq = self.box.highest_modseq
        self.expunge(3)
        self.change(4, {b"\\Flagged"})
        infos, fetches = self.load()
        self.assertEqual(
            fetches, [b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq]
        )
        self.assertEqual(
            [(info.uid, info.flags) for info in infos],
            [
                (1, Flags.NONE),
                (2, Flags.SEEN),
                (4, Flags.FLAGGED),
                (5, Flags.NONE),
                (6, Flags.SEEN),
            ],
        )

    def test_unknown_vanished(self) -> None:
        """
        VANISHED may name UIDs the listing never had: they change nothing.
        """
        self.load()
        self.box.highest_modseq += 1
        self.box.vanished.append((99, self.box.highest_modseq))
        self.expunge(1)
        infos, fetches = self.load()
        self.assertEqual(len(fetches), 1)
        self.assertEqual([info.uid for info in infos], [2, 3, 4, 5, 6])

    def test_incomplete_vanished(self) -> None:
        """
        A server whose VANISHED misses an expunge leaves a listing longer
        than the box: it is not trusted, and the whole box is fetched.
        """
        self.load()
        del self.box.messages[2]
        self.box.highest_modseq += 1
        infos, fetches = self.load()
        self.assertIn(b"VANISHED", fetches[0])
        self.assertEqual(fetches[-1], b"UID FETCH 1:* (UID FLAGS MODSEQ)")
        self.assertEqual([info.uid for info in infos], [1, 2, 4, 5, 6])

    def test_modseq_backwards(self) -> None:
        """
        A file ahead of the server's HIGHESTMODSEQ is not asked from.
        """
        self.load()
        with open(self.path, "rb") as saved:
            listing = parse_listing(saved.read())
        assert listing is not None
        with open(self.path, "wb") as out:
            out.write(format_listing(replace(listing, modseq=listing.modseq + 50)))
        self.expunge(2)
        infos, fetches = self.load()
        self.assertEqual(fetches, [b"UID FETCH 1:* (UID FLAGS MODSEQ)"])
        self.assertEqual([info.uid for info in infos], [1, 3, 4, 5, 6])


class EarlyCondstoreLoadTests(CondstoreLoadTests):
    """
    The CONDSTORE loads with the listing FETCH sent behind the SELECT
    (L{IMAPStore.expect_listing}): the same FETCH commands and answers, but
    where the load finds it cannot use the file, the early FETCH was sent
    and its answer is not used.
    """

    early = True

    def test_uidvalidity_changed(self) -> None:
        """
        A file of another UIDVALIDITY: the early FETCH asked from it, the
        load asks for the whole box.
        """
        self.load()
        modseq = self.box.highest_modseq
        with open(self.path, "rb") as saved:
            listing = parse_listing(saved.read())
        assert listing is not None
        with open(self.path, "wb") as out:
            out.write(format_listing(replace(listing, uid_validity=listing.uid_validity + 1)))
        infos, fetches = self.load()
        self.assertEqual(
            fetches,
            [
                b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)" % modseq,
                b"UID FETCH 1:* (UID FLAGS MODSEQ)",
            ],
        )
        self.assertEqual(len(infos), 6)

    def test_modseq_backwards(self) -> None:
        """
        A file ahead of the server's HIGHESTMODSEQ: the early FETCH asked
        from it, its answer is not used, everything is fetched.
        """
        self.load()
        with open(self.path, "rb") as saved:
            listing = parse_listing(saved.read())
        assert listing is not None
        ahead = listing.modseq + 50
        with open(self.path, "wb") as out:
            out.write(format_listing(replace(listing, modseq=ahead)))
        self.change(3, {b"\\Deleted"})
        infos, fetches = self.load()
        self.assertEqual(
            fetches,
            [
                b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d)" % ahead,
                b"UID FETCH 1:* (UID FLAGS MODSEQ)",
            ],
        )
        self.assertEqual(infos[2].flags, Flags.DELETED)

    def test_one_round_trip(self) -> None:
        """
        The listing FETCH arrives at the server with the SELECT, in one
        write; the load then sends nothing.
        """
        mailbox = self.open()
        server = self.network.servers[-1]
        [batch] = [each for each in server.batches if any(b" SELECT " in c for c in each)]
        shown = [command.split(b" ", 1)[1].rstrip(b"\r\n") for command in batch]
        self.assertEqual(shown, [b"SELECT INBOX", b"UID FETCH 1:* (UID FLAGS MODSEQ)"])
        sent = len(server.commands)
        loading = mailbox.load(LoadRequest())
        # Answered already, the load still ends on the reactor's next turn,
        # as if its FETCH had gone out now (mbsync's -V order of counts).
        self.assertNoResult(loading)
        self.assertEqual(len(self.resolve(loading)), 6)
        self.assertEqual(len(server.commands), sent)

    def test_other_box_expected(self) -> None:
        """
        A hint for another box, or for a read-only opening, sends nothing
        early; the hint is forgotten by the next opening.
        """
        store = self.network.store(IMAPStoreConfig("far", account()))
        self.mail.create(b"Other")
        store.expect_listing("Other", self.path)
        inbox = self.resolve(store.open_box("INBOX"))
        self.resolve(inbox.close())
        other = self.resolve(store.open_box("Other"))
        self.resolve(other.close())
        store.expect_listing("INBOX", self.path)
        self.resolve(store.open_box("INBOX", read_only=True))
        server = self.network.servers[-1]
        self.assertEqual(
            [c.split(b" ", 1)[1].rstrip(b"\r\n") for c in server.commands[-3:]],
            [b"SELECT INBOX", b"SELECT Other", b"EXAMINE INBOX"],
        )

    def test_missing_box_created(self) -> None:
        """
        The FETCH behind a SELECT that fails fails too; the box is created
        and selected again, and loads with a FETCH of its own.
        """
        store = self.network.store(IMAPStoreConfig("far", account()))
        store.expect_listing("New", self.path)
        mailbox = self.resolve(store.open_box("New", create=True))
        assert isinstance(mailbox, IMAPMailbox)
        mailbox.use_listing_cache(self.path)
        self.assertEqual(self.resolve(mailbox.load(LoadRequest())), [])
        commands = [c.split(b" ", 1)[1].rstrip(b"\r\n") for c in self.network.servers[-1].commands]
        self.assertEqual(
            commands[-4:],
            [b"SELECT New", b"UID FETCH 1:* (UID FLAGS MODSEQ)", b"CREATE New", b"SELECT New"],
        )


class EarlyQresyncLoadTests(QresyncLoadTests):
    """
    The QRESYNC loads with the listing FETCH sent behind the SELECT, and
    the ENABLE QRESYNC before it, in one write.
    """

    early = True

    def test_modseq_backwards(self) -> None:
        """
        A file ahead of the server's HIGHESTMODSEQ: the early FETCH asked
        from it, its answer is not used, the whole box is fetched.
        """
        self.load()
        with open(self.path, "rb") as saved:
            listing = parse_listing(saved.read())
        assert listing is not None
        ahead = listing.modseq + 50
        with open(self.path, "wb") as out:
            out.write(format_listing(replace(listing, modseq=ahead)))
        self.expunge(2)
        infos, fetches = self.load()
        self.assertEqual(
            fetches,
            [
                b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d VANISHED)" % ahead,
                b"UID FETCH 1:* (UID FLAGS MODSEQ)",
            ],
        )
        self.assertEqual([info.uid for info in infos], [1, 3, 4, 5, 6])

    def test_one_round_trip(self) -> None:
        """
        ENABLE QRESYNC, the SELECT and the changes FETCH (asking for
        VANISHED of the ENABLE still in flight) arrive in one write.
        """
        self.load()
        modseq = self.box.highest_modseq
        self.expunge(5)
        before = len(self.network.servers)
        mailbox = self.open()
        [server] = self.network.servers[before:]
        [batch] = [each for each in server.batches if any(b" SELECT " in c for c in each)]
        shown = [command.split(b" ", 1)[1].rstrip(b"\r\n") for command in batch]
        self.assertEqual(
            shown,
            [
                b"ENABLE QRESYNC",
                b"SELECT INBOX",
                b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq,
            ],
        )
        infos = self.resolve(mailbox.load(LoadRequest()))
        self.assertEqual([info.uid for info in infos], [1, 2, 3, 4, 6])
        shown = [command.split(b" ", 1)[1].rstrip(b"\r\n") for command in server.commands]
        self.assertEqual(shown[:2], [b"AUTHENTICATE CRAM-MD5", b"NAMESPACE"])
        self.assertEqual(shown[2:], [each.split(b" ", 1)[1].rstrip(b"\r\n") for each in batch])


class EarlySelectTests(_FakeBox, SynchronousTestCase):
    """
    L{IMAPStore.expect_listing} with C{select_now}: on a connected store
    with no box open, the SELECT and the listing FETCH go out at once, and
    the L{IMAPStore.open_box} that follows uses them.
    """

    options = ServerOptions(capabilities=DEFAULT_OPTIONS.capabilities | {b"QRESYNC", b"ENABLE"})

    def connected(self) -> IMAPStore:
        store = self.network.store(IMAPStoreConfig("far", account()))
        self.assertIsNotNone(self.resolve(store.box_fingerprint("INBOX")))
        return store

    def shown(self) -> list[bytes]:
        server = self.network.servers[-1]
        return [c.split(b" ", 1)[1].rstrip(b"\r\n") for c in server.commands]

    def test_sent_before_open(self) -> None:
        """
        The ENABLE, SELECT and FETCH are at the server before the box is
        opened; the opening and the load send nothing more and answer as
        a full load does.
        """
        store = self.connected()
        self.assertTrue(store.expect_listing("INBOX", self.path, select_now=True))
        self.network.flush()
        sent = self.shown()
        self.assertEqual(
            sent[-3:], [b"ENABLE QRESYNC", b"SELECT INBOX", b"UID FETCH 1:* (UID FLAGS MODSEQ)"]
        )
        mailbox = self.resolve(store.open_box("INBOX"))
        assert isinstance(mailbox, IMAPMailbox)
        mailbox.use_listing_cache(self.path)
        infos = self.resolve(mailbox.load(LoadRequest()))
        self.assertEqual(self.shown(), sent)
        self.assertEqual([info.uid for info in infos], [1, 2, 3, 4, 5, 6])
        self.assertEqual([bool(info.flags) for info in infos], [False, True] * 3)

    def test_sent_after_a_turn(self) -> None:
        """
        L{IMAPStore.sent} fires from a call the reactor's timed calls
        schedule: later than a call scheduled for the next turn (the
        reactor's network pass, which writes, comes in between).
        """
        store = self.connected()
        order: list[str] = []
        done = store.sent()
        done.addCallback(lambda _: order.append("sent"))
        self.network.reactors[-1].callLater(0, order.append, "next turn")
        self.assertNoResult(done)
        self.network.reactors[-1].advance(0)
        self.assertEqual(order, ["next turn", "sent"])

    def test_not_connected(self) -> None:
        """
        A store not connected yet sends nothing early: the opening does
        as without C{select_now}.
        """
        store = self.network.store(IMAPStoreConfig("far", account()))
        self.assertFalse(store.expect_listing("INBOX", self.path, select_now=True))
        self.assertEqual(self.network.servers, [])
        mailbox = self.resolve(store.open_box("INBOX"))
        assert isinstance(mailbox, IMAPMailbox)
        mailbox.use_listing_cache(self.path)
        self.assertEqual(len(self.resolve(mailbox.load(LoadRequest()))), 6)
        self.assertEqual(self.shown().count(b"SELECT INBOX"), 1)

    def test_other_box_opened(self) -> None:
        """
        An opening of another box (or read-only) waits for the early
        SELECT and selects its own box.
        """
        self.mail.create(b"Other")
        store = self.connected()
        store.expect_listing("Other", self.path, select_now=True)
        inbox = self.resolve(store.open_box("INBOX"))
        self.assertEqual(len(self.resolve(inbox.load(LoadRequest()))), 6)
        self.resolve(inbox.close())
        store.expect_listing("INBOX", self.path, select_now=True)
        examined = self.resolve(store.open_box("INBOX", read_only=True))
        assert isinstance(examined, IMAPMailbox)
        self.assertTrue(examined.read_only)
        self.assertEqual(
            [c for c in self.shown() if c.startswith((b"SELECT", b"EXAMINE"))],
            [b"SELECT Other", b"SELECT INBOX", b"SELECT INBOX", b"EXAMINE INBOX"],
        )

    def test_missing_box_created(self) -> None:
        """
        The early SELECT of a missing box fails (kept until the opening):
        the opening creates the box and selects it again.
        """
        store = self.connected()
        store.expect_listing("New", self.path, select_now=True)
        self.network.flush()
        mailbox = self.resolve(store.open_box("New", create=True))
        assert isinstance(mailbox, IMAPMailbox)
        mailbox.use_listing_cache(self.path)
        self.assertEqual(self.resolve(mailbox.load(LoadRequest())), [])
        self.assertEqual(
            [c for c in self.shown() if c.startswith((b"SELECT", b"CREATE"))],
            [b"SELECT New", b"CREATE New", b"SELECT New"],
        )

    def test_missing_box_not_created(self) -> None:
        """
        Without C{create}, the early SELECT's failure is the opening's.
        """
        store = self.connected()
        store.expect_listing("New", self.path, select_now=True)
        self.resolve_failure(store.open_box("New"), MailboxMissing)


class ListingChangesTests(SynchronousTestCase):
    """
    L{ListingChanges.touched}: the positions of the records a partial run
    must parse.
    """

    def test_touched(self) -> None:
        """
        Positions of UIDs changed or new, and of UIDs no longer listed, in
        order; zero (no far message) never; a UID twice at both places.
        """
        changes = ListingChanges(frozenset({3, 9}), [1, 2, 3, 5, 9])
        uids = [1, 0, 3, 4, 5, 0, 9, 2, 7, 3]
        self.assertEqual(changes.touched(uids), [2, 3, 6, 8, 9])
        self.assertEqual(changes.touched([]), [])
        self.assertEqual(ListingChanges(frozenset(), []).touched([0, 4, 0]), [1])

    def test_random(self) -> None:
        """
        The same positions as the rule said one UID at a time.
        """
        rng = random.Random(11)
        for _ in range(50):
            listed = sorted(rng.sample(range(1, 60), rng.randrange(0, 40)))
            changed = frozenset(rng.sample(range(1, 70), rng.randrange(0, 10)))
            uids = [rng.randrange(0, 70) for _ in range(rng.randrange(0, 50))]
            expected = [
                index
                for index, uid in enumerate(uids)
                if uid and (uid in changed or uid not in listed)
            ]
            self.assertEqual(ListingChanges(changed, listed).touched(uids), expected)

    def test_random_ascending(self) -> None:
        """
        Records whose far UIDs ascend as the box lists them (as arrays, as a
        partial run has them: the bisecting path), and the same with a
        record gone from the box or a zero among them (the sets' path):
        the same positions as the rule said one UID at a time.
        """
        rng = random.Random(12)
        for _ in range(200):
            listed = array("I", sorted(rng.sample(range(1, 400), rng.randrange(0, 120))))
            changed = frozenset(rng.sample(range(1, 450), rng.randrange(0, 30)))
            uids = listed[: rng.randrange(0, len(listed) + 1)]
            if uids and rng.random() < 0.3:
                uids[rng.randrange(len(uids))] = rng.choice([0, 401, 402])
            expected = [
                index
                for index, uid in enumerate(uids)
                if uid and (uid in changed or uid not in listed)
            ]
            self.assertEqual(ListingChanges(changed, listed).touched(uids), expected)
