"""
msync against mbsync, side by side, on the same private Dovecot and corpus.

C{make bench} (or C{.venv/bin/python bench/run.py [--messages N]}) starts a
private Dovecot on 127.0.0.1, loads a generated corpus into a few folders,
then for each tool in turn, from an empty Maildir:

  1. initial pull  - everything from the server;
  2. no-op resync  - nothing changed;
  3. small change  - 1% of the messages re-flagged and 10 new on the server;
  4. push          - 20 new messages written into the local INBOX.

and prints wall time, peak resident memory of the tool's process, the
ratio msync/mbsync per phase, and whether both ended with the same Maildir
(file count and flags per folder). A tool that fails a phase is reported
with its exit status; the benchmark still runs the other one.

Invariants: the server only listens on 127.0.0.1 and is stopped on every
way out; each tool gets its own Maildir, state and the same server data
(the server's changes are re-applied identically for each tool).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.corpus import generate_corpus  # noqa: E402
from tests.integration.dovecot import DovecotServer  # noqa: E402

FOLDERS = {"INBOX": 4.0, "Archive": 3.0, "Lists/twisted": 2.0, "Sent": 1.0}
PHASES = ("initial pull", "no-op resync", "small change", "push")


@dataclass
class Measure:
    """
    One tool run: wall seconds, peak RSS in KiB, exit status.
    """

    seconds: float
    max_rss_kib: int
    status: int


def _peak_kib(pid: int) -> int:
    """
    The process's resident-set high-water mark (VmHWM, reset at exec), or 0.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_tool(argv: list[str], cwd: Path) -> Measure:
    """
    Run one sync command; measure wall time and the child's peak RSS
    (sampled from /proc every 10 ms, since a forked child's rusage also
    counts the parent's memory before exec).
    """
    started = time.monotonic()
    # Python tools run with their bytecode cache, as on a user's machine.
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=environment,
    )
    peak = 0
    while process.poll() is None:
        peak = max(peak, _peak_kib(process.pid))
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    if process.returncode != 0 and process.stderr is not None:
        error = process.stderr.read().decode("utf-8", "replace").strip().splitlines()
        if error:
            print(f"    {argv[0]}: {error[-1]}")
    return Measure(elapsed, peak, process.returncode)


def write_config(server: DovecotServer, workdir: Path) -> Path:
    """
    An mbsync configuration syncing every folder into C{workdir/Mail}.
    """
    mail = workdir / "Mail"
    mail.mkdir(parents=True, exist_ok=True)
    config = workdir / "rc"
    config.write_text(
        server.imap_account_section("bench", "STARTTLS")
        + "IMAPStore bench-remote\nAccount bench\n\n"
        + f"MaildirStore bench-local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n"
        + "Channel bench\nFar :bench-remote:\nNear :bench-local:\nPatterns *\n"
        + "Create Both\nExpunge Both\nSyncState *\n"
    )
    return config


def tree_summary(mail: Path) -> dict[str, tuple[int, str]]:
    """
    Per folder: message count and the sorted multiset of flag strings.
    """
    summary: dict[str, tuple[int, str]] = {}
    for cur in sorted(mail.rglob("cur")):
        box = cur.parent
        names = [p.name for sub in ("cur", "new") for p in (box / sub).iterdir()]
        flags = sorted(name.rpartition(":2,")[2] for name in names)
        summary[str(box.relative_to(mail))] = (len(names), ",".join(flags))
    return summary


def server_changes(server: DovecotServer, seed: int) -> None:
    """
    Phase 3's server-side change: re-flag 1% and add 10 messages.
    """
    rng = random.Random(seed)
    account = server.account
    for folder in FOLDERS:
        uids = [m.uid for m in account.messages(folder)]
        for uid in rng.sample(uids, max(1, len(uids) // 100)):
            account.set_flags(folder, uid, ["\\Seen", "\\Flagged"])
    extra = generate_corpus(seed + 1, 10, max_size=20_000, folders=["INBOX"])
    account.add_messages("INBOX", [(m.data, m.flags, m.date) for m in extra])


def local_changes(mail: Path, seed: int) -> None:
    """
    Phase 4's local change: 20 new messages in the local INBOX.
    """
    for index, message in enumerate(generate_corpus(seed + 2, 20, max_size=20_000)):
        name = f"{1700000000 + index}.bench{index}.host:2,"
        for sub in ("cur", "new", "tmp"):
            (mail / "INBOX" / sub).mkdir(parents=True, exist_ok=True)
        data = message.data.replace(b"\r\n", b"\n")
        (mail / "INBOX" / "new" / name).write_bytes(data)


def bench_tool(
    name: str, command: list[str], messages: int, seed: int, base: Path
) -> list[Measure]:
    """
    All four phases for one tool on a freshly loaded server.
    """
    print(f"== {name}")
    server = DovecotServer(str(base / f"server-{name}"))
    server.start()
    try:
        for folder in FOLDERS:
            if folder != "INBOX":
                server.create_mailbox(folder)
        batch: dict[str, list[tuple[bytes, frozenset[str], object]]] = {f: [] for f in FOLDERS}
        for message in generate_corpus(seed, messages, max_size=2_000_000, folders=FOLDERS):
            batch[message.folder].append((message.data, message.flags, message.date))
        for folder, items in batch.items():
            server.account.add_messages(folder, items)  # type: ignore[arg-type]
        workdir = base / name
        config = write_config(server, workdir)
        argv = [*command, "-c", str(config), "-a"]
        results = []
        for phase in PHASES:
            if phase == "small change":
                server_changes(server, seed)
            elif phase == "push":
                local_changes(workdir / "Mail", seed)
            measure = run_tool(argv, workdir)
            results.append(measure)
            print(
                f"  {phase:14s} {measure.seconds:8.2f} s  {measure.max_rss_kib / 1024:7.1f} MiB"
                f"  exit {measure.status}"
            )
        return results
    finally:
        server.stop()


def main() -> int:
    """
    Run the benchmark and print the comparison table.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    options = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="msync-bench-"))
    msync = str(ROOT / ".venv" / "bin" / "msync")
    try:
        mbsync_results = bench_tool("mbsync", ["mbsync"], options.messages, options.seed, base)
        msync_results = bench_tool("msync", [msync], options.messages, options.seed, base)
        print(f"\n{options.messages} messages; ratio = msync time / mbsync time")
        print(
            f"{'phase':14s} {'mbsync':>9s} {'msync':>9s} {'ratio':>7s} {'mem mb':>8s} {'mem ms':>8s}"
        )
        for phase, theirs, ours in zip(PHASES, mbsync_results, msync_results, strict=True):
            ok = theirs.status == 0 and ours.status == 0
            ratio = f"{ours.seconds / theirs.seconds:7.2f}" if ok and theirs.seconds else "    n/a"
            print(
                f"{phase:14s} {theirs.seconds:8.2f}s {ours.seconds:8.2f}s {ratio}"
                f" {theirs.max_rss_kib / 1024:7.1f}M {ours.max_rss_kib / 1024:7.1f}M"
            )
        same = tree_summary(base / "mbsync" / "Mail") == tree_summary(base / "msync" / "Mail")
        print(f"same Maildir contents (counts and flags per folder): {'yes' if same else 'NO'}")
        return 0
    finally:
        if not options.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
