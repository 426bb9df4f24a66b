"""
Fixtures shared by the state file tests: the test pair's label, paths and
states, a journal session's operations, a L{SystemCalls} that records and
crashes, and a test case base with a fresh state directory.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from msync.model import Flags, Side
from msync.sync.journal import (
    AssignTuid,
    AssignUid,
    JournalOp,
    KillRecord,
    NewRecord,
    SetFindUid,
    SetFlags,
    SetMaxUid,
    UidValidities,
    apply_op,
)
from msync.sync.state import SyncState
from msync.sync.statefile import StateFile
from msync.sync.statelock import SystemCalls
from msync.sync.statepaths import StatePaths, state_paths
from msync.sync.statetext import format_state, parse_state

LABEL = ":far:INBOX-:near:INBOX"

STATE_S0 = (
    b"FarUidValidity 1795402724\nNearUidValidity 1795402724\n"
    b"MaxPulledUid 3\nMaxPushedUid 3\n\n1 1 \n2 2 S\n3 3 \n"
)

#: A session's operations on STATE_S0: a copy and a flag change.
SESSION_OPS: list[JournalOp] = [
    NewRecord(4, 0),
    SetFindUid(Side.NEAR, 4),
    AssignTuid(4, 0, "abcdefghijkl"),
    AssignUid(4, 0, Side.NEAR, 4),
    SetFlags(1, 1, Flags.SEEN | Flags.FLAGGED),
    KillRecord(3, 3),
    SetMaxUid(Side.FAR, 4),
    SetMaxUid(Side.NEAR, 4),
]


def make_paths(directory: str, name: str = "INBOX") -> StatePaths:
    """
    The state files of a pair whose channel says C{SyncState <directory>/}.
    """
    return state_paths(directory + "/", None, "far", "INBOX", "near", name, None)


def listing(directory: str) -> dict[str, bytes]:
    """
    The files of C{directory} and their contents.
    """
    result = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            result[name] = f.read()
    return result


def applied(text: bytes, ops: list[JournalOp]) -> bytes:
    """
    The state file after applying C{ops} to the state C{text}.
    """
    state = parse_state(text, "S") if text else SyncState()
    last = None
    for op in ops:
        last = apply_op(state, op, last)
    return format_state(state)


class SimulatedCrash(Exception):
    """
    The process "died" at this system call.
    """


class RecordingSystem(SystemCalls):
    """
    Real system calls, recorded as (call, file name) in order; optionally
    one of them crashes (after writing half its data if C{torn}) or fails.

    @ivar crash_at: the index of the call to crash at, or C{None}.
    @ivar failures: (call, file name) → the L{OSError} to raise.
    """

    def __init__(self, crash_at: int | None = None, torn: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.crash_at = crash_at
        self.torn = torn
        self.failures: dict[tuple[str, str], OSError] = {}
        self._names: dict[int, str] = {}

    def _call(self, name: str, path: str, data: bytes | None = None, fd: int = -1) -> None:
        index = len(self.calls)
        self.calls.append((name, os.path.basename(path)))
        failure = self.failures.get((name, os.path.basename(path)))
        if failure is not None:
            raise failure
        if index == self.crash_at:
            if self.torn and data is not None and len(data) > 1:
                os.write(fd, data[: len(data) // 2])
            raise SimulatedCrash(index)

    def mkdir(self, path: str, mode: int) -> None:
        self._call("mkdir", path)
        super().mkdir(path, mode)

    def open(self, path: str, flags: int, mode: int = 0o666) -> int:
        self._call("open", path)
        fd = super().open(path, flags, mode)
        self._names[fd] = path
        return fd

    def lock(self, fd: int) -> None:
        self._call("lock", self._names[fd])
        super().lock(fd)

    def read(self, path: str) -> bytes | None:
        self._call("read", path)
        return super().read(path)

    def exists(self, path: str) -> bool:
        self._call("exists", path)
        return super().exists(path)

    def write(self, fd: int, data: bytes) -> None:
        self._call("write", self._names[fd], data, fd)
        super().write(fd, data)

    def fdatasync(self, fd: int) -> None:
        self._call("fdatasync", self._names[fd])
        super().fdatasync(fd)

    def close(self, fd: int) -> None:
        # Even a crashing close releases the descriptor: a dead process's
        # descriptors are closed by the kernel.
        try:
            self._call("close", self._names.pop(fd, "?"))
        finally:
            super().close(fd)

    def rename(self, source: str, target: str) -> None:
        self._call("rename", source)
        super().rename(source, target)

    def unlink(self, path: str) -> None:
        self._call("unlink", path)
        super().unlink(path)


def log_one(opened: StateFile) -> None:
    """
    Log one header operation.
    """
    opened.log(UidValidities(1, 2))


def log_sync(opened: StateFile) -> None:
    """
    Log one operation and sync the journal.
    """
    log_one(opened)
    opened.sync()


def log_commit(opened: StateFile) -> None:
    """
    Log one operation and commit.
    """
    log_one(opened)
    opened.commit()


def nothing(opened: StateFile) -> None:
    """
    Do nothing after open.
    """


class StateFileTestCase(SynchronousTestCase):
    """
    Helpers: a fresh state directory per test.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.directory = os.path.join(self.root, "state")
        self.paths = make_paths(self.directory)

    def write(self, path: str, data: bytes) -> None:
        """
        Create C{path} with C{data}, and its directory.
        """
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def open(self, system: SystemCalls | None = None, fsync: bool = True) -> StateFile:
        """
        Open C{self.paths}, closing it at the end of the test.
        """
        opened = StateFile.open(self.paths, fsync=fsync, channel_label=LABEL, system=system)
        self.addCleanup(opened.close)
        return opened
