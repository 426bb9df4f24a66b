# -*- test-case-name: tests.integration.test_imapstore -*-
"""
L{msync.stores.imapstore.IMAPStore} against a real, private Dovecot: the
whole store contract over the real reactor and TCP, with and without
UIDPLUS and MOVE, and what Dovecot itself then holds.

The contract's synchronous C{resolve} is kept by running the reactor one
iteration at a time until the Deferred fires (the test method runs while
the reactor is not running). Dovecot is stopped by cleanup after each test.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar, cast

from twisted.internet import reactor as global_reactor
from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorCore, IReactorTime
from twisted.python.failure import Failure

from msync.config.schema import IMAPAccount, SSLType
from msync.config.schema import IMAPStore as IMAPStoreConfig
from msync.errors import StoreUnavailable
from msync.model import ALL_FLAGS, FlagChange, Flags, LoadRequest, Secret, UIDInterval
from msync.reactor import MailReactor
from msync.stores.imapstore import IMAPStore
from msync.stores.interface import BytesSource, IStore
from tests.integration.dovecot import HOST, DovecotTestCase
from tests.stores.contract import StoreContractTests

_T = TypeVar("_T")

reactor = cast(IReactorCore, global_reactor)
_WAIT = 30.0


class ReactorStoreTests(StoreContractTests, DovecotTestCase):
    """
    The store contract on Dovecot, UIDPLUS and MOVE in use.
    """

    disabled: tuple[str, ...] = ()

    def setUp(self) -> Deferred[None]:  # type: ignore[override]  # trial waits for it
        """
        Start Dovecot, then make the store; let the reactor start once, so
        that its thread pool resolves host names while tests iterate it.
        """
        DovecotTestCase.setUp(self)
        StoreContractTests.setUp(self)
        return task.deferLater(cast(IReactorTime, global_reactor), 0, lambda: None)

    def imap_account(self, **changes: Any) -> IMAPAccount:
        """
        The Dovecot account, plaintext with CRAM-MD5.
        """
        base = IMAPAccount(
            name="acc",
            host=HOST,
            port=self.dovecot.imap_port,
            user=self.dovecot.user,
            password=Secret(self.dovecot.password),
            ssl_type=SSLType.NONE,
            auth_mechs=("CRAM-MD5",),
            disabled_extensions=self.disabled,
        )
        fields = {**{name: getattr(base, name) for name in base.__dataclass_fields__}, **changes}
        return IMAPAccount(**fields)

    def make_store(self) -> IStore:
        """
        An IMAP store for the Dovecot account.
        """
        config = IMAPStoreConfig("far", self.imap_account())
        return IMAPStore(config, reactor=cast(MailReactor, global_reactor))

    def spin(self, deferred: Deferred[Any]) -> None:
        """
        Run the reactor until C{deferred} has fired.
        """
        deadline = time.monotonic() + _WAIT
        while not deferred.called:
            if time.monotonic() > deadline:
                self.fail(f"{deferred!r} did not fire within {_WAIT} s")
            reactor.iterate(0.01)

    def resolve(self, deferred: Deferred[_T]) -> _T:
        """
        Run the reactor until C{deferred} fires; return its result.
        """
        self.spin(deferred)
        return self.successResultOf(deferred)

    def resolve_failure(self, deferred: Deferred[Any], *errors: type[BaseException]) -> Failure:
        """
        Run the reactor until C{deferred} fails with one of C{errors}.
        """
        self.spin(deferred)
        failure: Failure = self.failureResultOf(deferred, *errors)
        return failure

    def test_server_holds_what_was_stored(self) -> None:
        """
        Dovecot holds the stored message byte for byte with its flags, in
        a nested box the store created.
        """
        mailbox = self.open("Archive/2024", create=True)
        data = self.message()
        uid = self.put(mailbox, data, Flags.SEEN | Flags.FORWARDED)
        self.resolve(mailbox.set_flags([FlagChange(uid, add=Flags.FLAGGED)]))
        [stored] = self.dovecot.messages("Archive/2024")
        self.assertEqual(stored.uid, uid)
        self.assertEqual(stored.body, data)
        self.assertEqual(stored.flags, {"\\Seen", "$Forwarded", "\\Flagged"})
        self.assertEqual(mailbox.permanent_flags, ALL_FLAGS)

    def test_sees_changes_behind_its_back(self) -> None:
        """
        Messages delivered by another client are loaded and fetched.
        """
        data = self.message()
        uid = self.dovecot.add_message("INBOX", data, ["\\Answered"])
        mailbox = self.open()
        [info] = self.load_all(mailbox)
        self.assertEqual((info.uid, info.flags), (uid, Flags.ANSWERED))
        self.assertEqual(b"".join(self.read(self.resolve(mailbox.fetch(uid)))), data)

    def test_wrong_password(self) -> None:
        """
        A refused login makes the store unavailable without the password in
        the message.
        """
        wrong = "Wrong-" + self.dovecot.password
        config = IMAPStoreConfig("bad", self.imap_account(password=Secret(wrong)))
        store = IMAPStore(config, reactor=cast(MailReactor, global_reactor))
        error = str(self.resolve_failure(store.list_boxes(), StoreUnavailable).value)
        self.assertIn("account acc", error)
        self.assertNotIn(wrong, error)
        self.resolve(store.close())

    def test_pipeline_depth_one(self) -> None:
        """
        With C{PipelineDepth 1} concurrent operations still complete in order.
        """
        config = IMAPStoreConfig("far1", self.imap_account(pipeline_depth=1))
        store = IMAPStore(config, reactor=cast(MailReactor, global_reactor))
        mailbox = self.resolve(store.open_box("INBOX"))
        stored = [mailbox.store(BytesSource(self.message()), Flags.NONE) for _ in range(5)]
        uids = [self.resolve(each) for each in stored]
        self.assertEqual(uids, sorted(uids))
        self.resolve(store.close())

    def test_concurrent_loads_and_fetches(self) -> None:
        """
        Loads with different extras and many body fetches, all started at
        once so that the connection pipelines them, each get exactly their
        own data: every body and its flags byte-identical to what was
        stored, every size and X-TUID right.
        """
        mailbox = self.open()
        choices = [Flags.NONE, Flags.SEEN, Flags.FLAGGED | Flags.SEEN, Flags.ANSWERED]
        stored: dict[int, tuple[bytes, Flags]] = {}
        pending = []
        for number in range(150):
            # Mostly small; every 25th past the in-memory spool and several
            # TCP reads long, so that streamed literals interleave.
            lines = 20 + number * 3 if number % 25 else 8000 + number * 40
            text = "".join(f"line {line} of message {number}\n" for line in range(lines))
            data = self.message(subject=f"message {number}", body=text)
            flags = choices[number % len(choices)]
            pending.append((data, flags, mailbox.store(BytesSource(data), flags)))
        unknown: dict[str, tuple[bytes, Flags]] = {}
        for data, flags, appended in pending:
            uid = self.resolve(appended)
            if uid is None:
                unknown[self.tuid_of(data)] = (data, flags)
            else:
                stored[uid] = (data, flags)
        found = self.resolve(mailbox.find_by_tuid(unknown, 1)) if unknown else {}
        stored.update({found[tuid]: each for tuid, each in unknown.items()})
        self.resolve(mailbox.close())

        fresh = self.open()
        uids = sorted(stored)
        middle = UIDInterval(uids[40], uids[90])
        loads = [
            fresh.load(LoadRequest(sizes=UIDInterval(1, None), tuids=UIDInterval(1, None))),
            fresh.load(LoadRequest(min_uid=uids[10], sizes=middle, arrival_dates=middle)),
            fresh.load(LoadRequest(min_uid=uids[-1] + 1, uids=frozenset(uids[:5]))),
        ]
        fetches = {uid: fresh.fetch(uid) for uid in uids}
        everything, ranged, singles = [self.resolve(each) for each in loads]
        bodies = {uid: self.resolve(each) for uid, each in fetches.items()}

        self.assertEqual([info.uid for info in everything], uids)
        for info in everything:
            data, flags = stored[info.uid]
            self.assertEqual((info.flags, info.size), (flags, len(data)), info.uid)
            self.assertEqual(info.tuid, self.tuid_of(data))
        self.assertEqual([info.uid for info in ranged], uids[10:])
        self.assertEqual(
            [info.size is not None for info in ranged],
            [uids[40] <= uid <= uids[90] for uid in uids[10:]],
        )
        self.assertEqual(
            [(info.uid, info.flags) for info in singles],
            [(uid, stored[uid][1]) for uid in uids[:5]],
        )
        for uid, body in bodies.items():
            data, flags = stored[uid]
            self.assertEqual((body.uid, body.flags, body.size), (uid, flags, len(data)))
            self.assertEqual(b"".join(self.read(body)), data, uid)


class BareReactorStoreTests(ReactorStoreTests):
    """
    The store contract on Dovecot without UIDPLUS, MOVE and LITERAL+
    (C{DisableExtension}): TUID search, COPY and EXPUNGE instead.
    """

    disabled = ("UIDPLUS", "MOVE", "LITERAL+")
