# -*- test-case-name: tests.stores.test_maildirstore,tests.stores.test_maildiruids -*-
"""
UID bookkeeping of one Maildir box, as mbsync 1.4 keeps it: the locked
C{.uidvalidity} file, and the plan that numbers the files of C{new/} and
C{cur/} (mbsync C{maildir_uidval_lock}, C{maildir_store_uidval},
C{maildir_scan}).

Invariants:
  - While a L{UIDValidityFile} is open, this process holds a POSIX
    C{fcntl} write lock on the whole C{.uidvalidity} file, the lock mbsync
    takes, so mbsync and msync never assign UIDs in one box at the same
    time; two L{UIDValidityFile}s of this process never hold one file at
    once either (POSIX locks do not exclude their own process). Waiting
    for the lock never blocks the reactor: it is polled with the clock.
  - The last assigned UID recorded in the file only grows, and is written
    (C{ftruncate}, C{fdatasync} with FSync) before any file gets a UID
    above the previous value, so a crash never leads to a UID being given
    twice.
  - L{plan_uids} is a pure function of the file names and of whether
    duplicates have one content: after it, every UID is carried by exactly
    one file and none exceeds the last assigned UID, or the plan refuses
    the box.
  - A local numbering anomaly never makes a message be deleted or pushed
    in its place (issue 8: a file renamed to carry another's C{,U=} once
    got the other's UID, so the server lost that message and got a
    duplicate). Whether a UID matters is asked of the sync state (a
    L{Pairing}): a UID the state pairs with a message of the other side
    must stay on the file the pairing means. So files carrying one UID keep
    it on one of them, the others becoming new local messages, when they
    all hold the same bytes (a copy: whichever keeps it, the paired message
    is the same) or when the state pairs no message with that UID (no far
    message depends on it); a UID beyond the last assigned one is numbered
    afresh only when the state does not pair it. Otherwise which file the
    state means is in doubt, and the box is refused with mbsync 1.4.4's
    C{Maildir error: duplicate UID n.} or C{Maildir error: UID n is beyond
    highest assigned UID m.}, nothing renamed or recorded. Without a
    pairing every UID counts as paired.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Callable, Iterable
from functools import total_ordering

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from msync.errors import MailboxError, shown_name
from msync.records import record
from msync.stores.maildirnames import (
    format_uidvalidity,
    parse_uid,
    parse_uidvalidity,
    unnumbered_sort_key,
)

log = Logger()

LOCK_POLL_INTERVAL = 0.5
"""
Seconds between attempts to take a C{.uidvalidity} lock held elsewhere.
"""

# (st_dev, st_ino) of every .uidvalidity file this process holds locked.
_HELD: set[tuple[int, int]] = set()


def sync_fd(fd: int) -> None:
    """
    Flush a file's data to disk (C{fdatasync} where it exists, else
    C{fsync}).
    """
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


class UIDValidityFile:
    """
    An open and locked C{.uidvalidity} file.

    @ivar path: the file's path.
    """

    def __init__(self, path: str, fd: int, key: tuple[int, int], fsync: bool) -> None:
        """
        Use L{lock} instead.
        """
        self.path = path
        self._fd: int | None = fd
        self._key = key
        self._fsync = fsync
        # Guards the file's contents between threads (see commit_through).
        self._lock = threading.Lock()
        self._recorded = 0
        self._promised: tuple[int, int] | None = None

    @classmethod
    async def lock(cls, path: str, *, fsync: bool, clock: IReactorTime) -> UIDValidityFile:
        """
        Open (creating it empty if missing) and lock a C{.uidvalidity} file,
        waiting as long as another process or store holds it.

        @raise MailboxError: the file cannot be opened or locked.
        """
        announced = False
        while True:
            attempt = _try_lock(path)
            if attempt is not None:
                fd, key = attempt
                break
            if not announced:
                log.info("Maildir notice: waiting for the lock on {path}", path=shown_name(path))
                announced = True
            await deferLater(clock, LOCK_POLL_INTERVAL, lambda: None)
        _HELD.add(key)
        return cls(path, fd, key, fsync)

    def _descriptor(self) -> int:
        if self._fd is None:
            raise RuntimeError(f"{shown_name(self.path)} is no longer open")
        return self._fd

    def read(self) -> tuple[int, int] | None:
        """
        The UIDVALIDITY and last assigned UID, or C{None} if the file is
        empty (mbsync then creates a new UIDVALIDITY).

        @raise MailboxError: the file cannot be read or holds garbage.
        """
        try:
            data = os.pread(self._descriptor(), 128, 0)
        except OSError as error:
            raise MailboxError(
                f"Maildir error: cannot read {shown_name(self.path)}: {error.strerror}"
            ) from error
        return parse_uidvalidity(data, self.path)

    def write(self, uid_validity: int, last_uid: int) -> None:
        """
        Replace the file's contents (mbsync: write, C{ftruncate},
        C{fdatasync} with FSync).

        @raise MailboxError: the file cannot be written.
        """
        with self._lock:
            try:
                fd = self._replace(uid_validity, last_uid)
                if self._fsync:
                    sync_fd(fd)
            except OSError as error:
                raise self._failed(error) from error
            self._recorded = last_uid

    def promise(self, uid_validity: int, last_uid: int) -> None:
        """
        Say that C{last_uid} is assigned, to be recorded by the next
        L{commit_through} (from any thread) that needs it: one write and
        sync then records every UID promised so far (a group commit).
        """
        self._promised = (uid_validity, last_uid)

    def commit_through(self, last_uid: int) -> None:
        """
        Make sure the file records at least C{last_uid} (promised before),
        durably with FSync: blocking, safe to call from several threads.

        @raise MailboxError: the file cannot be written.
        """
        with self._lock:
            if self._recorded >= last_uid:
                return
            promised = self._promised
            assert promised is not None and promised[1] >= last_uid
            try:
                fd = self._replace(*promised)
                if self._fsync:
                    sync_fd(fd)
            except OSError as error:
                raise self._failed(error) from error
            self._recorded = promised[1]

    def _replace(self, uid_validity: int, last_uid: int) -> int:
        data = format_uidvalidity(uid_validity, last_uid)
        fd = self._descriptor()
        written = os.pwrite(fd, data, 0)
        if written != len(data):
            raise OSError(errno.ENOSPC, "short write")
        os.ftruncate(fd, len(data))
        return fd

    def _failed(self, error: OSError) -> MailboxError:
        return MailboxError(
            f"Maildir error: cannot write UIDVALIDITY to {shown_name(self.path)}: {error.strerror}"
        )

    def close(self) -> None:
        """
        Release the lock and close the file; closing twice does nothing.
        """
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _HELD.discard(self._key)
        try:
            fcntl.lockf(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def peek_uidvalidity(path: str) -> tuple[int, int] | None:
    """
    Read a C{.uidvalidity} file without creating or locking it, for a
    read-only open (C{--dry-run}): what a locked L{UIDValidityFile.read}
    would return now.

    @return: the UIDVALIDITY and last assigned UID, or C{None} if the file
        is missing or empty.
    @raise MailboxError: the file cannot be read or holds garbage.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(128)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise MailboxError(
            f"Maildir error: cannot read {shown_name(path)}: {error.strerror}"
        ) from error
    return parse_uidvalidity(data, path)


