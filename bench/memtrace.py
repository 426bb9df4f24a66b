"""
msync under a memory watch: where the peak of one run is.

C{python bench/memtrace.py REPORT [--trace] -- MSYNC-ARGUMENTS} runs
C{msync MSYNC-ARGUMENTS} in this process and appends to C{REPORT}: the peak
RSS at each phase of every box pair (state read, both boxes loaded,
reconciled, copied, committed) with the box's name, and, with C{--trace},
what tracemalloc saw at the highest traced size of the run (a watcher thread
takes a snapshot each time the traced size grew by a megabyte since the last
one), its top allocation sites by traceback.

C{--trace-run=N} traces only the Nth run reporting to C{REPORT} (the
others read RSS untraced).

C{bench/memcases.py} runs it as the tool of C{bench/run.py}'s cycle on a
kept 200,000-message server. A developer's tool: tracemalloc's own cost
inflates the RSS of a traced run, so read RSS from an untraced one.
"""

from __future__ import annotations

import atexit
import os
import resource
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

TOP = 25
DEPTH = 5


def rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class Watch:
    """
    Keep the snapshot taken at the highest traced size seen.
    """

    def __init__(self) -> None:
        self.best = 0
        self.snapshot: tracemalloc.Snapshot | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self) -> None:
        while not self.stop.wait(0.05):
            self.check()

    def check(self) -> None:
        current = tracemalloc.get_traced_memory()[0]
        if current > self.best + 2**20:
            self.best = current
            self.snapshot = tracemalloc.take_snapshot()


def main() -> int:
    report_path = Path(sys.argv[1])
    arguments = sys.argv[2:]
    trace = bool(arguments) and arguments[0] == "--trace"
    if trace:
        arguments = arguments[1:]
    elif arguments and arguments[0].startswith("--trace-run="):
        # Trace only the Nth run reporting to REPORT (memcases: 4 is (d)).
        wanted = int(arguments[0].partition("=")[2])
        finished = report_path.read_text().count("\nend: ") if report_path.exists() else 0
        trace = finished + 1 == wanted
        arguments = arguments[1:]
    if arguments and arguments[0] == "--":
        arguments = arguments[1:]
    lines: list[str] = []
    if trace:
        tracemalloc.start(DEPTH)
    import msync
    from msync import cli
    from msync.model import Side
    from msync.sync import engine

    lines.append(f"{msync.__file__} imported: peak RSS {rss()} MB")
    sync = engine._BoxPairSync
    original_run, original_load = sync.run, sync.load_both
    original_copy = sync.copy

    def phase(self: Any, name: str) -> None:
        box = self.names[Side.FAR] if hasattr(self, "names") else "?"
        line = f"  {box!s:16s} {name:10s} peak RSS {rss():4d} MB"
        if trace:
            current, peak = tracemalloc.get_traced_memory()
            line += f"  traced {current / 2**20:6.1f} MB, peak since last {peak / 2**20:6.1f} MB"
            tracemalloc.reset_peak()
        if name == os.environ.get("MEMTRACE_UNTIL"):
            # Keep the snapshot of the peak before this phase.
            watch.stop.set()
        lines.append(line)

    async def load_both(self: Any, requests: Any) -> Any:
        phase(self, "state")
        result = await original_load(self, requests)
        phase(self, "loaded")
        return result

    async def copy(self: Any, work: Any, target: Any, copies: Any) -> None:
        phase(self, f"copy>{target.name.lower()}")
        await original_copy(self, work, target, copies)
        phase(self, "copied")

    async def run(self: Any) -> Any:
        commit = self.statefile.commit

        def committing() -> None:
            phase(self, "committing")
            commit()

        self.statefile.commit = committing
        result = await original_run(self)
        phase(self, "done")
        return result

    sync.run, sync.load_both, sync.copy = run, load_both, copy  # type: ignore[method-assign]
    watch = Watch()
    if trace:
        watch.thread.start()
    started = time.process_time()
    done: list[bool] = []

    def finish() -> None:
        # msync ends its process at once after the atexit functions.
        if done:
            return
        done.append(True)
        watch.stop.set()
        lines.append(f"end: peak RSS {rss()} MB, CPU {time.process_time() - started:.2f} s")
        if trace and watch.snapshot is not None:
            lines.append(f"at the traced peak ({watch.best / 2**20:.1f} MB):")
            snapshot = watch.snapshot.filter_traces(
                [
                    tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
                    tracemalloc.Filter(False, tracemalloc.__file__),
                ]
            )
            for stat in snapshot.statistics("traceback")[:TOP]:
                frames = " <- ".join(
                    f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in stat.traceback
                )
                lines.append(f"  {stat.size / 2**20:6.1f} MB {stat.count:8d}  {frames}")
            lines.append("by line:")
            for stat in snapshot.statistics("lineno")[:TOP]:
                frame = stat.traceback[0]
                lines.append(
                    f"  {stat.size / 2**20:6.1f} MB {stat.count:8d}"
                    f"  {frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}"
                )
        with report_path.open("a") as report:
            report.write("\n".join(lines) + "\n")

    atexit.register(finish)
    status = 0
    try:
        cli.main(arguments)
    except SystemExit as exit:
        status = int(exit.code or 0)
    finally:
        finish()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
