# -*- test-case-name: tests.sync.test_statefile -*-
"""
Tests for L{msync.sync.statefile}: locking, loading, journaling, committing
and every crash point, with the installed mbsync 1.4.4 as the oracle for
the files it reads and leaves (interop runs need C{mbsync}; missing, they
fail rather than skip).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import ChannelLocked, StateError
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
    parse_journal,
)
from msync.sync.state import (
    StatePaths,
    SyncState,
    format_state,
    parse_state,
    state_paths,
)
from msync.sync.statefile import StateFile, SystemCalls

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


class OpenTests(StateFileTestCase):
    """
    L{StateFile.open}: directory, lock, state and journal as mbsync loads them.
    """

    def test_new_pair(self) -> None:
        """
        A new pair: the last directory level is created with mode 0700, the
        state is empty, and closing leaves only that directory (mbsync
        unlinks its lock file too).
        """
        opened = self.open()
        self.assertFalse(opened.existed)
        self.assertFalse(opened.replayed)
        self.assertFalse(opened.dirty)
        self.assertEqual(opened.state, SyncState())
        self.assertEqual(os.stat(self.directory).st_mode & 0o777, 0o700)
        self.assertEqual(os.listdir(self.directory), ["INBOX.lock"])
        opened.close()
        self.assertEqual(os.listdir(self.directory), [])

    def test_existing_directory_mode_kept(self) -> None:
        """
        An existing state directory is used as it is (EEXIST is fine).
        """
        os.makedirs(self.directory, mode=0o755)
        os.chmod(self.directory, 0o755)
        self.open().close()
        self.assertEqual(os.stat(self.directory).st_mode & 0o777, 0o755)

    def test_only_last_level_created(self) -> None:
        """
        Like mbsync, only the last level is created: a missing parent is a
        StateError naming the directory.
        """
        self.paths = make_paths(os.path.join(self.root, "missing", "state"))
        error = self.assertRaises(StateError, self.open)
        self.assertIn(f"cannot create SyncState directory {self.paths.directory}", str(error))

    def test_in_box_state(self) -> None:
        """
        In-box state (no directory to create) opens in an existing box.
        """
        box = os.path.join(self.root, "box")
        os.makedirs(box)
        self.paths = state_paths("*", None, "far", "INBOX", "near", "INBOX", box)
        self.assertIsNone(self.paths.directory)
        opened = self.open()
        opened.log(UidValidities(1, 2))
        opened.commit()
        opened.close()
        self.assertEqual(sorted(os.listdir(box)), [".mbsyncstate"])

    def test_reads_state(self) -> None:
        """
        An existing state is parsed; no journal means no replay.
        """
        self.write(self.paths.state, STATE_S0)
        opened = self.open()
        self.assertTrue(opened.existed)
        self.assertFalse(opened.replayed)
        self.assertEqual(format_state(opened.state), STATE_S0)

    def test_corrupt_state(self) -> None:
        """
        A corrupt state fails with the file and line, and releases the lock.
        """
        self.write(self.paths.state, STATE_S0 + b"garbage\n")
        error = self.assertRaises(StateError, self.open)
        self.assertEqual(str(error), f"invalid sync state entry at {self.paths.state}:9")
        self.assertFalse(os.path.exists(self.paths.lock))
        os.unlink(self.paths.state)
        self.open()

    def test_unreadable_state(self) -> None:
        """
        A state that cannot be read (here: a directory) is a StateError
        naming it, never a bare OSError.
        """
        os.makedirs(self.paths.state)
        error = self.assertRaises(StateError, self.open)
        self.assertIn(f"cannot read sync state {self.paths.state}", str(error))

    def test_lock_file_uncreatable(self) -> None:
        """
        A lock file that cannot be created is a StateError naming it.
        """
        os.makedirs(self.paths.lock)
        error = self.assertRaises(StateError, self.open)
        self.assertIn(f"cannot create lock file {self.paths.lock}", str(error))

    def test_unwritable_directory(self) -> None:
        """
        Where the user may not write (mode 0555; checked as an unprivileged
        user when running as root, who ignores modes), open fails with a
        StateError naming the lock file, or the state directory if that
        is missing.
        """
        os.makedirs(self.directory)
        os.chmod(self.directory, 0o555)
        self.addCleanup(os.chmod, self.directory, 0o755)
        self.assertEqual(
            self.open_unprivileged(),
            f"cannot create lock file {self.paths.lock}: Permission denied",
        )
        self.paths = make_paths(os.path.join(self.directory, "sub"))
        self.assertEqual(
            self.open_unprivileged(),
            f"cannot create SyncState directory {self.paths.directory}: Permission denied",
        )

    def open_unprivileged(self) -> str:
        """
        Open C{self.paths} as ourselves or, when root, in a forked child
        running as user and group 65534.

        @return: the StateError message, or C{"opened"}.
        """
        if os.geteuid() != 0:
            try:
                StateFile.open(self.paths).close()
            except StateError as error:
                return str(error)
            return "opened"
        return self.open_as_nobody()

    def open_as_nobody(self) -> str:
        """
        Open C{self.paths} in a forked child running as user and group
        65534.

        @return: the child's StateError message, or C{"opened"}.
        """
        # trial's mktemp makes the level above self.root with mode 0700.
        os.chmod(os.path.dirname(self.root), 0o755)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; reports through the pipe
            try:
                os.close(read_end)
                os.setgid(65534)
                os.setuid(65534)
                try:
                    StateFile.open(self.paths).close()
                    message = "opened"
                except StateError as error:
                    message = str(error)
                os.write(write_end, message.encode("utf-8"))
            finally:
                os._exit(0)
        os.close(write_end)
        chunks = []
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
        os.close(read_end)
        os.waitpid(pid, 0)
        return b"".join(chunks).decode("utf-8")

    def test_injected_errors_name_the_file(self) -> None:
        """
        Every failing system call becomes a StateError naming its file.
        """
        self.write(self.paths.state, STATE_S0)
        rows: list[tuple[tuple[str, str], Callable[[StateFile], None], str]] = [
            (("read", "INBOX"), nothing, f"cannot read sync state {self.paths.state}"),
            (("exists", "INBOX.new"), nothing, f"cannot read journal {self.paths.journal}"),
            (
                ("open", "INBOX.journal"),
                log_one,
                f"cannot create journal {self.paths.journal}",
            ),
            (
                ("open", "INBOX.new"),
                log_one,
                f"cannot create new sync state {self.paths.new}",
            ),
            (
                ("write", "INBOX.journal"),
                log_one,
                f"cannot write journal {self.paths.journal}",
            ),
            (
                ("fdatasync", "INBOX.journal"),
                log_sync,
                f"cannot sync journal {self.paths.journal}",
            ),
            (
                ("fdatasync", "INBOX.new"),
                log_commit,
                f"cannot write new sync state {self.paths.new}",
            ),
            (
                ("rename", "INBOX.new"),
                log_commit,
                f"cannot commit sync state {self.paths.state}",
            ),
            (
                ("unlink", "INBOX.journal"),
                log_commit,
                f"cannot delete journal {self.paths.journal}",
            ),
        ]
        for call, action, message in rows:
            system = RecordingSystem()
            system.failures[call] = PermissionError(13, "Permission denied")
            try:
                opened = StateFile.open(self.paths, system=system)
                try:
                    action(opened)
                finally:
                    system.failures.clear()
                    opened.close()
            except StateError as error:
                self.assertEqual(str(error), f"{message}: Permission denied", call)
            else:
                self.fail(f"no StateError for {call}")
            for leftover in (self.paths.journal, self.paths.new):
                if os.path.exists(leftover):
                    os.unlink(leftover)
            self.write(self.paths.state, STATE_S0)


class LockTests(StateFileTestCase):
    """
    The POSIX lock on C{<state>.lock}, shared with mbsync.
    """

    def hold_lock_in_child(self, path: str) -> subprocess.Popen[str]:
        """
        Start a process that holds a POSIX write lock on C{path} until its
        stdin is closed.
        """
        script = (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o666)\n"
            "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
        )
        child = subprocess.Popen(
            [sys.executable, "-c", script, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(self.release_child, child)
        assert child.stdout is not None
        self.assertEqual(child.stdout.readline(), "locked\n")
        return child

    def release_child(self, child: subprocess.Popen[str]) -> None:
        """
        Let a child started by L{hold_lock_in_child} exit.
        """
        if child.returncode is None:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=60)
            assert child.stdout is not None
            child.stdout.close()

    def test_held_by_another_process(self) -> None:
        """
        While another process holds the lock, open fails with mbsync's
        message, leaving the state and the other's lock file alone; once
        it is released, open succeeds.
        """
        os.makedirs(self.directory)
        self.write(self.paths.state, STATE_S0)
        child = self.hold_lock_in_child(self.paths.lock)
        error = self.assertRaises(ChannelLocked, self.open)
        self.assertEqual(str(error), f"channel {LABEL} is locked")
        self.assertTrue(os.path.exists(self.paths.lock))
        self.assertEqual(listing(self.directory)["INBOX"], STATE_S0)
        self.release_child(child)
        self.assertEqual(format_state(self.open().state), STATE_S0)

    def test_held_in_this_process(self) -> None:
        """
        A second open in the same process is refused (POSIX locks would not
        exclude it), and does not drop the first one's lock.
        """
        first = self.open()
        self.assertRaises(ChannelLocked, self.open)
        script = (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
            "try:\n"
            "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except OSError:\n"
            "    print('held')\n"
        )
        check = subprocess.run(
            [sys.executable, "-c", script, self.paths.lock], capture_output=True, text=True
        )
        self.assertEqual(check.stdout, "held\n")
        first.close()
        self.open()

    def test_stale_lock_file(self) -> None:
        """
        A lock file left by a crashed run (mbsync leaves one) is reused and
        removed on close.
        """
        self.write(self.paths.lock, b"")
        self.open().close()
        self.assertFalse(os.path.exists(self.paths.lock))

    def test_close_idempotent(self) -> None:
        """
        close() twice is fine; a closed StateFile refuses further use.
        """
        opened = self.open()
        opened.close()
        opened.close()
        self.assertTrue(opened.closed)
        self.assertRaises(StateError, opened.log, UidValidities(1, 2))
        self.assertRaises(StateError, opened.commit)

    def test_context_manager(self) -> None:
        """
        Leaving a with block closes without committing.
        """
        with StateFile.open(self.paths) as opened:
            opened.log(UidValidities(1, 2))
        self.assertTrue(opened.closed)
        self.assertEqual(
            listing(self.directory), {"INBOX.journal": b"4\n| 1 2\n", "INBOX.new": b""}
        )


class SessionTests(StateFileTestCase):
    """
    Logging, syncing and committing write exactly mbsync's files in
    mbsync's order.
    """

    def test_no_op(self) -> None:
        """
        Open, commit and close without changes touches nothing: the state
        keeps its mtime and no file is left behind.
        """
        self.write(self.paths.state, STATE_S0)
        os.utime(self.paths.state, ns=(1_000_000_000, 1_000_000_000))
        opened = self.open()
        opened.commit()
        opened.close()
        self.assertEqual(listing(self.directory), {"INBOX": STATE_S0})
        self.assertEqual(os.stat(self.paths.state).st_mtime_ns, 1_000_000_000)

    def test_log_writes_journal_and_marker(self) -> None:
        """
        The first write creates the journal (version line 4) and an empty
        C{.new}; each op is applied and appended as mbsync's line.
        """
        self.write(self.paths.state, STATE_S0)
        opened = self.open()
        record = opened.log(NewRecord(4, 0))
        assert record is not None
        self.assertEqual((record.far_uid, record.near_uid), (4, 0))
        self.assertTrue(opened.dirty)
        touched = opened.log(AssignUid(4, 0, Side.NEAR, 4))
        self.assertIs(touched, record)
        self.assertEqual(opened.state.max_pushed_uid, 4)
        self.assertEqual(
            listing(self.directory),
            {
                "INBOX": STATE_S0,
                "INBOX.journal": b"4\n+ 4 0\n> 4 0 4\n",
                "INBOX.lock": b"",
                "INBOX.new": b"",
            },
        )

    def test_unknown_record_not_journaled(self) -> None:
        """
        An op for a record that does not exist is refused before anything
        is written, so the journal never holds a line replay rejects.
        """
        self.write(self.paths.state, STATE_S0)
        opened = self.open()
        error = self.assertRaises(StateError, opened.log, SetFlags(9, 9, Flags.SEEN))
        self.assertIn("refers to non-existing sync state entry", str(error))
        self.assertFalse(opened.dirty)
        self.assertEqual(sorted(os.listdir(self.directory)), ["INBOX", "INBOX.lock"])

    def test_commit_order_and_fsync(self) -> None:
        """
        sync() fdatasyncs the journal; commit writes C{.new}, fdatasyncs
        and closes it, closes the journal, renames, then unlinks the
        journal: the order strace shows for mbsync 1.4.4.
        """
        self.write(self.paths.state, STATE_S0)
        system = RecordingSystem()
        opened = self.open(system)
        self.assertEqual(
            system.calls,
            [
                ("mkdir", "state"),
                ("open", "INBOX.lock"),
                ("lock", "INBOX.lock"),
                ("read", "INBOX"),
                ("exists", "INBOX.new"),
            ],
        )
        del system.calls[:]
        opened.log(SESSION_OPS[0])
        opened.sync()
        for op in SESSION_OPS[1:]:
            opened.log(op)
        opened.commit()
        self.assertEqual(
            system.calls,
            [
                ("open", "INBOX.journal"),
                ("write", "INBOX.journal"),
                ("open", "INBOX.new"),
                ("write", "INBOX.journal"),
                ("fdatasync", "INBOX.journal"),
            ]
            + [("write", "INBOX.journal")] * (len(SESSION_OPS) - 1)
            + [
                ("write", "INBOX.new"),
                ("fdatasync", "INBOX.new"),
                ("close", "INBOX.new"),
                ("close", "INBOX.journal"),
                ("rename", "INBOX.new"),
                ("unlink", "INBOX.journal"),
            ],
        )
        self.assertFalse(opened.dirty)
        expected = applied(STATE_S0, SESSION_OPS)
        self.assertEqual(listing(self.directory), {"INBOX": expected, "INBOX.lock": b""})
        del system.calls[:]
        opened.close()
        self.assertEqual(system.calls, [("unlink", "INBOX.lock"), ("close", "INBOX.lock")])
        self.assertEqual(listing(self.directory), {"INBOX": expected})

    def test_no_fsync(self) -> None:
        """
        With C{fsync=False} (mbsync's C{FSync no}) nothing is fdatasynced.
        """
        system = RecordingSystem()
        opened = self.open(system, fsync=False)
        opened.log(UidValidities(1, 2))
        opened.sync()
        opened.commit()
        self.assertNotIn("fdatasync", [name for name, _ in system.calls])

    def test_commit_then_more(self) -> None:
        """
        After a commit, the next write starts a new journal (truncated,
        with its version line).
        """
        opened = self.open()
        opened.log(UidValidities(1, 2))
        opened.commit()
        opened.log(NewRecord(1, 0))
        self.assertEqual(listing(self.directory)["INBOX.journal"], b"4\n+ 1 0\n")
        opened.commit()
        self.assertEqual(
            listing(self.directory),
            {
                "INBOX": b"FarUidValidity 1\nNearUidValidity 2\nMaxPulledUid 0\n"
                b"MaxPushedUid 0\n\n1 0 \n",
                "INBOX.lock": b"",
            },
        )

    def test_delete(self) -> None:
        """
        delete() removes the state, the journal and C{.new}; close() the lock.
        """
        self.write(self.paths.state, STATE_S0)
        opened = self.open()
        opened.log(SetFlags(1, 1, Flags.SEEN))
        opened.delete()
        self.assertEqual(opened.state, SyncState())
        self.assertFalse(opened.dirty)
        self.assertEqual(os.listdir(self.directory), ["INBOX.lock"])
        opened.close()
        self.assertEqual(os.listdir(self.directory), [])


class CrashTests(StateFileTestCase):
    """
    Whatever system call a session dies at, the next open yields the old
    state plus exactly the journaled operations, or the committed state.
    """

    def session(self, system: SystemCalls) -> None:
        """
        Open STATE_S0, log SESSION_OPS (syncing after the first), commit.
        """
        opened = StateFile.open(self.paths, system=system)
        try:
            opened.log(SESSION_OPS[0])
            opened.sync()
            for op in SESSION_OPS[1:]:
                opened.log(op)
            opened.commit()
        finally:
            # A dead process's descriptors close too.
            opened.close()

    def run_crashes(self, torn: bool) -> int:
        """
        Crash at every call of the session in turn and check the reopened
        state.

        @return: how many crash points were tried.
        """
        counting = RecordingSystem()
        self.write(self.paths.state, STATE_S0)
        self.session(counting)
        final = applied(STATE_S0, SESSION_OPS)
        self.assertEqual(listing(self.directory), {"INBOX": final})
        for index in range(len(counting.calls)):
            shutil.rmtree(self.directory)
            self.write(self.paths.state, STATE_S0)
            system = RecordingSystem(crash_at=index, torn=torn)
            try:
                self.session(system)
            except SimulatedCrash:
                pass
            call = counting.calls[index]
            done = counting.calls[:index]
            lines = done.count(("write", "INBOX.journal")) - 1
            if ("rename", "INBOX.new") in done:
                expected = final
            else:
                expected = applied(STATE_S0, SESSION_OPS[: max(lines, 0)])
            if torn and call == ("write", "INBOX.journal") and lines >= 0:
                # A torn entry: rejected where mbsync rejects it.
                error = self.assertRaises(StateError, StateFile.open, self.paths)
                self.assertEqual(
                    str(error), f"incomplete journal entry at {self.paths.journal}:{lines + 2}"
                )
                continue
            with StateFile.open(self.paths) as reopened:
                self.assertEqual(format_state(reopened.state), expected, (index, call))
                reopened.commit()
            self.assertEqual(listing(self.directory)["INBOX"], expected, (index, call))
        return len(counting.calls)

    def test_crash_at_every_call(self) -> None:
        """
        Crash points 1 (before any journal write: nothing changed), 2 (after
        journal writes: replayed), 3 (during commit, before the rename: the
        partial C{.new} is a marker; replay over the old state) and 4
        (after the rename: the stale journal is ignored), at every call.
        """
        self.assertEqual(self.run_crashes(torn=False), 25)

    def test_torn_writes(self) -> None:
        """
        A write cut in half: a torn journal entry makes open fail with
        mbsync's message (mbsync 1.4.4 refuses it the same way); a torn
        header has no C{.new} yet and is ignored; a torn C{.new} is a
        marker only.
        """
        self.run_crashes(torn=True)

    def test_replay_requires_new(self) -> None:
        """
        A journal without C{.new} is stale: ignored, and truncated by the
        next write.
        """
        self.write(self.paths.state, STATE_S0)
        self.write(self.paths.journal, b"4\n- 1 1\n")
        opened = self.open()
        self.assertFalse(opened.replayed)
        self.assertEqual(format_state(opened.state), STATE_S0)
        opened.log(SetFlags(1, 1, Flags.SEEN))
        self.assertEqual(listing(self.directory)["INBOX.journal"], b"4\n* 1 1 16\n")

    def test_replay_appends(self) -> None:
        """
        With C{.new}, the journal is replayed, the session is dirty, and
        new lines are appended after the replayed ones.
        """
        self.write(self.paths.state, STATE_S0)
        self.write(self.paths.journal, b"4\n- 1 1\n")
        self.write(self.paths.new, b"FarUid")
        opened = self.open()
        self.assertTrue(opened.replayed)
        self.assertTrue(opened.dirty)
        self.assertIsNone(opened.state.by_far(1))
        opened.log(SetFlags(2, 2, Flags.NONE))
        self.assertEqual(listing(self.directory)["INBOX.journal"], b"4\n- 1 1\n* 2 2 0\n")
        self.assertEqual(listing(self.directory)["INBOX.new"], b"")

    def test_replay_without_state(self) -> None:
        """
        A journal with C{.new} but no state file replays over an empty
        state (a new pair that crashed).
        """
        self.write(self.paths.journal, b"4\n| 5 6\n+ 1 0\n")
        self.write(self.paths.new, b"")
        opened = self.open()
        self.assertFalse(opened.existed)
        self.assertTrue(opened.replayed)
        self.assertEqual(
            format_state(opened.state),
            b"FarUidValidity 5\nNearUidValidity 6\nMaxPulledUid 0\nMaxPushedUid 0\n\n1 0 \n",
        )

    def test_empty_journal(self) -> None:
        """
        An empty journal with C{.new} is nothing to replay: the session is
        clean and the files stay (as mbsync 1.4.4 leaves them).
        """
        self.write(self.paths.state, STATE_S0)
        self.write(self.paths.journal, b"")
        self.write(self.paths.new, b"")
        opened = self.open()
        self.assertFalse(opened.replayed)
        opened.commit()
        opened.close()
        self.assertEqual(
            listing(self.directory),
            {"INBOX": STATE_S0, "INBOX.journal": b"", "INBOX.new": b""},
        )

    def test_bad_journals(self) -> None:
        """
        Torn, foreign-version and inconsistent journals fail the open with
        the journal's name and line, and leave every file as it was.
        """
        rows = [
            (b"4", f"incomplete journal header in {self.paths.journal}"),
            (b"4\n* 1 1 16\n* 2 2", f"incomplete journal entry at {self.paths.journal}:3"),
            (
                b"5\n",
                f"incompatible journal version (got 5, expected 4) in {self.paths.journal}",
            ),
            (
                b"4\n* 7 7 16\n",
                f"journal entry at {self.paths.journal}:2 refers to non-existing sync state entry",
            ),
        ]
        for journal, message in rows:
            self.write(self.paths.state, STATE_S0)
            self.write(self.paths.journal, journal)
            self.write(self.paths.new, b"")
            error = self.assertRaises(StateError, self.open)
            self.assertEqual(str(error), message)
            self.assertEqual(
                listing(self.directory),
                {"INBOX": STATE_S0, "INBOX.journal": journal, "INBOX.new": b""},
            )


def find_mbsync(case: SynchronousTestCase) -> str:
    """
    The installed mbsync; fails the test (never skips) if there is none.
    """
    found = shutil.which("mbsync")
    if found is None:
        case.fail("mbsync is not installed (scripts/bootstrap.sh installs isync)")
    assert found is not None
    return found


class MaildirTree:
    """
    A far and a near Maildir, an mbsyncrc with channel C{test} between
    their INBOXes, and the state directory, all under C{root}.
    """

    def __init__(self, mbsync: str, root: str) -> None:
        self.mbsync = mbsync
        self.root = root
        self.rc = os.path.join(root, "rc")
        self.paths = make_paths(os.path.join(root, "state"))

    @classmethod
    def create(cls, mbsync: str, root: str) -> MaildirTree:
        """
        Make the directories and the configuration.
        """
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(root, "far", "INBOX", sub))
        os.makedirs(os.path.join(root, "near"))
        with open(os.path.join(root, "rc"), "w") as f:
            f.write(
                f"MaildirStore far\nPath {root}/far/\nInbox {root}/far/INBOX\n\n"
                f"MaildirStore near\nPath {root}/near/\nInbox {root}/near/INBOX\n\n"
                "Channel test\nFar :far:\nNear :near:\nPatterns INBOX\nCreate Both\n"
                f"SyncState {root}/state/\n"
            )
        return cls(mbsync, root)

    def add(self, side: str, name: str, flags: str = "") -> None:
        """
        Deliver a message to C{side}'s INBOX.
        """
        path = os.path.join(self.root, side, "INBOX", "cur", f"{name}:2,{flags}")
        with open(path, "w") as f:
            f.write(f"Subject: {name}\n\nbody of {name}\n")

    def messages(self, side: str) -> list[str]:
        """
        The file names in C{side}'s INBOX/cur and INBOX/new.
        """
        names = []
        for sub in ("cur", "new"):
            names.extend(os.listdir(os.path.join(self.root, side, "INBOX", sub)))
        return sorted(names)

    def run(self, *options: str) -> subprocess.CompletedProcess[str]:
        """
        Run mbsync on channel C{test}, with the Maildir directories dated
        in the past so that it does not sleep for "recent modification".
        """
        past = time.time() - 100
        for directory, _, _ in os.walk(self.root):
            os.utime(directory, (past, past))
        return subprocess.run(
            [self.mbsync, "-c", self.rc, *options, "test"],
            capture_output=True,
            text=True,
            env={"HOME": self.root, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            timeout=120,
        )

    def copy(self, root: str) -> MaildirTree:
        """
        A copy of the whole tree at C{root}.
        """
        shutil.copytree(self.root, root, symlinks=True)
        with open(os.path.join(root, "rc")) as f:
            text = f.read()
        with open(os.path.join(root, "rc"), "w") as f:
            f.write(text.replace(self.root + "/", root + "/"))
        return MaildirTree(self.mbsync, root)

    def state_files(self) -> dict[str, bytes]:
        """
        The state directory's files and contents.
        """
        return listing(os.path.join(self.root, "state"))


class MbsyncInteropTests(SynchronousTestCase):
    """
    Files left by mbsync are resolved by msync as mbsync resolves them, and
    files left by msync are accepted by mbsync.
    """

    def setUp(self) -> None:
        self.mbsync = find_mbsync(self)
        self.base = os.path.abspath(self.mktemp())
        self.counter = 0

    def scratch(self) -> str:
        """
        A fresh directory name.
        """
        self.counter += 1
        return f"{self.base}.{self.counter}"

    def check(self, result: subprocess.CompletedProcess[str], *codes: int) -> None:
        """
        Assert mbsync exited with one of C{codes}.
        """
        self.assertIn(result.returncode, codes, result.stderr)

    def pending_tree(self) -> MaildirTree:
        """
        A pair synced once by mbsync, then changed on both sides: three new
        far messages, two new near ones, a far flag change and a near
        deletion (about 20 journal lines to sync).
        """
        tree = MaildirTree.create(self.mbsync, self.base)
        for number in (1, 2, 3):
            tree.add("far", f"100{number}.1_{number}.host")
        self.check(tree.run(), 0)
        for number in (4, 5, 6):
            tree.add("far", f"100{number}.1_{number}.host")
        for number in (7, 8):
            tree.add("near", f"200{number}.1_{number}.host")
        cur = os.path.join(tree.root, "far", "INBOX", "cur")
        first = next(name for name in os.listdir(cur) if name.startswith("1001."))
        os.rename(os.path.join(cur, first), os.path.join(cur, first + "FS"))
        for sub in ("cur", "new"):
            box = os.path.join(tree.root, "near", "INBOX", sub)
            for name in os.listdir(box):
                if ",U=2:" in name:
                    os.unlink(os.path.join(box, name))
        return tree

    def msync_commit(self, tree: MaildirTree, ops: Sequence[JournalOp] = ()) -> StateFile:
        """
        Open C{tree}'s state with msync, log C{ops}, commit and close.

        @return: the closed StateFile.
        """
        with StateFile.open(tree.paths, channel_label=LABEL) as opened:
            for op in ops:
                opened.log(op)
            opened.commit()
        return opened

    def test_recovers_every_mbsync_crash(self) -> None:
        """
        For every crash point of a real mbsync run (C{-Tj<N>}), msync's
        replay plus the operations mbsync's own recovery run logs commit
        byte-for-byte the state that recovery run writes (kept in C{.new}
        by C{-Tj}).
        """
        pending = self.pending_tree()
        points = 0
        for crash in range(1, 100):
            crashed = pending.copy(self.scratch())
            result = crashed.run(f"-Tj{crash}")
            if result.returncode == 0:
                break
            self.check(result, 100, 101)
            points += 1
            left = crashed.state_files()
            recovery = crashed.copy(self.scratch())
            self.check(recovery.run("-Tj"), 0)
            recovered = recovery.state_files()
            journal = left.get("INBOX.journal", b"")
            if "INBOX.new" in left and journal:
                # mbsync appended to the journal it replayed.
                self.assertTrue(recovered["INBOX.journal"].startswith(journal))
                done = len(parse_journal(journal, "J"))
            else:
                done = 0
            suffix = parse_journal(recovered["INBOX.journal"], "J")[done:]
            opened = self.msync_commit(crashed, suffix)
            self.assertEqual(opened.replayed, done > 0 or journal == b"4\n")
            self.assertEqual(
                crashed.state_files(), {"INBOX": recovered["INBOX.new"]}, f"-Tj{crash}"
            )
        self.assertGreater(points, 30)

    def test_mbsync_recovers_msync_journal(self) -> None:
        """
        The journal and marker msync writes for the operations of an
        interrupted mbsync run are byte-identical to mbsync's, written
        fresh or appended after a replay; mbsync then recovers msync's
        files to the same state as its own.
        """
        pending = self.pending_tree()
        for crash in (6, 18, 30, 40):
            crashed = pending.copy(self.scratch())
            self.check(crashed.run(f"-Tj{crash}"), 100, 101)
            left = crashed.state_files()
            ops = parse_journal(left["INBOX.journal"], "J")
            for replayed in (0, len(ops) // 2):
                mine = crashed.copy(self.scratch())
                state_dir = os.path.join(mine.root, "state")
                for name in ("INBOX.journal", "INBOX.new", "INBOX.lock"):
                    os.unlink(os.path.join(state_dir, name))
                if replayed:
                    lines = left["INBOX.journal"].split(b"\n")
                    with open(mine.paths.journal, "wb") as f:
                        f.write(b"\n".join(lines[: replayed + 1]) + b"\n")
                    with open(mine.paths.new, "wb") as f:
                        f.write(b"Partial")
                opened = StateFile.open(mine.paths, channel_label=LABEL)
                self.assertEqual(opened.replayed, bool(replayed))
                for op in ops[replayed:]:
                    opened.log(op)
                opened.close()
                expected = dict(left)
                del expected["INBOX.lock"]
                self.assertEqual(mine.state_files(), expected)
                self.check(mine.run(), 0)
            self.check(crashed.run(), 0)
            self.assertEqual(set(crashed.state_files()), {"INBOX"})
            self.assertEqual(mine.state_files(), crashed.state_files())
            self.assertEqual(len(mine.messages("near")), len(crashed.messages("near")))

    def test_commit_accepted_by_mbsync(self) -> None:
        """
        A state msync commits (here: recovering a crash between writing
        C{.new} and renaming it) is one mbsync continues from: its runs
        complete and end where mbsync's own recovery ends.
        """
        pending = self.pending_tree()
        done = pending.copy(self.scratch())
        self.check(done.run("-Tj"), 0)
        new = done.state_files()["INBOX.new"]
        mine = done.copy(self.scratch())
        theirs = done.copy(self.scratch())
        self.assertTrue(self.msync_commit(mine).replayed)
        self.assertEqual(mine.state_files(), {"INBOX": new})
        self.check(theirs.run(), 0)
        for tree in (mine, theirs):
            self.check(tree.run(), 0)
            tree.add("far", "1009.1_9.host", "S")
            tree.add("near", "2009.1_9.host", "F")
            self.check(tree.run(), 0)
        self.assertEqual(mine.state_files(), theirs.state_files())
        self.assertIn(b"\n9 10 S\n", mine.state_files()["INBOX"])
        self.assertIn(b"\n10 9 F\n", mine.state_files()["INBOX"])

    def test_leftover_files_resolved_as_mbsync(self) -> None:
        """
        On a pair with nothing to sync, each combination of leftover files
        (every crash point, stale lock, empty journal or marker) ends, after
        msync's open/commit/close, exactly as after an mbsync run: same
        files, same contents, and the state rewritten or not alike.
        """
        pending = self.pending_tree()
        done = pending.copy(self.scratch())
        self.check(done.run("-Tj"), 0)
        # done: old state, the full journal and the complete .new, as a
        # crash between writing .new and renaming it would leave.
        files = done.state_files()
        old, journal, new = files["INBOX"], files["INBOX.journal"], files["INBOX.new"]
        rows: dict[str, dict[str, bytes]] = {
            "1 clean": {"INBOX": new},
            "1 stale lock": {"INBOX": new, "INBOX.lock": b""},
            "2 journal header only": {"INBOX": new, "INBOX.journal": b"4\n", "INBOX.new": b""},
            "2 empty journal": {"INBOX": new, "INBOX.journal": b"", "INBOX.new": b""},
            "2 marker only": {"INBOX": new, "INBOX.new": b""},
            "3 complete new": {"INBOX": old, "INBOX.journal": journal, "INBOX.new": new},
            "3 partial new": {
                "INBOX": old,
                "INBOX.journal": journal,
                "INBOX.new": new[: len(new) // 2],
            },
            "4 stale journal": {"INBOX": new, "INBOX.journal": journal},
        }
        for name, contents in rows.items():
            trees = []
            for _ in range(2):
                tree = done.copy(self.scratch())
                state_dir = os.path.join(tree.root, "state")
                shutil.rmtree(state_dir)
                os.mkdir(state_dir, 0o700)
                for file_name, data in contents.items():
                    with open(os.path.join(state_dir, file_name), "wb") as f:
                        f.write(data)
                os.utime(tree.paths.state, ns=(10**9, 10**9))
                trees.append(tree)
            theirs, mine = trees
            self.check(theirs.run(), 0)
            self.msync_commit(mine)
            self.assertEqual(mine.state_files(), theirs.state_files(), name)
            self.assertEqual(
                os.stat(mine.paths.state).st_mtime_ns == 10**9,
                os.stat(theirs.paths.state).st_mtime_ns == 10**9,
                name,
            )


class MbsyncLockTests(SynchronousTestCase):
    """
    msync and mbsync exclude each other through the same POSIX lock.
    """

    def setUp(self) -> None:
        mbsync = find_mbsync(self)
        self.tree = MaildirTree.create(mbsync, os.path.abspath(self.mktemp()))
        self.tree.add("far", "1001.1_1.host")
        result = self.tree.run()
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_mbsync_sees_msync_lock(self) -> None:
        """
        While msync holds the lock, mbsync reports the channel locked and
        fails (exit 1) without touching the state.
        """
        before = self.tree.state_files()
        self.tree.add("far", "1002.1_2.host")
        with StateFile.open(self.tree.paths, channel_label=LABEL):
            result = self.tree.run()
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"Error: channel {LABEL} is locked", result.stderr)
        self.assertEqual(self.tree.state_files(), before)

    def test_msync_sees_mbsync_lock(self) -> None:
        """
        While mbsync holds the lock (parked on the far box's UIDVALIDITY
        lock, which it takes after the state lock), msync's open raises
        ChannelLocked; mbsync then completes normally.
        """
        uidvalidity = os.path.join(self.tree.root, "far", "INBOX", ".uidvalidity")
        blocker = os.open(uidvalidity, os.O_RDWR)
        try:
            fcntl.lockf(blocker, fcntl.LOCK_EX)
            past = time.time() - 100
            for directory, _, _ in os.walk(self.tree.root):
                os.utime(directory, (past, past))
            process = subprocess.Popen(
                [self.tree.mbsync, "-c", self.tree.rc, "test"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.wait_for_lock(process.pid, self.tree.paths.lock)
            error = self.assertRaises(
                ChannelLocked, StateFile.open, self.tree.paths, channel_label=LABEL
            )
            self.assertEqual(str(error), f"channel {LABEL} is locked")
        finally:
            os.close(blocker)
        _, stderr = process.communicate(timeout=60)
        self.assertEqual(process.returncode, 0, stderr)
        self.assertFalse(os.path.exists(self.tree.paths.lock))
        StateFile.open(self.tree.paths).close()

    def wait_for_lock(self, pid: int, path: str) -> None:
        """
        Wait until process C{pid} holds a POSIX lock on C{path}
        (C{/proc/locks}).
        """
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(path):
                inode = os.stat(path).st_ino
                with open("/proc/locks") as f:
                    for line in f:
                        fields = line.split()
                        if "->" in fields:
                            continue
                        if fields[1] == "POSIX" and fields[4] == str(pid):
                            if fields[5].rsplit(":", 1)[-1] == str(inode):
                                return
            time.sleep(0.01)
        self.fail("mbsync did not take the state lock")
