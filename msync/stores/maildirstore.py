# -*- test-case-name: tests.stores.test_maildirstore,tests.integration.test_maildirstore_mbsync -*-
"""
The Maildir store: L{IStore} over a C{MaildirStore} section, behaving like
mbsync 1.4's Maildir driver on disk, so that mbsync and msync can take
turns on one tree.

Invariants:
  - File names, C{new/} versus C{cur/} placement, C{.uidvalidity} contents
    and locking are mbsync's (see L{msync.stores.maildirnames} and
    L{msync.stores.maildiruids}); the box's C{.uidvalidity} lock is held
    from C{open_box} until the mailbox or store is closed.
  - Every message file in C{new/} and C{cur/} (names not starting with
    C{.}) carries a unique C{,U=} at most the recorded last UID once a scan
    is done; foreign files are numbered in mbsync's order and renamed in
    place, stray UIDs (duplicates, beyond the last assigned) are repaired
    with a warning instead of killing the box as mbsync does.
  - A box exists iff its C{cur/} does; box names are mapped to paths only
    through L{msync.stores.maildirnames.box_path}, which refuses names
    escaping C{Path}/C{Inbox}.
  - Operations run one at a time in call order; file I/O is synchronous,
    waits (the race guard, lock contention) use the injected clock.
  - Messages are never held whole in memory; files are deleted only by
    C{expunge} (flagged C{T}), C{delete_box} and stale C{tmp/} cleanup.
  - A box opened read-only (C{--dry-run}) is never written: no directory,
    lock, C{.uidvalidity}, rename or cleanup (see L{MaildirMailbox}).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import socket
from collections.abc import Callable, Coroutine, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.internet.interfaces import IReactorThreads, IReactorTime
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from msync.config import schema
from msync.errors import MailboxError, MailboxMissing, shown_name
from msync.model import (
    ALL_BITS,
    INBOX,
    BoxName,
    Flags,
    LineEnding,
)
from msync.stores.interface import (
    IBoxFingerprints,
    IMailbox,
    IMessageSource,
    IStore,
    IUnlistedOpen,
)
from msync.stores.maildirbox import MaildirMailbox, nothing, scan_fingerprint
from msync.stores.maildirfiles import (
    WHOLE_IN_THREAD,
    Delivery,
    InThread,
    clear_stale_tmp,
    deliver,
    held_delivery,
    is_box,
    list_boxes,
    make_box,
    remove_box,
    write_batch,
)
from msync.stores.maildirnames import (
    MaildirLayout,
    SubFolderStyle,
    box_path,
    info_suffix,
    new_subdir,
    short_hostname,
)
from msync.stores.maildiruids import Pairing, UIDValidityFile

log = Logger()

_T = TypeVar("_T")

_STYLES = {
    None: SubFolderStyle.UNSET,
    schema.SubFolders.VERBATIM: SubFolderStyle.VERBATIM,
    schema.SubFolders.MAILDIRPP: SubFolderStyle.MAILDIRPP,
    schema.SubFolders.LEGACY: SubFolderStyle.LEGACY,
}

# mbsync numbers the files it names per process (<pid>_<n>); so do we, so
# that two stores of one process never pick the same name in one second.
_names_made = itertools.count(1)


#: At most this many messages are written by one job of the worker threads
#: (L{write_batch}), and at most L{BATCHES_AT_ONCE} such jobs run at once.
BATCH_SIZE = 32
BATCHES_AT_ONCE = 2


class BatchWriter:
    """
    Writes the messages handed to it in batches, each batch one job of a
    worker thread (L{write_batch}): the messages handed over while the
    threads are busy go together in the next batch, so the reactor and the
    threads hand work to each other once per batch, not once per message,
    and one sync of the file system can carry a batch's files.

    Invariant: a message's Deferred fires only once its file is in place
    (and synced, with FSync); batches start in the order messages were
    handed over; a batch's Deferreds fire last to first, so whoever waits
    for the first finds the rest done.
    """

    def __init__(
        self,
        in_thread: Callable[[Callable[[], list[int | BaseException]]], Deferred[Any]],
        size: int = BATCH_SIZE,
        at_once: int = BATCHES_AT_ONCE,
    ) -> None:
        self._in_thread = in_thread
        self._size = size
        self._at_once = at_once
        self._queue: list[tuple[Delivery, Written]] = []
        self._running = 0
        self._holding = 0

    def deliver(self, delivery: Delivery) -> Deferred[int]:
        """
        Write C{delivery} in a coming batch.

        @return: fires with the modification time (ns) of its directory
            after it went there, or fails with its error.
        """
        done: Deferred[int] = Deferred()
        self.deliver_to(delivery, functools.partial(_fire, done))
        return done

    def deliver_to(self, delivery: Delivery, done: Written) -> None:
        """
        L{deliver} without a Deferred: C{done} is called with the
        modification time (ns) of its directory, or with its error (an
        exception, or the L{Failure} of the whole job).
        """
        self._queue.append((delivery, done))
        self._start()

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """
        Hold the messages handed over within the block and start their
        jobs at its end: stored one after another in one turn of the
        reactor (a copy run's batch), they go in full batches, not the
        first alone because a worker happened to be free.
        """
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            self._start()

    def _start(self) -> None:
        if self._holding:
            return
        while self._queue and self._running < self._at_once:
            batch, self._queue = self._queue[: self._size], self._queue[self._size :]
            self._running += 1
            job = self._in_thread(functools.partial(write_batch, [each for each, _ in batch]))
            job.addBoth(self._finished, [done for _, done in batch])

    def _finished(
        self, results: list[int | BaseException] | Failure, waiting: list[Written]
    ) -> None:
        self._running -= 1
        try:
            # Last to first: a caller waiting for them in order (the
            # engine) resumes once, with the whole batch there, and can
            # journal it in one write.
            for index in reversed(range(len(waiting))):
                waiting[index](results if isinstance(results, Failure) else results[index])
        finally:
            self._start()


#: Told a batch writer's result for one message: the modification time
#: (ns) of its directory, its error, or the L{Failure} of the whole job.
Written = Callable[[int | BaseException | Failure], None]


def _fire(done: Deferred[int], result: int | BaseException | Failure) -> None:
    """
    Fire C{done} with a batch writer's result for one message.
    """
    if isinstance(result, int):
        done.callback(result)
    else:
        done.errback(result if isinstance(result, Failure) else Failure(result))


def layout_of(config: schema.MaildirStore) -> MaildirLayout:
    """
    The folder layout of a C{MaildirStore} section.
    """
    return MaildirLayout(
        store=config.name,
        path=config.path,
        inbox=config.inbox.rstrip("/") or "/",
        style=_STYLES[config.subfolders],
        flatten=config.flatten,
        map_inbox=config.map_inbox,
    )


@implementer(IStore, IBoxFingerprints, IUnlistedOpen)
class MaildirStore:
    """
    A Maildir store (one C{MaildirStore} section).

    @ivar name: the store's name.
    @ivar line_ending: L{LineEnding.LF}.
    @ivar layout: where its boxes live.
    """

    line_ending = LineEnding.LF

    def __init__(
        self,
        config: schema.MaildirStore,
        *,
        fsync: bool,
        clock: IReactorTime,
        hostname: str | None = None,
        pid: int | None = None,
        asynchronous: bool = False,
        mtime_wait: bool = True,
        isync15: bool = False,
    ) -> None:
        """
        @param config: the store's section.
        @param fsync: the global C{FSync}: sync message files and
            C{.uidvalidity} to disk before renaming or relying on them.
        @param clock: the time for new file names, UIDVALIDITYs, stale
            C{tmp/} files, and for waiting.
        @param hostname: the host part of new file names (default: this
            host's name); mbsync keeps it up to the first C{.}.
        @param pid: the process part of new file names (default: ours).
        @param asynchronous: mbsync's C{-Ta} test switch: every operation
            answers later, from the event loop, not in the call that asked.
        @param mtime_wait: C{False} for mbsync's C{-Tz} test switch: never
            sleep a second after a recent directory modification.
        @param isync15: word notices as isync 1.5 does (it names the box's
            directory in C{no UIDVALIDITY in ..., creating new.}).
        """
        self.name = config.name
        self.layout = layout_of(config)
        self._delimiter = config.info_delimiter
        self._fsync = fsync
        self._clock = clock
        self._hostname = socket.gethostname() if hostname is None else hostname
        self._pid = os.getpid() if pid is None else pid
        self._short_host = short_hostname(self._hostname)
        # Per flag combination: the subdirectory and the name's info part.
        self._places: dict[int, tuple[str, str]] = {}
        self._serial = DeferredLock()
        # With a real reactor, a message file is created, written, synced
        # and renamed in its thread pool: the reactor keeps reading the
        # network, and the deliveries of messages stored one after another
        # overlap. A bare clock (tests): inline.
        self.in_thread: InThread | None = None
        self._batches: BatchWriter | None = None
        if IReactorThreads.providedBy(clock):
            threads: Any = clock

            def in_thread(work: Callable[[], Any]) -> Deferred[Any]:
                return deferToThreadPool(threads, threads.getThreadPool(), work)

            self.in_thread = in_thread
            self._batches = BatchWriter(in_thread)
        self._open: MaildirMailbox | None = None
        self._closed = False
        self._pairings: dict[BoxName, Pairing] = {}
        self._asynchronous = asynchronous
        self.mtime_wait = mtime_wait
        self.isync15 = isync15

    def __repr__(self) -> str:
        return f"<MaildirStore {self.name!r}>"

    def expect_pairing(self, box: BoxName, paired: Pairing | None) -> None:
        """
        Say which UIDs of a box the sync state pairs with a message of the
        other side, before the box is opened for synchronizing: the UID
        trap repair (L{plan_uids}) renumbers only stray UIDs no paired
        message depends on, and refuses the box where in doubt.

        @param box: the box's canonical name.
        @param paired: the state's answer (C{True} when it cannot be known),
            or C{None} to forget it (every UID then counts as paired: the
            safe answer).
        """
        if paired is None:
            self._pairings.pop(box, None)
        else:
            self._pairings[box] = paired

    def pairing_of(self, box: BoxName) -> Pairing | None:
        """
        The pairing given by L{expect_pairing} for a box, if any.
        """
        return self._pairings.get(box)

    # IStore

    def list_boxes(self) -> Deferred[list[BoxName]]:
        """
        See L{IStore.list_boxes}; sorted. Fails with L{MailboxError} where
        mbsync's listing fails (see L{msync.stores.maildirfiles.list_boxes}).
        """

        async def action() -> list[BoxName]:
            return list_boxes(self.layout)

        return self._run(action)

    def open_box_unlisted(self, name: BoxName) -> Deferred[IMailbox]:
        """
        See L{IUnlistedOpen.open_box_unlisted}: L{open_box} without the
        scan (a box whose C{.uidvalidity} is empty is scanned as usual).
        """
        return self.open_box(name, listed=False)

    def open_box(
        self, name: BoxName, create: bool = False, read_only: bool = False, listed: bool = True
    ) -> Deferred[IMailbox]:
        """
        See L{IStore.open_box}: validate the box (creating it, or its
        missing C{new/} and C{tmp/}), remove stale C{tmp/} files, lock and
        read C{.uidvalidity}, and scan the box. INBOX is always created
        when missing, as mbsync does.

        C{read_only} does none of the writing: no directory is made, no
        stale file removed, no lock taken, C{.uidvalidity} is only read (a
        missing INBOX opens empty, as a real open would create it); files
        to number get provisional UIDs (see L{MaildirMailbox}).

        @raise RuntimeError: if a mailbox is open already.
        @raise ValueError: if both C{create} and C{read_only} are given.
        """
        if self._open is not None:
            raise RuntimeError(f"store {self.name}: {self._open.name} is still open")
        if create and read_only:
            raise ValueError(f"store {self.name}: cannot create {name} read-only")

        async def action() -> IMailbox:
            path = self.path_of(name)
            # mbsync maildir_open_box validates INBOX with create=is_inbox:
            # the Maildir INBOX is made whatever Create says.
            if not create and name != INBOX and not is_box(path):
                raise MailboxMissing(self.name, name)
            if read_only:
                mailbox = MaildirMailbox(self, name, path, None, set())
                await mailbox._start()
                self._open = mailbox
                return mailbox
            created = make_box(path)
            clear_stale_tmp(path, self._clock.seconds())
            uids = await UIDValidityFile.lock(
                os.path.join(path, ".uidvalidity"), fsync=self._fsync, clock=self._clock
            )
            try:
                mailbox = MaildirMailbox(self, name, path, uids, created)
                await mailbox._start(listed=listed)
            except BaseException:
                uids.close()
                raise
            self._open = mailbox
            return mailbox

        return self._run(action)

    def create_box(self, name: BoxName) -> Deferred[None]:
        """
        See L{IStore.create_box}: make the box's directory (missing parents
        as plain directories) and its C{cur/}, C{new/}, C{tmp/}.
        """

        async def action() -> None:
            make_box(self.path_of(name))

        return self._run(action)

    def delete_box(self, name: BoxName) -> Deferred[None]:
        """
        See L{IStore.delete_box}: as mbsync, remove C{tmp/}, C{new/},
        C{cur/} (last) with their files, then C{.uidvalidity}, then the
        directory if nothing else is left in it (subfolders are kept).

        @raise RuntimeError: if the box is open.
        """
        if self._open is not None and self._open.name == name:
            raise RuntimeError(f"store {self.name}: cannot delete the open mailbox {name}")

        async def action() -> None:
            path = self.path_of(name)
            if os.path.normpath(path) == os.path.normpath(self.layout.inbox):
                raise MailboxError(f"store {self.name}: cannot delete {INBOX}")
            if not is_box(path):
                raise MailboxMissing(self.name, name)
            remove_box(path)

        return self._run(action)

    def append(
        self,
        name: BoxName,
        message: IMessageSource,
        flags: Flags,
        arrival_date: datetime | None = None,
    ) -> Deferred[None]:
        """
        See L{IStore.append}: as mbsync stores into Trash, the file gets no
        C{,U=} (the box's next scan numbers it) and no lock is taken.
        """

        async def action() -> None:
            if self._open is not None and self._open.name == name:
                await self._open._put(message, flags, arrival_date)
                return
            path = self.path_of(name)
            make_box(path)
            await self.deliver(path, name, None, message, flags, arrival_date)

        return self._run(action)

    def close(self) -> Deferred[None]:
        """
        See L{IStore.close}: release the open mailbox's lock; never fails.
        """
        if self._open is not None:
            self._open._release()
        self._closed = True
        return Deferred.fromCoroutine(nothing())

    # Shared with MaildirMailbox.

    def box_fingerprint(self, name: BoxName, known: bytes | None = None) -> Deferred[bytes | None]:
        """
        See L{IBoxFingerprints.box_fingerprint}: the names in the box's
        C{new/} and C{cur/}, or only the directories' times
        (L{scan_fingerprint}).
        """
        try:
            path = self.path_of(name)
        except MailboxError:
            return succeed(None)
        return succeed(scan_fingerprint(path, known, self._clock.seconds()))

    def prefetch_fingerprints(self, names: Sequence[BoxName]) -> None:
        """
        See L{IBoxFingerprints.prefetch_fingerprints}: nothing to start (a
        listing is read when it is asked for, so it is as fresh as can be).
        """

    def path_of(self, name: BoxName) -> str:
        """
        The directory of a box.

        @raise MailboxError: the name is unsafe or impossible in this layout.
        """
        return box_path(self.layout, name)

    def fresh_base(self) -> tuple[int, int, int, str]:
        """
        The time, pid, per-process counter and host of a new file name.
        """
        return int(self._clock.seconds()), self._pid, next(_names_made), self._hostname

    def _placement(self, uid: int | None, flags: Flags) -> tuple[str, str]:
        """
        The subdirectory (C{cur} if seen, else C{new}) and mbsync's file
        name for a new message with C{flags} (those a Maildir name holds)
        and C{uid}: L{new_subdir} and L{new_name}, their parts that depend
        on the flags made once per flag combination.
        """
        bits = int(flags) & ALL_BITS
        place = self._places.get(bits)
        if place is None:
            shown = Flags(bits)
            place = self._places[bits] = (new_subdir(shown), info_suffix(shown, self._delimiter))
        subdir, suffix = place
        stamp = int(self._clock.seconds())
        counter = next(_names_made)
        if uid is None:
            return subdir, f"{stamp}.{self._pid}_{counter}.{self._short_host}{suffix}"
        return subdir, f"{stamp}.{self._pid}_{counter}.{self._short_host},U={uid}{suffix}"

    async def deliver(
        self,
        path: str,
        box: BoxName,
        uid: int | None,
        message: IMessageSource,
        flags: Flags,
        arrival_date: datetime | None,
        before: Callable[[], None] | None = None,
    ) -> tuple[str, str, int]:
        """
        Write a message into the box at C{path} under mbsync's name for it,
        in C{cur/} if seen, else in C{new/}.

        @param before: a blocking step to take just before the file is
            created, where it is created (see L{deliver}).

        @return: its subdirectory and name, and the subdirectory's
            modification time (ns) just after.
        """
        subdir, name = self._placement(uid, flags)
        mtime = await deliver(
            path,
            name,
            subdir,
            message,
            fsync=self._fsync,
            arrival_date=arrival_date,
            describe=lambda: f"store {self.name}, box {shown_name(box)}",
            in_thread=self.in_thread,
            batch=None if self._batches is None else self._batches.deliver,
            before=before,
        )
        return subdir, name, mtime

    def delivers_now(self, size: int) -> bool:
        """
        Whether a message of C{size} bytes held in memory may be stored
        with L{deliver_now}: the store writes in batches, no operation is
        running or waiting (so running now is running in call order), and
        not under C{-Ta}.
        """
        return (
            self._batches is not None
            and size <= WHOLE_IN_THREAD
            and not self._serial.locked
            and not self._asynchronous
            and not self._closed
        )

    def deliver_now(
        self,
        path: str,
        box: BoxName,
        uid: int,
        chunks: list[bytes],
        size: int,
        flags: Flags,
        arrival_date: datetime | None,
        before: Callable[[], None] | None,
        done: Callable[[str, str, int | BaseException | Failure], None],
    ) -> None:
        """
        L{deliver} for a message held in memory as C{chunks}, handed to the
        batch writer in this call (see L{delivers_now}): C{done} is called
        with its subdirectory, its name and the batch writer's result for
        it (L{Written}).

        @raise MessageError: the chunks are not the C{size} bytes announced.
        """
        assert self._batches is not None
        subdir, name = self._placement(uid, flags)
        delivery = held_delivery(
            path,
            name,
            subdir,
            chunks,
            size,
            fsync=self._fsync,
            arrival_date=arrival_date,
            describe=lambda: f"store {self.name}, box {shown_name(box)}",
            before=before,
        )
        self._batches.deliver_to(delivery, functools.partial(done, subdir, name))

    def stores_together(self) -> contextlib.AbstractContextManager[None]:
        """
        Messages stored within the block are written in batches started at
        its end (L{BatchWriter.together}); without a batch writer, nothing
        changes.
        """
        if self._batches is None:
            return contextlib.nullcontext()
        return self._batches.together()

    @property
    def copies_in_flight(self) -> int:
        """
        How many copies into this store a sync should keep under way: with
        a batch writer, enough for its batches to fill; else the engine's
        default (8).
        """
        return BATCH_SIZE if self._batches is not None else 8

    def _run(self, action: Callable[[], Coroutine[Any, Any, _T]]) -> Deferred[_T]:
        """
        Run an operation after those called before it.

        @raise RuntimeError: if the store was closed.
        """
        if self._closed:
            raise RuntimeError(f"store {self.name} is closed")

        async def serially() -> _T:
            try:
                async with self._serial:
                    return await action()
            finally:
                if self._asynchronous:
                    # -Ta: the answer comes from a later turn of the loop.
                    await deferLater(self._clock, 0, lambda: None)

        return Deferred.fromCoroutine(serially())
