# -*- test-case-name: tests.stores.test_memorystore -*-
"""
L{StoreContractTests}: the contract of L{IStore}, L{IMailbox} and
L{IMessageBody}, checked against any store.

Mix it into a L{SynchronousTestCase} and define L{StoreContractTests.make_store}.
Stores whose operations do not complete synchronously (IMAP over a fake
server) override L{StoreContractTests.resolve} and
L{StoreContractTests.resolve_failure} to pump until the Deferred fires;
stores that can hold messages created behind their back override
L{StoreContractTests.seed}.

Invariants of the tests: every message they build uses the store's line
ending and carries a unique C{X-TUID}, so its UID can be found even when
L{IMailbox.store} cannot report it; the tests never open two mailboxes of
one store at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from msync.errors import MailboxError, MailboxMissing, MessageError
from msync.model import (
    ALL_FLAGS,
    FlagChange,
    Flags,
    LineEnding,
    LoadRequest,
    MessageInfo,
    MessageListing,
    UIDInterval,
)
from msync.stores.interface import BytesSource, IMailbox, IMessageBody, IMessageSource, IStore

_T = TypeVar("_T")

if TYPE_CHECKING:
    _Base = SynchronousTestCase
else:
    _Base = object


@implementer(IMessageSource)
class FailingSource:
    """
    A message source whose reading fails after its first chunk, like a
    source IMAP connection dropping mid-literal.
    """

    def __init__(self, data: bytes) -> None:
        self.size = len(data)
        self._data = data

    async def chunks(self) -> AsyncIterator[bytes]:
        """
        Yield the first half of the message, then fail with L{MessageError}.
        """
        yield self._data[: self.size // 2]
        raise MessageError("source vanished")


class StoreContractTests(_Base):
    """
    Tests every store must pass. Subclasses define L{make_store}.
    """

    store: IStore
    _counter = 0

    def make_store(self) -> IStore:
        """
        Create an empty store for one test.
        """
        raise NotImplementedError(f"{type(self).__name__} must define make_store")

    def resolve(self, deferred: Deferred[_T]) -> _T:
        """
        The result a Deferred from the store fires with.
        """
        return self.successResultOf(deferred)

    def resolve_failure(self, deferred: Deferred[Any], *errors: type[BaseException]) -> Failure:
        """
        The failure a Deferred from the store fires with, which must be one
        of C{errors}.
        """
        failure: Failure = self.failureResultOf(deferred, *errors)
        return failure

    def seed(
        self,
        box: str,
        data: bytes,
        flags: Flags = Flags.NONE,
        arrival_date: datetime | None = None,
    ) -> int:
        """
        Put a message into a box (created if missing) while no box is open.
        By default this uses the interface itself.

        @return: the message's UID.
        """
        mailbox = self.resolve(self.store.open_box(box, create=True))
        uid = self.put(mailbox, data, flags, arrival_date)
        self.resolve(mailbox.close())
        return uid

    def setUp(self) -> None:
        self.store = self.make_store()

    def tearDown(self) -> None:
        self.resolve(self.store.close())

    # Helpers

    def message(
        self,
        subject: str = "hello",
        body: str = "Body text.\n",
        message_id: str | None = None,
        extra_headers: str = "",
    ) -> bytes:
        """
        Build a message in the store's line ending with a unique C{X-TUID}.
        """
        StoreContractTests._counter += 1
        number = StoreContractTests._counter
        lines = [
            "From: Alice <alice@example.org>",
            "To: Bob <bob@example.org>",
            f"Subject: {subject}",
            f"Message-ID: {message_id or f'<{number}@example.org>'}",
            f"X-TUID: tuid{number:08d}",
        ]
        text = "\n".join(lines) + "\n" + extra_headers + "\n" + body
        return text.replace("\n", "\r\n").encode("utf-8") if self.crlf else text.encode("utf-8")

    @property
    def crlf(self) -> bool:
        """
        Whether the store under test uses CRLF.
        """
        return self.store.line_ending is LineEnding.CRLF

    def open(self, box: str = "INBOX", create: bool = True) -> IMailbox:
        """
        Open a box of the store under test.
        """
        return self.resolve(self.store.open_box(box, create=create))

    def put(
        self,
        mailbox: IMailbox,
        data: bytes,
        flags: Flags = Flags.NONE,
        arrival_date: datetime | None = None,
    ) -> int:
        """
        Store a message built by L{message} and return its UID, finding it by
        its C{X-TUID} if the store cannot report it.
        """
        uid = self.resolve(mailbox.store(BytesSource(data, 1000), flags, arrival_date))
        if uid is not None:
            return uid
        tuid = self.tuid_of(data)
        return self.resolve(mailbox.find_by_tuid([tuid], mailbox.uid_next))[tuid]

    def load_all(self, mailbox: IMailbox, request: LoadRequest | None = None) -> MessageListing:
        """
        Load the messages of a box: all of them without extras by default.
        """
        return self.resolve(mailbox.load(request or LoadRequest()))

    @staticmethod
    def tuid_of(data: bytes) -> str:
        """
        The C{X-TUID} of a message built by L{message}.
        """
        return data.split(b"X-TUID: ", 1)[1][:12].decode("ascii")

    def read(self, body: IMessageSource) -> list[bytes]:
        """
        Read one pass of a message's chunks.
        """

        async def collect() -> list[bytes]:
            return [chunk async for chunk in body.chunks()]

        return self.resolve(Deferred.fromCoroutine(collect()))

    # Interfaces

    def test_provides_interfaces(self) -> None:
        """
        The store, its mailboxes and fetched messages provide their interfaces.
        """
        self.assertTrue(verifyObject(IStore, self.store))
        self.assertIsInstance(self.store.name, str)
        self.assertIn(self.store.line_ending, list(LineEnding))
        mailbox = self.open()
        self.assertTrue(verifyObject(IMailbox, mailbox))
        uid = self.put(mailbox, self.message())
        self.assertTrue(verifyObject(IMessageBody, self.resolve(mailbox.fetch(uid))))
        self.assertEqual(mailbox.name, "INBOX")
        self.assertIsInstance(mailbox.uid_validity, int)
        self.assertEqual(int(mailbox.permanent_flags) & ~int(ALL_FLAGS), 0)

    # Boxes

    def test_create_and_list(self) -> None:
        """
        Created boxes, nested ones included, are listed; creating one that
        exists is not an error.
        """
        self.resolve(self.store.create_box("Archive"))
        self.resolve(self.store.create_box("Archive/2024"))
        self.resolve(self.store.create_box("Archive"))
        boxes = self.resolve(self.store.list_boxes())
        self.assertIn("Archive", boxes)
        self.assertIn("Archive/2024", boxes)
        self.assertEqual(len(boxes), len(set(boxes)))

    def test_delete_box(self) -> None:
        """
        A deleted box is no longer listed and can no longer be opened.
        """
        self.resolve(self.store.create_box("Old"))
        self.resolve(self.store.delete_box("Old"))
        self.assertNotIn("Old", self.resolve(self.store.list_boxes()))
        self.resolve_failure(self.store.open_box("Old"), MailboxMissing)

    def test_delete_missing_box(self) -> None:
        """
        Deleting a box that does not exist fails with L{MailboxMissing}.
        """
        self.resolve_failure(self.store.delete_box("Nowhere"), MailboxMissing)

    def test_open_missing_box(self) -> None:
        """
        Opening a missing box without C{create} fails with L{MailboxMissing},
        naming the box, and creates nothing.
        """
        error = self.resolve_failure(self.store.open_box("Nowhere"), MailboxMissing).value
        assert isinstance(error, MailboxMissing)
        self.assertEqual(error.box, "Nowhere")
        self.assertNotIn("Nowhere", self.resolve(self.store.list_boxes()))

    def test_open_create(self) -> None:
        """
        Opening with C{create} creates a missing box, which starts empty.
        """
        mailbox = self.open("Fresh/Sub", create=True)
        self.assertEqual(self.load_all(mailbox), [])
        self.assertIn("Fresh/Sub", self.resolve(self.store.list_boxes()))

    def test_open_another_after_close(self) -> None:
        """
        After closing a mailbox, another can be opened and used.
        """
        self.resolve(self.store.create_box("Other"))
        self.resolve(self.open().close())
        other = self.open("Other", create=False)
        self.assertEqual(other.name, "Other")
        self.assertEqual(self.load_all(other), [])

    def test_append_creates_box(self) -> None:
        """
        L{IStore.append} stores into a box that is not open, creating it.
        """
        data = self.message()
        self.resolve(self.store.append("Trash", BytesSource(data), Flags.SEEN))
        trash = self.open("Trash", create=False)
        [info] = self.load_all(trash)
        self.assertEqual(info.flags, Flags.SEEN)
        self.assertEqual(b"".join(self.read(self.resolve(trash.fetch(info.uid)))), data)

    # Storing, loading and fetching

    def test_round_trip(self) -> None:
        """
        A stored message is loaded with its flags and fetched byte for byte.
        """
        data = self.message()
        uid = self.seed("INBOX", data, Flags.SEEN | Flags.FLAGGED)
        mailbox = self.open()
        self.assertEqual(
            self.load_all(mailbox), [MessageInfo(uid=uid, flags=Flags.SEEN | Flags.FLAGGED)]
        )
        body = self.resolve(mailbox.fetch(uid))
        self.assertEqual(
            (body.uid, body.flags, body.size), (uid, Flags.SEEN | Flags.FLAGGED, len(data))
        )
        self.assertEqual(b"".join(self.read(body)), data)

    def test_uids_increase(self) -> None:
        """
        Each stored message gets a UID above every earlier one and at least
        the UIDNEXT seen at open; reopening shows the same UIDVALIDITY and a
        UIDNEXT above them all.
        """
        mailbox = self.open()
        uids = [self.put(mailbox, self.message()) for _ in range(3)]
        self.assertEqual(uids, sorted(set(uids)))
        self.assertGreaterEqual(uids[0], mailbox.uid_next)
        self.assertGreaterEqual(uids[0], 1)
        validity = mailbox.uid_validity
        self.resolve(mailbox.close())
        again = self.open()
        self.assertEqual(again.uid_validity, validity)
        self.assertGreater(again.uid_next, uids[-1])
        self.assertGreater(self.put(again, self.message()), uids[-1])

    def test_unbounded_load_includes_new(self) -> None:
        """
        A load without upper bound reports messages stored after the open.
        """
        mailbox = self.open()
        uid = self.put(mailbox, self.message())
        self.assertEqual([info.uid for info in self.load_all(mailbox)], [uid])

    def test_store_atomic(self) -> None:
        """
        When reading the message fails, the store fails and nothing is stored.
        """
        mailbox = self.open()
        self.put(mailbox, self.message())
        self.resolve_failure(mailbox.store(FailingSource(self.message()), Flags.NONE), MessageError)
        self.assertEqual(len(self.load_all(mailbox)), 1)

    def test_find_by_tuid(self) -> None:
        """
        L{IMailbox.find_by_tuid} maps the TUIDs of messages at or above
        C{min_uid} to their UIDs and omits the others.
        """
        mailbox = self.open()
        first_data = self.message()
        first = self.put(mailbox, first_data)
        second_data = self.message()
        second = self.put(mailbox, second_data)
        tuids = [self.tuid_of(first_data), self.tuid_of(second_data), "missingtuid0"]
        found = self.resolve(mailbox.find_by_tuid(tuids, second))
        self.assertEqual(found, {tuids[1]: second})
        self.assertEqual(
            self.resolve(mailbox.find_by_tuid(tuids, first)), {tuids[0]: first, tuids[1]: second}
        )

    def test_load_range_and_set(self) -> None:
        """
        A load reports, in UID order, the messages in its range plus those
        explicitly listed, and nothing else.
        """
        mailbox = self.open()
        uids = [self.put(mailbox, self.message()) for _ in range(5)]

        def loaded(request: LoadRequest) -> list[int]:
            listing = self.resolve(mailbox.load(request))
            # Every store answers in columns (issue 11: no object per message).
            self.assertIsInstance(listing, MessageListing)
            return [info.uid for info in listing]

        self.assertEqual(loaded(LoadRequest(uids[2], uids[3])), uids[2:4])
        self.assertEqual(
            loaded(LoadRequest(uids[2], uids[3], frozenset({uids[0], 10**6}))),
            [uids[0], *uids[2:4]],
        )
        self.assertEqual(loaded(LoadRequest(uids[3])), uids[3:])
        self.assertEqual(loaded(LoadRequest(uids[4] + 1)), [])
        self.assertEqual(loaded(LoadRequest(2, 1, frozenset({uids[1]}))), [uids[1]])

    def test_load_without_extras(self) -> None:
        """
        Extras not requested are reported as C{None}.
        """
        uid = self.seed("INBOX", self.message(), Flags.DRAFT)
        [info] = self.load_all(self.open())
        self.assertEqual(info, MessageInfo(uid=uid, flags=Flags.DRAFT, recent=info.recent))

    def test_load_extras_where_requested(self) -> None:
        """
        Each extra is reported exactly for the messages inside its interval:
        sizes as stored, C{X-TUID} and C{Message-ID} values, arrival dates.
        """
        mailbox = self.open()
        first_data = self.message(message_id="<first@example.org>")
        first = self.put(mailbox, first_data)
        second_data = self.message(message_id="<second@example.org>")
        second = self.put(mailbox, second_data)
        old, new = UIDInterval(1, first), UIDInterval(second)
        request = LoadRequest(sizes=new, tuids=old, message_ids=new, arrival_dates=old)
        a, b = self.load_all(mailbox, request)
        self.assertEqual((a.size, b.size), (None, len(second_data)))
        self.assertEqual((a.tuid, b.tuid), (self.tuid_of(first_data), None))
        self.assertEqual((a.message_id, b.message_id), (None, "<second@example.org>"))
        self.assertIsNotNone(a.arrival_date)
        self.assertIsNone(b.arrival_date)

    def test_header_extraction(self) -> None:
        """
        Header field names match case-insensitively, folded values are
        unfolded, and fields in the body do not count.
        """
        data = (
            b"message-id:\n  <folded@example.org>\nx-tuid: abcdefghijkl\nSubject: s\n\n"
            b"X-TUID: inthebodyxxx\n"
        )
        if self.crlf:
            data = data.replace(b"\n", b"\r\n")
        mailbox = self.open()
        self.resolve(mailbox.store(BytesSource(data), Flags.NONE))
        every = UIDInterval()
        [info] = self.load_all(mailbox, LoadRequest(tuids=every, message_ids=every))
        self.assertEqual((info.tuid, info.message_id), ("abcdefghijkl", "<folded@example.org>"))

    def test_missing_headers(self) -> None:
        """
        A message without C{X-TUID} or C{Message-ID} reports C{None} for them.
        """
        data = b"Subject: bare\r\n\r\nhi\r\n" if self.crlf else b"Subject: bare\n\nhi\n"
        mailbox = self.open()
        self.resolve(mailbox.store(BytesSource(data), Flags.NONE))
        every = UIDInterval()
        [info] = self.load_all(mailbox, LoadRequest(tuids=every, message_ids=every))
        self.assertEqual((info.tuid, info.message_id), (None, None))

    def test_arrival_date(self) -> None:
        """
        The arrival date given to C{store} is reported by C{load} and C{fetch}
        (as the same instant).
        """
        when = datetime(2020, 1, 1, 12, 30, 5, tzinfo=timezone(timedelta(hours=2)))
        mailbox = self.open()
        uid = self.put(mailbox, self.message(), Flags.NONE, when)
        [info] = self.load_all(mailbox, LoadRequest(arrival_dates=UIDInterval()))
        self.assertEqual(info.arrival_date, when)
        body = self.resolve(mailbox.fetch(uid))
        self.assertEqual(body.arrival_date, when)
        self.assertIsNotNone(body.arrival_date.tzinfo)

    def test_arrival_date_defaults(self) -> None:
        """
        A message stored without an arrival date gets a timezone-aware one.
        """
        mailbox = self.open()
        uid = self.put(mailbox, self.message())
        self.assertIsNotNone(self.resolve(mailbox.fetch(uid)).arrival_date.tzinfo)

    def test_fetch_keeps_flags(self) -> None:
        """
        Fetching a message does not mark it seen.
        """
        mailbox = self.open()
        uid = self.put(mailbox, self.message())
        self.read(self.resolve(mailbox.fetch(uid)))
        self.assertEqual(self.load_all(mailbox)[0].flags, Flags.NONE)

    def test_fetch_missing(self) -> None:
        """
        Fetching a UID that does not exist fails with L{MessageError}.
        """
        mailbox = self.open()
        self.resolve_failure(mailbox.fetch(4711), MessageError)

    def test_streaming(self) -> None:
        """
        A multi-megabyte message is stored from chunks and fetched in many
        bounded chunks, byte for byte; its chunks can be read again.
        """
        line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + (b"\r\n" if self.crlf else b"\n")
        data = self.message() + line * (3 * 1024 * 1024 // len(line))
        mailbox = self.open()
        uid = self.resolve(mailbox.store(BytesSource(data, 64 * 1024), Flags.NONE))
        if uid is None:
            uid = self.load_all(mailbox)[-1].uid
        body = self.resolve(mailbox.fetch(uid))
        self.assertEqual(body.size, len(data))
        chunks = self.read(body)
        self.assertGreater(len(chunks), 1)
        self.assertTrue(all(0 < len(chunk) < len(data) for chunk in chunks))
        self.assertTrue(b"".join(chunks) == data, "fetched body differs")
        self.assertTrue(b"".join(self.read(body)) == data, "second pass differs")

    def test_permanent_flags(self) -> None:
        """
        Flags are reported only within the mailbox's permanent flags.
        """
        mailbox = self.open()
        uid = self.put(mailbox, self.message(), ALL_FLAGS)
        self.assertEqual(self.load_all(mailbox)[0].flags, mailbox.permanent_flags)
        self.resolve(mailbox.set_flags([FlagChange(uid, remove=ALL_FLAGS)]))
        self.resolve(mailbox.set_flags([FlagChange(uid, add=ALL_FLAGS)]))
        self.assertEqual(self.resolve(mailbox.fetch(uid)).flags, mailbox.permanent_flags)

    # Flags, trash, expunge

    def test_set_flags(self) -> None:
        """
        A batch of flag changes is applied to each message; changes to
        missing UIDs are ignored.
        """
        mailbox = self.open()
        one = self.put(mailbox, self.message(), Flags.SEEN)
        two = self.put(mailbox, self.message(), Flags.SEEN | Flags.FLAGGED)
        three = self.put(mailbox, self.message())
        changes = [
            FlagChange(one, add=Flags.ANSWERED),
            FlagChange(two, add=Flags.ANSWERED, remove=Flags.FLAGGED),
            FlagChange(three, add=Flags.SEEN | Flags.DELETED),
            FlagChange(three + 1000, add=Flags.SEEN),
        ]
        self.resolve(mailbox.set_flags(changes))
        self.assertEqual(
            [(info.uid, info.flags) for info in self.load_all(mailbox)],
            [
                (one, Flags.SEEN | Flags.ANSWERED),
                (two, Flags.SEEN | Flags.ANSWERED),
                (three, Flags.SEEN | Flags.DELETED),
            ],
        )

    def test_set_flags_in_order(self) -> None:
        """
        Changes to one message take effect in the order given.
        """
        mailbox = self.open()
        uid = self.put(mailbox, self.message())
        changes = [FlagChange(uid, add=Flags.SEEN), FlagChange(uid, remove=Flags.SEEN)]
        self.resolve(mailbox.set_flags(changes))
        self.resolve(mailbox.set_flags([]))
        self.assertEqual(self.load_all(mailbox)[0].flags, Flags.NONE)

    def test_expunge(self) -> None:
        """
        Expunging removes exactly the deleted messages and reports their UIDs.
        """
        mailbox = self.open()
        keep = self.put(mailbox, self.message(), Flags.SEEN)
        gone = [self.put(mailbox, self.message(), Flags.DELETED) for _ in range(2)]
        self.assertEqual(self.resolve(mailbox.expunge()), gone)
        self.assertEqual([info.uid for info in self.load_all(mailbox)], [keep])

    def test_expunge_uids(self) -> None:
        """
        Expunging given UIDs removes those that are deleted, reports them,
        and never removes messages that are not deleted.
        """
        mailbox = self.open()
        keep = self.put(mailbox, self.message())
        gone = self.put(mailbox, self.message(), Flags.DELETED)
        removed = self.resolve(mailbox.expunge([keep, gone]))
        self.assertIn(gone, removed)
        self.assertNotIn(keep, removed)
        self.assertEqual([info.uid for info in self.load_all(mailbox)], [keep])

    def test_trash(self) -> None:
        """
        Trashing copies messages into the (created) Trash box byte for byte;
        after an expunge they are gone from the source box. Missing UIDs are
        left out of the result.
        """
        mailbox = self.open()
        data = self.message()
        uid = self.put(mailbox, data, Flags.SEEN | Flags.DELETED)
        other = self.put(mailbox, self.message())
        self.assertEqual(self.resolve(mailbox.trash([uid, other + 1000], "Trash")), [uid])
        self.resolve(mailbox.expunge([uid]))
        self.assertEqual([info.uid for info in self.load_all(mailbox)], [other])
        self.resolve(mailbox.close())
        trash = self.open("Trash", create=False)
        [info] = self.load_all(trash)
        self.assertEqual(info.flags & Flags.SEEN, Flags.SEEN)
        self.assertTrue(b"".join(self.read(self.resolve(trash.fetch(info.uid)))) == data)

    def test_trash_into_itself(self) -> None:
        """
        Issue 8: trashing messages of the Trash box into itself (Trash
        synchronized too, C{Patterns *}) is no error: as mbsync 1.4.4 does,
        each message is moved (or copied) into the same box, where it is a
        new message with a higher UID and the same bytes; after the
        expunge the old UID is gone and nothing is lost.
        """
        trash = self.open("Trash")
        data = self.message()
        uid = self.put(trash, data, Flags.SEEN | Flags.DELETED)
        kept = self.put(trash, self.message())
        trashed = trash.trash([uid], "Trash")
        if trashed.called and isinstance(trashed.result, Failure):
            # An IMAP-like store without UIDPLUS cannot: its expunge would
            # remove the copy as well. It refuses and changes nothing.
            error = self.resolve_failure(trashed, MailboxError).value
            self.assertIn("without UIDPLUS", str(error))
            self.assertEqual([info.uid for info in self.load_all(trash)], [uid, kept])
            return
        self.assertEqual(self.resolve(trashed), [uid])
        self.resolve(trash.expunge([uid]))
        infos = self.load_all(trash)
        self.assertEqual(len(infos), 2)
        self.assertEqual(infos[0].uid, kept)
        self.assertGreater(infos[1].uid, kept)
        self.assertEqual(infos[1].flags & Flags.SEEN, Flags.SEEN)
        self.assertEqual(b"".join(self.read(self.resolve(trash.fetch(infos[1].uid)))), data)

    # Read-only opening (--dry-run)

    def everything(self) -> LoadRequest:
        """
        A load of every message with every extra.
        """
        every = UIDInterval(1, None)
        return LoadRequest(sizes=every, tuids=every, message_ids=every, arrival_dates=every)

    def test_read_only_reports_the_same(self) -> None:
        """
        A box opened read-only reports what a read-write open does: the
        same UIDVALIDITY, UIDNEXT, permanent flags and messages (flags,
        sizes, headers, dates; C{recent} aside, which a read-write open may
        clear); its messages can be fetched and found by TUID.
        """
        first = self.message()
        uid = self.seed("INBOX", first, Flags.SEEN | Flags.FLAGGED)
        self.seed("INBOX", self.message(), Flags.DELETED)
        mailbox = self.resolve(self.store.open_box("INBOX", read_only=True))
        self.assertTrue(verifyObject(IMailbox, mailbox))
        seen = (mailbox.uid_validity, mailbox.uid_next, mailbox.permanent_flags)
        loaded = [replace(info, recent=False) for info in self.load_all(mailbox, self.everything())]
        self.assertEqual(b"".join(self.read(self.resolve(mailbox.fetch(uid)))), first)
        tuid = self.tuid_of(first)
        self.assertEqual(self.resolve(mailbox.find_by_tuid([tuid], 1)), {tuid: uid})
        self.resolve(mailbox.close())
        writable = self.open(create=False)
        self.assertEqual(seen, (writable.uid_validity, writable.uid_next, writable.permanent_flags))
        self.assertEqual(
            [replace(info, recent=False) for info in self.load_all(writable, self.everything())],
            loaded,
        )

    def test_read_only_refuses_changes(self) -> None:
        """
        A read-only box refuses C{store}, C{set_flags}, C{trash} and
        C{expunge} with C{RuntimeError} at once; nothing changed.
        """
        uid = self.seed("INBOX", self.message(), Flags.DELETED)
        mailbox = self.resolve(self.store.open_box("INBOX", read_only=True))
        before = self.load_all(mailbox, self.everything())
        self.assertRaises(
            RuntimeError, mailbox.store, BytesSource(self.message()), Flags.NONE, None
        )
        self.assertRaises(RuntimeError, mailbox.set_flags, [FlagChange(uid, add=Flags.SEEN)])
        self.assertRaises(RuntimeError, mailbox.trash, [uid], "Trash")
        self.assertRaises(RuntimeError, mailbox.expunge, [uid])
        self.assertRaises(RuntimeError, mailbox.expunge)
        self.resolve(mailbox.close())
        self.assertNotIn("Trash", self.resolve(self.store.list_boxes()))
        writable = self.open(create=False)
        self.assertEqual(self.load_all(writable, self.everything()), before)

    def test_read_only_missing_box(self) -> None:
        """
        Opening a missing box read-only fails with L{MailboxMissing} and
        creates nothing; asking to create it read-only is a C{ValueError}.
        """
        self.resolve_failure(self.store.open_box("Nowhere", read_only=True), MailboxMissing)
        self.assertRaises(ValueError, self.store.open_box, "Nowhere", create=True, read_only=True)
        self.assertNotIn("Nowhere", self.resolve(self.store.list_boxes()))
        self.resolve(self.store.create_box("Other"))
        other = self.resolve(self.store.open_box("Other", read_only=True))
        self.assertEqual(self.load_all(other), [])
