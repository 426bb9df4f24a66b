# -*- test-case-name: tests.stores.test_maildirstore -*-
"""
File-level operations of the Maildir store, as mbsync 1.4 performs them:
making and validating box directories, listing a store's folders,
clearing stale C{tmp/} files, writing a message through C{tmp/}, reading
header fields and streaming bodies.

Invariants:
  - Nothing here keeps a message in memory: headers are read line by line
    up to the blank line, bodies are read in bounded chunks.
  - A message becomes visible in C{new/} or C{cur/} only by one C{rename}
    of a complete (and, with FSync, synced) file from C{tmp/}; on any
    failure the C{tmp/} file is removed and nothing else changed.
  - Nothing here deletes a message file except L{remove_box} (whose box
    the caller confirmed may go) and L{clear_stale_tmp} (C{tmp/} only).
  - C{OSError}s are turned into L{MailboxError}s naming the file.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.logger import Logger
from zope.interface import implementer

from msync.errors import LayoutError, MailboxError, MessageError, shown_name
from msync.model import BoxName, Flags, TrackingHeaders, parse_tracking_headers
from msync.records import mutable_record
from msync.stores.interface import DEFAULT_CHUNK_SIZE, IMessageBody, IMessageSource
from msync.stores.maildirnames import MaildirLayout, SubFolderStyle, box_name_for_entry
from msync.stores.maildiruids import sync_fd

log = Logger()

SUBDIRS = ("cur", "new", "tmp")
"""
The subdirectories of a Maildir box; C{cur} marks that the box exists.
"""

STALE_TMP_SECONDS = 24 * 60 * 60
"""
Age (of the inode change time) at which mbsync removes C{tmp/} files.
"""

MAX_LIST_DEPTH = 10
"""
mbsync 1.4.3+ refuses to list a directory this many levels below Path
(C{path ... is too deeply nested. Symlink loop?}).
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEADER_LINE_LIMIT = 64 * 1024
_KEPT_HEADER_LIMIT = 64 * 1024
_TRACKED = (b"x-tuid", b"message-id")


def shown(path: str) -> str:
    """
    A file name fit for messages even when it is not valid UTF-8 or holds
    terminal controls (L{shown_name}).
    """
    return shown_name(os.fsencode(path))


def os_failure(what: str, path: str, error: OSError) -> MailboxError:
    """
    The error for a failed file operation, in mbsync's words.
    """
    return MailboxError(f"Maildir error: cannot {what} {shown(path)}: {error.strerror}")


