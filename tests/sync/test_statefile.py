# -*- test-case-name: tests.sync.test_statefile -*-
"""
Tests for L{msync.sync.statefile}: locking, loading, journaling and
committing. Every crash point is tested in
L{tests.sync.test_statefile_crash}; the runs with the installed mbsync 1.4.4
as the oracle for the files it reads and leaves are in
L{tests.integration.test_statefile_mbsync}.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from msync.errors import ChannelLocked, StateError
from msync.model import Flags, Side
from msync.sync.journal import (
    JOURNAL_HEADER,
    AssignUid,
    NewRecord,
    SetFlags,
    UidValidities,
    format_journal_line,
)
from msync.sync.state import SyncState
from msync.sync.statefile import StateFile
from msync.sync.statepaths import state_paths
from msync.sync.statetext import format_state
from tests.sync.statefixtures import (
    LABEL,
    SESSION_OPS,
    STATE_S0,
    RecordingSystem,
    StateFileTestCase,
    applied,
    listing,
    log_commit,
    log_one,
    log_sync,
    make_paths,
    nothing,
)


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


def tree(root: str) -> dict[str, tuple[int, bytes | None]]:
    """
    Every directory and file under C{root} with its modification time
    (ns) and, for files, contents.
    """
    seen: dict[str, tuple[int, bytes | None]] = {}
    for directory, subdirs, names in os.walk(root):
        for name in subdirs:
            path = os.path.join(directory, name)
            seen[os.path.relpath(path, root)] = (os.stat(path).st_mtime_ns, None)
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                seen[os.path.relpath(path, root)] = (os.stat(path).st_mtime_ns, handle.read())
    return seen


class ReadOnlyTests(StateFileTestCase):
    """
    C{StateFile.open(read_only=True)} (C{--dry-run}) loads as a normal open
    does and writes nothing: no directory, lock file, journal or C{.new}.
    """

    def open_read_only(self) -> StateFile:
        """
        Open C{self.paths} read-only, closing it at the end of the test.
        """
        opened = StateFile.open(self.paths, channel_label=LABEL, read_only=True)
        self.addCleanup(opened.close)
        return opened

    def test_new_pair_creates_nothing(self) -> None:
        """
        A new pair reads as empty; neither the state directory nor a lock
        file is created.
        """
        opened = self.open_read_only()
        self.assertEqual((opened.existed, opened.replayed), (False, False))
        self.assertEqual(opened.state, SyncState())
        opened.close()
        self.assertEqual(os.listdir(self.root), [])

    def test_replays_in_memory(self) -> None:
        """
        A live journal (C{.new} exists) is replayed over the state in
        memory, giving what a normal open gives; every file stays as it
        was, byte for byte and modification time.
        """
        self.write(self.paths.state, STATE_S0)
        journal = JOURNAL_HEADER + b"".join(format_journal_line(op) for op in SESSION_OPS)
        self.write(self.paths.journal, journal)
        self.write(self.paths.new, b"")
        before = tree(self.root)
        opened = self.open_read_only()
        self.assertEqual((opened.existed, opened.replayed), (True, True))
        self.assertEqual(format_state(opened.state), applied(STATE_S0, SESSION_OPS))
        opened.close()
        self.assertEqual(tree(self.root), before)

    def test_stale_journal_ignored(self) -> None:
        """
        Without C{.new} the journal is stale and ignored, as on a normal open.
        """
        self.write(self.paths.state, STATE_S0)
        self.write(self.paths.journal, JOURNAL_HEADER + format_journal_line(SESSION_OPS[0]))
        opened = self.open_read_only()
        self.assertFalse(opened.replayed)
        self.assertEqual(format_state(opened.state), STATE_S0)

    def test_writes_refused(self) -> None:
        """
        Every writing method raises C{RuntimeError}; nothing is written.
        """
        self.write(self.paths.state, STATE_S0)
        before = tree(self.root)
        opened = self.open_read_only()
        self.assertRaises(RuntimeError, log_one, opened)
        self.assertRaises(RuntimeError, opened.sync)
        self.assertRaises(RuntimeError, opened.commit)
        self.assertRaises(RuntimeError, opened.delete)
        self.assertRaises(RuntimeError, opened.ensure_locked)
        opened.close()
        self.assertEqual(tree(self.root), before)

    def test_locked_here(self) -> None:
        """
        A lock this process holds is reported without touching its file
        (closing a descriptor of it would drop the lock).
        """
        self.open()
        self.assertRaises(ChannelLocked, self.open_read_only)
        self.assertTrue(os.path.exists(self.paths.lock))

    def test_stale_lock_file(self) -> None:
        """
        An unlocked lock file left by a crash is only probed: it stays.
        """
        self.write(self.paths.lock, b"")
        before = tree(self.root)
        self.open_read_only().close()
        self.assertEqual(tree(self.root), before)
