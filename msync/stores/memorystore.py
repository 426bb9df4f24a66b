# -*- test-case-name: tests.stores.test_memorystore -*-
"""
A mail store kept in memory, implementing L{IStore} and L{IMailbox} fully.

It stands in for the IMAP and Maildir stores wherever real ones are not
needed: the sync engine's scenario and crash tests, and demonstrations.
Besides the interface it offers L{MemoryOptions} that make it behave like
the stores it imitates (line ending, UIDPLUS, PERMANENTFLAGS, MOVE), failure
injection (fail the Nth operation of a session with a chosen severity,
before or after its effect), inspection and seeding helpers for tests, and
L{MemoryStore.reopen} to simulate a restart over the same data.

Invariants:
  - Per mailbox, messages are kept in strictly increasing UID order; UIDs
    are assigned from the box's UIDNEXT, which only grows, and every box
    ever created in one data set gets a distinct UIDVALIDITY.
  - A message's bytes never change after it is stored; flags are always
    within the store's permanent flags.
  - Every interface call is one numbered operation of its session (one
    L{MemoryStore} object), except L{MemoryStore.close}, which always
    succeeds. Operations take effect when called, in call order (those
    reading a message source: when it has been read).
  - After an injected L{StoreUnavailable} every further operation of the
    session fails with L{StoreUnavailable}, as after a lost connection.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from msync.errors import (
    MailboxError,
    MailboxMissing,
    MessageError,
    StoreError,
    StoreUnavailable,
    shown_name,
)
from msync.model import (
    ALL_FLAGS,
    INBOX,
    BoxName,
    FlagChange,
    Flags,
    LineEnding,
    LoadRequest,
    MessageInfo,
    MessageListing,
    parse_tracking_headers,
)
from msync.stores.interface import (
    DEFAULT_CHUNK_SIZE,
    BytesSource,
    IMailbox,
    IMessageBody,
    IMessageSource,
    IStore,
)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """
    A message as the memory store holds it.

    @ivar uid: its UID.
    @ivar flags: its flags.
    @ivar data: its bytes, exactly as stored.
    @ivar arrival_date: when it arrived (timezone-aware).
    @ivar recent: whether it counts as recent (IMAP C{\\Recent}).
    """

    uid: int
    flags: Flags
    data: bytes
    arrival_date: datetime
    recent: bool = False

    @property
    def tuid(self) -> str | None:
        """
        The value of its C{X-TUID} header, or C{None}.
        """
        return parse_tracking_headers(self.data).tuid

    @property
    def message_id(self) -> str | None:
        """
        The value of its C{Message-ID} header, or C{None}.
        """
        return parse_tracking_headers(self.data).message_id


class FailurePoint(enum.Enum):
    """
    When an injected failure strikes.

    @cvar BEFORE: the operation fails without any effect.
    @cvar AFTER: the operation takes effect, then fails: its result is lost,
        as when a connection drops before the server's reply arrives.
    """

    BEFORE = "before"
    AFTER = "after"


@dataclass(frozen=True, slots=True)
class _Injection:
    """
    A failure scheduled for one operation.
    """

    error: type[StoreError]
    point: FailurePoint


@dataclass(frozen=True, slots=True)
class MemoryOptions:
    """
    How a memory store behaves, imitating the store it stands in for; kept
    across L{MemoryStore.reopen}.

    @ivar line_ending: the store's line ending convention.
    @ivar uidplus: whether L{MemoryMailbox.store} reports new UIDs and
        L{MemoryMailbox.expunge} honours its UID set (like IMAP UIDPLUS);
        without it, C{store} returns C{None} and C{expunge} removes every
        deleted message (like C{CLOSE}).
    @ivar permanent_flags: the flags its boxes can keep.
    @ivar trash_moves: whether L{MemoryMailbox.trash} moves messages (IMAP
        C{MOVE}, Maildir) or copies them (IMAP C{COPY}).
    @ivar chunk_size: the largest chunk a fetched body yields.
    @ivar strict_line_endings: refuse (with L{MessageError}) to store
        messages not consistently using C{line_ending}: catches conversion
        bugs in the engine.
    """

    line_ending: LineEnding = LineEnding.LF
    uidplus: bool = True
    permanent_flags: Flags = ALL_FLAGS
    trash_moves: bool = True
    chunk_size: int = DEFAULT_CHUNK_SIZE
    strict_line_endings: bool = True

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"chunk size must be positive, not {self.chunk_size}")
        if int(self.permanent_flags) & ~int(ALL_FLAGS):
            raise ValueError(f"unknown flags {self.permanent_flags!r}")


@dataclass(slots=True)
class _Box:
    """
    One mailbox's data.
    """

    uid_validity: int
    uid_next: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)


@dataclass(slots=True)
class _Data:
    """
    Everything the memory store keeps: the equivalent of a server's or a
    Maildir tree's contents, shared by the sessions of L{MemoryStore.reopen}.
    """

    boxes: dict[BoxName, _Box] = field(default_factory=dict)
    last_uid_validity: int = 0

    def new_uid_validity(self) -> int:
        """
        A UIDVALIDITY never handed out before in this data set.
        """
        self.last_uid_validity += 1
        return self.last_uid_validity

    def ensure_box(self, name: BoxName) -> _Box:
        """
        The box of this name, created empty if missing.
        """
        box = self.boxes.get(name)
        if box is None:
            box = self.boxes[name] = _Box(uid_validity=self.new_uid_validity())
        return box


def _check_name(store: str, name: BoxName) -> None:
    """
    Refuse box names that are not canonical.

    @raise MailboxError: if C{name} is empty or has an empty component.
    """
    if not name or "" in name.split("/"):
        raise MailboxError(f"store {store}: invalid mailbox name {shown_name(name)}")


@implementer(IMessageBody)
class _MemoryBody(BytesSource):
    """
    A fetched message: its bytes in chunks, with its UID, flags and date.
    """

    def __init__(self, message: StoredMessage, chunk_size: int) -> None:
        super().__init__(message.data, chunk_size)
        self.uid = message.uid
        self.flags = message.flags
        self.arrival_date = message.arrival_date


@implementer(IStore)
class MemoryStore:
    """
    An in-memory L{IStore}. Each instance is one session (like one IMAP
    connection); L{reopen} starts another over the same data.

    @ivar name: the store's name.
    @ivar line_ending: the line ending of its messages.
    """

    def __init__(
        self,
        name: str = "memory",
        *,
        clock: IReactorTime,
        options: MemoryOptions = MemoryOptions(),
    ) -> None:
        """
        @param name: the store's name, used in error messages.
        @param clock: gives the arrival date of messages stored without one.
        @param options: how the store behaves.
        """
        self.name = name
        self.line_ending = options.line_ending
        self._clock = clock
        self._options = options
        self._data = _Data()
        self._operations: list[str] = []
        self._injections: dict[int, _Injection] = {}
        self._unavailable = False
        self._closed = False
        self._open: MemoryMailbox | None = None

    def __repr__(self) -> str:
        return f"<MemoryStore {self.name!r}>"

    # Test helpers: none of these counts as an operation or can fail by injection.

    def reopen(self) -> MemoryStore:
        """
        Start a new session over the same data, with the same options and
        no injected failures, as after a restart or a reconnection. This
        session is not affected.
        """
        store = MemoryStore(self.name, clock=self._clock, options=self._options)
        store._data = self._data
        return store

    @property
    def operations(self) -> tuple[str, ...]:
        """
        A description of every operation of this session so far, in order;
        operation number C{n} (for L{fail_operation}) is C{operations[n - 1]}.
        """
        return tuple(self._operations)

    def fail_operation(
        self,
        number: int,
        error: type[StoreError] = StoreUnavailable,
        point: FailurePoint = FailurePoint.BEFORE,
    ) -> None:
        """
        Make an operation of this session fail.

        @param number: the operation's 1-based number in this session.
        @param error: the exception class to raise: L{MessageError},
            L{MailboxError} or L{StoreUnavailable} (or a subclass
            constructed from a message alone).
        @param point: whether the operation takes effect first.
        @raise ValueError: if C{number} is below 1 or C{error} is
            L{MailboxMissing}, which needs a box name.
        """
        if number < 1:
            raise ValueError(f"operations are numbered from 1, not {number}")
        if issubclass(error, MailboxMissing):
            raise ValueError("inject MailboxError, not MailboxMissing")
        self._injections[number] = _Injection(error, point)

    def boxes(self) -> list[BoxName]:
        """
        The names of every mailbox, sorted.
        """
        return sorted(self._data.boxes)

    def messages(self, box: BoxName) -> list[StoredMessage]:
        """
        The messages of a mailbox, in UID order.

        @raise MailboxMissing: if there is no such box.
        """
        return list(self._box(box).messages.values())

    def uid_validity(self, box: BoxName) -> int:
        """
        The current UIDVALIDITY of a mailbox.

        @raise MailboxMissing: if there is no such box.
        """
        return self._box(box).uid_validity

    def seed(
        self,
        box: BoxName,
        data: bytes,
        flags: Flags = Flags.NONE,
        arrival_date: datetime | None = None,
        recent: bool = False,
    ) -> int:
        """
        Add a message directly, as another client would, creating the box if
        needed. Unlike L{MemoryMailbox.store} this accepts any line ending.

        @return: the new message's UID.
        """
        _check_name(self.name, box)
        return self._insert(self._data.ensure_box(box), data, flags, arrival_date, recent)

    def set_message_flags(self, box: BoxName, uid: int, flags: Flags) -> None:
        """
        Replace a message's flags directly, as another client would.

        @raise MailboxMissing: if there is no such box.
        @raise KeyError: if there is no such message.
        """
        messages = self._box(box).messages
        messages[uid] = replace(messages[uid], flags=flags & self._options.permanent_flags)

    def remove_message(self, box: BoxName, uid: int) -> None:
        """
        Remove a message directly, as another client expunging it would.

        @raise MailboxMissing: if there is no such box.
        @raise KeyError: if there is no such message.
        """
        del self._box(box).messages[uid]

    def renumber(self, box: BoxName) -> int:
        """
        Give a mailbox a new UIDVALIDITY and renumber its messages from 1,
        keeping their order, as a server rebuilding its index does.

        @raise MailboxMissing: if there is no such box.
        @return: the new UIDVALIDITY.
        """
        old = self._box(box)
        new = _Box(uid_validity=self._data.new_uid_validity())
        for message in old.messages.values():
            new.messages[new.uid_next] = replace(message, uid=new.uid_next)
            new.uid_next += 1
        self._data.boxes[box] = new
        return new.uid_validity

    # IStore

    def list_boxes(self) -> Deferred[list[BoxName]]:
        """
        See L{IStore.list_boxes}; sorted.
        """

        async def action() -> list[BoxName]:
            return self.boxes()

        return self._operation("list_boxes", action)

    def open_box(
        self, name: BoxName, create: bool = False, read_only: bool = False
    ) -> Deferred[IMailbox]:
        """
        See L{IStore.open_box}.

        @raise RuntimeError: if a mailbox is open already.
        @raise ValueError: if both C{create} and C{read_only} are given.
        """
        if self._open is not None:
            raise RuntimeError(f"store {self.name}: {self._open.name} is still open")
        if create and read_only:
            raise ValueError(f"store {self.name}: cannot create {name} read-only")

        async def action() -> MemoryMailbox:
            _check_name(self.name, name)
            box = self._data.ensure_box(name) if create else self._box(name)
            return MemoryMailbox(self, name, box, read_only=read_only)

        return Deferred.fromCoroutine(self._register(self._operation(f"open_box {name}", action)))

    async def _register(self, opening: Deferred[MemoryMailbox]) -> IMailbox:
        """
        Make a mailbox this session's open one once its opening succeeded,
        so that a failed open (even one failing after its effect) leaves
        none open.
        """
        mailbox = await opening
        self._open = mailbox
        return mailbox

    def create_box(self, name: BoxName) -> Deferred[None]:
        """
        See L{IStore.create_box}.
        """

        async def action() -> None:
            _check_name(self.name, name)
            self._data.ensure_box(name)

        return self._operation(f"create_box {name}", action)

    def delete_box(self, name: BoxName) -> Deferred[None]:
        """
        See L{IStore.delete_box}.

        @raise RuntimeError: if the box is open in this session.
        """
        if self._open is not None and self._open.name == name:
            raise RuntimeError(f"store {self.name}: cannot delete the open mailbox {name}")

        async def action() -> None:
            self._box(name)
            if name == INBOX:
                raise MailboxError(f"store {self.name}: cannot delete {INBOX}")
            del self._data.boxes[name]

        return self._operation(f"delete_box {name}", action)

    def append(
        self,
        name: BoxName,
        message: IMessageSource,
        flags: Flags,
        arrival_date: datetime | None = None,
    ) -> Deferred[None]:
        """
        See L{IStore.append}.
        """

        async def action() -> None:
            _check_name(self.name, name)
            data = await self._read(message)
            self._insert(self._data.ensure_box(name), data, flags, arrival_date)

        return self._operation(f"append {name}", action)

    def close(self) -> Deferred[None]:
        """
        See L{IStore.close}: closes the open mailbox, always succeeds, and
        is not a numbered operation.
        """
        if self._open is not None:
            self._open._closed = True
            self._open = None
        self._closed = True
        return succeed(None)

    # Machinery shared with MemoryMailbox.

    def _box(self, name: BoxName) -> _Box:
        """
        The data of an existing box.

        @raise MailboxMissing: if there is none.
        """
        box = self._data.boxes.get(name)
        if box is None:
            raise MailboxMissing(self.name, name)
        return box

    def _operation(
        self, description: str, action: Callable[[], Coroutine[Any, Any, _T]]
    ) -> Deferred[_T]:
        """
        Number and log an operation now, and run it with any failure
        injected for its number.

        @raise RuntimeError: if this session was closed.
        """
        if self._closed:
            raise RuntimeError(f"store {self.name} is closed")
        self._operations.append(description)
        injection = self._injections.pop(len(self._operations), None)

        async def perform() -> _T:
            if self._unavailable:
                raise StoreUnavailable(
                    f"store {self.name}: connection lost before {description}", store=self.name
                )
            if injection is not None and injection.point is FailurePoint.BEFORE:
                raise self._injected(description, injection)
            result = await action()
            if injection is not None:
                raise self._injected(description, injection)
            return result

        return Deferred.fromCoroutine(perform())

    def _injected(self, description: str, injection: _Injection) -> StoreError:
        """
        The exception for an injected failure; a L{StoreUnavailable} makes
        the session unusable.
        """
        if issubclass(injection.error, StoreUnavailable):
            self._unavailable = True
        number = len(self._operations)
        return injection.error(
            f"store {self.name}: injected failure {injection.point.value} "
            f"operation {number} ({description})"
        )

    async def _read(self, message: IMessageSource) -> bytes:
        """
        Read a message source whole, checking it against the store's
        conventions.

        @raise ValueError: if it yields other than C{message.size} bytes.
        @raise MessageError: if its line endings are wrong.
        """
        chunks = [chunk async for chunk in message.chunks()]
        data = b"".join(chunks)
        if len(data) != message.size:
            raise ValueError(f"message source announced {message.size} bytes, gave {len(data)}")
        if self._options.strict_line_endings and not _uses(data, self.line_ending):
            raise MessageError(
                f"store {self.name} refuses to store message: line endings are not "
                f"{self.line_ending.name}"
            )
        return data

    def _insert(
        self,
        box: _Box,
        data: bytes,
        flags: Flags,
        arrival_date: datetime | None,
        recent: bool = False,
    ) -> int:
        """
        Add a message to a box under the next UID.

        @raise ValueError: if C{arrival_date} is naive.
        @return: the message's UID.
        """
        if arrival_date is None:
            arrival_date = datetime.fromtimestamp(self._clock.seconds(), UTC)
        elif arrival_date.tzinfo is None:
            raise ValueError("arrival dates must be timezone-aware")
        uid = box.uid_next
        box.uid_next += 1
        box.messages[uid] = StoredMessage(
            uid=uid,
            flags=flags & self._options.permanent_flags,
            data=data,
            arrival_date=arrival_date,
            recent=recent,
        )
        return uid


def _uses(data: bytes, line_ending: LineEnding) -> bool:
    """
    Whether every line break in C{data} is C{line_ending}.
    """
    if line_ending is LineEnding.CRLF:
        pairs = data.count(b"\r\n")
        return pairs == data.count(b"\n") == data.count(b"\r")
    return b"\r\n" not in data


@implementer(IMailbox)
class MemoryMailbox:
    """
    A mailbox of a L{MemoryStore}, opened by L{MemoryStore.open_box}.

    @ivar name: the mailbox's name.
    @ivar uid_validity: its UIDVALIDITY when opened.
    @ivar uid_next: its UIDNEXT when opened.
    @ivar permanent_flags: the flags it can keep.
    @ivar read_only: opened read-only: mutating calls raise C{RuntimeError}.
    """

    def __init__(
        self, store: MemoryStore, name: BoxName, box: _Box, *, read_only: bool = False
    ) -> None:
        self._store = store
        self._data = box
        self._closed = False
        self.read_only = read_only
        self.name = name
        self.uid_validity = box.uid_validity
        self.uid_next = box.uid_next
        self.permanent_flags = store._options.permanent_flags

    def __repr__(self) -> str:
        return f"<MemoryMailbox {self._store.name}:{self.name}>"

    def load(self, request: LoadRequest) -> Deferred[MessageListing]:
        """
        See L{IMailbox.load}.
        """

        async def action() -> MessageListing:
            messages = self._box().messages
            uids = list(messages)
            if any(map(operator.ge, uids, uids[1:])):
                uids.sort()
            return MessageListing.of(
                _info(messages[uid], request) for uid in uids if request.selects(uid)
            )

        return self._operation("load", action)

    def fetch(self, uid: int) -> Deferred[IMessageBody]:
        """
        See L{IMailbox.fetch}.
        """

        async def action() -> IMessageBody:
            message = self._box().messages.get(uid)
            if message is None:
                raise MessageError(
                    f"store {self._store.name}: mailbox {self.name} has no UID {uid}"
                )
            return _MemoryBody(message, self._store._options.chunk_size)

        return self._operation(f"fetch {uid}", action)

    def store(
        self,
        message: IMessageSource,
        flags: Flags,
        arrival_date: datetime | None = None,
    ) -> Deferred[int | None]:
        """
        See L{IMailbox.store}.
        """
        self._writable("store")

        async def action() -> int | None:
            data = await self._store._read(message)
            uid = self._store._insert(self._box(), data, flags, arrival_date)
            return uid if self._store._options.uidplus else None

        return self._operation("store", action)

    def find_by_tuid(self, tuids: Collection[str], min_uid: int) -> Deferred[dict[str, int]]:
        """
        See L{IMailbox.find_by_tuid}.
        """
        wanted = frozenset(tuids)

        async def action() -> dict[str, int]:
            found: dict[str, int] = {}
            for uid, message in self._box().messages.items():
                tuid = message.tuid if uid >= min_uid else None
                if tuid is not None and tuid in wanted and tuid not in found:
                    found[tuid] = uid
            return found

        return self._operation(f"find_by_tuid {min_uid}:*", action)

    def set_flags(self, changes: Sequence[FlagChange]) -> Deferred[None]:
        """
        See L{IMailbox.set_flags}.
        """
        self._writable("set flags")
        changes = tuple(changes)

        async def action() -> None:
            messages = self._box().messages
            for change in changes:
                message = messages.get(change.uid)
                if message is not None:
                    flags = (message.flags | change.add) & ~change.remove & self.permanent_flags
                    messages[change.uid] = replace(message, flags=flags)

        return self._operation("set_flags", action)

    def trash(self, uids: Collection[int], trash_box: BoxName) -> Deferred[list[int]]:
        """
        See L{IMailbox.trash}; moves or copies as the store's C{trash_moves}
        option says.
        """
        self._writable("trash")
        selected = sorted(set(uids))

        async def action() -> list[int]:
            # Into this very box too (IMAP UID MOVE/COPY into the selected
            # mailbox, as mbsync 1.4.4): the copy is a new message. As the
            # IMAP store, not without UIDPLUS (the expunge would take it).
            if trash_box == self.name and not self._store._options.uidplus:
                raise MailboxError(
                    f"store {self._store.name}: {self.name}: cannot trash messages into the "
                    "box itself without UIDPLUS (the expunge would remove the copies too)"
                )
            _check_name(self._store.name, trash_box)
            messages = self._box().messages
            present = [uid for uid in selected if uid in messages]
            target = self._store._data.ensure_box(trash_box)
            for uid in present:
                message = messages[uid]
                self._store._insert(target, message.data, message.flags, message.arrival_date)
                if self._store._options.trash_moves:
                    del messages[uid]
            return present

        return self._operation(f"trash into {trash_box}", action)

    @property
    def expunges_by_uid(self) -> bool:
        """
        Whether L{expunge} removes only the UIDs it is given (UIDPLUS).
        """
        return self._store._options.uidplus

    def expunge(self, uids: Collection[int] | None = None) -> Deferred[list[int]]:
        """
        See L{IMailbox.expunge}; without UIDPLUS every deleted message goes.
        """
        self._writable("expunge")
        selected = None if uids is None or not self._store._options.uidplus else frozenset(uids)

        async def action() -> list[int]:
            messages = self._box().messages
            gone = [
                uid
                for uid, message in messages.items()
                if message.flags & Flags.DELETED and (selected is None or uid in selected)
            ]
            for uid in gone:
                del messages[uid]
            return gone

        return self._operation("expunge", action)

    def close(self) -> Deferred[None]:
        """
        See L{IMailbox.close}: the mailbox is closed even if the operation
        fails by injection.
        """

        async def action() -> None:
            pass

        closing = self._operation("close", action)
        self._closed = True
        if self._store._open is self:
            self._store._open = None
        return closing

    def _writable(self, what: str) -> None:
        """
        @raise RuntimeError: the mailbox is read-only.
        """
        if self.read_only:
            raise RuntimeError(
                f"mailbox {self._store.name}:{self.name} is read-only: cannot {what}"
            )

    def _operation(
        self, description: str, action: Callable[[], Coroutine[Any, Any, _T]]
    ) -> Deferred[_T]:
        """
        Run an operation of this mailbox as one of the store's session.

        @raise RuntimeError: if this mailbox or its store was closed.
        """
        if self._closed:
            raise RuntimeError(f"mailbox {self._store.name}:{self.name} is closed")
        return self._store._operation(f"{self.name}: {description}", action)

    def _box(self) -> _Box:
        """
        This mailbox's data.

        @raise MailboxError: if the box was deleted or renumbered meanwhile.
        """
        if self._store._data.boxes.get(self.name) is not self._data:
            raise MailboxError(
                f"store {self._store.name}: mailbox {self.name} vanished or changed UIDVALIDITY"
            )
        return self._data


def _info(message: StoredMessage, request: LoadRequest) -> MessageInfo:
    """
    What a load reports about a selected message.
    """
    uid = message.uid
    headers = parse_tracking_headers(message.data) if request.wants_headers(uid) else None
    return MessageInfo(
        uid=uid,
        flags=message.flags,
        recent=message.recent,
        size=len(message.data) if request.wants_size(uid) else None,
        tuid=headers.tuid if headers is not None and request.wants_tuid(uid) else None,
        message_id=(
            headers.message_id if headers is not None and request.wants_message_id(uid) else None
        ),
        arrival_date=message.arrival_date if request.wants_arrival_date(uid) else None,
    )
