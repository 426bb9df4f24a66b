"""
Case (c) alone, again and again, on a server kept by C{bench/run.py
--workdir DIR}: for profiling msync's resync after a small change without
loading and pulling every time.

C{.venv/bin/python bench/resync.py --workdir DIR [--repeats N] [--tool
NAME=COMMAND ...] [--profile PDIR]} starts the server kept in C{DIR}
(loaded with C{--tools mbsync,msync}), pulls the account C{bench-msync}
into C{DIR/resync-NAME/Mail} for each tool once (kept between runs), then
per repeat and tool, alternately: the bench's small change (1% of every
folder re-flagged, 100 new in INBOX), the tool's run (measured; under
cProfile into C{PDIR/NAME-NN.prof} with C{--profile}), a check of both
sides, the change undone and a second run (not measured) that brings the
Maildir back, and a no-op run a second later (as the bench's (b) before its
(c), which leaves the Maildir's hint). The tools take turns on the one account, each with its own
Maildir and state. Prints each measured run and the medians.

Invariants: as C{bench/run.py}: the server listens on 127.0.0.1 only and is
stopped on every way out.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    SETTINGS,
    Measure,
    ServerChanges,
    Tool,
    add_dovecot_option,
    dovecot_settings,
    run_tool,
    verify,
    write_config,
)
from tests.integration.dovecot import DovecotServer  # noqa: E402


def main() -> int:
    """
    Run the alternations and print the medians.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--workdir", required=True, metavar="DIR")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--tool",
        action="append",
        metavar="NAME=COMMAND",
        help="a tool to run (its command split at spaces); default msync=.venv/bin/msync",
    )
    parser.add_argument("--profile", metavar="PDIR", help="run the tools under cProfile")
    add_dovecot_option(parser)
    options = parser.parse_args()
    SETTINGS["tiny"] = True
    SETTINGS["fsync"] = False
    base = Path(options.workdir).resolve()
    if not (base / "loaded").exists():
        parser.error(f"{base}: no server kept by bench/run.py --workdir")
    specs = options.tool or [f"msync={ROOT / '.venv' / 'bin' / 'msync'}"]
    server = DovecotServer(str(base / "server"), settings=dovecot_settings(parser, options))
    server.start()
    try:
        account = server.add_account("bench-msync", "bench-msync-password")
        tools = []
        for spec in specs:
            name, _, command = spec.partition("=")
            workdir = base / f"resync-{name}"
            # A Maildir pulled from an earlier load of the server (bench/run.py
            # reloads it for other --tools) would be resynced across a
            # UIDVALIDITY change, keeping max UIDs above the new UIDs, so
            # that new messages count as old, for mbsync as for msync: it is
            # pulled again instead.
            loaded = (base / "loaded").read_text() + str((base / "loaded").stat().st_mtime_ns)
            marker = workdir / "loaded"
            if marker.exists() and marker.read_text() != loaded:
                shutil.rmtree(workdir / "Mail")
            (workdir / "Mail").mkdir(parents=True, exist_ok=True)
            marker.write_text(loaded)
            tool = Tool(name, command.split(), account, workdir)
            tools.append(tool)
            # The first pull, or a resync of whatever an earlier run left,
            # and a no-op (see below).
            run_tool(tool, write_config(tool, server.imap_port))
            verify(tool, server.imap_port)
            time.sleep(1.1)
            run_tool(tool, write_config(tool, server.imap_port))
        measured: dict[str, list[Measure]] = {tool.name: [] for tool in tools}
        for repeat in range(options.repeats):
            for tool in tools:
                changes = ServerChanges(tool, server.imap_port)
                changes.remember()
                config = write_config(tool, server.imap_port)
                timed = tool
                if options.profile:
                    prof = Path(options.profile).resolve() / f"{tool.name}-{repeat:02d}.prof"
                    prof.parent.mkdir(parents=True, exist_ok=True)
                    python = str(ROOT / ".venv" / "bin" / "python")
                    # The tool's msync script run as a module under cProfile
                    # (an "env PYTHONPATH=..." before it is kept).
                    argv = [*tool.command[:-1], python, "-m", "cProfile", "-o", str(prof)]
                    timed = Tool(tool.name, [*argv, "-m", "msync"], account, tool.workdir)
                try:
                    changes.small_change(options.seed + repeat)
                    measure = run_tool(timed, config)
                    verify(tool, server.imap_port)
                finally:
                    changes.undo()
                run_tool(tool, config)
                verify(tool, server.imap_port)
                # A no-op, as the bench's (b) before its (c): the Maildir's
                # times now a second old, it leaves the hint that spares
                # the next run listing the Maildir.
                time.sleep(1.1)
                run_tool(tool, config)
                measured[tool.name].append(measure)
                print(
                    f"  {repeat + 1} {tool.name:10s} {measure.seconds:.2f} s wall,"
                    f" {measure.cpu:.2f} s CPU (user {measure.user:.2f} s),"
                    f" {measure.max_rss_kib // 1024} MB",
                    flush=True,
                )
        for name, measures in measured.items():
            print(
                f"{name}: median {statistics.median(m.seconds for m in measures):.2f} s wall,"
                f" {statistics.median(m.cpu for m in measures):.2f} s CPU"
            )
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