def _held_here(path: str) -> bool:
    """
    Whether this process already holds the lock of the file at C{path}.
    """
    try:
        status = os.stat(path)
    except OSError:
        return False
    return (status.st_dev, status.st_ino) in _HELD


def _try_lock(path: str) -> tuple[int, tuple[int, int]] | None:
    """
    Try once to open C{path} and take the write lock mbsync takes
    (C{F_WRLCK} over the whole file; Python's C{lockf} uses C{fcntl}).

    A file this process holds already is not even opened: closing any
    descriptor of a file drops every POSIX lock the process holds on it.

    @return: the descriptor and the file's identity if the lock is now
        held, C{None} if someone else holds it.
    @raise MailboxError: opening or locking failed for another reason.
    """
    if _held_here(path):
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise MailboxError(
            f"Maildir error: cannot open {shown_name(path)}: {error.strerror}"
        ) from error
    try:
        status = os.fstat(fd)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise MailboxError(
            f"Maildir error: cannot fcntl lock UIDVALIDITY ({shown_name(path)}): {error.strerror}"
        ) from error
    return fd, (status.st_dev, status.st_ino)


@total_ordering
@record
class FileEntry:
    """
    One message file of a box; entries are ordered by C{(subdir, name)}.

    @ivar subdir: C{"new"} or C{"cur"}.
    @ivar name: the file name.
    """

    subdir: str
    name: str

    def __lt__(self, other: object) -> bool:
        if other.__class__ is not FileEntry:
            return NotImplemented
        assert isinstance(other, FileEntry)
        return (self.subdir, self.name) < (other.subdir, other.name)


@record
class StrayUID:
    """
    A file whose C{,U=} cannot be kept: it is numbered as a new message.

    @ivar entry: the file.
    @ivar uid: the UID its name carries.
    @ivar original: for a duplicate, the file keeping the UID; C{None} when
        the UID is beyond the last assigned one.
    @ivar copy: whether the file holds the same bytes as C{original}.
    """

    entry: FileEntry
    uid: int
    original: FileEntry | None
    copy: bool = False


