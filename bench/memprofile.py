"""
Where msync's memory goes on a big box: a quick profile without a server.

C{.venv/bin/python bench/memprofile.py --messages 200000} writes a far
Maildir of that many tiny messages (numbered, as a Maildir mbsync synced
before), pairs it with an empty near Maildir in a Maildir-to-Maildir
channel, and runs msync twice in child processes: (a) the initial pull,
(b) a no-op resync. Each child reports its peak RSS and, with
C{--trace}, tracemalloc's current and peak size and top allocation sites at
the end of each phase of the pair sync (state loaded, both boxes loaded,
reconciled, copied, committed). C{--imports} reports the RSS right after
importing what a run imports, before any work.

This is a developer's tool: it measures, it does not compare with mbsync
(C{bench/run.py} does, on a real server).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, resource, tracemalloc, time
trace = sys.argv[1] == "1"
depth = int(sys.argv[2])
TOP = 14
config = sys.argv[3]
if trace:
    tracemalloc.start(depth)
from msync import cli
from msync.sync import engine, reconcile

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

def phase(name):
    line = f"  {name:12s} peak RSS {rss():4d} MB"
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        line += f"  traced now {current / 2**20:6.1f} MB, peak since last {peak / 2**20:6.1f} MB"
    print(line, file=sys.stderr, flush=True)
    if trace and name in ("state", "loaded", "reconciled", "committed"):
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
             tracemalloc.Filter(False, tracemalloc.__file__)])
        for stat in snap.statistics("traceback")[:TOP]:
            frames = " <- ".join(
                f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in stat.traceback[:depth])
            print(f"      {stat.size / 2**20:6.1f} MB {stat.count:8d}  {frames}",
                  file=sys.stderr)
        del snap
    if trace:
        tracemalloc.reset_peak()

Sync = engine._BoxPairSync
original_load, original_run = Sync.load_both, Sync.run
original_reconcile, original_commit = reconcile.reconcile, None

async def load_both(self, requests):
    phase("state")
    result = await original_load(self, requests)
    phase("loaded")
    return result

def reconciled(*args, **kwargs):
    step = original_reconcile(*args, **kwargs)
    phase("reconciled")
    return step

async def run(self):
    commit = self.statefile.commit
    def committing():
        phase("copied")
        commit()
        phase("committed")
    self.statefile.commit = committing
    return await original_run(self)

Sync.load_both, Sync.run = load_both, run
engine.reconcile.reconcile = reconciled
phase("imported")
cli.main(["-c", config, "-a", "-q"])
"""


def write_far(path: Path, count: int, *, uid_validity: int = 1700000000) -> None:
    """
    A numbered Maildir of C{count} small messages, flags spread.
    """
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    flags = ["", "S", "S", "FS", "RS", "S", "", "DS"]
    cur = path / "cur"
    for uid in range(1, count + 1):
        body = (
            f"From: sender{uid % 97}@example.org\nTo: me@example.org\n"
            f"Subject: message {uid}\nMessage-ID: <{uid}@bench.example>\n\n"
            f"Body of message {uid}.\n"
        )
        name = f"{1600000000 + uid}.M{uid}P1.bench,U={uid}:2,{flags[uid % len(flags)]}"
        (cur / name).write_text(body)
    (path / ".uidvalidity").write_text(f"{uid_validity}\n{count}\n")


def write_config(base: Path) -> Path:
    config = base / "rc"
    config.write_text(
        "FSync no\n\n"
        f"MaildirStore far\nPath {base}/far/\nInbox {base}/far/INBOX\n\n"
        f"MaildirStore near\nPath {base}/near/\nInbox {base}/near/INBOX\n\n"
        "Channel big\nFar :far:INBOX\nNear :near:INBOX\nCreate Near\nExpunge Both\n"
        f"SyncState {base}/state/\n"
    )
    (base / "state").mkdir(exist_ok=True)
    (base / "near").mkdir(exist_ok=True)
    return config


def run_child(config: Path, trace: bool, depth: int, label: str) -> None:
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, "1" if trace else "0", str(depth), str(config)],
        cwd=ROOT,
        check=False,
    )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"{label}: exit {child.returncode}, {time.monotonic() - started:.1f} s, "
        f"children's peak RSS so far {usage.ru_maxrss // 1024} MB",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--trace", action="store_true", help="tracemalloc phases")
    parser.add_argument("--depth", type=int, default=1, help="traceback frames")
    parser.add_argument("--keep", help="reuse/keep this directory")
    options = parser.parse_args()
    base = Path(options.keep or tempfile.mkdtemp(prefix="msync-mem-"))
    try:
        far = base / "far" / "INBOX"
        if not far.exists():
            print(f"writing {options.messages} messages ...", flush=True)
            write_far(far, options.messages)
        shutil.rmtree(base / "near", ignore_errors=True)
        shutil.rmtree(base / "state", ignore_errors=True)
        config = write_config(base)
        run_child(config, options.trace, options.depth, "(a) initial pull")
        run_child(config, options.trace, options.depth, "(b) no-op resync")
        return 0
    finally:
        if not options.keep:
            shutil.rmtree(base, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    raise SystemExit(main())
