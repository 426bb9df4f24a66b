# -*- test-case-name: tests.daemon.test_interrupt -*-
"""
The daemon's stop, as the runner sees it: at any store operation of a box
pair the far store becomes unavailable (what L{msync.runner.interrupt_store}
does to an IMAP store on SIGTERM) and the daemon's watch says stop. The run
ends at once, and the next run (a cron C{msync -a}, or the restarted
daemon) ends exactly where an uninterrupted run ends: nothing lost, nothing
duplicated, the same flags.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from msync.config.load import parse_config
from msync.config.schema import Store
from msync.errors import StoreUnavailable
from msync.plan import select_jobs
from msync.report import Counters, Severity
from msync.runner import SyncRequest, sync_channels
from msync.stores.interface import IStore
from msync.stores.memorystore import FailurePoint, MemoryStore
from tests.sync.scenarios import BOX, normalize, populate

FAR = [(1, "S", "a"), (2, "", "b"), (3, "F", "c"), (5, "", "e")]
NEAR = [(1, "", "x"), (2, "S", "y")]

RC = """\
MaildirStore f
Path {root}/f/

MaildirStore n
Path {root}/n/

Channel c
Far :f:
Near :n:
Sync All
Create Both
Expunge Both
SyncState {root}/state/
"""


class Quiet:
    """
    The runner's output, kept.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []

    def emit(self, severity: Severity, text: str) -> None:
        if severity is Severity.ERROR:
            self.errors.append(text)

    def print_line(self, text: str) -> None:
        pass

    def show_progress(self, counters: Counters) -> None:
        pass

    def event(self, kind: str, **fields: object) -> None:
        pass


class Watch:
    """
    The daemon's watch: stop once a pair failed (SIGTERM came).
    """

    def __init__(self) -> None:
        self.stop = False
        self.finished = 0

    def stopping(self) -> bool:
        return self.stop

    def pair_finished(self, channel: Any, pair: Any, result: Any, error: Any) -> None:
        self.finished += 1
        if error is not None:
            self.stop = True


class InterruptTests(SynchronousTestCase):
    """
    Interrupting a pair at every far store operation, then rerunning.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def world(self) -> tuple[Any, MemoryStore, MemoryStore]:
        root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(root, "state"))
        config = parse_config(RC.format(root=root), "rc", home=root)
        far, near = MemoryStore("f", clock=self.clock), MemoryStore("n", clock=self.clock)
        populate(far, FAR)
        populate(near, NEAR)
        return config, far.reopen(), near.reopen()

    def run_once(
        self, config: Any, far: MemoryStore, near: MemoryStore, watch: Watch | None = None
    ) -> int:
        stores = {"f": far, "n": near}

        def factory(section: Store) -> IStore:
            return stores[section.name]

        jobs = select_jobs(config, [], all_channels=True).jobs
        done = Deferred.fromCoroutine(
            sync_channels(config, jobs, factory, SyncRequest(), Quiet(), watch)
        )
        return self.successResultOf(done)

    def outcome(self, far: MemoryStore, near: MemoryStore) -> tuple[Any, ...]:
        def box(store: MemoryStore) -> list[tuple[str, bytes]]:
            return sorted((m.flags.letters(), normalize(m.data)) for m in store.messages(BOX))

        return box(far), box(near)

    def test_every_operation(self) -> None:
        """
        For every far operation of the sync, before and after its effect:
        the interrupted run stops (status 1, no later pair), and a rerun
        then one more sync end as two uninterrupted syncs do.
        """
        config, far, near = self.world()
        self.assertEqual(self.run_once(config, far, near), 0)
        operations = len(far.operations)
        self.assertGreater(operations, 5)
        far, near = far.reopen(), near.reopen()
        self.assertEqual(self.run_once(config, far, near), 0)
        reference = self.outcome(far, near)
        self.assertEqual(len(reference[0]), 6)
        self.assertEqual(len(reference[1]), 6)
        for number in range(1, operations + 1):
            for point in FailurePoint:
                config, far, near = self.world()
                far.fail_operation(number, StoreUnavailable, point)
                watch = Watch()
                status = self.run_once(config, far, near, watch)
                self.assertEqual((status, watch.stop), (1, True), (number, point))
                for _ in range(2):
                    far, near = far.reopen(), near.reopen()
                    self.assertEqual(self.run_once(config, far, near), 0, (number, point))
                self.assertEqual(self.outcome(far, near), reference, (number, point))
