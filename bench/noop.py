"""
The no-op resync alone, msync against mbsync, at any size in minutes.

C{.venv/bin/python bench/noop.py --messages 200000} starts a private Dovecot
on 127.0.0.1 with one account, writes N tiny messages straight into its
Maildir (C{DovecotAccount.deliver_files}; four folders weighted 4:3:2:1,
30% unseen), has Dovecot index them, then for each tool: an initial pull
into an empty Maildir of its own (timed once), and C{--repeats} no-op
resyncs, the tools alternating A B A B. The first no-op after the pull is
shown apart from the later ones: it is the one whose Maildir directories
were just written (msync lists the names once, then trusts their times).

C{--tool msync=PATH} (repeatable) runs msync from another source tree
(C{PYTHONPATH=PATH python -m msync}), to compare before and after a change
in the same minutes; the default tools are mbsync and this tree's msync.

Every run is timed under C{/usr/bin/time} (wall, client CPU, peak RSS) and
must exit 0; after the last no-op every tool's Maildir is compared with the
server (Message-ID and flags per folder). The server listens on 127.0.0.1
only and is stopped on every way out; the work directory is removed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rawimap import Link, maildir_summary  # noqa: E402
from tests.integration.dovecot import DovecotServer  # noqa: E402

FOLDERS = {"INBOX": 4, "Archive": 3, "Lists/twisted": 2, "Sent": 1}


def tiny_messages(folder: str, count: int, start: int) -> object:
    for index in range(start, start + count):
        data = (
            f"From: sender{index % 97}@example.org\r\nTo: me@example.org\r\n"
            f"Subject: message {index}\r\nMessage-ID: <{index}.{folder.replace('/', '.')}@bench>\r\n"
            f"\r\nBody of message {index}.\r\n"
        ).encode()
        flags = ["\\Seen"] if index % 10 >= 3 else []
        if index % 20 == 0:
            flags.append("\\Flagged")
        yield data, flags, None


def timed(
    command: list[str], config: Path, workdir: Path, env: dict[str, str]
) -> tuple[float, float, int]:
    report = workdir / "time.out"
    argv = ["/usr/bin/time", "-f", "%U %S %M", "-o", str(report), *command, "-c", str(config), "-a"]
    started = time.monotonic()
    done = subprocess.run(
        argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{command} exited {done.returncode}: {done.stderr[-800:]!r}")
    user, system, rss = report.read_text().split()[-3:]
    return elapsed, float(user) + float(system), int(rss) // 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tool", action="append", default=[], help="mbsync, msync or msync=PATH")
    parser.add_argument("--wait", type=float, default=2.0, help="seconds between pull and no-ops")
    parser.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="after the pulls, wait this long or until the file 'release' is in the work directory",
    )
    options = parser.parse_args()
    specs = options.tool or ["mbsync", "msync"]
    base = Path(tempfile.mkdtemp(prefix="msync-noop-"))
    server = DovecotServer(str(base / "server"))
    server.start()
    try:
        account = server.add_account("bench")
        started = time.monotonic()
        total = sum(FOLDERS.values())
        first = 0
        for folder, weight in FOLDERS.items():
            count = options.messages * weight // total
            account.deliver_files(folder, tiny_messages(folder, count, first))  # type: ignore[arg-type]
            first += count
        server.doveadm("force-resync", "-u", account.user, "*")
        print(f"{options.messages} messages delivered in {time.monotonic() - started:.0f} s")
        tools = []
        for index, spec in enumerate(specs):
            name, _, path = spec.partition("=")
            env = dict(os.environ)
            if name == "mbsync":
                command = ["mbsync"]
            else:
                command = [sys.executable, "-m", "msync"]
                env["PYTHONPATH"] = str(Path(path).resolve() if path else ROOT)
            workdir = base / f"tool{index}"
            (workdir / "Mail").mkdir(parents=True)
            mail = workdir / "Mail"
            config = workdir / "rc"
            config.write_text(
                f"IMAPAccount bench\nHost 127.0.0.1\nPort {server.imap_port}\n"
                f"User {account.user}\nPass {account.password}\nSSLType None\n"
                "AuthMechs LOGIN\nPipelineDepth 32\n\n"
                "IMAPStore bench-remote\nAccount bench\n\n"
                f"MaildirStore bench-local\nPath {mail}/\nInbox {mail}/INBOX\n"
                "SubFolders Verbatim\n\n"
                "Channel bench\nFar :bench-remote:\nNear :bench-local:\nPatterns *\n"
                "Create Both\nExpunge Both\nSyncState *\n"
            )
            tools.append((spec, command, config, workdir, env))
        for spec, command, config, workdir, env in tools:
            wall, cpu, rss = timed(command, config, workdir, env)
            print(f"pull   {spec:30s} {wall:7.2f} s wall {cpu:6.2f} s CPU {rss:4d} MB", flush=True)
        if options.hold:
            for spec, _, config, _, _ in tools:
                print(f"holding: {spec} -c {config}", flush=True)
            print(f"release: touch {base / 'release'}", flush=True)
            deadline = time.monotonic() + options.hold
            while time.monotonic() < deadline and not (base / "release").exists():
                time.sleep(1)
        time.sleep(options.wait)
        runs: dict[str, list[tuple[float, float, int]]] = {spec: [] for spec in specs}
        for repeat in range(options.repeats):
            for spec, command, config, workdir, env in tools:
                measure = timed(command, config, workdir, env)
                runs[spec].append(measure)
                wall, cpu, rss = measure
                print(
                    f"no-op {repeat + 1} {spec:28s} {wall:7.3f} s wall {cpu:6.2f} s CPU {rss:4d} MB",
                    flush=True,
                )
        link = Link("127.0.0.1", server.imap_port, account.user, account.password)
        try:
            for folder in FOLDERS:
                server_side = link.summary(folder)
                for spec, _, _, workdir, _ in tools:
                    if maildir_summary(workdir / "Mail" / folder) != server_side:
                        raise SystemExit(f"MISMATCH: {spec} {folder}")
        finally:
            link.close()
        print(
            f"\n{options.messages} messages; first no-op after the pull, then the median of the rest"
        )
        for spec in specs:
            first_run, *rest = runs[spec]
            line = f"{spec:30s} first {first_run[0]:.3f} s ({first_run[1]:.2f} s CPU)"
            if rest:
                later_wall = statistics.median(m[0] for m in rest)
                later_cpu = statistics.median(m[1] for m in rest)
                later_rss = statistics.median(m[2] for m in rest)
                line += f"  later {later_wall:.3f} s ({later_cpu:.2f} s CPU, {later_rss:.0f} MB)"
            print(line)
        print("verified: every Maildir equals the server")
        return 0
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
