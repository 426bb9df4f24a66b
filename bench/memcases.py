"""
Peak memory of cases (a)-(d) on a kept server, for before/after comparisons.

C{.venv/bin/python bench/memcases.py --base DIR --tool new=. --tool old=../other}
restarts the Dovecot of a work directory that C{bench/run.py --keep --tools
msync} left (its C{bench-msync} account keeps the loaded corpus: building
200,000 messages takes minutes, this reuses them) and runs C{bench/run.py}'s
cycle (pull, no-op, small change, push; each verified, the server restored
after) once per tool, alternating, each under C{bench/memtrace.py}: the peak
RSS and CPU per case, and per box pair the RSS at each phase, in
C{DIR/memcases-<tool>-<n>.txt}. C{--trace} adds tracemalloc's view of each
run's peak (slow: read the RSS from untraced runs).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run as bench  # noqa: E402
from tests.integration.dovecot import DovecotServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--base", required=True, help="a bench/run.py --keep directory")
    parser.add_argument("--tool", action="append", default=[], help="NAME=SOURCE-TREE")
    parser.add_argument("--cases", default="abcd")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument(
        "--trace-case", help="trace only this case (a, b, c or d; memtrace --trace-run)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fsync", action="store_true", help="FSync yes (run.py: --no-fsync)")
    parser.add_argument("--tiny", action="store_true", default=True)
    options = parser.parse_args()
    bench.SETTINGS["tiny"] = options.tiny
    bench.SETTINGS["fsync"] = options.fsync
    base = Path(options.base).resolve()
    server = DovecotServer(str(base / "server"))
    server.start()
    try:
        account = server.add_account("bench-msync")
        python = str(ROOT / ".venv" / "bin" / "python")
        # The cases in the order the cycle runs them (a always first).
        runs = "a" + "".join(case for case in "bcd" if case in options.cases)
        for repeat in range(options.repeats):
            for spec in options.tool or ["msync=."]:
                name, _, tree = spec.partition("=")
                report = base / f"memcases-{name}-{repeat}.txt"
                report.unlink(missing_ok=True)
                command = [
                    "env",
                    f"PYTHONPATH={Path(tree).resolve()}",
                    python,
                    str(ROOT / "bench" / "memtrace.py"),
                    str(report),
                    *(["--trace"] if options.trace else []),
                    *(
                        [f"--trace-run={runs.index(options.trace_case) + 1}"]
                        if options.trace_case
                        else []
                    ),
                    "--",
                ]
                workdir = base / f"work-{name}"
                workdir.mkdir(exist_ok=True)
                tool = bench.Tool(name, command, account, workdir)
                results = bench.cycle(
                    tool, options.cases, server.imap_port, server.imap_port, options.seed
                )
                line = "  ".join(
                    f"{case} {m.seconds:.2f}s/{m.cpu:.2f}s/{m.max_rss_kib // 1024}M"
                    for case, m in results.items()
                )
                print(f"run {repeat + 1} {name:8s} {line}", flush=True)
                with report.open("a") as out:
                    out.write(line + "\n")
        return 0
    finally:
        server.stop()
        os.sync()


if __name__ == "__main__":
    raise SystemExit(main())
