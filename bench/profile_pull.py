"""
Where msync's time goes on a first pull: one private Dovecot, the bench
corpus, one msync run under cProfile (or a plain timed run).

C{.venv/bin/python bench/profile_pull.py [--messages 2000] [--no-profile]
[--top 40] [--sort tottime] [--save FILE] [--rtt 0.02] [--tiny]
[--no-fsync]} loads the corpus of L{bench.run}
into a fresh account, pulls it into an empty Maildir with msync (in a child
process, so the profile is msync's alone) and prints the wall time, the
client CPU and the profile's top functions. The server listens on 127.0.0.1
only and is stopped on every way out.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.delayproxy import DelayProxy  # noqa: E402
from bench.run import SETTINGS, Tool, fresh, load_account, verify, write_config  # noqa: E402
from tests.integration.dovecot import DovecotServer  # noqa: E402

# Runs msync's main under cProfile with the given timer (thread_time counts
# only the main thread's CPU, so time spent waiting is left out).
_PROFILED = """
import cProfile, sys, time
from msync.cli import main
profile = cProfile.Profile({timer})
try:
    profile.runcall(main)
except SystemExit:
    pass
finally:
    profile.dump_stats({stats!r})
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--save", help="keep the raw profile in this file")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cpu", action="store_true", help="profile the main thread's CPU time, not wall time"
    )
    parser.add_argument("--wrap", default="", help="a command to run msync under (e.g. strace -fc)")
    parser.add_argument(
        "--rtt", type=float, default=0.0, help="seconds of round trip added by bench/delayproxy.py"
    )
    parser.add_argument(
        "--tiny", action="store_true", help="messages of a few hundred bytes (bookkeeping only)"
    )
    parser.add_argument("--no-fsync", action="store_true", help="FSync no")
    options = parser.parse_args()
    SETTINGS["tiny"] = options.tiny
    SETTINGS["fsync"] = not options.no_fsync
    base = Path(tempfile.mkdtemp(prefix="msync-profile-"))
    server = DovecotServer(str(base / "server"))
    server.start()
    proxy = DelayProxy("127.0.0.1", server.imap_port, options.rtt) if options.rtt else None
    if proxy is not None:
        proxy.start()
    try:
        account = server.add_account("profile")
        load_account(account, options.messages, options.seed)
        workdir = base / "msync"
        workdir.mkdir()
        tool = Tool("msync", [], account, workdir)
        config = write_config(tool, proxy.port if proxy is not None else server.imap_port)
        stats = str(base / "profile.out") if options.save is None else options.save
        python = str(ROOT / ".venv" / "bin" / "python")
        for _ in range(options.runs):
            fresh(tool)
            argv = [*options.wrap.split(), python]
            if options.no_profile:
                argv += ["-m", "msync"]
            else:
                timer = "time.thread_time" if options.cpu else "time.perf_counter"
                argv += ["-c", _PROFILED.format(timer=timer, stats=stats)]
            argv += ["-c", str(config), "-a"]
            started = time.monotonic()
            before = os.times()
            subprocess.run(argv, cwd=workdir, check=True, stdout=subprocess.DEVNULL)
            after = os.times()
            wall = time.monotonic() - started
            cpu = (after.children_user - before.children_user) + (
                after.children_system - before.children_system
            )
            user = after.children_user - before.children_user
            print(f"wall {wall:.2f} s, CPU {cpu:.2f} s (user {user:.2f} s)", flush=True)
            verify(tool, server.imap_port)
        if not options.no_profile:
            pstats.Stats(stats).sort_stats(options.sort).print_stats(options.top)
        return 0
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
