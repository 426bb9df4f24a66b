# -*- test-case-name: tests.imap.test_session -*-
"""
A typed C{async} API over one L{IMAPClientProtocol}.

Invariants:
  - Every method submits its commands at once and lets the connection
    pipeline them (within C{PipelineDepth}); UID sets longer than
    L{MAX_UID_SET_CHARS} are split into several commands.
  - Tagged NO/BAD raise L{CommandFailed}; login failures raise
    L{AuthenticationError} with the server's text, never the password;
    STARTTLS that is not offered or refused raises L{TLSError} and nothing
    falls back to plaintext.
  - Results hold IMAP data as C{bytes}; mailbox names in arguments are
    C{str} (encoded by L{msync.imap.commands}).
  - Capabilities the session was told to disable (mbsync
    C{DisableExtension}) are never used.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from twisted.internet.defer import Deferred, FirstError, gatherResults, succeed
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.logger import Logger

from msync.errors import (
    AuthenticationError,
    CommandFailed,
    LocalProtocolError,
    RemoteProtocolError,
    TLSError,
)
from msync.imap.commands import (
    IDLE_DONE,
    SASL_CANCEL,
    AppendMessage,
    Command,
    QResync,
    StoreMode,
    sasl_response_line,
)
from msync.imap.events import Completed, Greeting
from msync.imap.protocol import IMAPClientProtocol
from msync.imap.routing import SelectedMailbox
from msync.imap.sasl import Mechanism, SASLClient, choose_mechanism, decode_challenge, make_client
from msync.imap.uids import UIDRange, UIDSet, split_by_uid_set
from msync.imap.values import (
    STAR,
    AppendUIDCode,
    CopyUIDCode,
    EnabledResponse,
    FetchItems,
    FetchResponse,
    IDResponse,
    ListResponse,
    LiteralChunk,
    NamespaceResponse,
    Response,
    Status,
    StatusResponse,
    UntaggedStatus,
    VanishedResponse,
)
from msync.model import Secret
from msync.records import record

log = Logger()

#: UIDs as accepted by the UID commands: a set, a range, or UIDs.
UIDs = UIDSet | UIDRange | Iterable[int]


@record
class MailboxStatus:
    """
    The state of a mailbox just selected (RFC 3501 §6.3.1).

    @ivar recent: the C{RECENT} count, if the server sent one.
    """

    uid_validity: int | None
    uid_next: int | None
    exists: int | None
    permanent_flags: tuple[bytes, ...] | None
    highest_modseq: int | None
    read_only: bool
    flags: tuple[bytes, ...] | None = None
    recent: int | None = None


@record
class ListEntry:
    """
    One LIST or LSUB answer.

    @ivar name: the raw (modified UTF-7) name; decode with L{msync.imap.utf7}.
    """

    name: bytes
    delimiter: bytes | None
    attributes: tuple[bytes, ...]

    @property
    def selectable(self) -> bool:
        """
        Whether the mailbox can be selected (no C{\\Noselect}, C{\\NonExistent}).
        """
        return not {each.lower() for each in self.attributes} & {b"\\noselect", b"\\nonexistent"}


@record
class FetchResult:
    """
    One message's FETCH data.
    """

    uid: int
    seq: int
    items: FetchItems


@record
class AppendResult:
    """
    Where an APPEND stored the message; C{None}s without UIDPLUS.
    """

    uid_validity: int | None
    uid: int | None


def _uid_set(uids: UIDs) -> UIDSet:
    if isinstance(uids, UIDSet):
        return uids
    if isinstance(uids, UIDRange):
        return UIDSet((uids,))
    return UIDSet.of(uids)


def _contains(uids: UIDSet, uid: int) -> bool:
    return any(
        each.first <= uid and (each.last is None or uid <= each.last) for each in uids.ranges
    )


def _handing_over(
    wanted: UIDSet, each: Callable[[FetchResult], None]
) -> Callable[[FetchResponse], None]:
    """
    A FETCH consumer passing on, as L{FetchResult}s, the responses for
    messages in C{wanted} (as L{IMAPSession.uid_fetch} returns them).
    """

    def hand_over(response: FetchResponse) -> None:
        uid = response.items.uid
        if uid is not None and _contains(wanted, uid):
            each(FetchResult(uid, response.seq, response.items))

    return hand_over


class IMAPSession:
    """
    IMAP commands as typed coroutines over one protocol.
    """

    def __init__(
        self, protocol: IMAPClientProtocol, *, disabled_extensions: Iterable[bytes] = ()
    ) -> None:
        """
        @param disabled_extensions: capabilities to pretend absent (mbsync
            C{DisableExtension}), e.g. C{{b"MOVE"}}.
        """
        self.protocol = protocol
        protocol.connection.disable_capabilities(disabled_extensions)
        self._idle_tag: bytes | None = None
        self._idle_end: Deferred[Completed | None] | None = None
        self._idle_previous: Callable[[Response], None] | None = None
        self._idle_error: Exception | None = None
        self._idle_listeners: builtins.list[Deferred[None]] = []

    @property
    def capabilities(self) -> frozenset[bytes] | None:
        """
        The server's capabilities, or C{None} when they must be asked for.
        """
        return self.protocol.connection.capabilities

    @property
    def enabled(self) -> frozenset[bytes]:
        """
        The extensions the server confirmed with C{ENABLED} (RFC 5161).
        """
        return self.protocol.connection.enabled

    @property
    def selected(self) -> SelectedMailbox | None:
        """
        The selected mailbox's current state (EXISTS etc. kept up to date).
        """
        return self.protocol.connection.selected

    async def _run(self, command: Command) -> Completed:
        return await self.protocol.execute(command)

    async def _run_all(
        self,
        commands: Sequence[Command],
        *,
        follows_selection: bool = False,
        on_fetch: Callable[[FetchResponse], None] | None = None,
    ) -> builtins.list[Completed]:
        """
        Submit all commands at once; raise the first failure.

        @param follows_selection: send them right behind the SELECT just
            submitted (see L{ClientConnection.submit}).
        @param on_fetch: receives their FETCH data as it arrives (then not
            kept in their L{Completed}).
        """
        pending = [
            self.protocol.execute(command, follows_selection=follows_selection, on_fetch=on_fetch)
            for command in commands
        ]
        try:
            return await gatherResults(pending, consumeErrors=True)
        except FirstError as error:
            error.subFailure.raiseException()

    async def greeting(self) -> Greeting:
        """
        Wait for the server's greeting.

        @raise CommandFailed: with status C{BYE} if the server refused us.
        """
        greeting = await self.protocol.greeting()
        if greeting.status is Status.BYE:
            code = greeting.code.name if greeting.code is not None else None
            raise CommandFailed("greeting", b"BYE", code, greeting.text.decode("utf-8", "replace"))
        return greeting

    async def capability(self) -> frozenset[bytes]:
        """
        Ask for the capabilities (RFC 3501 §6.1.1).
        """
        await self._run(Command.capability())
        capabilities = self.capabilities
        if capabilities is None:
            raise RemoteProtocolError("CAPABILITY completed without capabilities")
        return capabilities

    async def ensure_capabilities(self) -> frozenset[bytes]:
        """
        @return: the known capabilities, asking the server only if unknown.
        """
        known = self.capabilities
        return known if known is not None else await self.capability()

    async def noop(self) -> tuple[Response, ...]:
        """
        C{NOOP}; unsolicited updates arrive at C{protocol.on_untagged}.
        """
        return (await self._run(Command.noop())).untagged

    async def logout(self, *, wait: bool = True) -> None:
        """
        C{LOGOUT}, then close the transport.

        @param wait: wait for the server's answer first; if C{False}, and
            LOGOUT goes out at once, the transport is closed right behind it
            (see L{IMAPClientProtocol.logout}): one round trip fewer.
        """
        if not wait:
            await self.protocol.logout()
            return
        await self._run(Command.logout())
        if self.protocol.transport is not None:
            self.protocol.transport.loseConnection()

    async def starttls(self, context: IOpenSSLClientConnectionCreator) -> frozenset[bytes]:
        """
        Upgrade to TLS (RFC 3501 §6.2.1) and re-read the capabilities.

        @raise TLSError: if the server does not offer or refuses STARTTLS.
        """
        capabilities = await self.ensure_capabilities()
        if b"STARTTLS" not in capabilities:
            raise TLSError("server does not offer STARTTLS; refusing to continue in plaintext")
        try:
            await self.protocol.startTLS(context)
        except CommandFailed as failed:
            raise TLSError(f"server refused STARTTLS: {failed.text}") from None
        return await self.capability()

    async def login(self, user: str, password: Secret) -> None:
        """
        C{LOGIN} (RFC 3501 §6.2.3), then make sure capabilities are known.

        @raise AuthenticationError: if refused or LOGINDISABLED.
        """
        if b"LOGINDISABLED" in await self.ensure_capabilities():
            raise AuthenticationError("server disallows LOGIN (LOGINDISABLED)")
        try:
            await self._run(Command.login(user, password))
        except CommandFailed as failed:
            raise AuthenticationError(f"LOGIN as {user} refused: {failed.text}") from None
        await self.ensure_capabilities()

    async def authenticate(self, client: SASLClient) -> None:
        """
        C{AUTHENTICATE} with one SASL exchange (RFC 3501 §6.2.2), using the
        initial response when the server offers SASL-IR (RFC 4959). A
        challenge the client cannot answer cancels the exchange with C{*}.

        @raise AuthenticationError: with the server's or the client's reason.
        """
        capabilities = await self.ensure_capabilities()
        initial = client.initial_response() if b"SASL-IR" in capabilities else None
        problems: builtins.list[Exception] = []

        def answer(tag: bytes, data: bytes) -> None:
            try:
                line = sasl_response_line(client.respond(decode_challenge(data)))
            except (AuthenticationError, LocalProtocolError, RemoteProtocolError) as problem:
                problems.append(problem)
                line = SASL_CANCEL
            self.protocol.send_continuation(tag, line)

        name = client.name.decode("ascii")
        command = Command.authenticate(client.name, initial)
        try:
            await self.protocol.execute(command, on_continuation=answer)
        except CommandFailed as failed:
            if problems:
                raise AuthenticationError(f"AUTHENTICATE {name}: {problems[0]}") from None
            raise AuthenticationError(f"AUTHENTICATE {name} refused: {failed.text}") from None
        await self.ensure_capabilities()

    async def authenticate_with(
        self,
        auth_mechs: tuple[str, ...],
        user: str,
        secret: Secret,
        tls_active: bool,
        *,
        login_allowed_in_plaintext: bool = False,
    ) -> Mechanism:
        """
        Log in the way mbsync's C{AuthMechs} chooses (L{choose_mechanism}).

        @return: the mechanism used.
        """
        capabilities = await self.ensure_capabilities()
        mechanism = choose_mechanism(
            auth_mechs, capabilities, tls_active, login_allowed_in_plaintext
        )
        if mechanism is Mechanism.IMAP_LOGIN:
            await self.login(user, secret)
        else:
            log.info(
                "Authenticating with SASL mechanism {mechanism}...",
                mechanism=mechanism.value,
                msync_verbose=True,
            )
            await self.authenticate(make_client(mechanism, user, secret))
        return mechanism

    async def namespace(self) -> NamespaceResponse | None:
        """
        C{NAMESPACE} (RFC 2342); C{None} if the server sent no data.
        """
        found = [r for r in (await self._run(Command.namespace())).untagged]
        spaces = [each for each in found if isinstance(each, NamespaceResponse)]
        return spaces[0] if spaces else None

    async def _listing(self, command: Command) -> builtins.list[ListEntry]:
        completed = await self._run(command)
        return [
            ListEntry(each.name, each.delimiter, each.attributes)
            for each in completed.untagged
            if isinstance(each, ListResponse) and each.kind == command.name
        ]

    async def list(self, reference: str, pattern: str) -> builtins.list[ListEntry]:
        """
        C{LIST reference pattern}.
        """
        return await self._listing(Command.list(reference, pattern))

    async def lsub(self, reference: str, pattern: str) -> builtins.list[ListEntry]:
        """
        C{LSUB reference pattern}.
        """
        return await self._listing(Command.lsub(reference, pattern))

    async def create(self, mailbox: str) -> None:
        """
        C{CREATE mailbox}.
        """
        await self._run(Command.create(mailbox))

    async def delete(self, mailbox: str) -> None:
        """
        C{DELETE mailbox}.
        """
        await self._run(Command.delete(mailbox))

    async def select(
        self, mailbox: str, *, condstore: bool = False, qresync: QResync | None = None
    ) -> MailboxStatus:
        """
        C{SELECT mailbox}; a failure (e.g. C{NO [TRYCREATE]}) raises
        L{CommandFailed} and leaves no mailbox selected.
        """
        command = Command.select(mailbox, condstore=condstore, qresync=qresync)
        return self._status_of(await self._run(command))

    async def examine(self, mailbox: str) -> MailboxStatus:
        """
        C{EXAMINE mailbox} (read-only SELECT).
        """
        return self._status_of(await self._run(Command.select(mailbox, read_only=True)))

    def _status_of(self, completed: Completed) -> MailboxStatus:
        box = completed.mailbox or SelectedMailbox()
        return MailboxStatus(
            box.uid_validity,
            box.uid_next,
            box.exists,
            box.permanent_flags,
            box.highest_modseq,
            bool(box.read_only),
            box.flags,
            box.recent,
        )

    async def status(self, mailbox: str, items: Sequence[bytes]) -> StatusResponse:
        """
        C{STATUS mailbox (items)}.
        """
        found = (await self._run(Command.status(mailbox, items))).untagged
        for each in found:
            if isinstance(each, StatusResponse):
                return each
        raise RemoteProtocolError(f"STATUS {mailbox} completed without STATUS data")

    async def uid_fetch(
        self,
        uids: UIDs,
        items: Sequence[bytes],
        *,
        changed_since: int | None = None,
        follows_selection: bool = False,
        on_result: Callable[[FetchResult], None] | None = None,
    ) -> builtins.list[FetchResult]:
        """
        C{UID FETCH}, split and pipelined; only messages in C{uids} are
        returned, each once, in arrival order.

        @param changed_since: only messages whose mod-sequence is above it
            (C{CHANGEDSINCE}, RFC 7162 §3.1.4; needs CONDSTORE).
        @param follows_selection: for the mailbox of the SELECT just
            submitted, sent without waiting for its answer (it fails if
            that selection fails).
        @param on_result: receives every response for a message in C{uids} as
            it arrives (a message answered twice comes twice: the later
            items are the newer), so that none is kept; then the result
            is empty.
        """
        wanted = _uid_set(uids)
        commands = split_by_uid_set(
            wanted, lambda part: Command.uid_fetch(part, items, changed_since=changed_since)
        )
        results: builtins.list[FetchResult] = []
        on_fetch = None if on_result is None else _handing_over(wanted, on_result)
        ran = await self._run_all(commands, follows_selection=follows_selection, on_fetch=on_fetch)
        for completed in ran:
            for each in completed.untagged:
                if isinstance(each, FetchResponse) and each.items.uid is not None:
                    if _contains(wanted, each.items.uid):
                        results.append(FetchResult(each.items.uid, each.seq, each.items))
        return results

    async def uid_fetch_changes(
        self,
        uids: UIDs,
        items: Sequence[bytes],
        *,
        changed_since: int,
        follows_selection: bool = False,
        on_result: Callable[[FetchResult], None] | None = None,
    ) -> tuple[builtins.list[FetchResult], builtins.list[tuple[int, int]]]:
        """
        C{UID FETCH uids (items) (CHANGEDSINCE n VANISHED)} (RFC 7162
        §3.2.6; QRESYNC must be enabled): the messages changed since
        mod-sequence C{n}, and the UIDs expunged since, as the server's
        C{VANISHED (EARLIER)} ranges (it may name UIDs that never existed).

        @param follows_selection: as for L{uid_fetch}.
        @param on_result: as for L{uid_fetch}.
        @return: the fetch results, and inclusive C{(first, last)} ranges.
        @raise RemoteProtocolError: a range of the answer uses C{*}.
        """
        wanted = _uid_set(uids)
        commands = split_by_uid_set(
            wanted,
            lambda part: Command.uid_fetch(part, items, changed_since=changed_since, vanished=True),
        )
        results: builtins.list[FetchResult] = []
        gone: builtins.list[tuple[int, int]] = []
        on_fetch = None if on_result is None else _handing_over(wanted, on_result)
        ran = await self._run_all(commands, follows_selection=follows_selection, on_fetch=on_fetch)
        for completed in ran:
            for each in completed.untagged:
                if isinstance(each, FetchResponse) and each.items.uid is not None:
                    if _contains(wanted, each.items.uid):
                        results.append(FetchResult(each.items.uid, each.seq, each.items))
                elif isinstance(each, VanishedResponse) and each.earlier:
                    for first, last in each.uids:
                        if first is STAR or last is STAR:
                            raise RemoteProtocolError("VANISHED with * in its UID set")
                        assert isinstance(first, int) and isinstance(last, int)
                        gone.append((min(first, last), max(first, last)))
        return results, gone

    async def uid_fetch_body(
        self,
        uid: int,
        consumer: Callable[[bytes], None],
        items: Sequence[bytes] = (b"BODY.PEEK[]",),
    ) -> FetchResult | None:
        """
        Fetch one message streaming its body literals to C{consumer} in
        chunks, so that no message is held whole. Several may run at once:
        the connection routes each literal by UID. A literal it could not
        route before reading (the server named the UID after it) arrives
        buffered and is passed to C{consumer} whole.

        @return: the other items of the response carrying the body (another
            client's flag change may add FETCH data for the same UID), or
            C{None} if the message does not exist.
        """

        def deliver(chunk: LiteralChunk) -> None:
            consumer(chunk.data)

        command = Command.uid_fetch(UIDRange(uid, uid), items)
        completed = await self.protocol.execute(command, consumer=deliver)
        found: FetchResult | None = None
        delivered = False
        for each in completed.untagged:
            if not isinstance(each, FetchResponse) or each.items.uid != uid:
                continue
            # The connection keeps one response per UID and drops repeated
            # bodies; deliver at most one body all the same (one file each).
            streamed = b"" in each.items.streamed
            body = None if delivered or streamed else each.items.sections.get(b"")
            if body is not None:
                consumer(body)
            if found is None or body is not None or streamed:
                found = FetchResult(uid, each.seq, each.items)
            delivered = delivered or body is not None or streamed
        return found

    async def uid_fetch_bodies(
        self,
        uids: Sequence[int],
        consumer: Callable[[int, bytes], None],
        items: Sequence[bytes] = (b"BODY.PEEK[]",),
    ) -> dict[int, FetchResult]:
        """
        Fetch several messages in one C{UID FETCH}, streaming each body's
        literal to C{consumer(uid, chunk)} as L{uid_fetch_body} does for
        one: the server may answer in any order, with other FETCH data in
        between; a body whose UID came after its literal arrives whole.

        @return: per UID found, the other items of the response carrying its
            body; a UID the server did not answer for is missing.
        """
        wanted = frozenset(uids)

        def deliver(chunk: LiteralChunk) -> None:
            # The connection streams only bodies of this command's UIDs,
            # named before their literal.
            assert chunk.uid is not None
            consumer(chunk.uid, chunk.data)

        command = Command.uid_fetch(UIDSet.of(uids), items)
        completed = await self.protocol.execute(command, consumer=deliver)
        found: dict[int, FetchResult] = {}
        delivered: set[int] = set()
        for each in completed.untagged:
            uid = each.items.uid if isinstance(each, FetchResponse) else None
            if uid is None or uid not in wanted:
                continue
            assert isinstance(each, FetchResponse)
            streamed = b"" in each.items.streamed
            body = None if uid in delivered or streamed else each.items.sections.get(b"")
            if body is not None:
                consumer(uid, body)
            if uid not in found or body is not None or streamed:
                found[uid] = FetchResult(uid, each.seq, each.items)
            if body is not None or streamed:
                delivered.add(uid)
        return found

    async def uid_store(self, uids: UIDs, mode: StoreMode, flags: Sequence[bytes]) -> None:
        """
        C{UID STORE uids ±FLAGS.SILENT (flags)}, split and pipelined.
        """
        build = lambda part: Command.uid_store(part, mode, flags)  # noqa: E731
        await self._run_all(split_by_uid_set(_uid_set(uids), build))

    async def append(
        self,
        mailbox: str,
        message: bytes,
        *,
        flags: Sequence[bytes] = (),
        internal_date: datetime | None = None,
    ) -> AppendResult:
        """
        C{APPEND}; the UID comes from C{[APPENDUID]} (RFC 4315) if sent.
        """
        command = Command.append(mailbox, message, flags=flags, internal_date=internal_date)
        code = (await self._run(command)).response.code
        if isinstance(code, AppendUIDCode) and len(code.uids) == 1:
            low, high = code.uids[0]
            if low == high and low is not STAR:
                return AppendResult(code.uid_validity, low)
        return AppendResult(None, None)

    async def append_many(
        self, mailbox: str, messages: Sequence[AppendMessage]
    ) -> builtins.list[AppendResult]:
        """
        One C{APPEND} of several messages (MULTIAPPEND, RFC 3502; one
        message needs no extension): all are stored, in order, or none.

        @return: where each went, in order; the UIDs come from
            C{[APPENDUID uidvalidity uid-set]} (RFC 4315) when it names
            exactly as many UIDs as messages, else they are C{None}.
        """
        command = Command.multiappend(mailbox, messages)
        code = (await self._run(command)).response.code
        unknown = [AppendResult(None, None)] * len(messages)
        if not isinstance(code, AppendUIDCode):
            return unknown
        uids: builtins.list[int] = []
        for low, high in code.uids:
            if low is STAR or high is STAR or high < low or len(uids) + high - low >= len(messages):
                return unknown
            uids.extend(range(low, high + 1))
        if len(uids) != len(messages):
            return unknown
        return [AppendResult(code.uid_validity, uid) for uid in uids]

    async def _copy(
        self, uids: UIDs, build: Callable[[UIDSet], Command]
    ) -> builtins.list[CopyUIDCode]:
        codes: builtins.list[CopyUIDCode] = []
        for completed in await self._run_all(split_by_uid_set(_uid_set(uids), build)):
            statuses = [each for each in completed.untagged if isinstance(each, UntaggedStatus)]
            for code in [completed.response.code, *(each.code for each in statuses)]:
                if isinstance(code, CopyUIDCode):
                    codes.append(code)
        return codes

    async def uid_copy(self, uids: UIDs, mailbox: str) -> builtins.list[CopyUIDCode]:
        """
        C{UID COPY}; returns the C{[COPYUID]} codes (RFC 4315) sent.
        """
        return await self._copy(uids, lambda part: Command.uid_copy(part, mailbox))

    async def uid_move(self, uids: UIDs, mailbox: str) -> builtins.list[CopyUIDCode]:
        """
        C{UID MOVE} (RFC 6851); returns the C{[COPYUID]} codes sent.
        """
        return await self._copy(uids, lambda part: Command.uid_move(part, mailbox))

    async def uid_expunge(self, uids: UIDs) -> None:
        """
        C{UID EXPUNGE} (RFC 4315), split and pipelined.
        """
        await self._run_all(split_by_uid_set(_uid_set(uids), Command.uid_expunge))

    async def expunge(self) -> None:
        """
        C{EXPUNGE}.
        """
        await self._run(Command.expunge())

    async def close(self) -> None:
        """
        C{CLOSE}.
        """
        await self._run(Command.close())

    async def unselect(self) -> None:
        """
        C{UNSELECT} (RFC 3691).
        """
        await self._run(Command.unselect())

    async def check(self) -> None:
        """
        C{CHECK}.
        """
        await self._run(Command.check())

    async def enable(self, *extensions: bytes) -> frozenset[bytes]:
        """
        C{ENABLE} (RFC 5161); returns what the server enabled.
        """
        found = (await self._run(Command.enable(*extensions))).untagged
        enabled = [each.names for each in found if isinstance(each, EnabledResponse)]
        return frozenset().union(*enabled)

    async def id(
        self, fields: Sequence[tuple[str, str]] | None
    ) -> dict[bytes, bytes | None] | None:
        """
        C{ID} (RFC 2971); returns the server's fields.
        """
        found = (await self._run(Command.id(fields))).untagged
        answers = [each.fields for each in found if isinstance(each, IDResponse)]
        return answers[0] if answers else None

    async def idle(self, callback: Callable[[Response], None]) -> None:
        """
        Start IDLE (RFC 2177); returns once the server is idling. Untagged
        data goes to C{callback} until L{done}.
        """
        if self._idle_tag is not None or self._idle_end is not None:
            raise LocalProtocolError("already idling")
        started: Deferred[bytes] = Deferred()

        def idling(tag: bytes, data: bytes) -> None:
            if not started.called:
                started.callback(tag)

        self._idle_previous = self.protocol.on_untagged
        self.protocol.on_untagged = callback
        end = self.protocol.execute(Command.idle(), on_continuation=idling)
        watch = Deferred.fromCoroutine(self._idle_watch(end, started))
        self._idle_end = watch
        self._idle_error = None
        try:
            self._idle_tag = await started
        except Exception:
            await watch  # raises the same error, consuming the watcher's result
            raise

    async def _idle_watch(
        self, end: Deferred[Completed], started: Deferred[bytes]
    ) -> Completed | None:
        """
        Wait for IDLE's completion; if it fails before idling, so does L{idle}.
        A failure once idling (the connection lost, a tagged NO) is kept for
        L{done} to raise, so that it is never left unhandled.
        """
        try:
            return await end
        except Exception as error:
            self.protocol.on_untagged = self._idle_previous
            self._idle_tag = self._idle_end = None
            if not started.called:
                started.errback(error)
                raise
            self._idle_error = error
            return None
        finally:
            listeners, self._idle_listeners = self._idle_listeners, []
            for listener in listeners:
                listener.callback(None)

    def idle_ended(self) -> Deferred[None]:
        """
        A Deferred firing (never failing) once the current IDLE has ended,
        however it ended: C{DONE} answered, ended by the server, or the
        connection lost; at once when not idling. L{done} reports how.
        """
        if self._idle_end is None:
            return succeed(None)
        ended: Deferred[None] = Deferred()
        self._idle_listeners.append(ended)
        return ended

    async def done(self) -> None:
        """
        End IDLE with C{DONE} and wait for its completion.

        @raise LocalProtocolError: when not idling.
        @raise Exception: how the IDLE failed, if it ended on its own with
            an error (the connection lost, a tagged NO).
        """
        tag, end = self._idle_tag, self._idle_end
        if tag is None or end is None:
            error, self._idle_error = self._idle_error, None
            raise error or LocalProtocolError("not idling")
        self.protocol.send_continuation(tag, IDLE_DONE)
        try:
            await end
        finally:
            self.protocol.on_untagged = self._idle_previous
            self._idle_tag = self._idle_end = None
        error, self._idle_error = self._idle_error, None
        if error is not None:
            raise error

    async def compress(self) -> None:
        """
        C{COMPRESS DEFLATE} (RFC 4978).

        @raise NotImplementedError: always, for now.
        """
        # TODO(#3): RFC 4978 needs a zlib layer between transport and protocol.
        raise NotImplementedError("COMPRESS=DEFLATE is not implemented yet (issue 3)")
