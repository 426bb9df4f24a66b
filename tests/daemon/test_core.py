# -*- test-case-name: tests.daemon.test_core -*-
"""
Tests for L{msync.daemon.core}: the scheduler on a L{Clock} with a fake
backend (syncs are Deferreds the test fires) and the fake IMAP server for
IDLE and quick checks.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from msync.config.load import load_config
from msync.config.schema import Channel, Config, IMAPAccount, Store
from msync.daemon.core import Daemon
from msync.daemon.hooks import HookRun
from msync.daemon.settings import DaemonSettings
from msync.errors import ChannelLocked
from msync.model import Side
from msync.plan import BoxPair, ChannelJob
from msync.runner import server_key
from msync.stores.imapstore import IMAPStore
from msync.sync.results import PairResult
from tests.fakes.clocks import FakeMailReactor
from tests.fakes.imapserver import MailStore, ServerOptions
from tests.stores.test_imapstore import PASSWORD, FakeNetwork

RC = """\
IMAPAccount acc
Host imap.example
User user
Pass {password}
SSLType None

IMAPStore far
Account acc

MaildirStore near
Path {root}/
Inbox {root}/INBOX

Channel c
Far :far:
Near :near:
Patterns *

IMAPAccount acc2
Host other.example
User user
Pass {password}
SSLType None

IMAPStore far2
Account acc2

MaildirStore near2
Path {root}/two/
Inbox {root}/two/INBOX

