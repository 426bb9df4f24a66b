# -*- test-case-name: tests.stores.test_imapstore -*-
"""
L{IStore} over one IMAP connection, as mbsync 1.4's C{drv_imap.c} uses it.

Invariants:
  - One connection per store, opened on first use (greeting, STARTTLS,
    login, NAMESPACE) and reused by every later operation; concurrent
    first uses share the one attempt.
  - STARTTLS that is refused or not offered fails the store; nothing ever
    falls back to plaintext. Passwords appear in no message.
  - Failing to connect, to secure or to log in, and losing the connection
    later, raise L{StoreUnavailable} naming the store, account and host;
    once that happened every later operation fails the same way.
  - Box names are mapped by L{msync.stores.imapnames} exactly as mbsync 1.4
    does, modified UTF-7 kept raw; or, following mbsync 1.5, decoded, and
    in UTF-8 on the wire once the server confirmed C{ENABLE UTF8=ACCEPT}
    (sent after login when offered, never under 1.4 naming).
  - Fetches, loads and stores pipeline freely: the connection routes
    untagged FETCH data by UID to the command that asked and holds back a
    UID FETCH/STORE whose UIDs overlap one in flight.
  - At most one mailbox is open; closing it sends nothing (the next SELECT
    deselects it on the server without expunging, RFC 3501 §6.3.1).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from twisted.internet.defer import Deferred
from twisted.internet.error import (
    ConnectError,
    ConnectingCancelledError,
    ConnectionClosed,
)
from twisted.internet.interfaces import (
    IProtocol,
    IProtocolFactory,
    IReactorTime,
)
from twisted.internet.protocol import ClientFactory
from twisted.logger import Logger
from zope.interface import implementer

from msync.config.schema import IMAPAccount, SSLType
from msync.config.schema import IMAPStore as IMAPStoreConfig
from msync.errors import (
    AuthenticationError,
    CommandFailed,
    ConnectionTimeout,
    LocalProtocolError,
    MailboxError,
    MailboxMissing,
    MailboxNameError,
    MessageError,
    MsyncError,
    RemoteProtocolError,
    StoreUnavailable,
    TLSError,
    shown_name,
)
from msync.imap import endpoint
from msync.imap.protocol import IMAPClientProtocol
from msync.imap.session import IMAPSession, ListEntry, MailboxStatus
from msync.imap.values import Status
from msync.model import INBOX, BoxName, Flags, LineEnding
from msync.reactor import MailReactor
from msync.records import record
from msync.stores import credentials
from msync.stores.imapbox import (
    EarlyListing,
    IMAPMailbox,
    imap_fingerprint,
    imap_flags,
    read_source,
)
from msync.stores.imapnames import (
    MBSYNC14_NAMES,
    MBSYNC15_UTF8_NAMES,
    NameMapping,
    ServerNaming,
    raw_name,
)
from msync.stores.interface import IBoxFingerprints, IMailbox, IMessageSource, IStore

if TYPE_CHECKING:
    from msync.imap.tls import TLSClientCreator

log = Logger()

Connect = Callable[[IMAPAccount, IProtocolFactory], Deferred[IProtocol]]
"""Opens the transport for an account and returns the connected protocol."""

TLSContext = Callable[[IMAPAccount, str], "TLSClientCreator"]
"""Makes the TLS client context for an account and host name (STARTTLS)."""


def _tls_context(account: IMAPAccount, hostname: str) -> TLSClientCreator:
    """
    L{msync.imap.tls.tls_context}, loaded only when a store starts TLS.
    """
    from msync.imap.tls import tls_context

    return tls_context(account, hostname)


# Failures of the network rather than refusals by the server (mbsync's
# FAIL_TEMP: the store "temporarily failed").
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionTimeout,
    ConnectionClosed,
    ConnectError,
    ConnectingCancelledError,
    OSError,
)

# Errors after which the connection is gone: the store is unusable.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    RemoteProtocolError,
    ConnectionTimeout,
    TLSError,
    ConnectionClosed,
    ConnectError,
    ConnectingCancelledError,
    OSError,
)
# LOGOUT may be refused or find the connection gone: closing never fails.
_LOGOUT_ERRORS: tuple[type[BaseException], ...] = (CommandFailed, *CONNECTION_ERRORS)


def _show_alert(text: bytes) -> None:
    """
    Show an C{[ALERT]} as mbsync 1.4 does: C{error()}, on stderr, never
    hidden by C{-q} (RFC 3501 §7.1: the user must see it).
    """
    shown = text.decode("utf-8", "replace").lstrip()
    # Terminal control characters from the server are shown escaped.
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in shown)
    log.error("*** IMAP ALERT *** {text}", text=shown)


@implementer(IStore, IBoxFingerprints)
class IMAPStore:
    """
    An IMAP store section as an L{IStore}.

    @ivar name: the store's name.
    @ivar line_ending: always CRLF (RFC 3501 §4.3).
    @ivar naming: how boxes are named on the server, once connected.
    """

    line_ending = LineEnding.CRLF

    def __init__(
        self,
        config: IMAPStoreConfig,
        *,
        reactor: MailReactor,
        connect: Connect | None = None,
        tls_context: TLSContext | None = None,
        names: NameMapping = MBSYNC14_NAMES,
        trace: bool = True,
    ) -> None:
        """
        @param config: the store section (with its account).
        @param names: how box names map to server names (mbsync 1.4's or
            1.5's).
        @param trace: log the IMAP wire trace (C{-Dn}).
        @param reactor: the reactor: connects, times out, runs C{PassCmd}.
        @param connect: opens the transport (default L{endpoint.connect}).
        @param tls_context: makes the STARTTLS context (default
            L{msync.imap.tls.tls_context}).
        """
        self.name = config.name
        self.naming: ServerNaming | None = None
        self._config = config
        self._account = config.account
        self._reactor = reactor
        self._connect: Connect = connect or self._default_connect
        self._tls_context: TLSContext = tls_context or _tls_context
        self._names = names
        self._trace = trace
        self._waiters: list[Deferred[None]] = []
        self._connecting = False
        self._session: IMAPSession | None = None
        self._protocol: IMAPClientProtocol | None = None
        self._failure: StoreUnavailable | None = None
        self._box_open = False
        # STATUS answers started by prefetch_fingerprints, by box, and
        # the fingerprints of those answered so far (select_ahead).
        self._prefetched: dict[BoxName, Deferred[bytes | None]] = {}
        self._answered: dict[BoxName, bytes | None] = {}
        self._enable_tried = False
        self._closed = False
        self.selected: str | None = None
        # The box whose next opening may fetch its listing early, and the
        # listing cache that says what to fetch (expect_listing).
        self._listing_hint: tuple[BoxName, str] | None = None
        # The SELECT sent by expect_listing before its open_box, if any.
        self._early_select: _EarlySelect | None = None
        # list_boxes follows the connection (expect_list_boxes), and the
        # LIST sent with NAMESPACE for it, if any.
        self._list_hint = False
        self._early_list: Deferred[list[ListEntry] | None] | None = None
        # The box the first pair likely opens and its listing cache
        # (expect_first_box), and whether the LIST NAMESPACE would have
        # taken along waits for that box's SELECT.
        self._first_hint: tuple[BoxName, str] | None = None
        self._list_after_select = False

    def __repr__(self) -> str:
        return f"<IMAPStore {self.name} at {self._where()}>"

    def _default_connect(
        self, account: IMAPAccount, factory: IProtocolFactory
    ) -> Deferred[IProtocol]:
        return endpoint.connect(self._reactor, account, factory, isync15=self._names.isync15)

    def _where(self) -> str:
        return self._account.host or "tunnel"

    # Failure handling

    def unavailable(self, reason: object) -> StoreUnavailable:
        """
        Mark the store unusable and make the error saying so.

        @param reason: what happened (an exception or text; never a password).
        @return: the error to raise; later operations raise it again.
        """
        if self._failure is None:
            text = str(reason) or type(reason).__name__
            self._failure = StoreUnavailable(
                f"IMAP error: store {self.name} (account {self._account.name} "
                f"at {self._where()}): {text}",
                store=self.name,
                temporary=isinstance(reason, NETWORK_ERRORS),
            )
            self._drop()
        return self._failure

    def _drop(self) -> None:
        """
        Close the transport, if any.
        """
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.loseConnection()

    @contextmanager
    def connection_errors(self) -> Iterator[None]:
        """
        Turn the errors that end a connection into L{StoreUnavailable}.
        """
        try:
            yield
        except CONNECTION_ERRORS as error:
            raise self.unavailable(error) from error

    def _check_usable(self) -> None:
        if self._closed:
            raise RuntimeError(f"IMAP store {self.name} is closed")

    # Connecting

    def _make_protocol(self) -> IMAPClientProtocol:
        account = self._account
        protocol = IMAPClientProtocol(
            IReactorTime(self._reactor),
            pipeline_depth=account.pipeline_depth,
            timeout=account.timeout or None,
            host=self._where(),
            disabled_extensions=[each.encode("ascii") for each in account.disabled_extensions],
            trace=self._trace,
        )
        protocol.on_alert = _show_alert
        return protocol

    async def session(self) -> tuple[IMAPSession, ServerNaming]:
        """
        The logged-in session, connecting on first use.

        Callers that wait for the connection resume in call order, each
        running until it has submitted its first command, so that commands
        go out in the order the operations were started.

        @raise StoreUnavailable: if the store cannot be used.
        """
        self._check_usable()
        if self._failure is None and (self._session is None or self.naming is None):
            await self._connected()
        if self._failure is not None:
            raise self._failure
        assert self._session is not None and self.naming is not None
        return self._session, self.naming

    def start_connecting(self) -> None:
        """
        Begin connecting now, as mbsync does when it opens a store, so that
        C{-V}'s connection lines come where mbsync prints them; the outcome
        (and any failure) is seen on first use.
        """
        if not self._closed:
            self._connected()

    def _connected(self) -> Deferred[None]:
        """
        A Deferred firing once the connection attempt has ended; the
        first call starts it.
        """
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        if not self._connecting:
            self._connecting = True
            Deferred.fromCoroutine(self._connect_once())
        return waiter

    async def _connect_once(self) -> None:
        """
        Connect, recording the session or the failure, then wake every
        waiter in order.
        """
        try:
            with self.connection_errors():
                self.naming, self._session = await self._open()
            self._select_first_box(self._session)
        except StoreUnavailable as error:
            # The endpoint's errors (mbsync's wording) do not know the store.
            self._failure = self._failure or StoreUnavailable(
                str(error), store=self.name, temporary=error.temporary
            )
            self._drop()
        except (CommandFailed, AuthenticationError, LocalProtocolError, MailboxNameError) as error:
            self.unavailable(error)
        finally:
            if self._session is None:
                # Whatever went wrong, nobody may wait for this store again.
                self.unavailable("connection failed")
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.callback(None)

    async def _open(self) -> tuple[ServerNaming, IMAPSession]:
        """
        Connect, secure, log in and learn the naming, as mbsync does.
        """
        account = self._account
        connected = await self._connect(account, _ProtocolFactory(self._make_protocol))
        assert isinstance(connected, IMAPClientProtocol)
        self._protocol = protocol = connected
        if self._closed:
            # Closed while connecting (the channel's other store failed):
            # mbsync cancels the store there, so no TLS, no login, and -V
            # says nothing more about it.
            raise self.unavailable("closed while connecting")
        session = IMAPSession(protocol)
        try:
            greeting = await session.greeting()
        except CommandFailed as failed:
            raise self.unavailable(f"server refused the connection: {failed.text}") from None
        preauth = greeting.status is Status.PREAUTH
        if account.ssl_type is SSLType.STARTTLS:
            if preauth:
                # RFC 3501 §6.2.1: STARTTLS is impossible once authenticated;
                # mbsync refuses rather than go on in plaintext.
                raise self.unavailable("server sent PREAUTH, so STARTTLS is impossible")
            creator = self._tls_context(account, account.host or "")
            try:
                await session.starttls(creator)
                await session.ensure_capabilities()
            except CONNECTION_ERRORS as error:
                # A refused certificate ends the connection; the creator
                # knows why.
                raise (creator.error_for(error) or error) from None
        if not preauth:
            await self._log_in(session)
        await self._enable_utf8(session)
        return await self._naming(session), session

    async def _enable_utf8(self, session: IMAPSession) -> None:
        """
        Following mbsync 1.5: when the server offers C{UTF8=ACCEPT} (or
        C{UTF8=ONLY}) once logged in, send C{ENABLE UTF8=ACCEPT} (a refusal
        fails the store, as 1.5's does); once the server confirms it with
        C{ENABLED}, mailbox names travel as UTF-8 quoted strings both ways
        instead of modified UTF-7 (RFC 6855 §3). Never under mbsync 1.4
        naming, whose box names are the modified UTF-7 spellings.
        """
        if not self._names.isync15:
            return
        capabilities = await session.ensure_capabilities()
        if not capabilities & {b"UTF8=ACCEPT", b"UTF8=ONLY"} or b"ENABLE" not in capabilities:
            # RFC 6855 servers offer ENABLE too; 1.5 assumes it, msync
            # keeps modified UTF-7 with a server that does not.
            return
        try:
            with self.connection_errors():
                enabled = await session.enable(b"UTF8=ACCEPT")
        except CommandFailed as failed:
            raise self.unavailable(f"ENABLE UTF8=ACCEPT refused: {failed.text}") from None
        if b"UTF8=ACCEPT" in enabled:
            self._names = MBSYNC15_UTF8_NAMES

    async def _log_in(self, session: IMAPSession) -> None:
        account = self._account
        log.info("{text}", text="Logging in...", msync_verbose=True)  # mbsync -V
        user = await credentials.resolve_user(account, self._reactor)
        password = await credentials.resolve_password(account, self._reactor)
        tls = account.ssl_type is not SSLType.NONE
        try:
            mechanism = await session.authenticate_with(
                account.auth_mechs,
                user,
                password,
                tls,
                login_allowed_in_plaintext=account.tunnel is not None,
            )
        except AuthenticationError as error:
            raise self.unavailable(f"authentication failed: {error}") from None
        if not tls and account.tunnel is None and mechanism.sends_password_in_clear:
            # mbsync 1.4 drv_imap.c words it exactly so, naming no host.
            log.warn("*** IMAP Warning *** Password is being sent in the clear")

    async def _naming(self, session: IMAPSession) -> ServerNaming:
        """
        The prefix and delimiter (mbsync C{imap_open_store_namespace}):
        C{Path} and C{PathDelimiter} win; otherwise the first personal
        NAMESPACE; a delimiter still unknown comes from C{LIST "" ""}.
        """
        config = self._config
        prefix = config.path
        delimiter = config.path_delimiter or ""
        want_prefix = prefix is None and config.use_namespace
        capabilities = await session.ensure_capabilities()
        if (want_prefix or not delimiter) and b"NAMESPACE" in capabilities:
            asking = Deferred.fromCoroutine(session.namespace())
            if self._list_hint and not prefix:
                # The usual answer is no prefix, whose only pattern is "*":
                # that LIST goes with the NAMESPACE, used if it guessed right
                # (or right behind the first box's SELECT: _select_first_box).
                if self._first_hint is not None:
                    self._list_after_select = True
                else:
                    self._early_list = Deferred.fromCoroutine(self._quiet_list(session, "*"))
            spaces = await asking
            if spaces is not None and spaces.personal:
                first = spaces.personal[0]
                if want_prefix:
                    prefix = self._listed_name(first.prefix)
                if not delimiter and first.delimiter:
                    delimiter = raw_name(first.delimiter)
        if not delimiter:
            for entry in await session.list("", ""):
                if entry.delimiter:
                    delimiter = raw_name(entry.delimiter)
        return ServerNaming(prefix or "", delimiter[:1])

    # Names

    def _listed_name(self, wire: bytes) -> str:
        """
        A name from the server in this store's mapping; raw if it cannot
        be decoded.
        """
        try:
            return self._names.from_server(wire)
        except MailboxNameError:
            return raw_name(wire)

    def argument(self, box: BoxName) -> str:
        """
        The mailbox argument for a canonical box name.

        @raise MailboxError: if the name cannot be expressed on this server.
        """
        assert self.naming is not None
        try:
            return self._names.to_server(self.naming.server_name(box))
        except MailboxNameError as error:
            raise MailboxError(
                f"IMAP store {self.name}: mailbox {shown_name(box)}: {error}"
            ) from None

    async def _exists(self, session: IMAPSession, argument: str) -> bool:
        with self.connection_errors():
            entries = await session.list("", argument)
        return any(each.selectable for each in entries)

    def box_fingerprint(self, name: BoxName, known: bytes | None = None) -> Deferred[bytes | None]:
        """
        See L{IBoxFingerprints.box_fingerprint}: one C{STATUS}, which
        needs CONDSTORE (RFC 7162 §3.1.1: C{HIGHESTMODSEQ}); a box with
        messages still C{\\Recent} is not vouched for (the SELECT of a
        sync would take them).
        """
        pending = self._prefetched.pop(name, None)
        self._answered.pop(name, None)
        if pending is not None:
            return pending
        sent = self._early_select
        if sent is not None and self.selecting(name):
            # Its SELECT went out already (select_first): it answers.
            return Deferred.fromCoroutine(self._selected_fingerprint(sent))
        return Deferred.fromCoroutine(self._box_fingerprint(name))

    def select_first(self, name: BoxName, path: str, then: Sequence[BoxName] = ()) -> bool:
        """
        Let the C{SELECT} of box C{name} answer its quick check: send it
        now with its listing FETCH (L{expect_listing} with C{select_now})
        instead of a C{STATUS}, so that a box found changed costs the
        server one access, not two (a C{STATUS}, then the C{SELECT}).
        Only when the server has CONDSTORE and QRESYNC (the C{SELECT}
        then says C{HIGHESTMODSEQ}) and C{path}, the box's listing cache,
        exists (the FETCH behind the C{SELECT} asks only for what changed
        since). The next L{box_fingerprint} of C{name} is then taken from
        the C{SELECT}'s answer, and its L{open_box} uses that C{SELECT};
        L{forget_unopened} lets it go if the box is not opened.

        @param path: the box's listing cache.
        @param then: boxes whose fingerprints to prefetch
            (L{prefetch_fingerprints}) once the C{SELECT} has answered:
            the server answers them while the caller works on the box,
            not before its C{SELECT}.
        @return: whether the C{SELECT} went out (else nothing was done).
        """
        session = self._session
        if session is None or session.capabilities is None:
            return False
        if not {b"CONDSTORE", b"QRESYNC", b"ENABLE"} <= session.capabilities:
            return False
        if name in self._prefetched or not os.path.exists(path):
            return False
        if not self.expect_listing(name, path, select_now=True):
            return False
        sent = self._early_select
        assert sent is not None
        if then:
            others = list(then)

            def prefetch(found: MailboxStatus | BaseException) -> MailboxStatus | BaseException:
                self.prefetch_fingerprints(others)
                return found

            sent.outcome.addCallback(prefetch)
        return True

    def selecting(self, name: BoxName) -> bool:
        """
        @return: whether a C{SELECT} of C{name} went out early and its box
            is not opened yet.
        """
        sent = self._early_select
        return sent is not None and sent.name == name and not self._box_open

    def forget_unopened(self, name: BoxName | None = None) -> None:
        """
        A C{SELECT} sent early (L{expect_listing}, L{select_first},
        L{select_ahead}) for a box that was not opened (its pair was
        skipped, or failed first) is no one's: the next early C{SELECT} may
        go out.

        @param name: only an early C{SELECT} of this box (one sent for the
            next pair by L{select_ahead} is kept); any if C{None}.
        """
        sent = self._early_select
        if not self._box_open and (name is None or sent is None or sent.name == name):
            self._early_select = None
            self._listing_hint = None

    def select_ahead(self, name: BoxName, path: str, known: bytes) -> bool:
        """
        Send the C{SELECT} of box C{name} and its listing FETCH now
        (L{expect_listing} with C{select_now} and C{path}) if the
        prefetched C{STATUS} of the box (L{prefetch_fingerprints}) has
        answered and says it is not as C{known} (the fingerprint the last
        sync saw): its pair cannot be skipped and selects it first thing,
        so the server may work on that C{SELECT} while the caller finishes
        the pair before (whose box must be closed). Nothing is sent if the
        answer is not in yet or vouches for the box.

        @return: whether the C{SELECT} went out.
        """
        if name not in self._answered or self._box_open or self._early_select is not None:
            return False
        found = self._answered[name]
        if found is None or found.partition(b";")[0] == known.partition(b";")[0]:
            return False
        return self.expect_listing(name, path, select_now=True)

    async def _selected_fingerprint(self, sent: _EarlySelect) -> bytes | None:
        """
        The fingerprint as the early C{SELECT} of the box says it (what a
        C{STATUS} would: C{EXISTS} is its C{MESSAGES}), or C{None} as for
        L{_box_fingerprint} (a failed C{SELECT} included: the opening then
        meets that failure itself).
        """
        if sent.enabling is not None:
            await sent.enabling
        found = await _copy(sent.outcome)
        if isinstance(found, BaseException):
            return None
        capabilities = sent.session.capabilities or frozenset()
        if b"CONDSTORE" not in capabilities:
            return None
        return _fingerprint_of(
            found.uid_validity, found.uid_next, found.exists, found.highest_modseq, found.recent
        )

    def prefetch_fingerprints(self, names: Sequence[BoxName]) -> None:
        """
        See L{IBoxFingerprints.prefetch_fingerprints}: the C{STATUS}
        commands go out together (the connection pipelines them).
        """
        for name in names:
            if name not in self._prefetched:
                self._answered.pop(name, None)
                pending = Deferred.fromCoroutine(self._quiet_fingerprint(name))
                pending.addCallback(self._note_answer, name)
                self._prefetched[name] = pending

    def _note_answer(self, found: bytes | None, name: BoxName) -> bytes | None:
        self._answered[name] = found
        return found

    async def _quiet_fingerprint(self, name: BoxName) -> bytes | None:
        # Nobody may ask for it: a failure must not be left unhandled. The
        # full sync that follows meets the same failure itself.
        try:
            return await self._box_fingerprint(name)
        except MsyncError as error:
            log.debug("STATUS of {box} failed: {error}", box=name, error=error)
            return None

    async def _box_fingerprint(self, name: BoxName) -> bytes | None:
        session, _ = await self.session()
        with self.connection_errors():
            capabilities = await session.ensure_capabilities()
        if b"CONDSTORE" not in capabilities:
            return None
        items = (b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES", b"HIGHESTMODSEQ", b"RECENT")
        try:
            argument = self.argument(name)
            with self.connection_errors():
                found = await session.status(argument, items)
        except (CommandFailed, MailboxError):
            return None
        return _fingerprint_of(
            found.uid_validity, found.uid_next, found.messages, found.highest_modseq, found.recent
        )

    # IStore

    def list_boxes(self) -> Deferred[list[BoxName]]:
        """
        See L{IStore.list_boxes}: C{LIST} (C{LSUB} with C{SubscribedOnly})
        of the prefix's hierarchy and of INBOX.
        """
        return Deferred.fromCoroutine(self._list_boxes())

    def expect_first_box(self, name: BoxName, path: str) -> None:
        """
        The first pair will likely open box C{name}, whose listing cache is
        C{path} (the channel's usual first box, INBOX, before the LIST
        says what the pairs are): once logged in, its C{SELECT} goes out
        before that C{LIST} (L{select_first}), for Dovecot makes every
        C{SELECT} after a C{LIST} in a session re-read the box's UID list
        (about 70 ms for 80,000 messages) and one before it costs nothing
        of the kind. Nothing once logged in (or if the C{NAMESPACE} went
        out already, the C{SELECT} follows its C{LIST}). The caller lets the
        C{SELECT} go (L{forget_unopened}) if another box comes first.
        """
        if self._session is None and self._failure is None and not self._closed:
            self._first_hint = (name, path)

    def _select_first_box(self, session: IMAPSession) -> None:
        """
        Once connected: the C{SELECT} L{expect_first_box} asked for, then
        the C{LIST} held back for it.
        """
        hint, self._first_hint = self._first_hint, None
        if hint is not None:
            self.select_first(*hint)
        if self._list_after_select:
            self._list_after_select = False
            self._early_list = Deferred.fromCoroutine(self._quiet_list(session, "*"))

    def expect_list_boxes(self) -> None:
        """
        L{list_boxes} will be called once connected: its C{LIST} may go
        out with the C{NAMESPACE} that decides its pattern (guessing the
        usual empty prefix; a wrong guess costs that LIST, not a round
        trip).
        """
        self._list_hint = True

    async def _quiet_list(self, session: IMAPSession, pattern: str) -> list[ListEntry] | None:
        """
        The early LIST (or LSUB) of C{pattern}; C{None} if it failed (the
        one asked for again then fails the same way and says why).
        """
        verb = session.lsub if self._config.subscribed_only else session.list
        try:
            with self.connection_errors():
                return await verb("", self._names.to_server(pattern))
        except MsyncError:
            return None

    async def _list_boxes(self) -> list[BoxName]:
        session, naming = await self.session()
        verb = session.lsub if self._config.subscribed_only else session.list
        found: dict[str, None] = {}
        early, self._early_list = self._early_list, None
        for pattern in naming.list_patterns():
            ready = await early if early is not None and pattern == "*" else None
            early = None
            if ready is not None:
                entries = ready
            else:
                try:
                    argument = self._names.to_server(pattern)
                    with self.connection_errors():
                        entries = await verb("", argument)
                except (CommandFailed, MailboxNameError) as error:
                    raise self.unavailable(error) from None
            for entry in entries:
                if not entry.selectable:
                    continue
                try:
                    name = self._names.from_server(entry.name)
                except MailboxNameError as error:
                    # mbsync 1.5: "IMAP error: invalid modified-UTF-7 string".
                    log.warn("IMAP error: {error}", error=error)
                    continue
                listed = naming.box_name(name)
                if listed.warning is not None:
                    log.warn("{warning}", warning=listed.warning)
                if listed.name is not None:
                    found[listed.name] = None
        return list(found)

    def open_box(
        self, name: BoxName, create: bool = False, read_only: bool = False
    ) -> Deferred[IMailbox]:
        """
        See L{IStore.open_box}: C{SELECT}, with C{CREATE} and a second
        C{SELECT} when asked to create a missing box; C{EXAMINE} when
        C{read_only} (RFC 3501 §6.3.2: C{\\Recent} is not cleared), the
        mailbox then refusing every command that would change it.

        @raise RuntimeError: if a mailbox is open already.
        @raise ValueError: if both C{create} and C{read_only} are given.
        """
        if self._box_open:
            raise RuntimeError(f"IMAP store {self.name}: a mailbox is already open")
        if create and read_only:
            raise ValueError(f"IMAP store {self.name}: cannot create {name} read-only")
        self._box_open = True
        return Deferred.fromCoroutine(self._open_box(name, create, read_only))

    def next_turn(self) -> Deferred[None]:
        """
        @return: a Deferred firing on the reactor's next turn.
        """
        turn: Deferred[None] = Deferred()
        self._reactor.callLater(0, turn.callback, None)
        return turn

    def expect_listing(self, name: BoxName, path: str, *, select_now: bool = False) -> bool:
        """
        The next L{open_box} of C{name}, unless read-only, may send the
        box's listing FETCH right behind its C{SELECT} (with CONDSTORE):
        the one L{IMAPMailbox.use_listing_cache} with C{path} would send
        first (a load that asks for something else sends its own).
        Forgotten at the next L{open_box} of any box.

        @param select_now: send that C{SELECT} and FETCH now, when the
            store is connected and no box is open, so that the server
            works on them while the caller reads its state (mbsync too
            selects before it locks and loads the state). An L{open_box}
            of another box, or read-only, waits for its answer and
            selects again.
        @return: whether that C{SELECT} went out now (see L{sent}).
        """
        self._listing_hint = (name, path)
        session = self._session
        if (
            not select_now
            or self._box_open
            or self._early_select is not None
            or self._closed
            or self._failure is not None
            or session is None
            or session.capabilities is None
        ):
            return False
        self._listing_hint = None
        enabling = None
        if self.selected is None and not self._enable_tried:
            # ENABLE QRESYNC goes first, the SELECT right behind it.
            enabling = Deferred.fromCoroutine(self._enable_qresync(session))
        selecting, early, _ = self._send_select(session, name, False, (name, path), enabling)
        self._early_select = _EarlySelect(name, session, _settled(selecting), early, enabling)
        return True

    def sent(self) -> Deferred[None]:
        """
        The transport writes what it is given on the reactor's next network
        pass, not at once: a caller about to work a while without waiting
        (importing, reading files; a pair's renames and commit after the
        next pair's C{SELECT} went out, L{select_ahead}) waits for this
        first, so that what it queued is at the server meanwhile.

        @return: a Deferred firing once the reactor has made a network pass
            since: two turns (a call scheduled from the reactor's timed
            calls runs only after the next pass).
        """
        turn: Deferred[None] = Deferred()
        self._reactor.callLater(0, self._reactor.callLater, 0, turn.callback, None)
        return turn

    def _send_select(
        self,
        session: IMAPSession,
        name: BoxName,
        read_only: bool,
        hint: tuple[BoxName, str] | None,
        enabling: Deferred[None] | None,
    ) -> tuple[Deferred[MailboxStatus], EarlyListing | None, str]:
        """
        Send the C{SELECT} (C{EXAMINE}) of C{name} and, with C{hint} for
        it, its listing FETCH behind it; nothing is waited for.
        """
        argument = self.argument(name)
        if read_only:
            selecting = Deferred.fromCoroutine(session.examine(argument))
        else:
            selecting = Deferred.fromCoroutine(session.select(argument))
        early = None
        capabilities = session.capabilities or frozenset()
        if hint is not None and hint[0] == name and not read_only:
            if b"CONDSTORE" in capabilities:
                offered = {b"QRESYNC", b"ENABLE"} <= capabilities
                qresync = b"QRESYNC" in session.enabled or (enabling is not None and offered)
                early = EarlyListing(self, session, hint[1], qresync)
        return selecting, early, argument

    async def _open_box(self, name: BoxName, create: bool, read_only: bool) -> IMailbox:
        hint, self._listing_hint = self._listing_hint, None
        # An early LIST not used by now is stale: boxes may be created.
        self._early_list = None
        sent, self._early_select = self._early_select, None
        try:
            if sent is not None and (sent.name != name or read_only):
                # Another box's SELECT went out early: let it finish first.
                if sent.enabling is not None:
                    await sent.enabling
                await _copy(sent.outcome)
                sent = None
            if sent is not None:
                session = sent.session
                argument = self.argument(name)
                early = sent.early
                enabling: Deferred[None] | None = sent.enabling
                selecting: Deferred[MailboxStatus] = Deferred.fromCoroutine(
                    _raised(_copy(sent.outcome))
                )
            else:
                session, _ = await self.session()
                enabling = None
                if not read_only and self.selected is None and not self._enable_tried:
                    if session.capabilities is None:
                        await self._enable_qresync(session)
                    else:
                        # ENABLE QRESYNC is no barrier: the SELECT goes with it.
                        enabling = Deferred.fromCoroutine(self._enable_qresync(session))
                # Submitted now, the SELECT (and the listing FETCH behind it)
                # go out at once; the first failure is raised below.
                selecting, early, argument = self._send_select(
                    session, name, read_only, hint, enabling
                )
            if enabling is not None:
                await enabling
            try:
                with self.connection_errors():
                    status = await selecting
            except CommandFailed as failed:
                self.selected = None
                if failed.status != b"NO":
                    raise MailboxError(
                        f"IMAP store {self.name}: cannot select {shown_name(name)}: {failed}"
                    ) from None
                if not create:
                    raise MailboxMissing(self.name, name) from None
                await self._create(session, argument, name)
                try:
                    with self.connection_errors():
                        status = await session.select(argument)
                except CommandFailed as again:
                    raise MailboxError(
                        f"IMAP store {self.name}: cannot select {shown_name(name)}: {again}"
                    ) from None
            else:
                # Only a FETCH behind the SELECT that succeeded is this box's.
                return await self._opened(session, name, argument, status, read_only, early)
            return await self._opened(session, name, argument, status, read_only, None)
        except BaseException:
            self._box_open = False
            raise

    async def _opened(
        self,
        session: IMAPSession,
        name: BoxName,
        argument: str,
        status: MailboxStatus,
        read_only: bool,
        early: EarlyListing | None,
    ) -> IMailbox:
        self.selected = argument
        return await IMAPMailbox.opened(
            self, session, name, argument, status, read_only=read_only, early=early
        )

    async def _enable_qresync(self, session: IMAPSession) -> None:
        """
        C{ENABLE QRESYNC} when offered, once, before the session's first
        SELECT (RFC 5161 §3.1: only then is ENABLE valid): CONDSTORE loads
        then learn of expunges from C{VANISHED} (RFC 7162 §3.2.6). Refused
        or not offered, loads go on without it. Never raises: a lost
        connection fails the SELECT behind it.
        """
        self._enable_tried = True
        try:
            with self.connection_errors():
                capabilities = await session.ensure_capabilities()
            if not {b"QRESYNC", b"ENABLE"} <= capabilities:
                return
            with self.connection_errors():
                await session.enable(b"QRESYNC")
        except (CommandFailed, LocalProtocolError) as failed:
            log.debug("ENABLE QRESYNC refused: {failed}", failed=failed)
        except MsyncError as error:
            log.debug("ENABLE QRESYNC failed: {error}", error=error)

    def mailbox_closed(self) -> None:
        """
        Called by the open mailbox when it is closed.
        """
        self._box_open = False

    def create_box(self, name: BoxName) -> Deferred[None]:
        """
        See L{IStore.create_box}: C{CREATE}; a refusal for a box that
        exists counts as success.
        """
        return Deferred.fromCoroutine(self._create_box(name))

    async def _create_box(self, name: BoxName) -> None:
        session, _ = await self.session()
        await self._create(session, self.argument(name), name)

    async def _create(self, session: IMAPSession, argument: str, name: BoxName) -> None:
        self._early_list = None
        try:
            with self.connection_errors():
                await session.create(argument)
        except CommandFailed as failed:
            if not await self._exists(session, argument):
                raise MailboxError(
                    f"IMAP store {self.name}: cannot create mailbox {shown_name(name)}: {failed.text}"
                ) from None

    def delete_box(self, name: BoxName) -> Deferred[None]:
        """
        See L{IStore.delete_box}: C{CLOSE} first if the box is still
        selected on the server (expunging its deleted messages, as mbsync
        does), then C{DELETE}.
        """
        return Deferred.fromCoroutine(self._delete_box(name))

    async def _delete_box(self, name: BoxName) -> None:
        self._early_list = None
        session, _ = await self.session()
        if name == INBOX:
            raise MailboxError(f"IMAP store {self.name}: the INBOX cannot be deleted")
        argument = self.argument(name)
        try:
            with self.connection_errors():
                if self.selected == argument:
                    self.selected = None
                    await session.close()
                await session.delete(argument)
        except CommandFailed as failed:
            if failed.code == b"NONEXISTENT" or not await self._exists(session, argument):
                raise MailboxMissing(self.name, name) from None
            raise MailboxError(
                f"IMAP store {self.name}: cannot delete mailbox {shown_name(name)}: {failed.text}"
            ) from None

    def append(
        self,
        name: BoxName,
        message: IMessageSource,
        flags: Flags,
        arrival_date: datetime | None = None,
    ) -> Deferred[None]:
        """
        See L{IStore.append}: C{APPEND}, and on C{[TRYCREATE]} C{CREATE}
        and C{APPEND} again.
        """
        return Deferred.fromCoroutine(self._append(name, message, flags, arrival_date))

    async def _append(
        self, name: BoxName, message: IMessageSource, flags: Flags, arrival_date: datetime | None
    ) -> None:
        session, _ = await self.session()
        argument = self.argument(name)
        data = await read_source(message)
        for attempt in (1, 2):
            try:
                with self.connection_errors():
                    await session.append(
                        argument, data, flags=imap_flags(flags), internal_date=arrival_date
                    )
                return
            except CommandFailed as failed:
                if failed.code != b"TRYCREATE" or attempt == 2:
                    self.refused(f"cannot append to {shown_name(name)}", failed)
                await self._create(session, argument, name)
            except LocalProtocolError as error:
                self.refused(f"cannot append to {shown_name(name)}", error)

    def refused(self, what: str, error: Exception) -> NoReturn:
        """
        Raise L{MessageError} for a message the server or the protocol refused.
        """
        raise MessageError(f"IMAP store {self.name}: {what}: {error}") from None

    def close(self) -> Deferred[None]:
        """
        See L{IStore.close}: C{LOGOUT}, ignoring a connection already lost.
        """
        self._closed = True
        return Deferred.fromCoroutine(self._close())

    async def _close(self) -> None:
        if self._waiters:
            await self._connected()
        session, self._session = self._session, None
        if session is not None and self._failure is None:
            try:
                # Its answer decides nothing: not waited for (when nothing
                # else is in flight).
                await session.logout(wait=False)
            except _LOGOUT_ERRORS as error:
                log.info("{store}: LOGOUT failed: {error}", store=self.name, error=error)
        self._drop()


class _ProtocolFactory(ClientFactory):
    """
    Builds the one IMAP protocol of a store's connection.
    """

    # The CLI prints log messages; "Starting factory" is not one for users.
    noisy = False

    def __init__(self, make: Callable[[], IMAPClientProtocol]) -> None:
        self._make = make

    def buildProtocol(self, addr: object) -> IMAPClientProtocol:
        """
        @return: a new IMAP protocol.
        """
        protocol = self._make()
        protocol.factory = self
        return protocol


def _fingerprint_of(
    uid_validity: int | None,
    uid_next: int | None,
    messages: int | None,
    modseq: int | None,
    recent: int | None,
) -> bytes | None:
    """
    The fingerprint of a box from what C{STATUS} or C{SELECT} said of it;
    C{None} if a value is missing, for a box without mod-sequences
    (RFC 7162 §3.1.1: C{HIGHESTMODSEQ} 0), and for one with messages
    still C{\\Recent} (the C{SELECT} of a sync would take them).
    """
    if recent != 0 or uid_validity is None or uid_next is None or messages is None:
        return None
    if not modseq:
        return None
    return imap_fingerprint(uid_validity, uid_next, messages, modseq)


@record
class _EarlySelect:
    """
    A C{SELECT} sent by L{IMAPStore.expect_listing} before its
    L{IMAPStore.open_box}.

    @ivar outcome: its status, or the exception it failed with (kept, not
        raised: nobody may ever open the box).
    """

    name: BoxName
    session: IMAPSession
    outcome: Deferred[MailboxStatus | BaseException]
    early: EarlyListing | None
    enabling: Deferred[None] | None


def _copy(
    outcome: Deferred[MailboxStatus | BaseException],
) -> Deferred[MailboxStatus | BaseException]:
    """
    A Deferred firing with C{outcome}'s result, leaving it to the next one:
    an early C{SELECT}'s outcome may be waited for by its quick check and
    by its opening (awaiting a Deferred takes its result away).
    """
    copy: Deferred[MailboxStatus | BaseException] = Deferred()

    def both(result: MailboxStatus | BaseException) -> MailboxStatus | BaseException:
        copy.callback(result)
        return result

    outcome.addCallback(both)
    return copy


def _settled(pending: Deferred[MailboxStatus]) -> Deferred[MailboxStatus | BaseException]:
    async def settle() -> MailboxStatus | BaseException:
        try:
            return await pending
        except Exception as error:
            return error

    return Deferred.fromCoroutine(settle())


async def _raised(outcome: Deferred[MailboxStatus | BaseException]) -> MailboxStatus:
    found = await outcome
    if isinstance(found, BaseException):
        raise found
    return found