@record
class UIDPlan:
    """
    How to number a box's files.

    @ivar numbered: the files keeping their UIDs, by UID.
    @ivar fresh: the files to give new UIDs, in the order to number them.
    @ivar strays: the files among C{fresh} whose UID was refused.
    @ivar refusal: mbsync's error refusing the box, or C{None}; when set,
        nothing is to be renamed or recorded.
    """

    numbered: dict[int, FileEntry]
    fresh: list[FileEntry]
    strays: list[StrayUID]
    refusal: str | None = None


SameContent = Callable[[FileEntry, FileEntry], bool]
"""
Whether two files of the box hold the same bytes.
"""

Pairing = Callable[[int], bool]
"""
Whether the sync state pairs this box's UID with a message of the other
side (so that the UID must stay on the very file the state means).
"""


def _paired_always(uid: int) -> bool:
    return True


def _original_key(entry: FileEntry) -> tuple[object, int]:
    # The original of a duplicated UID: the earliest name in mbsync's
    # arrival order (name-embedded delivery time, pid, sequence), cur/
    # before new/ when the names are equal.
    return (unnumbered_sort_key(entry.name), 0 if entry.subdir == "cur" else 1)


def plan_uids(
    entries: Iterable[FileEntry],
    last_uid: int,
    trust_uids: bool,
    same_content: SameContent | None = None,
    paired: Pairing | None = None,
) -> UIDPlan:
    """
    Decide which files keep their C{,U=} and which get fresh UIDs.

    A file keeps its UID when the box's UIDVALIDITY is trusted, the UID is
    at most C{last_uid}, and no other file carries it. Of several carrying
    one UID, the original (the one sorting first in mbsync's order of
    unnumbered names, so the earliest delivered; cur/ before new/ on a tie)
    keeps it when the others hold its very bytes or when the UID is not
    C{paired}; the others are numbered afresh. A UID beyond C{last_uid}
    that is not C{paired} is numbered afresh too. Every file without a
    kept UID is numbered in mbsync's order (L{unnumbered_sort_key}).

    Refused, with mbsync 1.4.4's message for the lowest offending UID (as
    mbsync checks them in UID order): a paired UID carried by files of
    different contents, and a paired UID beyond C{last_uid}.

    @param last_uid: the last assigned UID from C{.uidvalidity}.
    @param trust_uids: C{False} when the UIDVALIDITY was just created: then
        every file is renumbered, as mbsync does.
    @param same_content: compares two files' bytes (none: never equal).
    @param paired: whether the sync state pairs a UID (none: every UID).
    """
    is_paired = paired or _paired_always
    # The files by UID: one entry, or a list where several carry the UID
    # (rare), so a big box costs no list per file.
    by_uid: dict[int, FileEntry | list[FileEntry]] = {}
    fresh: list[FileEntry] = []
    strays: list[StrayUID] = []
    for entry in entries:
        uid = parse_uid(entry.name) if trust_uids else None
        if uid is None:
            fresh.append(entry)
            continue
        found = by_uid.setdefault(uid, entry)
        if found is entry:
            continue
        if isinstance(found, list):
            found.append(entry)
        else:
            by_uid[uid] = [found, entry]
    numbered: dict[int, FileEntry] = {}
    for uid in sorted(by_uid):
        found = by_uid[uid]
        if not isinstance(found, list) and uid <= last_uid:
            numbered[uid] = found
            continue
        candidates = sorted(found, key=_original_key) if isinstance(found, list) else [found]
        if uid > last_uid:
            if is_paired(uid):
                refusal = f"Maildir error: UID {uid} is beyond highest assigned UID {last_uid}."
                return UIDPlan({}, [], [], refusal)
            strays.extend(StrayUID(entry, uid, None) for entry in candidates)
            continue
        original, others = candidates[0], candidates[1:]
        copies = [bool(same_content and same_content(original, other)) for other in others]
        if not all(copies) and is_paired(uid):
            return UIDPlan({}, [], [], f"Maildir error: duplicate UID {uid}.")
        numbered[uid] = original
        strays.extend(
            StrayUID(other, uid, original, copy) for other, copy in zip(others, copies, strict=True)
        )
    fresh.extend(stray.entry for stray in strays)
    fresh.sort(key=lambda entry: (unnumbered_sort_key(entry.name), entry.subdir))
    strays.sort(key=lambda stray: (stray.uid, stray.entry))
    return UIDPlan(numbered=numbered, fresh=fresh, strays=strays)


def same_bytes(first: str, second: str, chunk_size: int = 64 * 1024) -> bool:
    """
    Whether two files hold the same bytes (sizes first, then streamed).

    @return: C{False} as well when either cannot be read (a file that
        vanished or cannot be opened is no proof of a copy).
    """
    try:
        if os.stat(first).st_size != os.stat(second).st_size:
            return False
        with open(first, "rb") as left, open(second, "rb") as right:
            while True:
                chunk = left.read(chunk_size)
                if chunk != right.read(chunk_size):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False
