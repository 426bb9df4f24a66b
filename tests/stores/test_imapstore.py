# -*- test-case-name: tests.stores.test_imapstore -*-
"""
Tests for L{msync.stores.imapstore}, L{msync.stores.imapbox} and
L{msync.stores.imapnames}: the store contract over the stateful fake server,
connecting and logging in, listing names as mbsync 1.4 does, and the exact
commands the mailbox operations send.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from msync.config.schema import IMAPAccount, SSLType
from msync.config.schema import IMAPStore as IMAPStoreConfig
from msync.errors import MailboxError, StoreUnavailable
from msync.imap.session import IMAPSession, MailboxStatus
from msync.model import ALL_FLAGS, FlagChange, Flags, LoadRequest, Secret, UIDInterval
from msync.stores.imapbox import IMAPMailbox
from msync.stores.imapnames import MBSYNC14_NAMES, MBSYNC15_NAMES, NameMapping
from msync.stores.imapstore import IMAPStore
from msync.stores.interface import BytesSource, IStore
from tests.fakes.clocks import FakeMailReactor
from tests.fakes.imapserver import (
    DEFAULT_CAPABILITIES,
    DEFAULT_OPTIONS,
    FakeIMAPServer,
    MailStore,
    ServerOptions,
)
from tests.fakes.pump import IOPump, connect
from tests.stores.contract import StoreContractTests

_T = TypeVar("_T")

PASSWORD = "s3cret-pw"


def account(**changes: Any) -> IMAPAccount:
    """
    An account for the fake server: plaintext, CRAM-MD5 by C{AuthMechs *}.
    """
    base = IMAPAccount(
        name="acct",
        host="imap.example",
        user="user",
        password=Secret(PASSWORD),
        ssl_type=SSLType.NONE,
    )
    return replace(base, **changes)


class FakeCreator:
    """
    Stands in for L{msync.imap.tls.TLSClientCreator}.
    """

    def __init__(self, problem: str | None = None) -> None:
        self.problem = problem

    def error_for(self, reason: object) -> Exception | None:
        """
        The TLS problem, if one was set.
        """
        return None if self.problem is None else Exception(self.problem)


class FakeNetwork:
    """
    Connects stores to L{FakeIMAPServer}s over in-memory pumps.

    @ivar servers: every server connected to, in order.
    @ivar pumps: their pumps.
    """

    def __init__(self, mail: MailStore, options: ServerOptions = DEFAULT_OPTIONS) -> None:
        self.mail = mail
        self.options = options
        self.servers: list[FakeIMAPServer] = []
        self.pumps: list[IOPump] = []
        self.creators: list[FakeCreator] = []
        self.reactors: list[FakeMailReactor] = []

    def connect(self, account: IMAPAccount, factory: IProtocolFactory) -> Deferred[IProtocol]:
        """
        The store's connector: a fresh server joined by a pump.
        """
        protocol = factory.buildProtocol(None)  # type: ignore[arg-type]  # no address in memory
        assert protocol is not None
        server = FakeIMAPServer(self.mail, self.options)
        self.servers.append(server)
        self.pumps.append(connect(protocol, server, flush=False))
        return succeed(protocol)

    def tls_context(self, account: IMAPAccount, host: str) -> Any:
        """
        The store's TLS context maker.
        """
        creator = FakeCreator()
        self.creators.append(creator)
        return creator

    def store(self, config: IMAPStoreConfig, names: NameMapping = MBSYNC14_NAMES) -> IMAPStore:
        """
        An IMAP store using this network (with mbsync 1.4's names unless
        told otherwise).
        """
        reactor = FakeMailReactor()
        self.reactors.append(reactor)
        return IMAPStore(
            config,
            reactor=reactor,
            connect=self.connect,
            tls_context=self.tls_context,
            names=names,
        )

    def flush(self) -> None:
        """
        Move every pending byte, and run what the stores' reactors call
        on their next turn.
        """
        for pump in self.pumps:
            pump.flush()
        for reactor in self.reactors:
            reactor.advance(0)

    def commands(self) -> list[bytes]:
        """
        Every command the servers received, tags removed.
        """
        return [
            raw.split(b" ", 1)[1].rstrip(b"\r\n")
            for server in self.servers
            for raw in server.commands
        ]


if TYPE_CHECKING:
    _Base = SynchronousTestCase
else:
    _Base = object


class PumpingMixin(_Base):
    """
    Resolve Deferreds by pumping the fake network.
    """

    network: FakeNetwork

    def resolve(self, deferred: Deferred[_T]) -> _T:
        """
        Pump until C{deferred} fires; return its result.
        """
        self.network.flush()
        return self.successResultOf(deferred)

    def resolve_failure(self, deferred: Deferred[Any], *errors: type[BaseException]) -> Failure:
        """
        Pump until C{deferred} fails with one of C{errors}.
        """
        self.network.flush()
        failure: Failure = self.failureResultOf(deferred, *errors)
        return failure


class IMAPContractTests(PumpingMixin, StoreContractTests, SynchronousTestCase):
    """
    The store contract over the fake server with every extension.
    """

    def make_store(self) -> IStore:
        """
        An IMAP store on a fresh fake server.
        """
        self.network = FakeNetwork(MailStore({"user": PASSWORD}))
        return self.network.store(IMAPStoreConfig("far", account()))


class IMAPContractMinimalTests(PumpingMixin, StoreContractTests, SynchronousTestCase):
    """
    The store contract over a server without UIDPLUS, MOVE, LITERAL+ and
    NAMESPACE, one command at a time (C{PipelineDepth 1}).
    """

    def make_store(self) -> IStore:
        """
        An IMAP store on a fresh, bare fake server.
        """
        options = ServerOptions(capabilities=frozenset({b"IMAP4rev1"}), reject_pipelining=True)
        self.network = FakeNetwork(MailStore({"user": PASSWORD}), options)
        config = IMAPStoreConfig("far", account(pipeline_depth=1))
        return self.network.store(config)


class ConnectTests(PumpingMixin, SynchronousTestCase):
    """
    Connecting, securing and logging in.
    """

    def make(self, options: ServerOptions = DEFAULT_OPTIONS, **account_changes: Any) -> IMAPStore:
        """
        A store on a fresh fake server.
        """
        self.network = FakeNetwork(MailStore({"user": PASSWORD}), options)
        return self.network.store(IMAPStoreConfig("far", account(**account_changes)))

    def test_lazy_and_reused(self) -> None:
        """
        Nothing connects before the first use; concurrent and later
        operations share one connection.
        """
        store = self.make()
        self.assertEqual(self.network.servers, [])
        first, second = store.list_boxes(), store.create_box("A")
        self.resolve(second)
        self.assertEqual(self.resolve(first), ["INBOX"])
        self.resolve(store.list_boxes())
        self.assertEqual(len(self.network.servers), 1)
        self.resolve(store.close())
        self.assertIn(b"LOGOUT", self.network.commands())

    def test_close_does_not_wait_for_logout(self) -> None:
        """
        Closing sends LOGOUT and closes the connection behind it at once:
        the store is closed before any answer arrives.
        """
        store = self.make()
        self.resolve(store.list_boxes())
        closed = store.close()
        [pump] = self.network.pumps
        # Before anything is answered: LOGOUT written, the close asked for.
        self.assertTrue(pump.client_transport.disconnecting)
        self.assertTrue(pump.client_transport.value().endswith(b" LOGOUT\r\n"))
        self.assertNoResult(closed)
        # Closed once the connection is (what was written went first).
        self.network.flush()
        self.successResultOf(closed)
        self.assertEqual(self.network.commands()[-1], b"LOGOUT")
        self.assertTrue(pump.disconnected)

    def test_closed_while_connecting(self) -> None:
        """
        A store closed before its connection is made (the channel's other
        store failed to open) drops the connection at once, as mbsync
        cancels it: nothing is sent, no login (so -V prints nothing more).
        """
        store = self.make()
        made: list[Deferred[None]] = []
        clients: list[IProtocol] = []
        connect = self.network.connect

        def made_now(protocol: IProtocol) -> IProtocol:
            clients.append(protocol)
            return protocol

        def pending(account: IMAPAccount, factory: IProtocolFactory) -> Deferred[IProtocol]:
            gate: Deferred[None] = Deferred()
            made.append(gate)
            return gate.addCallback(lambda _: connect(account, factory)).addCallback(made_now)

        store._connect = pending
        store.start_connecting()
        closed = store.close()
        self.assertNoResult(closed)
        made[0].callback(None)
        self.resolve(closed)
        self.assertEqual(self.network.commands(), [])
        self.assertTrue(clients[0].transport.disconnecting)  # type: ignore[attr-defined]

    def test_cram_md5_in_plaintext(self) -> None:
        """
        Without TLS, C{AuthMechs *} picks CRAM-MD5, never sending the password.
        """
        store = self.make()
        self.resolve(store.list_boxes())
        self.assertIn(b"AUTHENTICATE CRAM-MD5", self.network.commands())
        self.assertNotIn(PASSWORD.encode(), b"".join(self.network.servers[0].commands))

    def test_no_login_in_plaintext(self) -> None:
        """
        Without TLS and without CRAM-MD5, C{*} refuses LOGIN and PLAIN: the
        store is unavailable, naming the account, and nothing is retried.
        """
        store = self.make(ServerOptions(auth_mechanisms=(b"PLAIN",)))
        error = self.resolve_failure(store.list_boxes(), StoreUnavailable).value
        self.assertIn("account acct", str(error))
        self.assertNotIn(b"LOGIN", b" ".join(self.network.commands()))
        again = self.resolve_failure(store.list_boxes(), StoreUnavailable).value
        self.assertIs(again, error)
        self.assertEqual(len(self.network.servers), 1)

    def test_login_named_explicitly(self) -> None:
        """
        C{AuthMechs LOGIN} allows LOGIN even without TLS.
        """
        store = self.make(ServerOptions(auth_mechanisms=()), auth_mechs=("LOGIN",))
        self.assertEqual(self.resolve(store.list_boxes()), ["INBOX"])
        self.assertTrue(any(each.startswith(b"LOGIN ") for each in self.network.commands()))

    def test_wrong_password(self) -> None:
        """
        A refused login makes the store unavailable; the message names the
        account and host and never contains the password.
        """
        store = self.make(password=Secret("wrong-" + PASSWORD))
        error = str(self.resolve_failure(store.list_boxes(), StoreUnavailable).value)
        self.assertIn("acct", error)
        self.assertIn("imap.example", error)
        self.assertIn("Authentication failed", error)
        self.assertNotIn(PASSWORD, error)

    def test_starttls(self) -> None:
        """
        With C{SSLType STARTTLS} the store upgrades before logging in, with
        the context made for the configured host.
        """
        store = self.make(ServerOptions(starttls=True), ssl_type=SSLType.STARTTLS)
        self.resolve(store.list_boxes())
        commands = self.network.commands()
        self.assertEqual(commands[:2], [b"STARTTLS", b"CAPABILITY"])
        self.assertEqual(self.network.pumps[0].client_transport.tls_starts, self.network.creators)
        self.assertTrue(self.network.servers[0].tls)

    def test_starttls_not_offered(self) -> None:
        """
        A server without STARTTLS fails the store; no login is attempted.
        """
        store = self.make(ServerOptions(starttls=False), ssl_type=SSLType.STARTTLS)
        error = self.resolve_failure(store.list_boxes(), StoreUnavailable).value
        self.assertIn("STARTTLS", str(error))
        self.assertEqual(self.network.servers[0].user, None)
        self.assertEqual(self.network.commands(), [])

    def test_preauth(self) -> None:
        """
        A PREAUTH greeting skips login; with STARTTLS configured it is
        refused instead (no plaintext).
        """
        store = self.make(ServerOptions(preauth=True))
        self.assertEqual(self.resolve(store.list_boxes()), ["INBOX"])
        self.assertFalse(any(b"AUTHENTICATE" in each for each in self.network.commands()))
        store = self.make(ServerOptions(preauth=True, starttls=True), ssl_type=SSLType.STARTTLS)
        error = self.resolve_failure(store.list_boxes(), StoreUnavailable).value
        self.assertIn("PREAUTH", str(error))

    def test_connection_lost(self) -> None:
        """
        Losing the connection makes this and every later operation fail
        with L{StoreUnavailable}.
        """
        store = self.make()
        self.resolve(store.list_boxes())
        self.network.pumps[0].server_transport.loseConnection()
        self.network.flush()
        error = self.resolve_failure(store.list_boxes(), StoreUnavailable).value
        self.assertIn("far", str(error))
        self.resolve_failure(store.open_box("INBOX"), StoreUnavailable)
        self.resolve(store.close())

    def test_disable_extension_move(self) -> None:
        """
        With C{DisableExtension MOVE} trashing copies instead of moving.
        """
        store = self.make(disabled_extensions=("MOVE",))
        mailbox = self.resolve(store.open_box("INBOX"))
        uid = self.resolve(mailbox.store(BytesSource(b"Subject: x\r\n\r\nx\r\n"), Flags.NONE))
        assert uid is not None
        self.resolve(store.create_box("Trash"))
        self.assertEqual(self.resolve(mailbox.trash([uid], "Trash")), [uid])
        commands = self.network.commands()
        self.assertIn(b"UID COPY %d Trash" % uid, commands)
        self.assertFalse(any(each.startswith(b"UID MOVE") for each in commands))


class ListingTests(PumpingMixin, SynchronousTestCase):
    """
    Listing a fake server's boxes.
    """

    def make(self, *names: bytes, **config: Any) -> IMAPStore:
        """
        A store whose server holds the given boxes besides INBOX.
        """
        mail = MailStore({"user": PASSWORD})
        for name in names:
            mail.create(name)
        self.network = FakeNetwork(mail)
        return self.network.store(replace(IMAPStoreConfig("far", account()), **config))

    def test_names(self) -> None:
        """
        Nested and modified UTF-7 names are listed raw; lock files are not.
        """
        store = self.make(b"Archive", b"Archive/2024", b"Entw&APw-rfe", b"x.lock")
        boxes = self.resolve(store.list_boxes())
        self.assertEqual(sorted(boxes), ["Archive", "Archive/2024", "Entw&APw-rfe", "INBOX"])
        self.assertIn(b'LIST "" *', self.network.commands())

    def test_path_prefix(self) -> None:
        """
        With C{Path}, the prefix's hierarchy and INBOX are listed, the
        prefix stripped; boxes are opened under the prefix.
        """
        store = self.make(b"Mail/a", b"Mail/b/c", b"Other", path="Mail/")
        boxes = self.resolve(store.list_boxes())
        self.assertEqual(sorted(boxes), ["INBOX", "a", "b/c"])
        commands = self.network.commands()
        self.assertIn(b'LIST "" Mail/*', commands)
        self.assertIn(b'LIST "" INBOX*', commands)
        mailbox = self.resolve(store.open_box("b/c"))
        self.assertEqual(mailbox.name, "b/c")
        self.assertIn(b"SELECT Mail/b/c", self.network.commands())

    def test_subscribed_only(self) -> None:
        """
        C{SubscribedOnly} lists with LSUB.
        """
        store = self.make(b"A", subscribed_only=True)
        self.resolve(store.list_boxes())
        self.assertIn(b'LSUB "" *', self.network.commands())

    def test_non_ascii_round_trip(self) -> None:
        """
        A raw modified UTF-7 name selects the same server mailbox.
        """
        store = self.make(b"Entw&APw-rfe")
        mailbox = self.resolve(store.open_box("Entw&APw-rfe"))
        self.assertEqual(mailbox.name, "Entw&APw-rfe")
        self.assertIn(b"SELECT Entw&APw-rfe", self.network.commands())

    def test_invalid_name(self) -> None:
        """
        A box name that is not valid modified UTF-7 cannot be opened.
        """
        store = self.make()
        self.resolve(store.list_boxes())
        self.resolve_failure(store.open_box("a&b"), MailboxError)


class EarlyListTests(PumpingMixin, SynchronousTestCase):
    """
    L{IMAPStore.expect_list_boxes}: the LIST of the usual empty prefix goes
    out with the NAMESPACE, used when NAMESPACE says so.
    """

    def make(self, options: ServerOptions = DEFAULT_OPTIONS) -> IMAPStore:
        mail = MailStore({"user": PASSWORD})
        for name in (b"Archive", b"Mail/a"):
            mail.create(name)
        self.network = FakeNetwork(mail, options)
        store = self.network.store(IMAPStoreConfig("far", account()))
        store.expect_list_boxes()
        return store

    def batches(self) -> list[list[bytes]]:
        """
        The commands the server received, tags removed, by batch.
        """
        return [
            [command.split(b" ", 1)[1].rstrip(b"\r\n") for command in batch]
            for batch in self.network.servers[-1].batches
            if batch
        ]

    def test_with_namespace(self) -> None:
        """
        NAMESPACE and C{LIST "" *} arrive together; listing sends nothing more.
        """
        store = self.make()
        self.resolve(Deferred.fromCoroutine(store.session()))
        self.assertEqual(self.batches()[-1], [b"NAMESPACE", b'LIST "" *'])
        boxes: list[str] = self.resolve(store.list_boxes())
        self.assertEqual(sorted(boxes), ["Archive", "INBOX", "Mail/a"])
        self.assertEqual(self.batches()[-1], [b"NAMESPACE", b'LIST "" *'])
        # Only the first listing uses it.
        self.resolve(store.list_boxes())
        self.assertEqual(self.batches()[-1], [b'LIST "" *'])

    def test_wrong_guess(self) -> None:
        """
        A prefix from NAMESPACE: the early LIST is not used, the prefix's
        patterns are listed.
        """
        store = self.make(ServerOptions(namespace=b'(("Mail/" "/")) NIL NIL'))
        self.assertEqual(self.resolve(store.list_boxes()), ["a", "INBOX"])
        self.assertEqual(
            self.batches()[-3:],
            [[b"NAMESPACE", b'LIST "" *'], [b'LIST "" Mail/*'], [b'LIST "" INBOX*']],
        )

    def test_stale_after_box_operations(self) -> None:
        """
        Not used by the first listing, the early LIST is forgotten once a
        box is opened or created: a later listing asks again.
        """
        store = self.make()
        self.resolve(store.create_box("New"))
        self.assertIn("New", self.resolve(store.list_boxes()))
        self.assertEqual(self.batches()[-1], [b'LIST "" *'])


class Utf8AcceptTests(PumpingMixin, SynchronousTestCase):
    """
    Following mbsync 1.5, a server offering C{UTF8=ACCEPT} gets C{ENABLE
    UTF8=ACCEPT} after login, and names then travel in UTF-8 (RFC 6855).
    """

    def make(self, names: NameMapping, utf8: bool = True) -> IMAPStore:
        """
        A store on a server holding C{Entwürfe} (spelled in UTF-8 when the
        server offers UTF8=ACCEPT, else in modified UTF-7).
        """
        mail = MailStore({"user": PASSWORD})
        mail.create("Entwürfe".encode() if utf8 else b"Entw&APw-rfe")
        capabilities = DEFAULT_OPTIONS.capabilities | (
            {b"ENABLE", b"UTF8=ACCEPT"} if utf8 else set()
        )
        self.network = FakeNetwork(mail, replace(DEFAULT_OPTIONS, capabilities=capabilities))
        return self.network.store(IMAPStoreConfig("far", account()), names)

    def test_enabled_under_15(self) -> None:
        """
        ENABLE UTF8=ACCEPT comes after the login and before anything else
        about mailboxes; LIST names are read as UTF-8 and SELECT sends the
        name as a UTF-8 quoted string.
        """
        store = self.make(MBSYNC15_NAMES)
        boxes: list[str] = self.resolve(store.list_boxes())
        self.assertEqual(sorted(boxes), ["Entwürfe", "INBOX"])
        mailbox = self.resolve(store.open_box("Entwürfe"))
        self.assertEqual(mailbox.name, "Entwürfe")
        commands = self.network.commands()
        login = next(i for i, c in enumerate(commands) if c.startswith((b"LOGIN", b"AUTH")))
        self.assertEqual(commands.index(b"ENABLE UTF8=ACCEPT"), login + 1)
        self.assertEqual(commands.count(b"ENABLE UTF8=ACCEPT"), 1)
        self.assertIn('SELECT "Entwürfe"'.encode(), commands)

    def test_never_under_14(self) -> None:
        """
        Following mbsync 1.4, nothing is enabled and names stay raw.
        """
        store = self.make(MBSYNC14_NAMES)
        self.resolve(store.list_boxes())
        self.assertNotIn(b"ENABLE UTF8=ACCEPT", self.network.commands())

    def test_not_offered(self) -> None:
        """
        Without UTF8=ACCEPT, 1.5 naming sends modified UTF-7.
        """
        store = self.make(MBSYNC15_NAMES, utf8=False)
        boxes: list[str] = self.resolve(store.list_boxes())
        self.assertEqual(sorted(boxes), ["Entwürfe", "INBOX"])
        self.resolve(store.open_box("Entwürfe"))
        commands = self.network.commands()
        self.assertNotIn(b"ENABLE UTF8=ACCEPT", commands)
        self.assertIn(b"SELECT Entw&APw-rfe", commands)


class MailboxCommandTests(PumpingMixin, SynchronousTestCase):
    """
    The commands mailbox operations send.
    """

    def setUp(self) -> None:
        self.network = FakeNetwork(MailStore({"user": PASSWORD}))
        self.store = self.network.store(IMAPStoreConfig("far", account()))
        self.mailbox = self.resolve(self.store.open_box("INBOX"))
        self.uids = [
            cast(
                int,
                self.resolve(
                    self.mailbox.store(BytesSource(b"X-TUID: t%011d\r\n\r\nx\r\n" % n), Flags.NONE)
                ),
            )
            for n in range(6)
        ]
        self.mark = len(self.network.commands())

    def sent(self) -> list[bytes]:
        """
        The commands sent since the last call (or setUp).
        """
        commands = self.network.commands()
        new, self.mark = commands[self.mark :], len(commands)
        return new

    def test_empty_box_loads_at_once(self) -> None:
        """
        A box the server says is empty (EXISTS 0) loads at once, with no
        FETCH, as mbsync's does (so its -V count comes first); one with
        messages is fetched.
        """
        self.resolve(self.mailbox.close())
        self.resolve(self.store.create_box("Empty"))
        empty = self.resolve(self.store.open_box("Empty"))
        self.sent()
        self.assertEqual(self.successResultOf(empty.load(LoadRequest())), [])
        self.assertEqual(self.sent(), [])
        self.resolve(empty.close())
        inbox = self.resolve(self.store.open_box("INBOX"))
        self.assertEqual(len(self.resolve(inbox.load(LoadRequest()))), 6)
        self.assertTrue(any(b"FETCH" in command for command in self.sent()))

    def test_load_items_per_interval(self) -> None:
        """
        A load fetches extras only where the request wants them, one UID
        FETCH per group of equal items, plus the listed older UIDs.
        """
        request = LoadRequest(
            min_uid=4, uids=frozenset({1}), sizes=UIDInterval(5), tuids=UIDInterval(1, 1)
        )
        infos = self.resolve(self.mailbox.load(request))
        self.assertEqual([info.uid for info in infos], [1, 4, 5, 6])
        self.assertEqual([info.size for info in infos], [None, None, 27, 27])
        self.assertEqual([info.tuid for info in infos], ["t00000000000", None, None, None])
        self.assertEqual(
            sorted(self.sent()),
            [
                b"UID FETCH 1 (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-TUID)])",
                b"UID FETCH 4 (UID FLAGS)",
                b"UID FETCH 5:* (UID FLAGS RFC822.SIZE)",
            ],
        )

    def test_load_star_quirk(self) -> None:
        """
        C{n:*} above the highest UID reports nothing, though IMAP matches
        the highest message.
        """
        self.assertEqual(self.resolve(self.mailbox.load(LoadRequest(min_uid=50))), [])

    def test_set_flags_grouped(self) -> None:
        """
        Equal net changes share one UID STORE per direction, with a
        compact UID set; a message's changes are merged first.
        """
        changes = [
            FlagChange(1, add=Flags.SEEN),
            FlagChange(2, add=Flags.SEEN),
            FlagChange(3, add=Flags.SEEN),
            FlagChange(5, add=Flags.FLAGGED, remove=Flags.SEEN),
            FlagChange(5, add=Flags.SEEN, remove=Flags.FLAGGED),
        ]
        self.resolve(self.mailbox.set_flags(changes))
        self.assertEqual(
            self.sent(),
            [
                b"UID STORE 1:3,5 +FLAGS.SILENT (\\Seen)",
                b"UID STORE 5 -FLAGS.SILENT (\\Flagged)",
            ],
        )

    def test_expunge_uids(self) -> None:
        """
        With UIDPLUS only the given deleted messages are expunged, by UID.
        """
        self.resolve(
            self.mailbox.set_flags([FlagChange(uid, add=Flags.DELETED) for uid in (2, 3, 4)])
        )
        self.sent()
        self.assertEqual(self.resolve(self.mailbox.expunge([1, 2, 3])), [2, 3])
        self.assertEqual(self.sent(), [b"UID FETCH 1:3 (UID FLAGS)", b"UID EXPUNGE 2:3"])

    def test_store_without_uidplus(self) -> None:
        """
        Without UIDPLUS C{store} returns C{None}; L{find_by_tuid} finds it.
        """
        network = FakeNetwork(
            MailStore({"user": PASSWORD}), ServerOptions(capabilities=frozenset({b"IMAP4rev1"}))
        )
        self.network = network
        store = network.store(IMAPStoreConfig("far", account()))
        mailbox = self.resolve(store.open_box("INBOX"))
        data = b"X-TUID: abcdefghijkl\r\n\r\nbody\r\n"
        self.assertIsNone(self.resolve(mailbox.store(BytesSource(data), Flags.SEEN)))
        found = self.resolve(mailbox.find_by_tuid(["abcdefghijkl", "nothere"], mailbox.uid_next))
        self.assertEqual(found, {"abcdefghijkl": 1})

    def multiappend_box(self, capabilities: frozenset[bytes]) -> Any:
        self.network = FakeNetwork(
            MailStore({"user": PASSWORD}), ServerOptions(capabilities=capabilities)
        )
        store = self.network.store(IMAPStoreConfig("far", account()))
        return self.resolve(store.open_box("INBOX"))

    def test_store_multiappend(self) -> None:
        """
        With MULTIAPPEND, the first two stores go at once (two APPENDs at
        the server), the three handed over meanwhile together in the next,
        in order; each gets its UID from APPENDUID; the box asks the engine
        for more copies under way.
        """
        mailbox = self.multiappend_box(DEFAULT_CAPABILITIES | {b"MULTIAPPEND"})
        self.assertEqual(mailbox.copies_in_flight, 32)
        mark = len(self.network.commands())
        stored = [
            mailbox.store(BytesSource(b"X-TUID: t%011d\r\n\r\nbody\r\n" % n), Flags.SEEN)
            for n in range(5)
        ]
        uids = [self.resolve(each) for each in stored]
        self.assertEqual(uids, [1, 2, 3, 4, 5])
        appends = [c for c in self.network.commands()[mark:] if c.startswith(b"APPEND")]
        self.assertEqual([command.count(b"(\\Seen)") for command in appends], [1, 1, 3])
        found = self.resolve(mailbox.find_by_tuid([f"t{n:011d}" for n in range(5)], 1))
        self.assertEqual(found, {f"t{n:011d}": n + 1 for n in range(5)})

    def test_store_multiappend_without_uidplus(self) -> None:
        """
        MULTIAPPEND without UIDPLUS: the stores report no UID, and the
        copies are found by TUID.
        """
        mailbox = self.multiappend_box(frozenset({b"IMAP4rev1", b"LITERAL+", b"MULTIAPPEND"}))
        stored = [
            mailbox.store(BytesSource(b"X-TUID: u%011d\r\n\r\nbody\r\n" % n), Flags.NONE)
            for n in range(3)
        ]
        self.assertEqual([self.resolve(each) for each in stored], [None, None, None])
        found = self.resolve(mailbox.find_by_tuid([f"u{n:011d}" for n in range(3)], 1))
        self.assertEqual(found, {f"u{n:011d}": n + 1 for n in range(3)})

    def test_store_without_multiappend(self) -> None:
        """
        Without MULTIAPPEND each message is an APPEND of its own, pipelined,
        and the engine keeps its usual number of copies under way.
        """
        mailbox = self.multiappend_box(DEFAULT_CAPABILITIES)
        self.assertEqual(mailbox.copies_in_flight, 8)
        mark = len(self.network.commands())
        stored = [
            mailbox.store(BytesSource(b"X-TUID: v%011d\r\n\r\nbody\r\n" % n), Flags.NONE)
            for n in range(3)
        ]
        self.assertEqual([self.resolve(each) for each in stored], [1, 2, 3])
        appends = [c for c in self.network.commands()[mark:] if c.startswith(b"APPEND")]
        self.assertEqual(len(appends), 3)


class ReadOnlyTests(PumpingMixin, SynchronousTestCase):
    """
    A read-only open (C{--dry-run}) EXAMINEs the box and sends nothing that
    would change it.
    """

    def setUp(self) -> None:
        self.network = FakeNetwork(MailStore({"user": PASSWORD}))
        self.store = self.network.store(IMAPStoreConfig("far", account()))
        mailbox = self.resolve(self.store.open_box("INBOX"))
        self.uid = cast(
            int,
            self.resolve(
                mailbox.store(BytesSource(b"X-TUID: t00000000001\r\n\r\nx\r\n"), Flags.NONE)
            ),
        )
        self.resolve(mailbox.close())

    def test_examine_and_refuse(self) -> None:
        """
        The box is opened with C{EXAMINE}; C{store}, C{set_flags}, C{trash}
        and C{expunge} raise C{RuntimeError} and send no command; loads work.
        """
        mark = len(self.network.commands())
        mailbox = self.resolve(self.store.open_box("INBOX", read_only=True))
        self.assertEqual(self.network.commands()[mark:], [b"EXAMINE INBOX"])
        self.assertEqual(
            [info.uid for info in self.resolve(mailbox.load(LoadRequest()))], [self.uid]
        )
        mark = len(self.network.commands())
        self.assertRaises(RuntimeError, mailbox.store, BytesSource(b"x\r\n"), Flags.NONE)
        self.assertRaises(RuntimeError, mailbox.set_flags, [FlagChange(self.uid, add=Flags.SEEN)])
        self.assertRaises(RuntimeError, mailbox.trash, [self.uid], "Trash")
        self.assertRaises(RuntimeError, mailbox.expunge)
        self.network.flush()
        self.assertEqual(self.network.commands()[mark:], [])

    def test_examine_permanent_flags(self) -> None:
        """
        An EXAMINE answered with C{PERMANENTFLAGS ()} (as Dovecot answers
        it) reports every flag, as a SELECT without PERMANENTFLAGS would:
        the empty list only says this session may not change flags.
        """
        status = MailboxStatus(
            uid_validity=7,
            uid_next=3,
            exists=2,
            permanent_flags=(),
            highest_modseq=None,
            read_only=True,
        )
        store, session = cast(IMAPStore, None), cast(IMAPSession, None)
        examined = self.successResultOf(
            Deferred.fromCoroutine(
                IMAPMailbox.opened(store, session, "INBOX", "INBOX", status, read_only=True)
            )
        )
        self.assertEqual(examined.permanent_flags, ALL_FLAGS)
        selected = self.successResultOf(
            Deferred.fromCoroutine(IMAPMailbox.opened(store, session, "INBOX", "INBOX", status))
        )
        self.assertEqual(selected.permanent_flags, Flags.NONE)