Channel d
Far :far2:
Near :near2:
"""


class FakeHooks:
    """
    Records hook runs.
    """

    def __init__(self) -> None:
        self.runs: list[HookRun] = []

    def submit(self, run: HookRun) -> None:
        self.runs.append(run)

    async def stop(self) -> None:
        pass


class FakeLocal:
    """
    Records watched paths; the test calls C{on_change}.
    """

    def __init__(self, on_change: Any) -> None:
        self.on_change = on_change
        self.paths: list[str] = []
        self.stopped = False

    def watch(self, path: str) -> None:
        self.paths.append(path)

    def stop(self) -> None:
        self.stopped = True


class FakeBackend:
    """
    Syncs are recorded and left running until the test finishes them.
    """

    def __init__(
        self, root: str, clock: FakeMailReactor, boxes: tuple[str, ...] = ("INBOX", "Archive")
    ):
        self.root = root
        self.clock = clock
        self.boxes = boxes
        self.mail = MailStore({"user": PASSWORD})
        self.mail.create(b"Archive")
        self.network = FakeNetwork(self.mail, ServerOptions())
        self.running: list[tuple[ChannelJob, Any, Deferred[int]]] = []
        self.history: list[tuple[str, tuple[str, ...] | None]] = []
        self.interrupted = 0
        self.broken = False
        self.lanes: list[int] = []
        # Every channel's stores on one server, each channel a plain job.
        self.one_server = False

    def load(self) -> tuple[Config, tuple[ChannelJob, ...]]:
        path = os.path.join(self.root, "rc")
        with open(path, "w") as stream:
            stream.write(RC.format(root=self.root, password=PASSWORD))
            if self.broken:
                stream.write("Bogus line\n")
        config = load_config(path, {"HOME": self.root})
        return config, tuple(ChannelJob(c) for c in config.channels)

    def sync(self, config: Config, job: ChannelJob, watch: Any, lanes: int = 1) -> Deferred[int]:
        self.lanes.append(lanes)
        done: Deferred[int] = Deferred()
        self.running.append((job, watch, done))
        self.history.append((job.channel.name, job.boxes))
        return done

    def finish(
        self,
        index: int = 0,
        results: dict[str, PairResult | Exception] | None = None,
        status: int = 0,
    ) -> None:
        """
        End a running sync, reporting pair outcomes (default: every box
        of the job, nothing changed).
        """
        job, watch, done = self.running.pop(index)
        channel = job.channel
        if results is None:
            boxes = job.boxes or (self.boxes if channel.patterns else ("INBOX",))
            results = {box: PairResult(box, box) for box in boxes}
        for box, outcome in results.items():
            pair = BoxPair(box, box)
            if isinstance(outcome, Exception):
                watch.pair_finished(channel, pair, None, outcome)
            else:
                watch.pair_finished(channel, pair, outcome, None)
        done.callback(status)

    def interrupt(self) -> None:
        self.interrupted += 1

    def idle_source(self, section: Store) -> IMAPStore:
        from msync.config.schema import IMAPStore as IMAPStoreConfig

        assert isinstance(section, IMAPStoreConfig)

        def connect(account: IMAPAccount, factory: IProtocolFactory) -> Deferred[IProtocol]:
            return self.network.connect(account, factory)

        return IMAPStore(section, reactor=self.clock, connect=connect)

    def near_path(self, config: Config, channel: Channel, box: str) -> str | None:
        return f"/near/{channel.name}/{box}"

    def server(self, section: Store) -> str | None:
        return "one-server" if self.one_server else server_key(section)

    def settle(self) -> None:
        for _ in range(5):
            self.network.flush()


class DaemonTests(SynchronousTestCase):
    """
    The scheduler.
    """

    def make(self, **changes: Any) -> tuple[Daemon, FakeBackend, FakeMailReactor, FakeHooks]:
        clock = FakeMailReactor()
        root = os.path.abspath(self.mktemp())
        os.makedirs(root)
        backend = FakeBackend(root, clock)
        hooks = FakeHooks()
        settings = DaemonSettings(**{"idle": False, "quick_interval": 0, **changes})
        self.local: FakeLocal | None = None

        def local(on_change: Any) -> FakeLocal:
            self.local = FakeLocal(on_change)
            return self.local

        daemon = Daemon(
            clock,
            settings,
            backend,
            hooks,
            lambda: 0.0,
            local_watch=local,
        )

        def stop() -> None:
            stopped = Deferred.fromCoroutine(daemon.stop())
            for _ in range(20):
                backend.settle()
                clock.advance(1)
            self.successResultOf(stopped)

        self.addCleanup(stop)
        return daemon, backend, clock, hooks

    def test_rounds(self) -> None:
        """
        A full round at start and every interval; a round due while the
        last one still runs is merged into one more sync, never a second
        sync of the channel at once.
        """
        daemon, backend, clock, _ = self.make(interval=300)
        daemon.start()
        self.assertEqual(backend.history, [("c", None), ("d", None)])
        backend.finish(0)
        clock.advance(300)
        self.assertEqual(backend.history[2:], [("c", None)])
        clock.advance(300)
        self.assertEqual(len(backend.history), 3, "d still runs, c's second round queued")
        backend.finish(0)
        self.assertEqual(backend.history[3:], [("d", None)])
        backend.finish(0)
        self.assertEqual(backend.history[4:], [("c", None)])
        self.assertEqual(daemon.rounds, 3)

    def test_requests_merge(self) -> None:
        """
        Box requests made while the channel syncs become one targeted job
        afterwards, with each box once.
        """
        daemon, backend, clock, _ = self.make()
        daemon.start()
        queue = daemon.queues["c"]
        for box in ("Archive", "INBOX", "Archive"):
            daemon.request(queue, BoxPair(box, box))
        self.assertEqual(len(backend.history), 2)
        backend.finish(0)
        self.assertEqual(backend.history[2], ("c", ("Archive", "INBOX")))

    def test_lock_retry(self) -> None:
        """
        A pair locked by another process is retried after C{lock_retry}
        seconds, logged at info, not as an error.
        """
        daemon, backend, clock, _ = self.make(lock_retry=30)
        daemon.start()
        with capturedLogs() as events:
            backend.finish(
                0,
                {"INBOX": ChannelLocked("channel c is locked"), "Archive": PairResult("A", "A")},
            )
        self.assertEqual([e for e in events if e["log_level"].name in ("error", "critical")], [])
        clock.advance(29)
        self.assertEqual(len(backend.history), 2)
        clock.advance(1)
        self.assertEqual(backend.history[2], ("c", ("INBOX",)))

    def test_change_logged_and_hooks(self) -> None:
        """
        A pair that changed makes one log line and the hooks' runs with the
        counts; a pair that did not makes neither.
        """
        daemon, backend, clock, hooks = self.make(post_sync_cmd="notmuch new", new_mail_cmd="n")
        daemon.start()
        changed = PairResult("INBOX", "INBOX")
        changed.stored[Side.NEAR] = 3
        changed.flag_updates[Side.FAR] = 2
        changed.expunged[Side.NEAR] = 1
        with capturedLogs() as events:
            backend.finish(0, {"INBOX": changed, "Archive": PairResult("Archive", "Archive")})
        lines = [e["line"] for e in events if "line" in e]
        self.assertEqual(lines, ["INBOX: +3 new, 2 flags, -1"])
        self.assertEqual(
            hooks.runs,
            [HookRun("notmuch new", "c", "INBOX", 3, 6), HookRun("n", "c", "INBOX", 3, 6)],
        )

    def test_quick_check(self) -> None:
        """
        Quick checks STATUS the known far boxes: the first records them,
        a later one syncs only the box that changed.
        """
        daemon, backend, clock, _ = self.make(quick_interval=60)
        daemon.start()
        backend.finish(0)
        backend.finish(0)
        clock.advance(60)
        backend.settle()
        self.assertEqual(daemon.quick_checks, 1)
        self.assertEqual(len(backend.history), 2)
        backend.mail.add_message(b"Archive", b"Subject: x\r\n\r\nhi\r\n")
        clock.advance(60)
        backend.settle()
        self.assertEqual(backend.history[2:], [("c", ("Archive",))])
        statuses = [c for c in backend.network.commands() if c.startswith(b"STATUS")]
        # Two checks of three boxes (c's INBOX and Archive, d's INBOX).
        self.assertEqual(len(statuses), 6)
        self.assertIn(b"HIGHESTMODSEQ", statuses[0])

    def test_idle_triggers_targeted_sync(self) -> None:
        """
        After the first full round the far INBOX is idled; a delivery
        syncs INBOX alone after the debounce delay; quick checks leave the
        idled box to IDLE.
        """
        daemon, backend, clock, _ = self.make(idle=True, quick_interval=60)
        daemon.start()
        backend.finish(0)
        backend.settle()
        self.assertEqual(list(daemon.watchers), [("c", "INBOX")])
        backend.mail.add_message(b"INBOX", b"Subject: x\r\n\r\nhi\r\n")
        backend.settle()
        clock.advance(0.3)
        self.assertEqual(backend.history[-1], ("c", ("INBOX",)))
        backend.finish(0)
        clock.advance(60)
        backend.settle()
        statuses = [c for c in backend.network.commands() if c.startswith(b"STATUS")]
        self.assertEqual([s.split(b" ")[1] for s in statuses], [b"Archive"])

    def test_idle_connection_limit(self) -> None:
        """
        With --max-connections 2 only one box is idled (one connection is
        kept for syncs); the others are left to quick checks.
        """
        daemon, backend, clock, _ = self.make(idle=True, idle_patterns=("*",), max_connections=2)
        daemon.start()
        with capturedLogs() as events:
            backend.finish(0)
        backend.settle()
        self.assertEqual(len(daemon.watchers), 1)
        self.assertTrue(any("max-connections" in str(e.get("log_format")) for e in events))

    def test_channel_dropped_from_config(self) -> None:
        """
        A channel removed from the configuration loses its IDLE watcher at
        the next round, and the watcher's connection slot is given back.
        """
        daemon, backend, clock, _ = self.make(idle=True, interval=60, max_connections=2)
        daemon.start()
        backend.finish(0)
        backend.finish(0)
        backend.settle()
        self.assertEqual(sorted(daemon.watchers), [("c", "INBOX"), ("d", "INBOX")])
        server = backend.server(daemon.queues["c"].job.channel.far_store)
        assert server is not None
        self.assertEqual(daemon._slot(server).tokens, 1)
        original = backend.load

        def without_c() -> tuple[Config, tuple[ChannelJob, ...]]:
            config, jobs = original()
            return config, tuple(job for job in jobs if job.channel.name != "c")

        backend.load = without_c  # type: ignore[method-assign]
        clock.advance(60)
        backend.settle()
        self.assertEqual(list(daemon.watchers), [("d", "INBOX")])
        self.assertEqual(daemon._slot(server).tokens, 2)
        self.assertEqual(list(daemon.queues), ["d"])

    def test_connection_limit_serializes(self) -> None:
        """
        Two channels on one server with --max-connections 1 sync one after
        the other.
        """
        daemon, backend, clock, _ = self.make(max_connections=1)
        backend.one_server = True
        daemon.start()
        self.assertEqual(backend.history, [("c", None)])
        backend.finish(0)
        self.assertEqual(backend.history, [("c", None), ("d", None)])

    def test_parallel_lanes(self) -> None:
        """
        A sync takes the server slots free when it starts, up to
        --max-connections - 1, and syncs that many box pairs at once; a
        channel on the same server starting next gets what is left.
        """
        daemon, backend, clock, _ = self.make(max_connections=4)
        backend.one_server = True
        daemon.start()
        self.assertEqual(backend.history, [("c", None), ("d", None)])
        self.assertEqual(backend.lanes, [3, 1])
        backend.finish(0)
        backend.finish(0)

    def test_local_changes(self) -> None:
        """
        The near boxes are watched after the first round; a local change
        syncs its box after the debounce; changes while the box syncs (our
        own writes) are ignored.
        """
        daemon, backend, clock, _ = self.make()
        daemon.start()
        backend.finish(0)
        assert self.local is not None
        self.assertIn("/near/c/INBOX", self.local.paths)
        clock.advance(1)
        self.local.on_change("/near/c/INBOX")
        clock.advance(0.3)
        self.assertEqual(backend.history[-1], ("c", ("INBOX",)))
        self.local.on_change("/near/c/INBOX")
        clock.advance(0.3)
        backend.finish(-1)
        clock.advance(1)
        self.assertEqual(len([h for h in backend.history if h[0] == "c"]), 2)

    def test_failed_channel_retried_with_backoff(self) -> None:
        """
        A channel whose sync got nothing through (its server down) is
        retried after 1, 2, 4 ... seconds, not only at the next round; a
        success resets the delay.
        """
        daemon, backend, clock, _ = self.make(interval=3600, backoff_initial=1)
        daemon.start()
        backend.finish(1)
        times = []
        for _ in range(3):
            backend.finish(0, {}, status=1)
            start = clock.seconds()
            while len(backend.running) == 0:
                clock.advance(0.5)
            times.append(clock.seconds() - start)
        self.assertEqual(times, [1.0, 2.0, 4.0])
        backend.finish(0)
        self.assertEqual(backend.running, [])
        clock.advance(3500)
        self.assertEqual(backend.running, [], "no retry after a success")

    def test_full_sync_now(self) -> None:
        """
        SIGUSR1's full_sync_now runs a round at once and restarts the
        interval from there.
        """
        daemon, backend, clock, _ = self.make(interval=300)
        daemon.start()
        backend.finish(0)
        backend.finish(0)
        clock.advance(100)
        daemon.full_sync_now()
        self.assertEqual(daemon.rounds, 2)
        self.assertEqual(len(backend.history), 4)
        backend.finish(0)
        backend.finish(0)
        clock.advance(299)
        self.assertEqual(daemon.rounds, 2)
        clock.advance(1)
        self.assertEqual(daemon.rounds, 3)

    def test_broken_config(self) -> None:
        """
        A broken configuration is logged and the round skipped; the next
        round runs once it is fixed.
        """
        daemon, backend, clock, _ = self.make(interval=60)
        backend.broken = True
        with capturedLogs() as events:
            daemon.start()
        self.assertEqual(backend.history, [])
        self.assertTrue(any("Bogus" in str(e.get("error")) for e in events))
        backend.broken = False
        clock.advance(60)
        self.assertEqual(len(backend.history), 2)

    def test_stop_mid_sync(self) -> None:
        """
        Stopping asks the running syncs to stop (the runner's stopping()),
        interrupts them after the grace, returns within the stop timeout
        even if a sync never ends, and schedules nothing afterwards.
        """
        daemon, backend, clock, _ = self.make(interval=60)
        daemon.start()
        watch = backend.running[0][1]
        stopped = Deferred.fromCoroutine(daemon.stop())
        self.assertTrue(watch.stopping())
        self.assertEqual(backend.interrupted, 0)
        clock.advance(daemon.interrupt_after)
        self.assertEqual(backend.interrupted, 1)
        self.assertNoResult(stopped)
        while not stopped.called:
            clock.advance(0.1)
        self.assertLessEqual(clock.seconds(), daemon.stop_timeout + 0.01)
        self.assertEqual(clock.getDelayedCalls(), [])
        daemon.request(daemon.queues["c"], None)
        self.assertEqual(len(backend.history), 2)
