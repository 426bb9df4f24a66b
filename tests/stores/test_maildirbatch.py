# -*- test-case-name: tests.stores.test_maildirbatch -*-
"""
Tests for the batched Maildir writes of a pull: L{write_batch} (files
written, then synced, then renamed; a failure fails one message) and
L{BatchWriter}, and a pull into a Maildir through batches, with the disk
as a crash would leave it taken at every step of every batch and synced
again: no message lost, none duplicated.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import SynchronousTestCase

from msync.config import schema
from msync.errors import MailboxError
from msync.model import INBOX
from msync.stores import maildirfiles, maildirstore
from msync.stores.maildirbox import MaildirMailbox
from msync.stores.maildirfiles import Delivery, write_batch
from msync.stores.maildirstore import BatchWriter, MaildirStore
from msync.stores.maildiruids import sync_fd
from msync.sync.engine import sync_pair
from msync.sync.options import PairOptions
from msync.sync.statelock import JournalTesting
from tests.fakes.clocks import InlineThreadsReactor
from tests.sync.test_journal_testing import Box, Tree

Job = tuple[Callable[[bool, object], object], Callable[[], object]]


class _QueuedPool:
    """
    A thread pool whose calls wait in C{jobs} until the test runs them.
    """

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs

    def callInThreadWithCallback(  # noqa: N802 (Twisted's name)
        self,
        onResult: Callable[[bool, object], object],  # noqa: N803 (Twisted's name)
        func: Callable[..., object],
        *args: object,
        **kw: object,
    ) -> None:
        self.jobs.append((onResult, lambda: func(*args, **kw)))


class QueuedThreadsReactor(InlineThreadsReactor):
    """
    A fake reactor whose "threads" run only in L{run_jobs}, so that work
    handed over meanwhile gathers into batches.
    """

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Job] = []

    def getThreadPool(self) -> ThreadPool:  # noqa: N802 (Twisted's name)
        return cast(ThreadPool, _QueuedPool(self.jobs))

    def run_jobs(self) -> int:
        """
        Run the waiting jobs, oldest first (and those they add).

        @return: how many ran.
        """
        ran = 0
        while self.jobs:
            on_result, job = self.jobs.pop(0)
            ran += 1
            try:
                result = job()
            except BaseException:
                on_result(False, Failure())
            else:
                on_result(True, result)
        return ran


def _delivery(root: str, name: str, data: bytes, **changes: Any) -> Delivery:
    values: dict[str, Any] = {
        "temporary": os.path.join(root, "tmp", name),
        "final": os.path.join(root, "new", name),
        "chunks": [data[:3], data[3:]],
        "fsync": True,
        "times": None,
        "before": None,
        "describe": lambda: "store near, box INBOX",
    }
    values.update(changes)
    return Delivery(**values)


class WriteBatchTests(SynchronousTestCase):
    """
    L{write_batch}.
    """

    def setUp(self) -> None:
        self.root = self.mktemp()
        for subdir in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.root, subdir))
        self.events: list[tuple[str, str]] = []
        real_sync = sync_fd

        def sync(fd: int) -> None:
            self.events.append(("sync", os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[1]))
            real_sync(fd)

        self.patch(maildirfiles, "sync_fd", sync)

    def test_written_synced_renamed(self) -> None:
        """
        Every file is created (after every C{before} step, in order) and
        written before the first is synced; each is synced before its
        rename; each result is its directory's time after the last rename.
        """
        created: list[list[str]] = []

        def before(name: str) -> Callable[[], None]:
            def step() -> None:
                self.events.append(("before", name))
                created.append(sorted(os.listdir(os.path.join(self.root, "tmp"))))

            return step

        names = ["a", "b", "c"]
        results = write_batch(
            [
                _delivery(self.root, name, b"message " + name.encode(), before=before(name))
                for name in names
            ]
        )
        mtime = os.stat(os.path.join(self.root, "new")).st_mtime_ns
        self.assertEqual(results, [mtime] * 3)
        self.assertEqual(created, [[], ["a"], ["a", "b"]])
        self.assertEqual(
            self.events,
            [("before", "a"), ("before", "b"), ("before", "c")]
            + [("sync", name) for name in names],
        )
        self.assertEqual(os.listdir(os.path.join(self.root, "tmp")), [])
        for name in names:
            with open(os.path.join(self.root, "new", name), "rb") as handle:
                self.assertEqual(handle.read(), b"message " + name.encode())

    def test_without_fsync(self) -> None:
        """
        Without FSync nothing is synced.
        """
        write_batch([_delivery(self.root, "a", b"data", fsync=False)])
        self.assertEqual(self.events, [])
        self.assertEqual(os.listdir(os.path.join(self.root, "new")), ["a"])

    def test_one_fails_alone(self) -> None:
        """
        A message whose C{tmp/} name is taken fails with L{MailboxError}
        (the file there is left alone); one whose C{before} step fails
        fails with its error; the others are written.
        """
        with open(os.path.join(self.root, "tmp", "b"), "wb") as handle:
            handle.write(b"someone else's")

        def refuse() -> None:
            raise MailboxError("cannot write UIDVALIDITY")

        results = write_batch(
            [
                _delivery(self.root, "a", b"one"),
                _delivery(self.root, "b", b"two"),
                _delivery(self.root, "c", b"three", before=refuse),
                _delivery(self.root, "d", b"four"),
            ]
        )
        self.assertIsInstance(results[0], int)
        self.assertIsInstance(results[1], MailboxError)
        self.assertEqual(str(results[2]), "cannot write UIDVALIDITY")
        self.assertIsInstance(results[3], int)
        self.assertEqual(sorted(os.listdir(os.path.join(self.root, "new"))), ["a", "d"])
        self.assertEqual(os.listdir(os.path.join(self.root, "tmp")), ["b"])
        self.assertEqual([name for _, name in self.events], ["a", "d"])

    def test_write_error_removes_tmp(self) -> None:
        """
        A message that cannot be written fails with L{MailboxError} naming
        the file, and its C{tmp/} file is removed.
        """

        def broken(fd: int, chunks: list[bytes]) -> None:
            raise OSError(28, "No space left on device")

        self.patch(maildirfiles, "_write_chunks", broken)
        results = write_batch([_delivery(self.root, "a", b"one")])
        assert isinstance(results[0], MailboxError)
        self.assertIn("No space left on device", str(results[0]))
        self.assertEqual(os.listdir(os.path.join(self.root, "tmp")), [])
        self.assertEqual(os.listdir(os.path.join(self.root, "new")), [])

    def test_short_writev(self) -> None:
        """
        What a C{writev} leaves unwritten is written after it.
        """

        class _ShortOS:
            def __getattr__(self, name: str) -> Any:
                return getattr(os, name)

            @staticmethod
            def writev(fd: int, chunks: list[bytes]) -> int:
                return os.write(fd, chunks[0][:2])

        self.patch(maildirfiles, "os", _ShortOS())
        write_batch([_delivery(self.root, "a", b"0123456789")])
        with open(os.path.join(self.root, "new", "a"), "rb") as handle:
            self.assertEqual(handle.read(), b"0123456789")


class BatchWriterTests(SynchronousTestCase):
    """
    L{BatchWriter}.
    """

    def test_batches(self) -> None:
        """
        Messages handed over while two batches are under way go together
        in the next batch (at most C{size}); each Deferred fires with its
        own result or error, only once its batch is done.
        """
        reactor = QueuedThreadsReactor()
        batches: list[list[str]] = []

        def fake_write(deliveries: list[Delivery]) -> list[int | BaseException]:
            batches.append([each.final for each in deliveries])
            return [
                MailboxError(each.final) if each.final == "bad" else len(each.final)
                for each in deliveries
            ]

        self.patch(maildirstore, "write_batch", fake_write)
        pool = reactor.getThreadPool()

        def in_thread(work: Callable[[], Any]) -> Deferred[Any]:
            done: Deferred[Any] = Deferred()

            def on_result(ok: bool, result: object) -> None:
                if ok:
                    done.callback(result)
                else:
                    done.errback(cast(Failure, result))

            pool.callInThreadWithCallback(on_result, work)
            return done

        writer = BatchWriter(in_thread, size=3, at_once=2)
        names = ["a", "bb", "ccc", "bad", "eeeee", "ffffff", "g"]
        results: dict[str, list[object]] = {name: [] for name in names}
        for name in names:
            writer.deliver(_delivery("/nowhere", name, b"", final=name)).addBoth(
                results[name].append
            )
        self.assertEqual(len(reactor.jobs), 2)
        self.assertEqual(results["a"], [])
        reactor.run_jobs()
        self.assertEqual(batches, [["a"], ["bb"], ["ccc", "bad", "eeeee"], ["ffffff", "g"]])
        self.assertEqual(
            {name: each[0] for name, each in results.items() if name != "bad"},
            {"a": 1, "bb": 2, "ccc": 3, "eeeee": 5, "ffffff": 6, "g": 1},
        )
        failure = results["bad"][0]
        assert isinstance(failure, Failure)
        self.assertIsInstance(failure.value, MailboxError)


class BatchWriterTogetherTests(SynchronousTestCase):
    """
    L{BatchWriter.together} holds the messages handed over in its block
    and starts full batches at its end.
    """

    def test_together(self) -> None:
        """
        Within the block no job starts (not the first message alone); at
        its end the held messages go in full batches, in order, as many
        jobs at once as allowed, the rest when one ends; each message's
        result is told to its own callable.
        """
        batches: list[list[str]] = []
        jobs: list[tuple[Callable[[], Any], Deferred[Any]]] = []

        def in_thread(work: Callable[[], Any]) -> Deferred[Any]:
            done: Deferred[Any] = Deferred()
            jobs.append((work, done))
            return done

        def fake_write(deliveries: list[Delivery]) -> list[int | BaseException]:
            batches.append([each.final for each in deliveries])
            return [len(each.final) for each in deliveries]

        self.patch(maildirstore, "write_batch", fake_write)
        writer = BatchWriter(in_thread, size=3, at_once=2)
        told: list[tuple[str, object]] = []
        names = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "g"]
        with writer.together():
            for name in names:
                writer.deliver_to(
                    _delivery("/nowhere", name, b"", final=name),
                    functools.partial(lambda name, result: told.append((name, result)), name),
                )
            self.assertEqual(jobs, [])
        self.assertEqual(len(jobs), 2)
        while jobs:
            work, done = jobs.pop(0)
            done.callback(work())
        self.assertEqual(batches, [["a", "bb", "ccc"], ["dddd", "eeeee", "ffffff"], ["g"]])
        # Each batch's results last to first.
        self.assertEqual(
            told,
            [
                ("ccc", 3),
                ("bb", 2),
                ("a", 1),
                ("ffffff", 6),
                ("eeeee", 5),
                ("dddd", 4),
                ("g", 1),
            ],
        )


class BatchedPullCrashTests(SynchronousTestCase):
    """
    A pull into a Maildir through the batch writer, with the disk taken as
    a crash would leave it at every step of the batches (after each file
    is created, written, synced and renamed), then synced again: every
    message arrives exactly once, as in an uninterrupted run.
    """

    FAR: Box = (8, [(n, n, "S" if n % 3 else "") for n in range(1, 9)])

    def sync(self, tree: Tree, reactor: InlineThreadsReactor, fsync: bool = False) -> int:
        """
        Pull far into near with a store on C{reactor}, running its jobs
        until the sync is done; with C{fsync}, as with C{FSync yes}.

        @return: how many thread jobs ran.
        """
        reactor.advance(1_600_000_000 - reactor.seconds())

        def store(name: str) -> MaildirStore:
            config = schema.MaildirStore(
                name=name, inbox=os.path.join(tree.root, name), path=tree.root + "/"
            )
            return MaildirStore(config, fsync=fsync, clock=reactor, mtime_wait=False)

        far, near = store("far"), store("near")
        ran = 0
        try:
            done = Deferred.fromCoroutine(
                sync_pair(
                    far,
                    near,
                    INBOX,
                    INBOX,
                    PairOptions(channel="test"),
                    tree.paths,
                    fsync=fsync,
                    journal_testing=JournalTesting(keep_journal=True),
                )
            )
            outcome: list[object] = []
            done.addBoth(outcome.append)
            while not outcome and isinstance(reactor, QueuedThreadsReactor):
                ran += reactor.run_jobs()
                self.assertTrue(ran < 1000, "the sync does not finish")
            self.assertTrue(outcome, "the sync did not finish")
            if isinstance(outcome[0], Failure):
                outcome[0].raiseException()
        finally:
            far.close()
            near.close()
        return ran

    def test_every_crash_point(self) -> None:
        """
        Every snapshot, synced again (once, then once more to settle),
        ends with the far box's messages in near exactly once each, with
        their flags, and the second sync changes nothing.
        """
        self.every_crash_point()

    def test_every_crash_point_held(self) -> None:
        """
        The same with the far bodies held in memory (as a fetched IMAP
        body is): each is converted in one call and handed to the batch
        writer in the store's own call (L{MaildirMailbox._store_now}), not
        through the store's lock; every crash point still loses and
        duplicates nothing.
        """
        reserved: list[int] = []
        real_reserve = MaildirMailbox._reserve

        def reserve(self: MaildirMailbox, *args: Any) -> Any:
            reserved.append(1)
            return real_reserve(self, *args)

        def held(body: maildirfiles.MaildirBody) -> list[bytes]:
            return [os.pread(body._fd, body.size, 0)]

        self.patch(MaildirMailbox, "_reserve", reserve)
        maildirfiles.MaildirBody.held = held  # type: ignore[attr-defined]
        self.addCleanup(delattr, maildirfiles.MaildirBody, "held")
        self.every_crash_point()
        self.assertEqual(reserved, [], "the held bodies went through the store's lock")

    def every_crash_point(self) -> None:
        reference = Tree(self.mktemp(), self.FAR, (0, []))
        jobs = self.sync(reference, QueuedThreadsReactor())
        self.assertLess(jobs, 8, "the pull was not batched")
        wanted = sorted((serial, flags) for _, serial, flags in reference.box("near")[1])
        self.assertEqual(wanted, [(str(n), "S" if n % 3 else "") for n in range(1, 9)])

        tree = Tree(self.mktemp(), self.FAR, (0, []))
        snapshots: list[str] = []
        recording = [True]

        def snapshot() -> None:
            if not recording[0]:
                return
            target = f"{tree.root}-crash{len(snapshots)}"
            shutil.copytree(tree.root, target)
            snapshots.append(target)

        def after(function: Callable[..., Any]) -> Callable[..., Any]:
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                result = function(*args, **kwargs)
                snapshot()
                return result

            return wrapped

        class _RenamingOS:
            def __getattr__(self, name: str) -> Any:
                return getattr(os, name)

            rename = staticmethod(after(os.rename))

        self.patch(maildirfiles, "_create", after(maildirfiles._create))
        self.patch(maildirfiles, "_write_chunks", after(maildirfiles._write_chunks))
        self.patch(maildirfiles, "sync_fd", after(sync_fd))
        self.patch(maildirfiles, "os", _RenamingOS())
        self.sync(tree, QueuedThreadsReactor(), fsync=True)
        recording[0] = False
        self.assertGreaterEqual(len(snapshots), 8 * 4)

        outcomes = {}
        for index, root in enumerate(snapshots):
            crashed = Tree.__new__(Tree)
            crashed.root = root
            crashed.paths = replace(
                tree.paths,
                **{
                    field.name: getattr(tree.paths, field.name).replace(tree.root, root)
                    for field in fields(tree.paths)
                    if isinstance(getattr(tree.paths, field.name), str)
                },
            )
            self.sync(crashed, QueuedThreadsReactor())
            first = crashed.box("near")
            self.sync(crashed, QueuedThreadsReactor())
            second = crashed.box("near")
            got = sorted((serial, flags) for _, serial, flags in second[1])
            outcomes[index] = (got == wanted and first == second) or (first, second)
        self.assertEqual(outcomes, dict.fromkeys(outcomes, True))
