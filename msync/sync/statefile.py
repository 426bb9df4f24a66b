# -*- test-case-name: tests.sync.test_statefile,tests.sync.test_statefile_crash,tests.integration.test_statefile_mbsync -*-
"""
The crash-safe store of one box pair's sync state, on disk exactly as mbsync
1.4 keeps it: C{<state>}, C{<state>.journal}, C{<state>.new} and
C{<state>.lock} (see L{msync.sync.statepaths.StatePaths}).

Protocol (mbsync 1.4 C{load_state}, C{create_state}, C{save_state},
C{lock_state}; verified with strace and C{-Tj} runs of mbsync 1.4.4):
  - Open: C{mkdir(directory, 0700)} of the last level only (an existing
    directory is fine, even where C{mkdir} says EACCES rather than EEXIST);
    take a non-blocking POSIX write lock (C{fcntl F_SETLK}, what
    C{fcntl.lockf} does) on C{<state>.lock}, opened C{O_WRONLY|O_CREAT}
    mode 0666; read the state (missing: a new pair); replay the journal
    only if C{<state>.new} exists and the journal has at least its version
    line. Without C{.new} a journal is stale and ignored.
  - The first journal write of a session truncates the journal and writes
    the version line C{4}, or, after a replay, appends to it; and it
    creates an empty C{.new}, the marker that makes the journal count.
    Each line is written with one C{write(2)}, like mbsync's line-buffered
    stream, so a killed process leaves whole lines (a torn last line only
    comes from a crash of the machine, and makes the next open fail with
    C{incomplete journal entry}, as in mbsync). Group commit
    (L{StateFile.write} with C{hold}, L{StateFile.flush}): the lines of
    one call, or of several held calls, go out in one C{write}, in order,
    so a killed process leaves whole groups; a line is held only once it
    may be written (its file is durable), so holding delays it, never
    moves it ahead. Under C{-Tj<N>} every line is written alone.
  - L{StateFile.sync} fdatasyncs the journal; the engine calls it before
    copying messages so that a TUID is durable before its copy exists.
  - Commit: the whole state into C{.new}, fdatasync, close; close the
    journal; C{rename(.new, state)}; then unlink the journal. Nothing is
    written when nothing was logged or replayed (the state's mtime stays).
  - Close: unlink the lock file, then close it (mbsync's order); never
    commits; C{.new} and the journal stay for the next open to replay.

Crash invariants, each matching what mbsync does with the same files:
  1. Crash before the first journal write: nothing on disk changed except
     a stale C{.lock} (unlocked, reused by the next run).
  2. Crash after journal writes: C{.new} exists, so the next open replays
     the journal over the old state.
  3. Crash during commit before the rename: C{.new} (possibly partial) and
     the journal exist; the journal is replayed over the old state and the
     partial C{.new} is only a marker, truncated by the next write.
  4. Crash after the rename, before the journal is unlinked: no C{.new},
     so the journal is stale and ignored, and truncated by the next write.

One deliberate difference from mbsync, invisible on disk in every state
mbsync can observe: the first write opens (and truncates) the journal
before it creates C{.new}. mbsync creates C{.new} first, so a crash between
the two after case 4 would leave a marker next to a stale journal and the
next run would replay that journal a second time.

After a commit of a big state whose record lines are all canonical, the
records cache C{<state>.msync-records} (msync's own, mbsync ignores it) is
written outside this protocol, without fsync: it names the state text it
describes by a digest, so a partial open uses it only for that very text;
one torn, stale (a crash before it was replaced) or left by another run is
ignored, and the lines are checked instead.

POSIX locks belong to a process, so a second open of the same lock file in
this process would succeed and closing it would drop the first lock; a
registry of the lock files this process holds refuses the second open.

mbsync's test switches (L{JournalTesting}): C{-Tj} keeps the journal,
i.e. commit writes C{.new} but neither renames it over the state nor
unlinks the journal, so the next run replays the journal; C{-Tj<N>} also
counts journal lines down from N, once before and once after each line
(the version line is not counted), and ends the process at once with
status 101 when the count reaches 0 before a line is written, 100 after.
isync's own test suite crashes msync at every step this way.

A read-only open (C{--dry-run}) writes nothing, ever: no directory, no lock
file, no journal, no C{.new}. It reads the state and replays a live journal
in memory exactly as above; a lock file that exists is only probed (locked
and at once unlocked, never created or removed), so a channel another
process is synchronizing is reported as locked. Every writing method
raises C{RuntimeError}.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import islice
from types import TracebackType

from msync.errors import StateError
from msync.model import Side
from msync.sidefiles import remove_quietly, replace_file
from msync.sync.journal import (
    JOURNAL_VERSION,
    JournalOp,
    RecordOp,
    apply_op,
    format_journal_line,
)
from msync.sync.journal5 import (
    JOURNAL_V5,
    flags_line,
    format_line,
    journal_header,
    needs_flags_after,
    replay_any,
)
from msync.sync.state import SyncRecord, SyncState
from msync.sync.statelock import (
    NO_TESTING,
    JournalTesting,
    SystemCalls,
    probe_lock,
    release_lock,
    take_lock,
)
from msync.sync.statepaths import StatePaths, records_cache_path
from msync.sync.statetext import (
    RecordLines,
    RecordUids,
    canonical_uids,
    format_merged_indexed,
    format_records_cache,
    format_state,
    parse_records_cache,
    parse_state,
    split_state,
)


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


#: The most journal lines one L{StateFile.write} call joins into one write.
LINES_PER_WRITE = 4096


class StateFile:
    """
    The sync state of one box pair, opened and locked.

    @ivar state: the current state (after replay, and after every
        L{log}ged operation).
    @ivar paths: the files.
    @ivar replayed: a journal was replayed on open.
    @ivar journal_version: the version of the journal written (C{4} or
        C{5}, see L{msync.sync.journal5}).
    @ivar existed: a state file existed on open (otherwise: a new pair).
    """

    def __init__(
        self,
        paths: StatePaths,
        state: SyncState,
        *,
        replayed: bool,
        existed: bool,
        fsync: bool,
        system: SystemCalls,
        lock_fd: int | None,
        lock_key: str,
        label: str = "",
        read_only: bool = False,
        journal_version: str = JOURNAL_VERSION,
        testing: JournalTesting = NO_TESTING,
    ) -> None:
        """
        Use L{open}.
        """
        self._testing = testing
        self.read_only = read_only
        self.journal_version = journal_version
        self.paths = paths
        self.state = state
        self.replayed = replayed
        self.existed = existed
        self._fsync = fsync
        self._system = system
        self._lock_fd: int | None = lock_fd
        self._lock_key = lock_key
        self._label = label
        # An in-box state whose box does not exist yet is locked once the
        # box has been created (see ensure_locked).
        self._lock_pending = lock_fd is None and not read_only
        self._closed = False
        self._dirty = replayed
        # After a replay, new lines go after the replayed ones.
        self._append = replayed
        self._journal_fd: int | None = None
        self._new_fd: int | None = None
        self._last: SyncRecord | None = None
        # A partial load (see select): the record lines as read, and the
        # records parsed from them so far (line index, record).
        self._lines: RecordLines | None = None
        self._taken: list[tuple[int, SyncRecord]] = []
        # Journal lines held for one write (see write's hold).
        self._held: list[bytes] = []

    @classmethod
    def open(
        cls,
        paths: StatePaths,
        *,
        fsync: bool = True,
        channel_label: str = "",
        system: SystemCalls | None = None,
        read_only: bool = False,
        journal_version: str = JOURNAL_VERSION,
        testing: JournalTesting = NO_TESTING,
        expire_side: Side = Side.NEAR,
        partial: bool = False,
    ) -> StateFile:
        """
        Lock and load the state of a box pair, replaying its journal if
        C{.new} exists (see the module docstring).

        @param fsync: mbsync's C{FSync}: fdatasync the journal in L{sync}
            and C{.new} before the commit's rename.
        @param channel_label: how the pair is named in the lock error,
            e.g. C{":far:INBOX-:near:INBOX"}.
        @param system: the system calls to make (tests substitute them).
        @param read_only: load without writing anything (C{--dry-run}):
            the lock is only probed, the journal replayed in memory.
        @param journal_version: the journal version to write (C{4} as
            mbsync 1.4, C{5} as 1.5); after a replay the journal goes on
            in the replayed journal's version.
        @param testing: mbsync's C{-Tj} switches.
        @param expire_side: the channel's C{ExpireSide} (isync 1.5).
        @param partial: when the state file is canonical and no journal is
            left, parse only its header: L{state} has no records until
            L{select} or L{load_all} (L{partial} says whether that is so).
        @raise ChannelLocked: another process (or another L{StateFile} of
            this one) holds the lock: C{channel <label> is locked}.
        @raise StateError: a file cannot be created or read, or the state
            or journal is corrupt (naming the file and line).
        """
        system = system if system is not None else SystemCalls()
        if read_only:
            return cls._open_read_only(
                paths, fsync, channel_label or paths.state, system, journal_version, expire_side
            )
        if paths.directory is not None:
            try:
                system.mkdir(paths.directory, 0o700)
            except FileExistsError:
                pass
            except OSError as error:
                # Linux reports EACCES, not EEXIST, for an existing directory
                # in a parent we may not write to; mbsync gives up there, but
                # the directory is all we need.
                if not system.is_directory(paths.directory):
                    raise StateError(
                        f"cannot create SyncState directory {paths.directory}: {_reason(error)}"
                    ) from error
        label = channel_label or paths.state
        if paths.directory is None and not system.is_directory(os.path.dirname(paths.state)):
            # SyncState * and the near box does not exist (yet): there is no
            # state to read, and the lock can only be taken once the engine
            # has created the box (mbsync opens boxes before locking).
            return cls(
                paths,
                SyncState(),
                replayed=False,
                existed=False,
                fsync=fsync,
                system=system,
                lock_fd=None,
                lock_key="",
                label=label,
                journal_version=journal_version,
                testing=testing,
            )
        lock_key, lock_fd = take_lock(system, paths.lock, label)
        lines = None
        try:
            split = _load_partial(system, paths, journal_version, expire_side) if partial else None
            if split is not None:
                state, lines = split
                existed, replayed = True, None
            else:
                state, existed, replayed = _load(system, paths, journal_version, expire_side)
        except BaseException:
            release_lock(system, paths.lock, lock_key, lock_fd)
            raise
        opened = cls(
            paths,
            state,
            replayed=replayed is not None,
            journal_version=replayed or journal_version,
            existed=existed,
            fsync=fsync,
            system=system,
            lock_fd=lock_fd,
            lock_key=lock_key,
            testing=testing,
        )
        opened._lines = lines
        return opened

    @classmethod
    def _open_read_only(
        cls,
        paths: StatePaths,
        fsync: bool,
        label: str,
        system: SystemCalls,
        version: str,
        expire_side: Side,
    ) -> StateFile:
        """
        L{open} with C{read_only}: probe the lock, load, replay in memory.
        """
        probe_lock(system, paths.lock, label)
        state, existed, replayed = _load(system, paths, version, expire_side)
        return cls(
            paths,
            state,
            replayed=replayed is not None,
            journal_version=replayed or version,
            existed=existed,
            fsync=fsync,
            system=system,
            lock_fd=None,
            lock_key="",
            label=label,
            read_only=True,
        )

    # A partial load.

    @property
    def partial(self) -> bool:
        """
        Whether the records were left unparsed (L{open} with C{partial}):
        L{state} then holds only the records L{select}ed.
        """
        return self._lines is not None

    def record_far_uids(self) -> Sequence[int]:
        """
        The far UID of every record line, in file order (a partial load).
        """
        assert self._lines is not None
        return self._lines.far_uids()

    def record_near_uids(self) -> Sequence[int]:
        """
        The near UID of every record line, in file order (a partial load).
        """
        assert self._lines is not None
        return self._lines.near_uids()

    def records_marked(self) -> bool:
        """
        Whether a record line carries a placeholder, skipped or expired
        mark (a partial load; L{RecordLines.marked}).
        """
        assert self._lines is not None
        return self._lines.marked()

    def select(self, indices: Sequence[int]) -> None:
        """
        Parse the records of the lines C{indices} (ascending, 0-based) into
        L{state}, in file order; the others are written back as they were
        read at the commit. Call it once, before anything is logged.
        """
        lines = self._lines
        assert lines is not None and not self._taken and not len(self.state)
        for index in indices:
            record = self.state.append(lines.record(index, self.paths.state))
            self._taken.append((index, record))

    def load_all(self) -> None:
        """
        Parse every record after all: the state is then as a full load
        leaves it. Before anything is logged.
        """
        lines = self._lines
        assert lines is not None and not self._taken and not len(self.state)
        self._lines = None
        for record in lines.records(self.paths.state):
            self.state.append(record)

    # The session.

    @property
    def dirty(self) -> bool:
        """
        Whether anything was logged or replayed since open (or the last
        commit), i.e. whether L{commit} will write.
        """
        return self._dirty

    @property
    def closed(self) -> bool:
        """
        Whether L{close} was called.
        """
        return self._closed

    def ensure_locked(self) -> None:
        """
        Take the lock now if L{open} had to postpone it (in-box state of a
        box that did not exist yet); otherwise do nothing.

        @raise ChannelLocked: another process holds it.
        @raise StateError: the lock file cannot be created.
        @raise RuntimeError: the state was opened read-only (so does every
            writing method, which all call this first).
        """
        if self._closed:
            raise StateError(f"sync state {self.paths.state} is closed")
        if self.read_only:
            raise RuntimeError(f"sync state {self.paths.state} is open read-only")
        if self._lock_pending:
            self._lock_key, self._lock_fd = take_lock(
                self._system, self.paths.lock, self._label or self.paths.state
            )
            self._lock_pending = False

    def log(self, op: JournalOp) -> SyncRecord | None:
        """
        Apply C{op} to L{state} and append its line to the journal.

        The line is written before the state changes, and only once the
        record it addresses is known to exist, so the journal never holds
        a line that replay would reject.

        @return: the record C{op} touched (L{journal.apply_op}).
        @raise StateError: the journal cannot be written, or C{op}
            addresses a record that does not exist.
        """
        self._check_open()
        if isinstance(op, RecordOp):
            if self.state.by_pair(op.far_uid, op.near_uid, self._last, prefer_live=True) is None:
                raise StateError(
                    f"journal entry for {op!r} refers to non-existing sync state entry "
                    f"of {self.paths.state}"
                )
        self._write_line(op)
        self._last = apply_op(self.state, op, self._last, live=True)
        return self._last

    def write(self, ops: Sequence[JournalOp], *, hold: bool = False) -> None:
        """
        Append the lines of operations the caller has already applied to
        L{state} (the planner applies its own, L{msync.sync.reconcile}).
        Use either this or L{log} in one session: L{log} looks records up
        from the record it touched last.

        Group commit: the lines of one call go out in one C{write} (up to
        L{LINES_PER_WRITE} of them: a big step, such as the TUIDs of a
        whole box's pull, goes in writes of that many lines, so that its
        lines are never all in memory at once), after any lines held
        before (order is kept). With C{hold} they are kept
        in memory until the next L{flush}, L{write} without C{hold},
        L{log}, L{sync}, L{commit} or L{close}, so lines that become due
        together (the copies of one Maildir batch) share one C{write}. A
        caller holds only lines it may write now (their files are
        durable): holding delays a line, never moves it ahead of its
        file. Under C{-Tj<N>} every line is written (and counted) alone.

        @raise StateError: the journal cannot be written.
        """
        self._check_open()
        if not ops:
            return
        if self._testing.steps_left:
            self.flush()
            for op in ops:
                self._write_line(op)
            return
        if self._journal_fd is None:
            self._start_journal()
        self._dirty = True
        if hold:
            self._held.extend(self._line(op) for op in ops)
            return
        remaining = iter(ops)
        while True:
            before = len(self._held)
            self._held.extend(self._line(op) for op in islice(remaining, LINES_PER_WRITE))
            if len(self._held) == before:
                break
            self.flush()

    def flush(self) -> None:
        """
        Write the lines held by L{write} (one C{write}).

        @raise StateError: the journal cannot be written.
        """
        if not self._held:
            return
        data = b"".join(self._held)
        self._held.clear()
        assert self._journal_fd is not None
        try:
            self._system.write(self._journal_fd, data)
        except OSError as error:
            raise StateError(
                f"cannot write journal {self.paths.journal}: {_reason(error)}"
            ) from error

    def _line(self, op: JournalOp) -> bytes:
        if self.journal_version == JOURNAL_VERSION:
            # mbsync 1.4's journal: one line per operation, nothing after.
            return format_journal_line(op)
        data = format_line(op, self.journal_version)
        after = needs_flags_after(op, self.journal_version)
        if after is not None:
            record = self.state.by_pair(*after)
            if record is not None:
                data += flags_line(record)
        return data

    def _write_line(self, op: JournalOp) -> None:
        self.flush()
        if self._journal_fd is None:
            self._start_journal()
        assert self._journal_fd is not None
        data = self._line(op)
        self._testing.step(101)
        try:
            if data:
                self._system.write(self._journal_fd, data)
        except OSError as error:
            raise StateError(
                f"cannot write journal {self.paths.journal}: {_reason(error)}"
            ) from error
        self._testing.step(100)
        self._dirty = True

    def sync(self) -> None:
        """
        Make the journal written so far durable (fdatasync, when C{fsync});
        the engine calls this before copying messages.

        @raise StateError: the journal cannot be synced.
        """
        self._check_open()
        self.flush()
        if self._fsync and self._journal_fd is not None:
            try:
                self._system.fdatasync(self._journal_fd)
            except OSError as error:
                raise StateError(
                    f"cannot sync journal {self.paths.journal}: {_reason(error)}"
                ) from error

    def commit(self) -> None:
        """
        If L{dirty}: write the state to C{.new}, fdatasync it (when
        C{fsync}) and close it, close the journal, rename C{.new} over the
        state, then unlink the journal (mbsync's order: a crash at any
        point leaves files that the next open resolves to this state or
        to the old state plus the journal, which is the same). Otherwise
        touch nothing. The lock stays held; logging may go on.

        @raise StateError: a file cannot be written, renamed or removed.
        """
        self._check_open()
        if not self._dirty:
            return
        # The held lines first: if the commit fails, the journal has them.
        self.flush()
        paths, system = self.paths, self._system
        if self._new_fd is None:
            # Dirty only by replay: mbsync's save_state creates .new now.
            self._new_fd = self._create(paths.new, "new sync state", append=False)
        new_fd, self._new_fd = self._new_fd, None
        try:
            try:
                if self._lines is None:
                    text = format_state(self.state)
                    uids = canonical_uids(self.state)
                else:
                    text, uids = format_merged_indexed(self.state, self._lines, self._taken)
                system.write(new_fd, text)
                if self._fsync:
                    system.fdatasync(new_fd)
            finally:
                system.close(new_fd)
        except OSError as error:
            raise StateError(
                f"cannot write new sync state {paths.new}: {_reason(error)}"
            ) from error
        self._close_journal()
        if not self._testing.keep_journal:
            try:
                system.rename(paths.new, paths.state)
            except OSError as error:
                raise StateError(
                    f"cannot commit sync state {paths.state}: {_reason(error)}"
                ) from error
            self._unlink(paths.journal, "cannot delete journal")
            _save_records_cache(paths, text, uids)
        self._dirty = False
        self._append = False

    def delete(self) -> None:
        """
        Remove the state, its journal and C{.new} (the box pair is gone);
        the lock is removed by L{close}. L{state} becomes empty.

        @raise StateError: a file exists but cannot be removed.
        """
        self._check_open()
        self._held.clear()
        self._close_files()
        for path in (self.paths.new, self.paths.journal, self.paths.state):
            self._unlink(path, "cannot delete sync state file")
        _save_records_cache(self.paths, b"", None)
        self.state = SyncState()
        self._dirty = False
        self._append = False
        self._last = None

    def close(self) -> None:
        """
        End the session without committing: close the journal and C{.new}
        (both stay on disk, so the next open replays), unlink the lock
        file and release the lock. Calling it again does nothing.

        @raise StateError: a file cannot be closed or the lock removed
            (the lock is released regardless).
        """
        if self._closed:
            return
        self._closed = True
        lock_fd, self._lock_fd = self._lock_fd, None
        try:
            try:
                self.flush()
            finally:
                self._close_files()
        finally:
            if lock_fd is not None:
                release_lock(self._system, self.paths.lock, self._lock_key, lock_fd)

    def __enter__(self) -> StateFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Internals.

    def _check_open(self) -> None:
        # Read-only: ensure_locked refuses every writing method.
        self.ensure_locked()

    def _start_journal(self) -> None:
        # Journal before .new: see the module docstring.
        self._journal_fd = self._create(self.paths.journal, "journal", append=self._append)
        if not self._append:
            try:
                self._system.write(self._journal_fd, journal_header(self.journal_version))
            except OSError as error:
                raise StateError(
                    f"cannot write journal {self.paths.journal}: {_reason(error)}"
                ) from error
            self._append = True
        self._new_fd = self._create(self.paths.new, "new sync state", append=False)

    def _create(self, path: str, what: str, *, append: bool) -> int:
        mode = os.O_APPEND if append else os.O_TRUNC
        try:
            return self._system.open(path, os.O_WRONLY | os.O_CREAT | mode, 0o666)
        except OSError as error:
            raise StateError(f"cannot create {what} {path}: {_reason(error)}") from error

    def _close_fd(self, fd: int | None, what: str, path: str) -> None:
        if fd is not None:
            try:
                self._system.close(fd)
            except OSError as error:
                raise StateError(f"cannot close {what} {path}: {_reason(error)}") from error

    def _close_journal(self) -> None:
        fd, self._journal_fd = self._journal_fd, None
        self._close_fd(fd, "journal", self.paths.journal)

    def _close_files(self) -> None:
        fd, self._new_fd = self._new_fd, None
        self._close_fd(fd, "new sync state", self.paths.new)
        self._close_journal()

    def _unlink(self, path: str, what: str) -> None:
        try:
            self._system.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StateError(f"{what} {path}: {_reason(error)}") from error


def _load_partial(
    system: SystemCalls, paths: StatePaths, version: str, expire_side: Side
) -> tuple[SyncState, RecordLines] | None:
    """
    L{_load} of the header only (L{split_state}), when there is a state
    file in canonical form and no journal to replay; else C{None}.
    """
    try:
        if system.exists(paths.new) or system.exists(paths.journal):
            return None
        text = system.read(paths.state)
    except OSError:
        return None
    if text is None:
        return None
    try:
        cached = system.read(records_cache_path(paths))
    except OSError:
        cached = None
    uids = parse_records_cache(cached, text)
    split = split_state(text, paths.state, isync15=version == JOURNAL_V5, uids=uids)
    if split is None:
        return None
    state, lines = split
    if state.expired_key is not None and state.expired_key is not expire_side.other:
        return None
    state.expire_side = expire_side
    return state, lines


#: The fewest record lines worth a records cache: below that, checking the
#: lines costs less than reading a cache (and no file is left beside a
#: small state).
RECORDS_CACHE_MIN = 2048


def _save_records_cache(paths: StatePaths, text: bytes, uids: RecordUids | None) -> None:
    """
    Keep the records cache for the state file just written as C{text}
    (L{msync.sync.statetext.format_records_cache}), or remove it when its
    record lines are not all canonical (C{uids} is C{None}) or too few to
    be worth it (L{RECORDS_CACHE_MIN}). Never fails: a cache missing or
    left from another text (it names the text by its digest) only means
    the next partial run checks the lines.
    """
    path = records_cache_path(paths)
    if uids is None or len(uids[0]) < RECORDS_CACHE_MIN:
        remove_quietly(path)
        return
    known = uids
    replace_file(
        path,
        lambda out: out.write(format_records_cache(text, known)),
        (OSError, OverflowError),
    )


def _load(
    system: SystemCalls,
    paths: StatePaths,
    version: str = JOURNAL_VERSION,
    expire_side: Side = Side.NEAR,
) -> tuple[SyncState, bool, str | None]:
    """
    Read the state and replay the journal if C{.new} marks it as live.

    @param version: the journal version of the generation in use (a
        journal of version 4 or 5 is replayed either way).
    @param expire_side: the channel's C{ExpireSide}; a state file whose
        expired-UID key names the other side is refused, as isync 1.5
        refuses it.
    @return: the state, whether the state file existed, the version of
        the journal replayed (C{None}: none).
    """
    try:
        text = system.read(paths.state)
    except OSError as error:
        raise StateError(f"cannot read sync state {paths.state}: {_reason(error)}") from error
    existed = text is not None
    isync15 = version == JOURNAL_V5
    state = SyncState() if text is None else parse_state(text, paths.state, isync15=isync15)
    if state.expired_key is not None and state.expired_key is not expire_side.other:
        raise StateError(f"state file {paths.state} does not match ExpireSide setting")
    state.expire_side = expire_side
    try:
        marked = system.exists(paths.new)
        journal = system.read(paths.journal) if marked else None
    except OSError as error:
        raise StateError(f"cannot read journal {paths.journal}: {_reason(error)}") from error
    # mbsync replays when fgets reads a first line: an empty journal, like
    # a missing one, leaves the session clean.
    if not journal:
        return state, existed, None
    replayed = replay_any(state, journal, paths.journal, version, expire_side)
    return state, existed, replayed
