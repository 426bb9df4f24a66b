# -*- test-case-name: tests.sync.test_statefile,tests.sync.test_statefile_crash -*-
"""
The pair's lock, the system calls a state file makes, and mbsync's C{-Tj}
test switches: the part of L{msync.sync.statefile} that the no-op fast path
(L{msync.sync.quickcheck}) and the command line need, in a module that
loads neither the journal nor the state file's formats.

Lock protocol (mbsync 1.4 C{lock_state}): open C{<state>.lock}
C{O_WRONLY|O_CREAT} mode 0666, take a non-blocking POSIX write lock
(C{fcntl.lockf}); if the file was unlinked between the open and the lock
(its previous holder lets go by unlinking, then closing), retry. Release:
unlink, then close.

POSIX locks belong to a process, so a second open of the same lock file in
this process would succeed and closing it would drop the first lock; a
registry of the lock files this process holds (real paths) refuses the
second open.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from msync.errors import ChannelLocked, StateError
from msync.sync.statepaths import StatePaths

#: How often to retry taking a lock whose file another process unlinked
#: between our C{open} and our C{fcntl}.
_LOCK_ATTEMPTS = 5

#: Lock files (real paths) held by this process.
_HELD_LOCKS: set[str] = set()


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


class SystemCalls:
    """
    The operating system calls a L{StateFile} makes, one method each, so
    that tests can record or fail them. Every method may raise L{OSError}.
    """

    def mkdir(self, path: str, mode: int) -> None:
        """
        C{mkdir(2)}.
        """
        os.mkdir(path, mode)

    def is_directory(self, path: str) -> bool:
        """
        Whether C{path} is a directory.
        """
        return os.path.isdir(path)

    def open(self, path: str, flags: int, mode: int = 0o666) -> int:
        """
        C{open(2)}; the descriptor is not inherited by child processes.
        """
        return os.open(path, flags | os.O_CLOEXEC, mode)

    def lock(self, fd: int) -> None:
        """
        Take a non-blocking POSIX write lock on the whole file.

        @raise BlockingIOError: another process holds a lock on it.
        """
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            # F_SETLK reports a conflicting lock as EACCES or EAGAIN.
            if error.errno in (errno.EACCES, errno.EAGAIN):
                raise BlockingIOError(error.errno, error.strerror) from None
            raise

    def same_file(self, fd: int, path: str) -> bool:
        """
        Whether C{path} still names the file open as C{fd}.
        """
        opened = os.fstat(fd)
        try:
            named = os.stat(path)
        except FileNotFoundError:
            return False
        return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)

    def read(self, path: str) -> bytes | None:
        """
        The whole content of C{path}, or C{None} if it does not exist.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def exists(self, path: str) -> bool:
        """
        Whether C{path} exists (mbsync's C{stat} of C{.new}).
        """
        return os.path.lexists(path)

    def write(self, fd: int, data: bytes) -> None:
        """
        Write all of C{data}; one C{write(2)} unless the kernel takes less.
        """
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def fdatasync(self, fd: int) -> None:
        """
        C{fdatasync(2)} (C{fsync} where the platform lacks it).
        """
        sync = getattr(os, "fdatasync", os.fsync)
        sync(fd)

    def close(self, fd: int) -> None:
        """
        C{close(2)}.
        """
        os.close(fd)

    def rename(self, source: str, target: str) -> None:
        """
        C{rename(2)}.
        """
        os.rename(source, target)

    def unlink(self, path: str) -> None:
        """
        C{unlink(2)}.
        """
        os.unlink(path)


