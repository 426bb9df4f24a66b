# -*- test-case-name: tests.stores.test_imapbox,tests.stores.test_imapstore -*-
"""
L{IMailbox} for the mailbox an L{msync.stores.imapstore.IMAPStore} has
selected, and the message bodies it fetches.

Invariants:
  - Messages are addressed by UID only; every command names exactly the
    UIDs or ranges asked for (compact sets, split by the session), and
    results outside them (IMAP's C{n:*} quirk) are dropped.
  - Fetched bodies are streamed into a spool (memory for small messages, a
    temporary file past L{SPOOL_IN_MEMORY}) and can be read any number of
    times; no whole message is held by a fetch, and a body the connection
    had to buffer (its UID came after it) is not copied into memory again.
  - Flags reported or sent are limited to L{IMailbox.permanent_flags}.
  - A tagged NO/BAD fails the operation with L{MessageError} (fetch,
    store) or L{MailboxError} (the others); a lost connection makes the
    store unavailable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Container, Iterable, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING

from twisted.internet.defer import Deferred, FirstError, gatherResults, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from msync.errors import (
    CommandFailed,
    LocalProtocolError,
    MailboxError,
    MessageError,
    MsyncError,
    shown_name,
)
from msync.imap.commands import AppendMessage, StoreMode
from msync.imap.session import AppendResult, FetchResult, IMAPSession, MailboxStatus
from msync.imap.uids import UIDRange, UIDSet
from msync.model import (
    ALL_FLAGS,
    BoxName,
    FlagChange,
    Flags,
    LoadRequest,
    MessageInfo,
    MessageListing,
    UIDInterval,
    parse_tracking_headers,
)
from msync.sidefiles import remove_quietly, replace_file
from msync.stores.imapappend import (
    BATCH_MESSAGES,
    BATCHES_IN_FLIGHT,
    BODY_BYTES,
    AppendQueue,
    ByteBudget,
)
from msync.stores.interface import (
    DEFAULT_CHUNK_SIZE,
    IFingerprinted,
    IListingCache,
    IListingChanges,
    IMailbox,
    IMessageBody,
    IMessageSource,
    ListingChanges,
)
from msync.stores.listingcache import Listing, ListingAnswer, format_listing, parse_listing

if TYPE_CHECKING:
    from msync.stores.imapstore import IMAPStore

# Plain APPENDs are not held back: the connection's PipelineDepth bounds them.
PIPELINE_UNBOUNDED = 1 << 30

#: Copies under way into a box of a server with MULTIAPPEND (converted
#: bodies held in memory), and without (the engine's default).
COPIES_WITH_MULTIAPPEND = 32
COPIES_WITHOUT = 8

SPOOL_IN_MEMORY = 256 * 1024
"""Fetched messages up to this size stay in memory; larger ones go to disk."""

#: Bodies asked for while this many body fetches are at the server wait for
#: one to complete (or for L{BODIES_PER_FETCH} of them), then go together
#: in one C{UID FETCH} of several UIDs.
BODY_FETCHES_AT_ONCE = 2
BODIES_PER_FETCH = 16

_BODY_ITEMS = (b"UID", b"FLAGS", b"INTERNALDATE", b"BODY.PEEK[]")

# mbsync's flag table (drv_imap.c Flags[]), in Flags bit order.
_FLAG_NAMES: tuple[tuple[Flags, bytes], ...] = (
    (Flags.DRAFT, b"\\Draft"),
    (Flags.FLAGGED, b"\\Flagged"),
    (Flags.FORWARDED, b"$Forwarded"),
    (Flags.ANSWERED, b"\\Answered"),
    (Flags.SEEN, b"\\Seen"),
    (Flags.DELETED, b"\\Deleted"),
)
_BY_NAME = {name.lower(): flag for flag, name in _FLAG_NAMES}
_TUID_FIELD = b"X-TUID"
_MESSAGE_ID_FIELD = b"MESSAGE-ID"
_FLAGS_ONLY = (b"UID", b"FLAGS")


def imap_fingerprint(uid_validity: int, uid_next: int, messages: int, modseq: int) -> bytes:
    """
    The fingerprint of an IMAP box (L{msync.stores.interface.IBoxFingerprints}):
    what C{STATUS (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)} says. With
    CONDSTORE every change to a box (a flag, a new message, an expunge)
    raises its HIGHESTMODSEQ (RFC 7162 §3.1.1), so equal values mean an
    unchanged box.
    """
    return b"imap %d %d %d %d" % (uid_validity, uid_next, messages, modseq)


def imap_flags(flags: Flags) -> tuple[bytes, ...]:
    """
    @return: the IMAP names of C{flags}, e.g. C{(b"\\\\Seen",)}.
    """
    return tuple(name for flag, name in _FLAG_NAMES if flags & flag)


def flags_of(names: Iterable[bytes]) -> Flags:
    """
    @return: the L{Flags} among IMAP flag names (case-insensitive); other
        keywords are ignored.
    """
    key = names if isinstance(names, tuple) else tuple(names)
    known = _FLAGS_OF.get(key)
    if known is not None:
        return known
    result = Flags.NONE
    for name in key:
        result |= _BY_NAME.get(name.lower(), Flags.NONE)
    if len(_FLAGS_OF) < 256:
        # A mailbox has few distinct flag lists: remember them.
        _FLAGS_OF[key] = result
    return result


_FLAGS_OF: dict[tuple[bytes, ...], Flags] = {}


def permanent_flags(names: Sequence[bytes] | None) -> Flags:
    """
    The flags a mailbox keeps, from its C{PERMANENTFLAGS}: all with C{\\*}
    (new keywords allowed, so C{$Forwarded} too) or when the server sent
    none (RFC 3501 §7.1: then all may be changed permanently); else those
    named.
    """
    if names is None or any(name == b"\\*" for name in names):
        return ALL_FLAGS
    return flags_of(names)


async def read_source(source: IMessageSource) -> bytes:
    """
    Read a whole message source for APPEND, checking its announced size.

    @raise MessageError: if it yields another number of bytes than its size.
    """
    chunks = [chunk async for chunk in source.chunks()]
    data = b"".join(chunks)
    if len(data) != source.size:
        raise MessageError(f"message source yielded {len(data)} bytes, not {source.size}")
    return data


class Spool:
    """
    Where a fetched body is written as it streams in: a list of the chunks
    received while they total at most L{SPOOL_IN_MEMORY} bytes, else a
    temporary file (the chunks kept so far are moved there before the one
    that would pass the limit is written, so a large body is never held
    whole).

    @ivar size: the bytes written.
    """

    __slots__ = ("_file", "_parts", "size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._file: IO[bytes] | None = None
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """
        Add the next bytes.
        """
        if self._file is None:
            if self.size + len(chunk) <= SPOOL_IN_MEMORY:
                self._parts.append(chunk)
                self.size += len(chunk)
                return
            import tempfile  # here: most pulls never need it

            self._file = tempfile.TemporaryFile()
            for part in self._parts:
                self._file.write(part)
            self._parts = []
        self._file.write(chunk)
        self.size += len(chunk)

    def read(self, position: int, size: int) -> bytes | memoryview:
        """
        Up to C{size} bytes from C{position} (in memory: up to the end of
        the chunk holding C{position}).
        """
        if self._file is not None:
            self._file.seek(position)
            return self._file.read(size)
        start = 0
        for part in self._parts:
            if position < start + len(part):
                offset = position - start
                if offset == 0 and len(part) <= size:
                    return part
                return memoryview(part)[offset : offset + size]
            start += len(part)
        return b""

    def held(self) -> list[bytes] | None:
        """
        The chunks written, if they are all in memory (else C{None}).
        """
        return self._parts if self._file is None else None

    def close(self) -> None:
        """
        Let go of the bytes (the temporary file is closed).
        """
        self._parts = []
        if self._file is not None:
            self._file.close()


@implementer(IMessageBody)
class SpooledBody:
    """
    A fetched message held in a L{Spool}.

    @ivar uid: its UID.
    @ivar flags: its flags when fetched.
    @ivar arrival_date: its INTERNALDATE.
    @ivar size: its length in bytes.
    """

    def __init__(
        self,
        uid: int,
        flags: Flags,
        arrival_date: datetime,
        spool: Spool,
        size: int,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.uid = uid
        self.flags = flags
        self.arrival_date = arrival_date
        self.size = size
        self._spool = spool
        self._chunk_size = chunk_size

    def __del__(self) -> None:
        # IMessageBody has no close: the spool lives as long as the body
        # and is closed when the body is collected (not left to the
        # spool's own finalizer, which warns of an unclosed file).
        self._spool.close()

    def __repr__(self) -> str:
        return f"<SpooledBody UID {self.uid}, {self.size} bytes>"

    def held(self) -> list[bytes] | None:
        """
        The whole message as the chunks held in memory, if it is held
        there (see L{msync.stores.interface.held_chunks}); C{None} for one in a
        temporary file.
        """
        return self._spool.held()

    async def chunks(self) -> AsyncIterator[bytes]:
        """
        Yield the message from its first byte; passes may interleave, since
        each seeks to its own position before reading.
        """
        position = 0
        while position < self.size:
            chunk = self._spool.read(position, min(self._chunk_size, self.size - position))
            if not chunk:
                raise MessageError(f"UID {self.uid}: spooled message is truncated")
            position += len(chunk)
            yield bytes(chunk) if isinstance(chunk, memoryview) else chunk


def _segments(request: LoadRequest) -> list[tuple[UIDInterval, tuple[bytes, ...]]]:
    """
    Cut the request's range into intervals within which the same extras
    are wanted, each with its FETCH items.
    """
    extras = [request.sizes, request.tuids, request.message_ids, request.arrival_dates]
    cuts = {request.min_uid}
    for interval in extras:
        if interval is not None:
            cuts.update({interval.first, *(() if interval.last is None else (interval.last + 1,))})
    end = request.max_uid
    points = sorted(cut for cut in cuts if cut >= request.min_uid and (end is None or cut <= end))
    segments = []
    for index, first in enumerate(points):
        last = points[index + 1] - 1 if index + 1 < len(points) else end
        segments.append((UIDInterval(first, last), _items(request, first)))
    return segments


def _items(request: LoadRequest, uid: int) -> tuple[bytes, ...]:
    """
    The FETCH items for one selected message.
    """
    items = [b"UID", b"FLAGS"]
    if request.wants_size(uid):
        items.append(b"RFC822.SIZE")
    if request.wants_arrival_date(uid):
        items.append(b"INTERNALDATE")
    fields = [_TUID_FIELD] * request.wants_tuid(uid)
    fields += [_MESSAGE_ID_FIELD] * request.wants_message_id(uid)
    if fields:
        items.append(b"BODY.PEEK[HEADER.FIELDS (" + b" ".join(fields) + b")]")
    return tuple(items)


#: A listing FETCH's answer, VANISHED ranges, HIGHESTMODSEQ and EXISTS.
_Changes = tuple[ListingAnswer, list[tuple[int, int]], int | None, int | None]


def _collect(answer: ListingAnswer) -> Callable[[FetchResult], None]:
    """
    @return: a consumer adding each FETCH result of a listing to C{answer}
        as it arrives (the flag bits of each distinct flag list computed
        once: the parser shares one tuple per distinct list).
    """
    known: dict[tuple[bytes, ...], tuple[int, bool]] = {}

    def add(result: FetchResult) -> None:
        names = result.items.flags
        if names is None:
            answer.add(result.uid, None, False)
            return
        found = known.get(names)
        if found is None:
            recent = any(name.lower() == b"\\recent" for name in names)
            found = known[names] = (int(flags_of(names)), recent)
        answer.add(result.uid, *found)

    return add


class EarlyListing:
    """
    The listing FETCH of a box, sent right behind its SELECT (no round
    trip waited for): what L{IMAPMailbox._changes} would ask first, given
    the listing saved in the box's listing cache (or none) and whether
    QRESYNC is (being) enabled. It is used only if the load asks exactly
    that; a failure (the SELECT failed too) just means asking again.

    @ivar path: the listing cache it was sent for.
    @ivar cached: the listing read from it then (any listing with its
        mod-sequence is a true picture of the box at that mod-sequence,
        so the load may start from it rather than read the file again).
    @ivar key: the mod-sequence it asks from (0: the whole box) and
        whether it asks for VANISHED.
    @ivar answer: fires with the results, the VANISHED ranges and the
        selected box's HIGHESTMODSEQ and EXISTS when it completed, or
        C{None} if it failed.
    """

    def __init__(self, store: IMAPStore, session: IMAPSession, path: str, qresync: bool) -> None:
        self.path = path
        cached = self.cached = _read_listing(path)
        modseq = cached.modseq if cached is not None else 0
        self.key = (modseq, bool(modseq) and qresync)
        self.answer: Deferred[_Changes | None] = Deferred.fromCoroutine(self._ask(store, session))

    async def _ask(self, store: IMAPStore, session: IMAPSession) -> _Changes | None:
        modseq, vanished = self.key
        try:
            with store.connection_errors():
                return await self._fetch(session, modseq, vanished)
        except MsyncError:
            # The SELECT it followed failed, or the connection did.
            return None

    @staticmethod
    async def _fetch(session: IMAPSession, modseq: int, vanished: bool) -> _Changes | None:
        answer = ListingAnswer()
        if vanished:
            _, gone = await session.uid_fetch_changes(
                UIDRange(1, None),
                _FLAGS_ONLY,
                changed_since=modseq,
                follows_selection=True,
                on_result=_collect(answer),
            )
        else:
            items = _FLAGS_ONLY if modseq else (*_FLAGS_ONLY, b"MODSEQ")
            await session.uid_fetch(
                UIDRange(1, None),
                items,
                changed_since=modseq or None,
                follows_selection=True,
                on_result=_collect(answer),
            )
            gone = []
        selected = session.selected
        if selected is None:
            return None
        return answer, gone, selected.highest_modseq, selected.exists


def _header_fields(result: FetchResult) -> bytes:
    for section, data in result.items.sections.items():
        if section.upper().startswith(b"HEADER.FIELDS") and data is not None:
            return data
    return b""


@implementer(IMailbox, IListingCache, IListingChanges, IFingerprinted)
class IMAPMailbox:
    """
    The selected mailbox of an IMAP store.

    @ivar name: its canonical name.
    @ivar uid_validity: its UIDVALIDITY.
    @ivar uid_next: its UIDNEXT at selection.
    @ivar permanent_flags: the flags it keeps.
    @ivar read_only: it was EXAMINEd: commands that would change it are
        refused with C{RuntimeError} before anything is sent.
    """

    def __init__(
        self,
        store: IMAPStore,
        session: IMAPSession,
        name: BoxName,
        argument: str,
        uid_validity: int,
        uid_next: int,
        permanent_flags: Flags,
        read_only: bool = False,
    ) -> None:
        self.name = name
        self.read_only = read_only
        self.uid_validity = uid_validity
        self.uid_next = uid_next
        self.permanent_flags = permanent_flags
        self._store = store
        self._session = session
        self._argument = argument
        self._closed = False
        self._append_queue: AppendQueue | None = None
        self._bodies = ByteBudget(BODY_BYTES)
        self._listing_path: str | None = None
        self._unsaved: Listing | None = None
        # For fingerprint(): the box as SELECT described it, the
        # mod-sequence the last load's listing is complete up to, and
        # whether this session changed the box since.
        self._selected_as: tuple[int, int] | None = None
        self._loaded_modseq: int | None = None
        self._touched = False
        # changes_since_listing: the listing it brought up to date (for the
        # next load) and what changed since the saved one.
        self._prefetched: tuple[Listing, Container[int]] | None = None
        self._last_changes: ListingChanges | None = None
        self._early: EarlyListing | None = None
        self._answered_early = False
        # Bodies asked for and not yet sent for, and the body fetches at
        # the server.
        self._bodies_wanted: list[tuple[int, Deferred[IMessageBody]]] = []
        self._body_fetches = 0

    @classmethod
    async def opened(
        cls,
        store: IMAPStore,
        session: IMAPSession,
        name: BoxName,
        argument: str,
        status: MailboxStatus,
        *,
        read_only: bool = False,
        early: EarlyListing | None = None,
    ) -> IMAPMailbox:
        """
        The mailbox just selected, learning UIDNEXT from the highest UID
        when the server did not send it (as mbsync does).

        @param read_only: it was EXAMINEd.
        @param early: the listing FETCH sent behind the SELECT, if any.
        @raise MailboxError: if the server sent no UIDVALIDITY.
        """
        if status.uid_validity is None:
            raise MailboxError(f"IMAP store {store.name}: no UIDVALIDITY for {shown_name(name)}")
        uid_next = status.uid_next
        if uid_next is None:
            with store.connection_errors():
                last = await session.uid_fetch(UIDRange(1, None), (b"UID",))
            uid_next = max((each.uid for each in last), default=0) + 1
        names = status.permanent_flags
        if read_only and not names:
            # Servers answer EXAMINE with PERMANENTFLAGS () (Dovecot) or
            # none: it says only that this session may not change flags.
            # Report what SELECT would without a PERMANENTFLAGS (RFC 3501
            # §7.1: every flag), so a dry run plans what a real run does.
            names = None
        flags = permanent_flags(names)
        box = cls(store, session, name, argument, status.uid_validity, uid_next, flags, read_only)
        box._early = early
        if status.uid_next is not None and status.exists is not None:
            box._selected_as = (status.uid_next, status.exists)
        return box

    def __repr__(self) -> str:
        return f"<IMAPMailbox {self.name} of {self._store.name}>"

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"mailbox {self.name} of {self._store.name} is closed")

    def _check_writable(self, what: str) -> None:
        self._check_open()
        if self.read_only:
            raise RuntimeError(
                f"mailbox {self.name} of {self._store.name} is read-only (EXAMINE): cannot {what}"
            )

    def _failed(self, what: str, error: Exception) -> MailboxError:
        return MailboxError(
            f"IMAP store {self._store.name}: {shown_name(self.name)}: {what}: {error}"
        )

    async def _fetch(self, uids: UIDSet | UIDRange, items: Sequence[bytes]) -> list[FetchResult]:
        # No lock: the connection routes FETCH data by UID and holds back a
        # UID FETCH whose UIDs overlap one in flight, so fetches pipeline.
        try:
            with self._store.connection_errors():
                return await self._session.uid_fetch(uids, items)
        except CommandFailed as failed:
            raise self._failed("UID FETCH failed", failed) from None

    async def _all(self, pending: list[Deferred[None]], what: str) -> None:
        """
        Wait for pipelined commands; raise the first failure.
        """
        try:
            with self._store.connection_errors():
                try:
                    await gatherResults(pending, consumeErrors=True)
                except FirstError as error:
                    error.subFailure.raiseException()
        except (CommandFailed, LocalProtocolError) as failed:
            raise self._failed(what, failed) from None

    # Loading

    def load(self, request: LoadRequest) -> Deferred[MessageListing]:
        """
        See L{IMailbox.load}: one C{UID FETCH} per group of UIDs wanting
        the same items, all pipelined.
        """
        self._check_open()
        selected = self._session.selected
        if selected is not None and selected.exists == 0 and self._store.selected == self._argument:
            # As mbsync: no FETCH in a box the server says is empty, and the
            # answer comes at once (so -V tells this count first).
            self._empty_listing(selected.highest_modseq)
            return succeed(MessageListing())
        return Deferred.fromCoroutine(self._load(request))

    def _empty_listing(self, highest: int | None) -> None:
        """
        Keep the listing file of a box loaded without a FETCH because it
        is empty as L{_load} would: an empty listing as of C{highest} is
        saved unless the file already says so; without mod-sequences
        (no CONDSTORE) the file goes.
        """
        path = self._listing_path
        if path is None or self.read_only:
            return
        self._loaded_modseq = highest
        if highest is None:
            remove_quietly(path)
            return
        cached = _read_listing(path)
        if (
            cached is None
            or cached.uid_validity != self.uid_validity
            or len(cached) != 0
            or cached.modseq > highest
        ):
            self._unsaved = Listing(self.uid_validity, highest)

    def use_listing_cache(self, path: str) -> None:
        """
        See L{IListingCache.use_listing_cache}: with CONDSTORE, loads ask
        only for the messages changed since the listing in C{path}.
        """
        self._listing_path = path

    def fingerprint(self) -> bytes | None:
        """
        See L{IFingerprinted.fingerprint}: the box as selected, with the
        mod-sequence its listing was loaded at (CONDSTORE only); C{None}
        once this session changed the box (its own changes raised the
        mod-sequence to values it does not track).
        """
        if self.read_only or self._touched or self._selected_as is None:
            return None
        if self._loaded_modseq is None:
            return None
        uid_next, exists = self._selected_as
        return imap_fingerprint(self.uid_validity, uid_next, exists, self._loaded_modseq)

    def save_listing(self) -> None:
        """
        See L{IListingCache.save_listing}.
        """
        listing, self._unsaved = self._unsaved, None
        if listing is not None and self._listing_path is not None:
            _write_listing(self._listing_path, listing)

    def changes_since_listing(self) -> Deferred[ListingChanges | None]:
        """
        See L{IListingChanges.changes_since_listing}.
        """
        self._check_open()
        return Deferred.fromCoroutine(self._changes_since_listing())

    async def _changes_since_listing(self) -> ListingChanges | None:
        path = self._listing_path
        selected = self._session.selected
        if path is None or self.read_only or selected is None or not selected.exists:
            return None
        self._last_changes = None
        listing = await self._listing(path)
        if listing is None:
            return None
        self._prefetched = listing
        return self._last_changes

    async def _load(self, request: LoadRequest) -> MessageListing:
        path = self._listing_path
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None:
            return await self._load_listed(request, *prefetched)
        if path is not None and not self.read_only:
            listing = await self._listing(path)
            if listing is not None:
                loaded = await self._load_listed(request, *listing)
                if self._answered_early:
                    # As if the FETCH had been sent now: the answer comes
                    # after the other side's load started (mbsync's -V
                    # prints a Maildir side's count first).
                    self._answered_early = False
                    await self._store.next_turn()
                return loaded
            remove_quietly(path)
        infos = await self._load_fetched(request, skip_flags_only=False)
        return MessageListing.of(infos[uid] for uid in sorted(infos))

    async def _load_fetched(
        self, request: LoadRequest, *, skip_flags_only: bool
    ) -> dict[int, MessageInfo]:
        """
        Fetch what C{request} asks for; with C{skip_flags_only}, only the
        messages wanting more than UID and flags (a dict by UID).
        """
        groups: dict[tuple[bytes, ...], list[UIDRange]] = {}
        for interval, items in _segments(request):
            if not (skip_flags_only and items == _FLAGS_ONLY):
                groups.setdefault(items, []).append(UIDRange(interval.first, interval.last))
        singles = sorted(
            uid for uid in request.uids if uid not in UIDInterval(request.min_uid, request.max_uid)
        )
        for uid in singles:
            items = _items(request, uid)
            if not (skip_flags_only and items == _FLAGS_ONLY):
                groups.setdefault(items, []).append(UIDRange(uid, uid))
        pending = [
            Deferred.fromCoroutine(self._fetch(self._join(ranges), items))
            for items, ranges in groups.items()
        ]
        try:
            results = await gatherResults(pending, consumeErrors=True)
        except FirstError as error:
            error.subFailure.raiseException()
        infos: dict[int, MessageInfo] = {}
        for result in (each for batch in results for each in batch):
            if request.selects(result.uid) and result.uid not in infos:
                infos[result.uid] = self._info(request, result)
        return infos

    async def _load_listed(
        self, request: LoadRequest, listing: Listing, recent: Container[int]
    ) -> MessageListing:
        """
        Answer C{request} from the box's complete C{listing}, fetching only
        what a message needs beyond UID and flags.
        """
        infos = await self._load_fetched(request, skip_flags_only=True)
        permanent = int(self.permanent_flags)
        wants_more = request.extra_ranges()
        if request.max_uid is not None and request.max_uid < request.min_uid:
            # UIDs named one by one (a partial run): look just those up.
            chosen: Iterable[tuple[int, int]] = (
                (uid, bits)
                for uid in sorted(request.uids)
                if (bits := listing.get(uid)) is not None
            )
        else:
            chosen = listing.items()
        # Made in ascending UID order straight into the answer's columns (no
        # object or dictionary entry per message); the few fetched ones
        # merged in.
        answer = MessageListing()
        add = answer.add
        fetched = sorted(infos.items())
        place = 0
        for uid, bits in chosen:
            if (
                uid in infos
                or not request.selects(uid)
                or (wants_more and any(uid in wanted for wanted in wants_more))
            ):
                continue
            while place < len(fetched) and fetched[place][0] < uid:
                answer.add_info(fetched[place][1])
                place += 1
            add(uid, bits & permanent, uid in recent)
        for _, info in fetched[place:]:
            answer.add_info(info)
        return answer

    async def _listing(self, path: str) -> tuple[Listing, Container[int]] | None:
        """
        The box's complete UID and flag listing, brought up to date from the
        one in C{path} with C{CHANGEDSINCE} when it can be trusted, else
        fetched whole with mod-sequences (to be saved by L{save_listing}).
        Also the UIDs reported C{\\Recent}.

        @return: C{None} when the server cannot say what changed (no
            CONDSTORE, a NOMODSEQ box, no HIGHESTMODSEQ): then the caller
            loads without a listing.
        """
        with self._store.connection_errors():
            capabilities = await self._session.ensure_capabilities()
        if b"CONDSTORE" not in capabilities:
            return None
        early = self._early
        cached = early.cached if early is not None and early.path == path else _read_listing(path)
        selected = self._session.selected
        known = selected.highest_modseq if selected is not None else None
        if cached is not None and known is not None and known < cached.modseq:
            cached = None
        if cached is not None and cached.uid_validity == self.uid_validity:
            found = await self._changes(cached)
            if found is not None:
                return found
        return await self._changes(Listing(self.uid_validity, 0))

    async def _changes(self, base: Listing) -> tuple[Listing, Container[int]] | None:
        """
        C{base} updated with what changed since its mod-sequence (all of
        the box for an empty C{base} at 0), or C{None} if the result cannot
        be trusted.
        """
        items = (b"UID", b"FLAGS") if base.modseq else (b"UID", b"FLAGS", b"MODSEQ")
        # With QRESYNC (enabled before the first SELECT) the same FETCH
        # also names the UIDs expunged since (RFC 7162 §3.2.6): an expunge
        # no longer means fetching the whole box again.
        vanished = bool(base.modseq) and b"QRESYNC" in self._session.enabled
        gone: list[tuple[int, int]] = []
        early, self._early = self._early, None
        answer = await early.answer if early is not None else None
        wanted = (self._listing_path, (base.modseq, vanished))
        if answer is not None and early is not None and (early.path, early.key) == wanted:
            fetched, gone, highest, exists = answer
            self._answered_early = True
        else:
            # Each response goes into two columns as it arrives: a whole
            # box's listing is never held as a response object per message.
            fetched = ListingAnswer()
            try:
                with self._store.connection_errors():
                    if vanished:
                        _, gone = await self._session.uid_fetch_changes(
                            UIDRange(1, None),
                            items,
                            changed_since=base.modseq,
                            on_result=_collect(fetched),
                        )
                    else:
                        await self._session.uid_fetch(
                            UIDRange(1, None),
                            items,
                            changed_since=base.modseq or None,
                            on_result=_collect(fetched),
                        )
            except CommandFailed:
                return None
            selected = self._session.selected
            highest = selected.highest_modseq if selected is not None else None
            exists = selected.exists if selected is not None else None
        # The server's HIGHESTMODSEQ from when CONDSTORE was enabled (RFC
        # 7162 §3.1): every change after it has a higher mod-sequence, so
        # the next run asks from there. Going backwards means the server
        # lost changes: trust nothing.
        if highest is None or highest < base.modseq:
            return None
        recent = fetched.recent()
        changes: dict[int, int] | None = None
        if len(base) == 0:
            # A whole box (or a listing made empty): its answer in order.
            listing = fetched.listing(base.uid_validity, highest)
        else:
            changes = fetched.changes()
            listing = base.without(gone).updated(changes, highest)
        changed = len(fetched)
        del fetched
        # Without VANISHED an expunge shows only in the count: a listing
        # with more messages than the box holds is stale (with it, a
        # mismatch means the server's answer cannot be trusted either).
        if exists is None or len(listing) != exists:
            return None
        # Saved (by save_listing, once the sync committed) when it was
        # fetched whole, or when asking from the old one would return more
        # than a few messages: rewriting a listing costs its whole size (5
        # bytes a message, about what a message's FETCH line, its planning
        # and its state line cost per 2,000 messages), while each message
        # changed since the listing saved is fetched and planned again by
        # every later run until it is.
        if not base.modseq or changed + len(gone) > max(16, len(listing) // 2048):
            self._unsaved = listing
        self._loaded_modseq = highest
        if base.modseq:
            touched = frozenset(changes if changes is not None else listing.uids)
            self._last_changes = ListingChanges(touched, listing.uids)
        return listing, recent

    @staticmethod
    def _join(ranges: list[UIDRange]) -> UIDSet:
        """
        Ranges in ascending order as one set (an open range goes last).
        """
        ordered = sorted(ranges, key=lambda each: (each.last is None, each.first))
        return UIDSet(tuple(ordered))

    def _info(self, request: LoadRequest, result: FetchResult) -> MessageInfo:
        uid, items = result.uid, result.items
        names = items.flags or ()
        headers = parse_tracking_headers(_header_fields(result))
        return MessageInfo(
            uid=uid,
            flags=flags_of(names) & self.permanent_flags,
            recent=any(name.lower() == b"\\recent" for name in names),
            size=items.size if request.wants_size(uid) else None,
            tuid=headers.tuid if request.wants_tuid(uid) else None,
            message_id=headers.message_id if request.wants_message_id(uid) else None,
            arrival_date=items.internal_date if request.wants_arrival_date(uid) else None,
        )

    # Fetching and storing

    def fetch(self, uid: int) -> Deferred[IMessageBody]:
        """
        See L{IMailbox.fetch}: C{UID FETCH uid (FLAGS INTERNALDATE
        BODY.PEEK[])}, the body streamed into a spool.

        While L{BODY_FETCHES_AT_ONCE} body fetches are at the server, the
        UIDs asked for wait and then go together, up to L{BODIES_PER_FETCH}
        in one command (the first completion sends what waits): a pull
        costs one command per batch, not per message.
        """
        self._check_open()
        wanted: Deferred[IMessageBody] = Deferred()
        for each, _ in self._bodies_wanted:
            if each == uid:
                # One spool per UID and command: a repeated UID goes in the next.
                self._send_bodies()
                break
        self._bodies_wanted.append((uid, wanted))
        if (
            self._body_fetches < BODY_FETCHES_AT_ONCE
            or len(self._bodies_wanted) >= BODIES_PER_FETCH
        ):
            self._send_bodies()
        return wanted

    def fetch_many(self, uids: Sequence[int]) -> list[Deferred[IMessageBody]]:
        """
        L{fetch} for several UIDs asked for at once (a copy run's fetches
        ahead): they go in as few commands as the fetches at the server
        allow, not the first alone because a fetch slot happened to be
        free.
        """
        self._check_open()
        wanted: list[Deferred[IMessageBody]] = []
        waiting = {each for each, _ in self._bodies_wanted}
        for uid in uids:
            if uid in waiting:
                # One spool per UID and command: a repeated UID goes in the next.
                self._send_bodies()
                waiting = {each for each, _ in self._bodies_wanted}
            waiting.add(uid)
            fetched: Deferred[IMessageBody] = Deferred()
            self._bodies_wanted.append((uid, fetched))
            wanted.append(fetched)
        while self._bodies_wanted and (
            self._body_fetches < BODY_FETCHES_AT_ONCE
            or len(self._bodies_wanted) >= BODIES_PER_FETCH
        ):
            self._send_bodies()
        return wanted

    def _send_bodies(self) -> None:
        """
        Send one body fetch for the UIDs waiting (at most
        L{BODIES_PER_FETCH}); when it completes, send what waits then.
        """
        batch = self._bodies_wanted[:BODIES_PER_FETCH]
        del self._bodies_wanted[:BODIES_PER_FETCH]
        self._body_fetches += 1
        fetching = Deferred.fromCoroutine(self._fetch_bodies(batch))

        def sent(result: object) -> object:
            self._body_fetches -= 1
            while self._bodies_wanted and (
                self._body_fetches < BODY_FETCHES_AT_ONCE
                or len(self._bodies_wanted) >= BODIES_PER_FETCH
            ):
                self._send_bodies()
            # _fetch_bodies fires every Deferred of its batch and raises
            # nothing; were it to, the error is logged, not swallowed.
            return result

        fetching.addBoth(sent)

    async def _fetch_bodies(self, batch: list[tuple[int, Deferred[IMessageBody]]]) -> None:
        """
        Fetch a batch of bodies, firing each one's Deferred with it or with
        its error. A command the server refuses (NO or BAD) is tried again
        one UID at a time, so that one message it will not give fails
        alone.
        """
        if len(batch) == 1:
            uid, wanted = batch[0]
            try:
                body = await self._fetch_body(uid)
            except BaseException:
                wanted.errback(Failure())
            else:
                wanted.callback(body)
            return
        spools = {uid: Spool() for uid, _ in batch}

        def consume(uid: int, chunk: bytes) -> None:
            spools[uid].write(chunk)

        try:
            with self._store.connection_errors():
                found = await self._session.uid_fetch_bodies(list(spools), consume, _BODY_ITEMS)
        except CommandFailed:
            for spool in spools.values():
                spool.close()
            for uid, wanted in batch:
                Deferred.fromCoroutine(self._fetch_body(uid)).chainDeferred(wanted)
            return
        except BaseException:
            # A lost connection or a protocol error: the spools go too.
            failure = Failure()
            for spool in spools.values():
                spool.close()
            for _, wanted in batch:
                wanted.errback(failure)
            return
        # Last to first: a caller waiting for them in order (the engine's
        # copy run) wakes once, with the whole batch there.
        for uid, wanted in reversed(batch):
            try:
                body = self._body(uid, found.get(uid), spools[uid])
            except MessageError:
                wanted.errback(Failure())
            else:
                wanted.callback(body)

    def _body(self, uid: int, result: FetchResult | None, spool: Spool) -> IMessageBody:
        """
        The body of a fetch's C{result} in C{spool}.

        @raise MessageError: the server sent no such message (or no
            INTERNALDATE for it); the spool is closed.
        """
        if result is None or result.items.internal_date is None:
            spool.close()
            raise MessageError(
                f"IMAP store {self._store.name}: {shown_name(self.name)}: no message UID {uid}"
            )
        flags = flags_of(result.items.flags or ()) & self.permanent_flags
        return SpooledBody(uid, flags, result.items.internal_date, spool, spool.size)

    async def _fetch_body(self, uid: int) -> IMessageBody:
        spool = Spool()
        try:
            with self._store.connection_errors():
                result = await self._session.uid_fetch_body(uid, spool.write, _BODY_ITEMS)
        except CommandFailed as failed:
            spool.close()
            raise MessageError(
                f"IMAP store {self._store.name}: {shown_name(self.name)}: UID {uid}: {failed}"
            ) from None
        except BaseException:
            # A lost connection or a protocol error: the spool goes too.
            spool.close()
            raise
        return self._body(uid, result, spool)

    def store(
        self,
        message: IMessageSource,
        flags: Flags,
        arrival_date: datetime | None = None,
    ) -> Deferred[int | None]:
        """
        See L{IMailbox.store}: C{APPEND} with flags and INTERNALDATE; the
        UID comes from C{[APPENDUID]} (UIDPLUS).
        """
        self._check_writable("APPEND")
        return Deferred.fromCoroutine(self._store_message(message, flags, arrival_date))

    async def _store_message(
        self, message: IMessageSource, flags: Flags, arrival_date: datetime | None
    ) -> int | None:
        self._touched = True
        # The place in the order of storing is taken before reading, and so
        # is the place in the line for memory: a message is read only once
        # its bytes fit beside those read and not yet stored.
        slot = self._appends.reserve()
        size = message.size
        await self._bodies.acquire(size)
        try:
            try:
                data = await read_source(message)
            except BaseException:
                slot.drop()
                raise
            wanted = imap_flags(flags & self.permanent_flags)
            store = self._store
            try:
                with store.connection_errors():
                    result = await slot.ready(AppendMessage(data, wanted, arrival_date))
            except (CommandFailed, LocalProtocolError) as error:
                store.refused(f"cannot store into {shown_name(self.name)}", error)
            del data
        finally:
            self._bodies.release(size)
        if result.uid_validity != self.uid_validity:
            return None
        return result.uid

    def _append_batch(self, messages: Sequence[AppendMessage]) -> Deferred[list[AppendResult]]:
        return Deferred.fromCoroutine(self._session.append_many(self._argument, messages))

    @property
    def _multiappend(self) -> bool:
        return b"MULTIAPPEND" in (self._session.capabilities or frozenset())

    @property
    def copies_in_flight(self) -> int:
        """
        How many copies the engine may have under way into this box: a
        MULTIAPPEND batch can only gather what is under way.
        """
        return COPIES_WITH_MULTIAPPEND if self._multiappend else COPIES_WITHOUT

    @property
    def _appends(self) -> AppendQueue:
        if self._append_queue is None:
            multi = self._multiappend
            # Without MULTIAPPEND, plain APPENDs pipelined as deep as the
            # session's PipelineDepth allows.
            self._append_queue = AppendQueue(
                self._append_batch,
                batch_messages=BATCH_MESSAGES if multi else 1,
                in_flight=BATCHES_IN_FLIGHT if multi else PIPELINE_UNBOUNDED,
            )
        return self._append_queue

    def find_by_tuid(self, tuids: Collection[str], min_uid: int) -> Deferred[dict[str, int]]:
        """
        See L{IMailbox.find_by_tuid}: C{UID FETCH min:* (BODY.PEEK[HEADER.FIELDS
        (X-TUID)])}.
        """
        self._check_open()
        return Deferred.fromCoroutine(self._find_by_tuid(frozenset(tuids), min_uid))

    async def _find_by_tuid(self, tuids: frozenset[str], min_uid: int) -> dict[str, int]:
        if not tuids:
            return {}
        items = (b"UID", b"BODY.PEEK[HEADER.FIELDS (X-TUID)]")
        found: dict[str, int] = {}
        for result in await self._fetch(UIDRange(max(min_uid, 1), None), items):
            tuid = parse_tracking_headers(_header_fields(result)).tuid
            if tuid in tuids and result.uid >= min_uid:
                found[tuid] = min(found.get(tuid, result.uid), result.uid)
        return found

    # Flags, trash, expunge

    def set_flags(self, changes: Sequence[FlagChange]) -> Deferred[None]:
        """
        See L{IMailbox.set_flags}: the changes to each message are merged
        into one net change, and messages with equal net changes share one
        C{UID STORE} per direction.
        """
        self._check_writable("UID STORE")
        return Deferred.fromCoroutine(self._set_flags(changes))

    async def _set_flags(self, changes: Sequence[FlagChange]) -> None:
        net: dict[int, tuple[Flags, Flags]] = {}
        for change in changes:
            add, remove = net.get(change.uid, (Flags.NONE, Flags.NONE))
            net[change.uid] = (
                (add & ~change.remove) | change.add,
                (remove & ~change.add) | change.remove,
            )
        # Net changes add and remove disjoint flags, so the commands commute:
        # group them by direction and flag set.
        groups: dict[tuple[StoreMode, Flags], list[int]] = {}
        for uid, (add, remove) in net.items():
            for mode, flags in ((StoreMode.ADD, add), (StoreMode.REMOVE, remove)):
                if flags & self.permanent_flags:
                    groups.setdefault((mode, flags & self.permanent_flags), []).append(uid)
        pending = [
            Deferred.fromCoroutine(self._session.uid_store(uids, mode, imap_flags(flags)))
            for (mode, flags), uids in groups.items()
        ]
        self._touched = self._touched or bool(pending)
        await self._all(pending, "UID STORE failed")

    async def _existing(self, uids: Collection[int], deleted_only: bool) -> list[int]:
        """
        Which of C{uids} exist (and are flagged deleted, if asked).
        """
        if not uids:
            return []
        found = await self._fetch(UIDSet.of(uids), (b"UID", b"FLAGS"))
        return sorted(
            {
                each.uid
                for each in found
                if each.uid in uids
                and (not deleted_only or Flags.DELETED & flags_of(each.items.flags or ()))
            }
        )

    def trash(self, uids: Collection[int], trash_box: BoxName) -> Deferred[list[int]]:
        """
        See L{IMailbox.trash}: C{UID MOVE} with MOVE, else C{UID COPY};
        C{[TRYCREATE]} makes it C{CREATE} the Trash and try again. Into
        this very box too, as mbsync 1.4.4 does (C{UID MOVE 1 "Trash"} while
        Trash is selected): the server gives the messages new UIDs. That
        needs UIDPLUS: without it the expunge that follows removes every
        deleted message, the copies too (mbsync loses them there), so the
        box fails with L{MailboxError} instead and nothing is changed.
        """
        self._check_writable("trash")
        return Deferred.fromCoroutine(self._trash(frozenset(uids), trash_box))

    async def _trash(self, uids: frozenset[int], trash_box: BoxName) -> list[int]:
        if trash_box == self.name and b"UIDPLUS" not in (self._session.capabilities or ()):
            raise MailboxError(
                f"IMAP store {self._store.name}: {shown_name(self.name)}: cannot trash messages into the "
                "box itself without UIDPLUS (the expunge would remove the copies too)"
            )
        present = await self._existing(uids, deleted_only=False)
        if not present:
            return []
        self._touched = True
        store, session = self._store, self._session
        target = store.argument(trash_box)
        move = b"MOVE" in (session.capabilities or frozenset())
        for attempt in (1, 2):
            try:
                with store.connection_errors():
                    if move:
                        await session.uid_move(present, target)
                    else:
                        await session.uid_copy(present, target)
                return present
            except CommandFailed as failed:
                if failed.code != b"TRYCREATE" or attempt == 2:
                    raise self._failed(
                        f"cannot trash into {shown_name(trash_box)}", failed
                    ) from None
                await store.create_box(trash_box)
        raise AssertionError("unreachable")  # pragma: no cover

    #: mbsync's IMAP driver loads only what the sync asks for: nothing more
    #: to set flags (C{UID STORE} by UID) or to expunge (it C{CLOSE}s the
    #: box, removing every deleted message, loaded or not), unlike its
    #: Maildir driver. msync loads more (to expunge by UID), but the
    #: planner sees only what mbsync would have loaded, so that the state
    #: it writes is mbsync's (the records of messages expunged or deleted
    #: unseen keep their UIDs until a run loads them).
    driver_widens = False

    @property
    def expunges_by_uid(self) -> bool:
        """
        Whether L{expunge} removes only the UIDs it is given (UIDPLUS).
        """
        return b"UIDPLUS" in (self._session.capabilities or frozenset())

    def expunge(self, uids: Collection[int] | None = None) -> Deferred[list[int]]:
        """
        See L{IMailbox.expunge}: C{UID EXPUNGE} of the deleted messages
        among C{uids} with UIDPLUS; without it C{EXPUNGE}, which removes
        every deleted message (mbsync C{CLOSE}s instead, which would end
        the selection).
        """
        self._check_writable("EXPUNGE")
        return Deferred.fromCoroutine(self._expunge(None if uids is None else frozenset(uids)))

    async def _expunge(self, uids: frozenset[int] | None) -> list[int]:
        session = self._session
        uidplus = b"UIDPLUS" in (session.capabilities or frozenset())
        if uids is None or not uidplus:
            everything = await self._fetch(UIDRange(1, None), (b"UID", b"FLAGS"))
            doomed = sorted(
                each.uid for each in everything if Flags.DELETED & flags_of(each.items.flags or ())
            )
        else:
            doomed = await self._existing(uids, deleted_only=True)
        if not doomed:
            return []
        self._touched = True
        try:
            with self._store.connection_errors():
                if uidplus:
                    await session.uid_expunge(doomed)
                else:
                    await session.expunge()
        except CommandFailed as failed:
            raise self._failed("expunge failed", failed) from None
        return doomed

    def close(self) -> Deferred[None]:
        """
        See L{IMailbox.close}: nothing is sent (mbsync 1.4 never closes
        without expunging); the store may select another box.
        """
        if not self._closed:
            self._closed = True
            self._store.mailbox_closed()
        return Deferred.fromCoroutine(_nothing())


def _read_listing(path: str) -> Listing | None:
    """
    The listing saved in C{path}, or C{None} if there is none intact.
    """
    try:
        with open(path, "rb") as saved:
            return parse_listing(saved.read())
    except OSError:
        return None


def _write_listing(path: str, listing: Listing) -> None:
    """
    Replace C{path} with C{listing} at once (no fsync: a lost or torn file
    only means a full load next time, and a torn one fails its checksum).
    """
    data = format_listing(listing)
    replace_file(path, lambda out: out.write(data))


async def _nothing() -> None:
    """
    An already finished operation.
    """
