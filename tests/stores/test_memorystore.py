# -*- test-case-name: tests.stores.test_memorystore -*-
"""
Tests for L{msync.stores.memorystore}: the store contract in two
configurations, and the memory store's own switches, failure injection,
test helpers and sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import (
    MailboxError,
    MailboxMissing,
    MessageError,
    StoreUnavailable,
)
from msync.model import (
    ALL_FLAGS,
    FlagChange,
    Flags,
    LineEnding,
    LoadRequest,
    UIDInterval,
    parse_tracking_headers,
)
from msync.stores.interface import BytesSource
from msync.stores.memorystore import FailurePoint, MemoryMailbox, MemoryOptions, MemoryStore
from tests.stores.contract import StoreContractTests

MESSAGE = b"Subject: hi\nMessage-ID: <m@example.org>\nX-TUID: abcdefghijkl\n\nbody\n"
CRLF_MESSAGE = MESSAGE.replace(b"\n", b"\r\n")
IMAP_LIKE = MemoryOptions(
    line_ending=LineEnding.CRLF,
    uidplus=False,
    permanent_flags=ALL_FLAGS & ~Flags.FORWARDED,
    trash_moves=False,
    chunk_size=1000,
)


class MaildirLikeContractTests(StoreContractTests, SynchronousTestCase):
    """
    The contract holds for the memory store in its default configuration
    (LF, UIDPLUS, moving trash, every flag).
    """

    def make_store(self) -> MemoryStore:
        return MemoryStore("mem", clock=Clock())


class IMAPLikeContractTests(StoreContractTests, SynchronousTestCase):
    """
    The contract holds for the memory store imitating a plain IMAP server:
    CRLF, no UIDPLUS, trash by copying, no C{$Forwarded}, small chunks.
    """

    def make_store(self) -> MemoryStore:
        return MemoryStore("imapish", clock=Clock(), options=IMAP_LIKE)


def _open(test: SynchronousTestCase, store: MemoryStore, box: str = "INBOX") -> MemoryMailbox:
    """
    Open a box of a memory store, creating it.
    """
    mailbox = test.successResultOf(store.open_box(box, create=True))
    assert isinstance(mailbox, MemoryMailbox)
    return mailbox


class SwitchTests(SynchronousTestCase):
    """
    The memory store's options imitate the stores it stands in for.
    """

    def test_without_uidplus(self) -> None:
        """
        Without UIDPLUS, C{store} reports no UID and C{expunge} removes every
        deleted message, not only those named.
        """
        store = MemoryStore(clock=Clock(), options=MemoryOptions(uidplus=False))
        mailbox = _open(self, store)
        self.assertIsNone(self.successResultOf(mailbox.store(BytesSource(MESSAGE), Flags.DELETED)))
        store.seed("INBOX", MESSAGE, Flags.DELETED)
        self.assertEqual(self.successResultOf(mailbox.expunge([1])), [1, 2])

    def test_trash_by_copy(self) -> None:
        """
        With C{trash_moves=False} the trashed message stays, still deleted,
        until expunged.
        """
        store = MemoryStore(clock=Clock(), options=MemoryOptions(trash_moves=False))
        store.seed("INBOX", MESSAGE, Flags.DELETED)
        mailbox = _open(self, store)
        self.assertEqual(self.successResultOf(mailbox.trash([1], "Trash")), [1])
        self.assertEqual([m.uid for m in store.messages("INBOX")], [1])
        self.assertEqual(store.messages("Trash")[0].flags, Flags.DELETED)

    def test_trash_by_move(self) -> None:
        """
        By default trashing moves the message: it leaves the source box and
        keeps its bytes, flags and arrival date in Trash.
        """
        store = MemoryStore(clock=Clock())
        when = datetime(2021, 5, 6, tzinfo=UTC)
        store.seed("INBOX", MESSAGE, Flags.DELETED | Flags.SEEN, when)
        self.successResultOf(_open(self, store).trash([1], "Trash"))
        self.assertEqual(store.messages("INBOX"), [])
        [trashed] = store.messages("Trash")
        self.assertEqual(
            (trashed.data, trashed.flags, trashed.arrival_date),
            (MESSAGE, Flags.DELETED | Flags.SEEN, when),
        )

    def test_trash_into_itself(self) -> None:
        """
        Trashing into the open mailbox itself copies the message into it
        (a new UID) with UIDPLUS, and fails with L{MailboxError} without.
        """
        store = MemoryStore(clock=Clock())
        store.seed("INBOX", MESSAGE, Flags.DELETED)
        self.assertEqual(self.successResultOf(_open(self, store).trash([1], "INBOX")), [1])
        store = MemoryStore(clock=Clock(), options=IMAP_LIKE)
        store.seed("INBOX", MESSAGE, Flags.DELETED)
        self.failureResultOf(_open(self, store).trash([1], "INBOX"), MailboxError)

    def test_permanent_flags(self) -> None:
        """
        Flags outside C{permanent_flags} are dropped when storing, seeding
        and setting flags.
        """
        store = MemoryStore(
            clock=Clock(), options=MemoryOptions(permanent_flags=Flags.SEEN | Flags.DELETED)
        )
        store.seed("INBOX", MESSAGE, Flags.SEEN | Flags.FORWARDED)
        mailbox = _open(self, store)
        self.assertEqual(mailbox.permanent_flags, Flags.SEEN | Flags.DELETED)
        self.successResultOf(mailbox.store(BytesSource(MESSAGE), Flags.DRAFT | Flags.DELETED))
        self.successResultOf(mailbox.set_flags([FlagChange(1, add=Flags.FLAGGED)]))
        self.assertEqual([m.flags for m in store.messages("INBOX")], [Flags.SEEN, Flags.DELETED])

    def test_strict_crlf(self) -> None:
        """
        A CRLF store refuses messages with bare LF or bare CR, with
        L{MessageError}; C{seed} takes anything.
        """
        store = MemoryStore(clock=Clock(), options=MemoryOptions(line_ending=LineEnding.CRLF))
        mailbox = _open(self, store)
        for data in (MESSAGE, CRLF_MESSAGE + b"x\r", CRLF_MESSAGE + b"x\n"):
            self.failureResultOf(mailbox.store(BytesSource(data), Flags.NONE), MessageError)
        self.successResultOf(mailbox.store(BytesSource(CRLF_MESSAGE), Flags.NONE))
        store.seed("INBOX", MESSAGE)
        self.assertEqual([m.data for m in store.messages("INBOX")], [CRLF_MESSAGE, MESSAGE])

    def test_strict_lf(self) -> None:
        """
        An LF store refuses messages containing CRLF.
        """
        mailbox = _open(self, MemoryStore(clock=Clock()))
        self.failureResultOf(mailbox.store(BytesSource(CRLF_MESSAGE), Flags.NONE), MessageError)

    def test_lenient_line_endings(self) -> None:
        """
        With C{strict_line_endings=False} any line ending is stored.
        """
        store = MemoryStore(clock=Clock(), options=MemoryOptions(strict_line_endings=False))
        self.successResultOf(_open(self, store).store(BytesSource(CRLF_MESSAGE), Flags.NONE))
        self.assertEqual(store.messages("INBOX")[0].data, CRLF_MESSAGE)

    def test_chunk_size(self) -> None:
        """
        Fetched bodies yield chunks of at most C{chunk_size} bytes.
        """
        store = MemoryStore(clock=Clock(), options=MemoryOptions(chunk_size=10))
        store.seed("INBOX", MESSAGE)
        body = self.successResultOf(_open(self, store).fetch(1))

        async def collect() -> list[bytes]:
            return [chunk async for chunk in body.chunks()]

        chunks = self.successResultOf(Deferred.fromCoroutine(collect()))
        self.assertEqual([len(chunk) for chunk in chunks[:-1]], [10] * (len(chunks) - 1))
        self.assertEqual(b"".join(chunks), MESSAGE)

    def test_bad_chunk_size(self) -> None:
        """
        A chunk size below 1 and unknown permanent flags are refused.
        """
        self.assertRaises(ValueError, MemoryOptions, chunk_size=0)
        self.assertRaises(ValueError, MemoryOptions, permanent_flags=Flags(64))
        self.assertRaises(ValueError, BytesSource, b"x", 0)

    def test_default_arrival_from_clock(self) -> None:
        """
        Messages stored without an arrival date arrive at the clock's time.
        """
        clock = Clock()
        clock.advance(1000)
        store = MemoryStore(clock=clock)
        self.successResultOf(_open(self, store).store(BytesSource(MESSAGE), Flags.NONE))
        self.assertEqual(
            store.messages("INBOX")[0].arrival_date, datetime(1970, 1, 1, 0, 16, 40, tzinfo=UTC)
        )

    def test_naive_arrival_refused(self) -> None:
        """
        A naive arrival date is a caller bug: C{ValueError}.
        """
        mailbox = _open(self, MemoryStore(clock=Clock()))
        self.failureResultOf(
            mailbox.store(BytesSource(MESSAGE), Flags.NONE, datetime(2020, 1, 1)), ValueError
        )

    def test_source_size_mismatch(self) -> None:
        """
        A source yielding other than its announced size is a caller bug.
        """
        source = BytesSource(MESSAGE)
        source.size += 1
        mailbox = _open(self, MemoryStore(clock=Clock()))
        self.failureResultOf(mailbox.store(source, Flags.NONE), ValueError)

    def test_delete_inbox_refused(self) -> None:
        """
        The inbox cannot be deleted.
        """
        store = MemoryStore(clock=Clock())
        store.seed("INBOX", MESSAGE)
        self.failureResultOf(store.delete_box("INBOX"), MailboxError)

    def test_invalid_names(self) -> None:
        """
        Non-canonical box names are refused with L{MailboxError}.
        """
        store = MemoryStore(clock=Clock())
        for name in ("", "/a", "a/", "a//b"):
            self.failureResultOf(store.create_box(name), MailboxError)
            self.failureResultOf(store.open_box(name, create=True), MailboxError)
        self.assertEqual(store.boxes(), [])


class MisuseTests(SynchronousTestCase):
    """
    Calls the contract forbids raise C{RuntimeError} at once.
    """

    def test_second_open(self) -> None:
        """
        Only one mailbox may be open per session.
        """
        store = MemoryStore(clock=Clock())
        _open(self, store)
        self.assertRaises(RuntimeError, store.open_box, "Other", True)

    def test_use_after_mailbox_close(self) -> None:
        """
        A closed mailbox cannot be used.
        """
        mailbox = _open(self, MemoryStore(clock=Clock()))
        self.successResultOf(mailbox.close())
        self.assertRaises(RuntimeError, mailbox.load, LoadRequest())
        self.assertRaises(RuntimeError, mailbox.close)

    def test_use_after_store_close(self) -> None:
        """
        After the store closes, neither it nor its open mailbox can be used.
        """
        store = MemoryStore(clock=Clock())
        mailbox = _open(self, store)
        self.successResultOf(store.close())
        self.assertRaises(RuntimeError, store.list_boxes)
        self.assertRaises(RuntimeError, mailbox.expunge)

    def test_delete_open_box(self) -> None:
        """
        The open mailbox cannot be deleted.
        """
        store = MemoryStore(clock=Clock())
        _open(self, store, "Box")
        self.assertRaises(RuntimeError, store.delete_box, "Box")

    def test_flag_change_validation(self) -> None:
        """
        A flag change may not add and remove the same flag, nor name UID 0.
        """
        self.assertRaises(ValueError, FlagChange, 1, Flags.SEEN, Flags.SEEN)
        self.assertRaises(ValueError, FlagChange, 0)

    def test_load_request_validation(self) -> None:
        """
        Load requests and UID intervals refuse UIDs below 1.
        """
        self.assertRaises(ValueError, LoadRequest, 0)
        self.assertRaises(ValueError, LoadRequest, 1, None, frozenset({0}))
        self.assertRaises(TypeError, LoadRequest, 1, None, {1})
        self.assertRaises(ValueError, UIDInterval, 0)
        self.assertRaises(ValueError, UIDInterval, 1, -1)


class FailureInjectionTests(SynchronousTestCase):
    """
    L{MemoryStore.fail_operation} fails the Nth operation of a session.
    """

    def test_operations_logged(self) -> None:
        """
        Every interface call but the store's C{close} is a numbered operation.
        """
        store = MemoryStore(clock=Clock())
        mailbox = _open(self, store)
        self.successResultOf(mailbox.load(LoadRequest()))
        self.successResultOf(mailbox.store(BytesSource(MESSAGE), Flags.NONE))
        self.successResultOf(mailbox.close())
        self.successResultOf(store.list_boxes())
        self.successResultOf(store.close())
        self.assertEqual(
            store.operations,
            ("open_box INBOX", "INBOX: load", "INBOX: store", "INBOX: close", "list_boxes"),
        )

    def test_fail_before(self) -> None:
        """
        A failure injected before an operation leaves no effect; the next
        operations succeed.
        """
        store = MemoryStore(clock=Clock())
        mailbox = _open(self, store)
        store.fail_operation(2, MessageError)
        failure = self.failureResultOf(
            mailbox.store(BytesSource(MESSAGE), Flags.NONE), MessageError
        )
        self.assertIn("operation 2 (INBOX: store)", str(failure.value))
        self.assertEqual(store.messages("INBOX"), [])
        self.assertEqual(self.successResultOf(mailbox.store(BytesSource(MESSAGE), Flags.NONE)), 1)

    def test_fail_after(self) -> None:
        """
        A failure injected after an operation loses only its result: the
        message is stored and can be found by its TUID.
        """
        store = MemoryStore(clock=Clock())
        mailbox = _open(self, store)
        store.fail_operation(2, MailboxError, FailurePoint.AFTER)
        self.failureResultOf(mailbox.store(BytesSource(MESSAGE), Flags.NONE), MailboxError)
        found = self.successResultOf(mailbox.find_by_tuid(["abcdefghijkl"], mailbox.uid_next))
        self.assertEqual(found, {"abcdefghijkl": 1})

    def test_unavailable_is_final(self) -> None:
        """
        After an injected L{StoreUnavailable} every operation of the session
        fails the same way; closing still succeeds and a reopened session
        works.
        """
        store = MemoryStore(clock=Clock())
        mailbox = _open(self, store)
        store.fail_operation(2, StoreUnavailable)
        self.failureResultOf(mailbox.load(LoadRequest()), StoreUnavailable)
        self.failureResultOf(mailbox.expunge(), StoreUnavailable)
        self.failureResultOf(mailbox.close(), StoreUnavailable)
        self.failureResultOf(store.list_boxes(), StoreUnavailable)
        self.successResultOf(store.close())
        self.assertEqual(self.successResultOf(store.reopen().list_boxes()), ["INBOX"])

    def test_failed_open_leaves_none_open(self) -> None:
        """
        An open that fails after taking effect leaves no mailbox open (the
        box is created, though).
        """
        store = MemoryStore(clock=Clock())
        store.fail_operation(1, MailboxError, FailurePoint.AFTER)
        self.failureResultOf(store.open_box("New", create=True), MailboxError)
        self.assertEqual(store.boxes(), ["New"])
        self.successResultOf(store.open_box("New"))

    def test_failed_close_releases(self) -> None:
        """
        A mailbox whose close fails is closed anyway.
        """
        store = MemoryStore(clock=Clock())
        mailbox = _open(self, store)
        store.fail_operation(2, MailboxError)
        self.failureResultOf(mailbox.close(), MailboxError)
        self.successResultOf(store.open_box("INBOX"))

    def test_mailbox_missing_refused(self) -> None:
        """
        L{MailboxMissing} cannot be injected (it needs a box name), nor can
        operation 0.
        """
        store = MemoryStore(clock=Clock())
        self.assertRaises(ValueError, store.fail_operation, 1, MailboxMissing)
        self.assertRaises(ValueError, store.fail_operation, 0)

    def test_each_operation_in_turn(self) -> None:
        """
        The crash-test pattern: count a run's operations, then fail each in
        turn on fresh data; each run fails exactly at that operation.
        """

        steps: list[Callable[[MemoryMailbox], Deferred[Any]]] = [
            lambda box: box.store(BytesSource(MESSAGE), Flags.NONE),
            lambda box: box.set_flags([FlagChange(1, add=Flags.DELETED)]),
            lambda box: box.trash([1], "Trash"),
            lambda box: box.expunge(),
            lambda box: box.close(),
        ]
        for failing in range(2, len(steps) + 2):
            store = MemoryStore(clock=Clock())
            mailbox = _open(self, store)
            store.fail_operation(failing, MessageError)
            for number, step in enumerate(steps, start=2):
                if number == failing:
                    self.failureResultOf(step(mailbox), MessageError)
                else:
                    self.successResultOf(step(mailbox))
            self.assertEqual(len(store.operations), len(steps) + 1)


class HelperTests(SynchronousTestCase):
    """
    The inspection and seeding helpers tests use.
    """

    def test_seed_and_messages(self) -> None:
        """
        C{seed} creates the box and assigns increasing UIDs; C{messages}
        lists them in UID order with their TUID and Message-ID.
        """
        store = MemoryStore(clock=Clock())
        self.assertEqual(store.seed("A/B", MESSAGE, recent=True), 1)
        self.assertEqual(store.seed("A/B", b"x\n", Flags.SEEN), 2)
        first, second = store.messages("A/B")
        self.assertEqual((first.uid, first.recent, first.tuid), (1, True, "abcdefghijkl"))
        self.assertEqual((first.message_id, second.message_id), ("<m@example.org>", None))
        self.assertEqual(second.flags, Flags.SEEN)
        self.assertRaises(MailboxMissing, store.messages, "C")

    def test_recent_loaded(self) -> None:
        """
        Recent messages are loaded as such.
        """
        store = MemoryStore(clock=Clock())
        store.seed("INBOX", MESSAGE, recent=True)
        [info] = self.successResultOf(_open(self, store).load(LoadRequest()))
        self.assertTrue(info.recent)

    def test_other_client_changes(self) -> None:
        """
        C{set_message_flags} and C{remove_message} act like another client,
        visible to the open mailbox.
        """
        store = MemoryStore(clock=Clock())
        store.seed("INBOX", MESSAGE)
        store.seed("INBOX", MESSAGE)
        mailbox = _open(self, store)
        store.set_message_flags("INBOX", 1, Flags.FLAGGED)
        store.remove_message("INBOX", 2)
        loaded = self.successResultOf(mailbox.load(LoadRequest()))
        self.assertEqual([(info.uid, info.flags) for info in loaded], [(1, Flags.FLAGGED)])

    def test_renumber(self) -> None:
        """
        C{renumber} gives the box a new UIDVALIDITY and UIDs from 1; a
        mailbox opened before fails with L{MailboxError}.
        """
        store = MemoryStore(clock=Clock())
        for _ in range(3):
            store.seed("INBOX", MESSAGE)
        store.remove_message("INBOX", 1)
        mailbox = _open(self, store)
        old = store.uid_validity("INBOX")
        new = store.renumber("INBOX")
        self.assertNotEqual(old, new)
        self.assertEqual(store.uid_validity("INBOX"), new)
        self.assertEqual([m.uid for m in store.messages("INBOX")], [1, 2])
        self.failureResultOf(mailbox.load(LoadRequest()), MailboxError)

    def test_distinct_uid_validity(self) -> None:
        """
        A box deleted and created again gets a new UIDVALIDITY.
        """
        store = MemoryStore(clock=Clock())
        self.successResultOf(store.create_box("Box"))
        first = store.uid_validity("Box")
        self.successResultOf(store.delete_box("Box"))
        self.successResultOf(store.create_box("Box"))
        self.assertNotEqual(store.uid_validity("Box"), first)

    def test_parse_tracking_headers(self) -> None:
        """
        Only the header is searched, and the first occurrence of a field wins.
        """
        headers = parse_tracking_headers(
            b"X-TUID: first\r\nX-TUID: second\r\nMessage-ID:\r\n\r\nMessage-ID: <b>\r\n"
        )
        self.assertEqual((headers.tuid, headers.message_id), ("first", None))


class ReopenTests(SynchronousTestCase):
    """
    L{MemoryStore.reopen} simulates a restart over the same data.
    """

    def test_data_survives(self) -> None:
        """
        A reopened session sees the same boxes, messages and UIDVALIDITY, with
        the same options, a fresh operation log and no pending injections.
        """
        store = MemoryStore(
            "same", clock=Clock(), options=MemoryOptions(line_ending=LineEnding.CRLF, uidplus=False)
        )
        mailbox = _open(self, store)
        self.successResultOf(mailbox.store(BytesSource(CRLF_MESSAGE), Flags.SEEN))
        store.fail_operation(5)
        again = store.reopen()
        self.assertEqual((again.name, again.line_ending), ("same", LineEnding.CRLF))
        self.assertEqual(again.operations, ())
        reopened = _open(self, again)
        self.assertEqual(reopened.uid_validity, mailbox.uid_validity)
        self.assertEqual(reopened.uid_next, 2)
        self.assertIsNone(
            self.successResultOf(reopened.store(BytesSource(CRLF_MESSAGE), Flags.NONE))
        )
        self.assertEqual(self.successResultOf(reopened.load(LoadRequest()))[0].flags, Flags.SEEN)
        self.successResultOf(reopened.close())
        self.successResultOf(again.list_boxes())

    def test_sessions_share_data(self) -> None:
        """
        Two sessions may have the same box open; each sees the other's
        changes, and a box deleted by one fails for the other.
        """
        store = MemoryStore(clock=Clock())
        other = store.reopen()
        mine = _open(self, store, "Box")
        theirs = _open(self, other, "Box")
        self.successResultOf(theirs.store(BytesSource(MESSAGE), Flags.NONE))
        self.assertEqual(len(self.successResultOf(mine.load(LoadRequest()))), 1)
        self.successResultOf(theirs.close())
        self.successResultOf(other.delete_box("Box"))
        self.failureResultOf(mine.load(LoadRequest()), MailboxError)