def _exit_now(status: int) -> NoReturn:
    """
    End the process like a crash at this instant (nothing else runs, no
    file is closed or committed), with C{status}; buffered output is
    flushed first, as C{exit(3)} does in mbsync.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


class JournalTesting:
    """
    mbsync's C{-Tj} and C{-Tj<N>} test switches. One instance serves every
    state file of a run: as in mbsync, the countdown is process-wide.

    @ivar keep_journal: commit writes C{.new} only (no rename, no unlink).
    @ivar steps_left: the countdown; 0 means no limit.
    """

    def __init__(
        self,
        *,
        keep_journal: bool = False,
        limit: int | None = None,
        exit: Callable[[int], object] = _exit_now,
    ) -> None:
        """
        @param keep_journal: C{-Tj}.
        @param limit: the C{N} of C{-Tj<N>} (implies C{keep_journal}).
        @param exit: ends the process with a status (tests replace it).
        """
        self.keep_journal = keep_journal or limit is not None
        self.steps_left = limit or 0
        self._exit = exit

    def step(self, status: int) -> None:
        """
        Count one step; at the last one, exit with C{status} (101 before
        a journal line is written, 100 after).
        """
        if self.steps_left:
            self.steps_left -= 1
            if not self.steps_left:
                self._exit(status)


#: No test switches.
NO_TESTING = JournalTesting()


def take_lock(system: SystemCalls, path: str, label: str) -> tuple[str, int]:
    """
    Lock C{path} as mbsync's C{lock_state} does.

    @return: the registry key and the open, locked descriptor.
    """
    key = os.path.realpath(path)
    if key in _HELD_LOCKS:
        # Opening (and closing) the file again would drop our own lock.
        raise ChannelLocked(f"channel {label} is locked")
    for _ in range(_LOCK_ATTEMPTS):
        try:
            fd = system.open(path, os.O_WRONLY | os.O_CREAT, 0o666)
        except OSError as error:
            raise StateError(f"cannot create lock file {path}: {_reason(error)}") from error
        try:
            system.lock(fd)
            # The previous holder unlinks the file before it closes it; if
            # that happened after our open, we locked an orphan: retry.
            current = system.same_file(fd, path)
        except BlockingIOError:
            system.close(fd)
            raise ChannelLocked(f"channel {label} is locked") from None
        except OSError as error:
            system.close(fd)
            raise StateError(f"cannot lock {path}: {_reason(error)}") from error
        if current:
            _HELD_LOCKS.add(key)
            return key, fd
        system.close(fd)
    raise ChannelLocked(f"channel {label} is locked")


@contextmanager
def held_lock(paths: StatePaths, channel_label: str = "") -> Iterator[None]:
    """
    Hold the pair's lock as L{StateFile.open} takes it, without reading
    the state (the no-op fast path, L{msync.sync.quickcheck}); the state's
    directory must exist.

    @raise ChannelLocked: another process (or session) holds it.
    @raise StateError: the lock file cannot be created or locked.
    """
    system = SystemCalls()
    key, fd = take_lock(system, paths.lock, channel_label or paths.state)
    try:
        yield
    finally:
        release_lock(system, paths.lock, key, fd)


def probe_lock(system: SystemCalls, path: str, label: str) -> None:
    """
    Whether another session holds the lock at C{path}, asked without
    creating the file: if it exists, lock it and at once let it go
    (closing the descriptor drops the lock; nothing on disk changes).

    @raise ChannelLocked: the lock is held, here or by another process.
    """
    if os.path.realpath(path) in _HELD_LOCKS:
        raise ChannelLocked(f"channel {label} is locked")
    if not system.exists(path):
        return
    try:
        fd = system.open(path, os.O_WRONLY)
    except OSError:
        # Gone meanwhile, or not ours to write: nothing to learn from it.
        return
    try:
        system.lock(fd)
    except BlockingIOError:
        raise ChannelLocked(f"channel {label} is locked") from None
    except OSError:
        # Cannot tell (e.g. a file system without locks); the real run
        # would report it.
        pass
    finally:
        system.close(fd)


def release_lock(system: SystemCalls, path: str, key: str, fd: int) -> None:
    """
    Unlink, then close, the lock file (mbsync's order: the file is gone
    before anybody else can lock it).
    """
    _HELD_LOCKS.discard(key)
    try:
        try:
            system.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StateError(f"cannot delete lock file {path}: {_reason(error)}") from error
    finally:
        try:
            system.close(fd)
        except OSError:
            # The lock is gone with the descriptor either way; the unlink
            # error (if any) is the one worth reporting.
            pass