def date_from_ns(nanoseconds: int) -> datetime:
    """
    The timezone-aware date of a file time in nanoseconds, to the
    microsecond.
    """
    return _EPOCH + timedelta(microseconds=nanoseconds // 1000)


def ns_from_date(date: datetime) -> int:
    """
    The file time in nanoseconds of a timezone-aware date.

    @raise ValueError: the date is naive.
    """
    if date.tzinfo is None:
        raise ValueError("arrival dates must be timezone-aware")
    return (date - _EPOCH) // timedelta(microseconds=1) * 1000


# Box directories.


def is_box(path: str) -> bool:
    """
    Whether a box exists at C{path}: it has a C{cur/} directory.
    """
    return os.path.isdir(os.path.join(path, "cur"))


def _make_directories(path: str) -> None:
    """
    Create C{path} and its missing parents, each mode 0700 as mbsync does
    (C{os.makedirs} would give the parents the umask's default, 0755).
    """
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise


def make_box(path: str) -> set[str]:
    """
    Create the box at C{path} (missing parents as plain directories) and
    whichever of C{cur/}, C{new/}, C{tmp/} it lacks, all mode 0700 as
    mbsync (verified with mbsync 1.4.4: a new C{x/y/z} gets C{x} and C{x/y}
    0700 too).

    @return: the subdirectories created now.
    @raise MailboxError: a directory cannot be created, or C{cur} exists
        but is no directory (C{'...' is no valid mailbox}).
    """
    try:
        _make_directories(path)
    except OSError as error:
        raise MailboxError(
            f"Maildir error: cannot create mailbox '{shown(path)}': {error.strerror}"
        ) from error
    created = set()
    for subdir in SUBDIRS:
        target = os.path.join(path, subdir)
        try:
            os.mkdir(target, 0o700)
        except FileExistsError:
            if not os.path.isdir(target):
                raise MailboxError(f"Maildir error: '{shown(path)}' is no valid mailbox") from None
        except OSError as error:
            raise os_failure("create directory", target, error) from error
        else:
            created.add(subdir)
    return created


def clear_stale_tmp(path: str, now: float) -> None:
    """
    Remove the files of C{path/tmp} whose inode changed at least
    L{STALE_TMP_SECONDS} ago, with mbsync's notice.

    @raise MailboxError: C{tmp/} cannot be listed or a file not removed.
    """
    tmp = os.path.join(path, "tmp")
    try:
        with os.scandir(tmp) as entries:
            stale = [
                entry.path
                for entry in entries
                if entry.is_file(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_ctime + STALE_TMP_SECONDS <= now
            ]
    except OSError as error:
        raise os_failure("list", tmp, error) from error
    for victim in sorted(stale):
        log.info("Maildir notice: removing stale file {path}", path=shown(victim))
        try:
            os.unlink(victim)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise os_failure("remove", victim, error) from error


def remove_box(path: str) -> None:
    """
    Delete a box as mbsync does: the files of C{tmp/}, C{new/} and C{cur/}
    (C{cur} last, so an interrupted deletion leaves a box that still
    exists), then C{.uidvalidity}, then the directory itself unless it
    holds anything else (subfolders are kept, with mbsync's warning).

    @raise MailboxError: something inside the box cannot be removed.
    """
    for subdir in ("tmp", "new", "cur"):
        directory = os.path.join(path, subdir)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise os_failure("list", directory, error) from error
        for name in names:
            _remove(os.path.join(directory, name))
        try:
            os.rmdir(directory)
        except OSError as error:
            raise MailboxError(
                f"Maildir error: cannot remove '{shown(directory)}': {error.strerror}"
            ) from error
    for name in (".uidvalidity", ".isyncuidmap.db"):
        target = os.path.join(path, name)
        if os.path.lexists(target):
            _remove(target)
    try:
        os.rmdir(path)
    except OSError:
        log.warn("Maildir warning: cannot remove '{path}'", path=shown(path))


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise MailboxError(
            f"Maildir error: cannot remove '{shown(path)}': {error.strerror}"
        ) from error


# Listing.


def list_boxes(layout: MaildirLayout) -> list[BoxName]:
    """
    The canonical names of the boxes of a store, as mbsync 1.4 lists them
    (C{maildir_list_store}, checked with C{mbsync -l}): C{Inbox} as
    C{INBOX} (or as its C{MapInbox} alias), the folders below C{Inbox}
    (Maildir++: its C{.name} entries) and those below C{Path}.

    Skipped as by mbsync: C{cur}, C{new}, C{tmp}; a top-level C{INBOX}
    folder of C{Path} (or C{.INBOX} with Maildir++), with mbsync's warning;
    Legacy folders below the top without their C{.}. Without a
    C{SubFolders} style, C{.name} folders are listed Legacy-style, others
    below the top are an error. A folder named like the C{MapInbox} alias
    is shadowed by it.

    @return: each name once, sorted.
    @raise MailboxError: a folder is nested L{MAX_LIST_DEPTH} deep (symlink
        loop), a subfolder exists without a C{SubFolders} style, or a
        directory cannot be read (mbsync's messages).
    """
    names: set[str] = set()
    inbox = os.path.normpath(layout.inbox)
    if is_box(inbox):
        names.add(layout.map_inbox or "INBOX")
    if layout.style is SubFolderStyle.MAILDIRPP:
        for relative in _walk(inbox, "", skip=None, recurse=False):
            if relative.split(".")[:2] == ["", "INBOX"]:
                log.warn("Maildir warning: ignoring INBOX in {path}", path=shown(inbox) + "/")
                continue
            _add_name(layout, names, relative, in_inbox=True)
        return sorted(names)
    if layout.style is not SubFolderStyle.UNSET:
        for relative in _walk(inbox, "", skip=None, recurse=True):
            _add_name(layout, names, relative, in_inbox=True)
    if layout.path is not None:
        # Path is a prefix: "~/Mail/" is a directory, "~/Mail/x-" a name prefix.
        base, prefix = os.path.split(layout.path)
        base = base or "."
        for relative in _walk(base, prefix, skip=inbox, recurse=True):
            _add_name(layout, names, relative[len(prefix) :], in_inbox=False)
    return sorted(names)


def listing_order(layout: MaildirLayout, names: list[BoxName]) -> list[BoxName]:
    """
    isync 1.5's C{--list-stores} order of a store's boxes (C{names}, as
    L{list_boxes} found them): the reverse of the order its listing finds
    them in (it prepends each to a list), that is the directories below
    C{Path} depth first in directory (C{readdir}) order, then C{INBOX}
    and the folders below it. 1.5 lists C{INBOX} even where it does not
    exist yet. Names the walk does not meet keep their place at the end.

    @param layout: the store's layout.
    @param names: the boxes, any order.
    @return: the same boxes (and C{INBOX}), in 1.5's order.
    """
    found: list[str] = []
    inbox = os.path.normpath(layout.inbox)

    def walk(base: str, relative: str, prefix: str, in_inbox: bool, depth: int) -> None:
        directory = f"{base}/{relative}" if relative else base
        try:
            entries = os.listdir(directory)
        except OSError:
            return
        for entry in entries:
            if entry in SUBDIRS or (not relative and not entry.startswith(prefix)):
                continue
            child = f"{relative}/{entry}" if relative else entry
            path = os.path.normpath(f"{base}/{child}")
            if path == inbox or depth >= MAX_LIST_DEPTH or not os.path.isdir(path):
                continue
            naming = layout
            if layout.style is SubFolderStyle.UNSET and "/" in child:
                naming = replace(layout, style=SubFolderStyle.LEGACY)
            name = box_name_for_entry(naming, child[len(prefix) :], in_inbox)
            if name is not None:
                found.append(name)
            walk(base, child, prefix, in_inbox, depth + 1)

    if layout.path is not None and layout.style is not SubFolderStyle.MAILDIRPP:
        base, prefix = os.path.split(layout.path)
        walk(base or ".", "", prefix, False, 0)
    inbox_name = layout.map_inbox or "INBOX"
    found.append(inbox_name)
    if layout.style is not SubFolderStyle.UNSET:
        walk(inbox, "", "", True, 0)
    ordered = [name for name in reversed(found) if name in names or name == inbox_name]
    ordered = list(dict.fromkeys(ordered))
    return ordered + [name for name in names if name not in ordered]


def _add_name(layout: MaildirLayout, names: set[str], relative: str, in_inbox: bool) -> None:
    """
    Add the box at C{relative} (which has C{cur/}) under its canonical
    name, unless mbsync's listing skips it.

    @raise MailboxError: it is a subfolder but the store has no style.
    """
    naming = layout
    if layout.style is SubFolderStyle.UNSET and "/" in relative:
        naming = replace(layout, style=SubFolderStyle.LEGACY)
    name = box_name_for_entry(naming, relative, in_inbox)
    if name is None:
        if naming is not layout:
            raise LayoutError(
                f"Maildir error: found subfolder '{shown(relative)}', but store "
                f"'{layout.store}' does not specify SubFolders style"
            )
        return
    if layout.map_inbox is not None and name == layout.map_inbox:
        return
    names.add(name)


def _subdirectories(directory: str, depth: int) -> list[str]:
    """
    The names of the directories in C{directory} (sorted; not C{cur},
    C{new}, C{tmp}; symlinks followed).

    @raise MailboxError: C{directory} is too deep or cannot be read.
    """
    if depth >= MAX_LIST_DEPTH:
        raise MailboxError(
            f"Maildir error: path {shown(directory)}/ is too deeply nested. Symlink loop?"
        )
    try:
        with os.scandir(directory) as entries:
            found = [
                entry.name
                for entry in entries
                if entry.name not in SUBDIRS and entry.is_dir(follow_symlinks=True)
            ]
    except FileNotFoundError:
        return []
    except OSError as error:
        raise os_failure("list", directory, error) from error
    return sorted(found)


def _walk(base: str, prefix: str, skip: str | None, recurse: bool) -> list[str]:
    """
    The paths, relative to C{base}, of the boxes below it whose first
    component starts with C{prefix}, not descending into C{skip} (the
    Inbox, listed apart) nor, when C{skip} is given, into a top-level
    C{INBOX} folder (mbsync warns and ignores it).
    """
    found: list[str] = []
    pending: list[tuple[str, int]] = [("", 0)]
    while pending:
        relative, depth = pending.pop()
        directory = f"{base}/{relative}" if relative else base
        for name in _subdirectories(directory, depth):
            if not relative and not name.startswith(prefix):
                continue
            child = f"{relative}/{name}" if relative else name
            path = os.path.normpath(f"{base}/{child}")
            if skip is not None and path == skip:
                continue
            if skip is not None and not relative and name[len(prefix) :] == "INBOX":
                log.warn("Maildir warning: ignoring INBOX in {path}", path=shown(base) + "/")
                continue
            if is_box(path):
                found.append(child)
            if recurse:
                pending.append((child, depth + 1))
    return sorted(found)


# Headers and bodies.


def read_tracking_headers(path: str) -> TrackingHeaders:
    """
    Read C{X-TUID} and C{Message-ID} from a message file's header, line by
    line, stopping at the blank line; only the lines of those fields are
    kept (at most 64 KiB of them).

    @raise OSError: the file cannot be read.
    """
    kept: list[bytes] = []
    kept_size = 0
    keeping = False
    at_line_start = True
    with open(path, "rb") as handle:
        while True:
            line = handle.readline(_HEADER_LINE_LIMIT)
            if not line:
                break
            if at_line_start:
                if line in (b"\n", b"\r\n"):
                    break
                if line[:1] not in (b" ", b"\t"):
                    field, colon, _ = line.partition(b":")
                    keeping = bool(colon) and field.strip().lower() in _TRACKED
            if keeping and kept_size < _KEPT_HEADER_LIMIT:
                kept.append(line)
                kept_size += len(line)
            at_line_start = line.endswith(b"\n")
    return parse_tracking_headers(b"".join(kept))


@implementer(IMessageBody)
class MaildirBody:
    """
    A fetched Maildir message: the file opened at fetch time, read in
    chunks by position, so later renames or unlinks of it do not matter
    and every pass reads the same bytes.

    @ivar uid: its UID.
    @ivar flags: its flags when fetched.
    @ivar arrival_date: its modification time.
    @ivar size: its size on disk.
    """

    def __init__(
        self, path: str, uid: int, flags: Flags, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> None:
        """
        Open the file.

        @raise OSError: it cannot be opened.
        """
        fd = os.open(path, os.O_RDONLY)
        self._finalizer = weakref.finalize(self, os.close, fd)
        try:
            status = os.fstat(fd)
        except OSError:
            self._finalizer()
            raise
        if not stat.S_ISREG(status.st_mode):
            self._finalizer()
            raise OSError(errno.EISDIR, "not a regular file", path)
        self._fd = fd
        self._path = path
        self._chunk_size = chunk_size
        self.uid = uid
        self.flags = flags
        self.size = status.st_size
        self.arrival_date = date_from_ns(status.st_mtime_ns)

    def __repr__(self) -> str:
        return f"<MaildirBody UID {self.uid}: {shown(self._path)}>"

    def close(self) -> None:
        """
        Close the file now rather than when the body is collected.
        """
        self._finalizer()

    async def chunks(self) -> AsyncIterator[bytes]:
        """
        Yield the file's bytes from the start in chunks.

        @raise MessageError: the file cannot be read or shrank.
        """
        offset = 0
        while offset < self.size:
            wanted = min(self._chunk_size, self.size - offset)
            try:
                chunk = os.pread(self._fd, wanted, offset)
            except OSError as error:
                raise MessageError(
                    f"Maildir error: cannot read {shown(self._path)}: {error.strerror}"
                ) from error
            if not chunk:
                raise MessageError(f"Maildir error: {shown(self._path)} shrank while read")
            offset += len(chunk)
            yield chunk


#: Messages up to this size are written whole in a worker thread (created,
#: written, synced and renamed there, several in one batch when a batch
#: writer is given); bigger ones stream from the reactor's thread, with only
#: the blocking steps in the worker. The copies a sync keeps under way hold
#: at most this much each in memory.
WHOLE_IN_THREAD = 256 * 1024

#: Runs a blocking callable elsewhere (a worker thread) and gives its result.
InThread = Callable[[Callable[[], Any]], Awaitable[Any]]


@mutable_record
class Delivery:
    """
    One message held in memory, to be written as a file by L{write_batch}.

    @ivar temporary: its C{tmp/} path.
    @ivar final: its path in C{new/} or C{cur/}.
    @ivar chunks: its bytes.
    @ivar fsync: sync it before the rename (FSync).
    @ivar times: its modification time (ns), or C{None}.
    @ivar before: a blocking step to take before the file is created.
    @ivar describe: names the store and box for error messages.
    """

    temporary: str
    final: str
    chunks: list[bytes]
    fsync: bool
    times: int | None
    before: Callable[[], None] | None
    describe: Callable[[], str]


#: Gives a L{Delivery} to a batch writer: fires with L{write_batch}'s result
#: for it (the modification time of its directory) or fails with its error.
Deliver = Callable[[Delivery], Awaitable[int]]


def held_delivery(
    box: str,
    name: str,
    subdir: str,
    chunks: list[bytes],
    size: int,
    *,
    fsync: bool,
    arrival_date: datetime | None,
    describe: Callable[[], str],
    before: Callable[[], None] | None = None,
) -> Delivery:
    """
    The L{Delivery} of a message held in memory as C{chunks} to
    C{box/subdir/name} through C{box/tmp/name}, for L{write_batch}: what
    L{deliver} hands its C{batch}, made in one call.

    @raise MessageError: the chunks are not the C{size} bytes announced.
    """
    written = sum(map(len, chunks))
    if written != size:
        raise MessageError(f"{describe()}: message source announced {size} bytes, gave {written}")
    return Delivery(
        _directory(box, "tmp") + name,
        _directory(box, subdir) + name,
        chunks,
        fsync,
        None if arrival_date is None else ns_from_date(arrival_date),
        before,
        describe,
    )


@functools.lru_cache(maxsize=64)
def _directory(box: str, subdir: str) -> str:
    """
    C{os.path.join(box, subdir, "")}: a name appended to it gives
    C{os.path.join(box, subdir, name)} (new names never start with C{/}).
    """
    return os.path.join(box, subdir, "")


def write_batch(deliveries: list[Delivery]) -> list[int | BaseException]:
    """
    Write several messages as one blocking call (in a worker thread): each
    one's C{before} step in order (the first records the UIDs of all, since
    they were promised in order), then every file created and written in
    C{tmp/}, then each synced (with FSync), closed and renamed into place,
    then each directory's modification time read once.

    With FSync the files are written before the first is synced, so one
    journal commit of the file system can carry them all; none is renamed
    before it is synced, so what a crash leaves in C{new/} or C{cur/} is
    complete, as with L{deliver}.

    @return: per delivery, in order, the modification time (ns) of its
        directory after the last rename, or the error it failed with (a
        L{MailboxError} for an C{OSError}); a failed one leaves no
        C{tmp/} file.
    """
    failed: dict[int, BaseException] = {}
    fds: list[int | None] = []
    for index, delivery in enumerate(deliveries):
        fd = None
        try:
            fd = _create(delivery.temporary, delivery.before)
            _write_chunks(fd, delivery.chunks)
        except BaseException as failure:
            failed[index] = _batch_failure(failure, delivery, fd)
            fd = None
        fds.append(fd)
    directories: dict[str, int] = {}
    for index, (delivery, fd) in enumerate(zip(deliveries, fds, strict=True)):
        if fd is None:
            continue
        try:
            _finish(fd, delivery.temporary, delivery.final, delivery.fsync, delivery.times, False)
        except BaseException as failure:
            failed[index] = _batch_failure(failure, delivery, None)
            continue
        directories[os.path.dirname(delivery.final)] = 0
    for directory in directories:
        try:
            directories[directory] = os.stat(directory).st_mtime_ns
        except OSError:
            # Renamed into it a moment ago: a stat fails only for a
            # directory removed behind our back; no time is then known.
            pass
    return [
        failed[index] if index in failed else directories[os.path.dirname(delivery.final)]
        for index, delivery in enumerate(deliveries)
    ]


def _batch_failure(failure: BaseException, delivery: Delivery, fd: int | None) -> BaseException:
    """
    Clean up after one delivery of a batch failed: close its file, remove
    it from C{tmp/}.

    @return: the error to report for it.
    """
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
    if isinstance(failure, MailboxError):
        # The file was not created (its creation or C{before} failed).
        return failure
    error = _failed_delivery(failure, delivery.temporary, delivery.describe)
    return failure if error is None else error


def _create(temporary: str, before: Callable[[], None] | None) -> int:
    """
    Run C{before} (e.g. record the UID durably), then create the C{tmp/}
    file (C{O_EXCL}).

    @raise MailboxError: the file cannot be created.
    """
    if before is not None:
        before()
    try:
        return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise os_failure("create", temporary, error) from error


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def _write_chunks(fd: int, chunks: list[bytes]) -> None:
    """
    Write all of C{chunks}: one C{writev} when it takes them all (the
    usual case; not for more chunks than any system's C{IOV_MAX}), else
    the rest in C{write}s.
    """
    if 1 < len(chunks) <= 512 and hasattr(os, "writev"):
        written = os.writev(fd, chunks)
        total = sum(len(chunk) for chunk in chunks)
        if written == total:
            return
        rest = b"".join(chunks)[written:]
        _write_all(fd, rest)
        return
    for chunk in chunks:
        _write_all(fd, chunk)


def _finish(
    fd: int, temporary: str, final: str, fsync: bool, times: int | None, read_time: bool = True
) -> int:
    """
    Sync (with FSync) and close the C{tmp/} file, set its times, rename it
    into place.

    @param read_time: read the directory's time after (else 0 is returned).
    @return: the modification time (ns) of the directory it went to, just
        after.
    """
    try:
        if fsync:
            sync_fd(fd)
    finally:
        os.close(fd)
    if times is not None:
        os.utime(temporary, ns=(times, times))
    os.rename(temporary, final)
    return os.stat(os.path.dirname(final)).st_mtime_ns if read_time else 0


def _failed_delivery(
    failure: BaseException, temporary: str, describe: Callable[[], str]
) -> MailboxError | None:
    """
    Remove the C{tmp/} file after a failure.

    @return: the error to raise for an C{OSError}; C{None} to re-raise.
    """
    try:
        os.unlink(temporary)
    except OSError:
        pass
    if isinstance(failure, OSError):
        return MailboxError(
            f"{describe()}: Maildir error: cannot write {shown(temporary)}: {failure.strerror}"
        )
    return None


def _deliver_whole(
    temporary: str,
    final: str,
    chunks: list[bytes],
    fsync: bool,
    times: int | None,
    before: Callable[[], None] | None,
    describe: Callable[[], str],
) -> int:
    """
    The whole delivery of a message held in memory, as one blocking call.

    @return: as L{_finish}.
    """
    fd = _create(temporary, before)
    try:
        try:
            for chunk in chunks:
                _write_all(fd, chunk)
        except BaseException:
            os.close(fd)
            raise
        return _finish(fd, temporary, final, fsync, times)
    except BaseException as failure:
        error = _failed_delivery(failure, temporary, describe)
        if error is None:
            raise
        raise error from failure


async def deliver(
    box: str,
    name: str,
    subdir: str,
    message: IMessageSource,
    *,
    fsync: bool,
    arrival_date: datetime | None,
    describe: Callable[[], str],
    in_thread: InThread | None = None,
    batch: Deliver | None = None,
    before: Callable[[], None] | None = None,
) -> int:
    """
    Write a message to C{box/tmp/name} (C{O_EXCL}), sync it with FSync,
    set its times to C{arrival_date}, and rename it to C{box/subdir/name}
    (mbsync C{maildir_store_msg}). On failure the C{tmp/} file is removed.

    @param describe: names the store and box for error messages.
    @param in_thread: runs the blocking steps (creating, syncing, renaming
        the file; for a message of at most L{WHOLE_IN_THREAD} bytes, all of
        it) elsewhere, e.g. in a worker thread; by default they run here.
    @param batch: with C{in_thread}, writes such a message (with others,
        L{write_batch}) instead of a call of its own in C{in_thread}.
    @param before: a blocking step to take before the file is created (the
        UID's record), run where the creation runs.
    @return: the modification time (ns) of C{box/subdir} just after the
        file went there (its change by us, for mbsync's race guard).
    @raise MailboxError: the file cannot be written or moved.
    @raise MessageError: the source yields other than its announced size.
    @raise Exception: whatever reading C{message} raises.
    """
    temporary = os.path.join(box, "tmp", name)
    final = os.path.join(box, subdir, name)
    times = None if arrival_date is None else ns_from_date(arrival_date)
    if in_thread is not None and message.size <= WHOLE_IN_THREAD:
        chunks = [chunk async for chunk in message.chunks()]
        written = sum(len(chunk) for chunk in chunks)
        if written != message.size:
            raise MessageError(
                f"{describe()}: message source announced {message.size} bytes, gave {written}"
            )
        if batch is not None:
            return await batch(Delivery(temporary, final, chunks, fsync, times, before, describe))
        mtime: int = await in_thread(
            lambda: _deliver_whole(temporary, final, chunks, fsync, times, before, describe)
        )
        return mtime
    if in_thread is None:
        fd = _create(temporary, before)
    else:
        fd = await in_thread(lambda: _create(temporary, before))
    try:
        try:
            written = 0
            async for chunk in message.chunks():
                _write_all(fd, chunk)
                written += len(chunk)
            if written != message.size:
                raise MessageError(
                    f"{describe()}: message source announced {message.size} bytes, gave {written}"
                )
        except BaseException:
            os.close(fd)
            raise
        if in_thread is None:
            return _finish(fd, temporary, final, fsync, times)
        mtime = await in_thread(lambda: _finish(fd, temporary, final, fsync, times))
        return mtime
    except BaseException as failure:
        error = _failed_delivery(failure, temporary, describe)
        if error is None:
            raise
        raise error from failure
