"""
msync against mbsync, side by side, on one private Dovecot and one corpus.

C{make bench} (or C{.venv/bin/python bench/run.py [--messages N | --large |
--huge]}) starts a private Dovecot on 127.0.0.1 with one account per tool,
each loaded with the same generated corpus (sizes 1 KB to 2 MB, multipart,
flags spread over four folders), then runs the tools (mbsync, msync, and
OfflineIMAP when it is installed) alternately, A B A B,
C{--repeats} times, each cycle from an empty Maildir:

  (a) initial pull  - everything from the server into an empty Maildir;
  (b) no-op resync  - nothing changed;
  (c) small change  - 1% of the server's messages re-flagged, 100 new;
  (d) push          - 1,000 new local messages in INBOX;
  (e) (a) and (c) again through a loopback proxy adding C{--rtt} (20 ms) of
      round-trip delay.

After every run both sides are compared message by message (Message-ID and
system flags per folder, on the server over IMAP and in the Maildir): a fast
wrong sync is no result, and the benchmark stops on the first mismatch.
Between cycles the server is put back as it was (added messages expunged,
changed flags restored), so every cycle starts from the same data.

C{--tiny} makes every message a few hundred bytes (what a big box costs in
bookkeeping, without the bodies' disk and network: 200,000 messages load in
under a minute), C{--no-fsync} gives both tools C{FSync no}, and
C{--profile DIR} runs msync under cProfile (one C{DIR/NN.prof} per run, in
the order of the cases).

It prints, per case and tool, the median wall time, client CPU (user + sys)
and peak RSS (all from C{/usr/bin/time}, which runs each tool), the ratio
msync/mbsync of the medians, and the floor: for (a) a minimal client that
only downloads everything, and one that also writes and fsyncs each message
(only writes with C{--no-fsync}); for (c), on an account of its own changed
the same way right before, a minimal client that makes only the server
accesses any client must (log in, per box a C{SELECT} with QRESYNC enabled
and its C{CHANGEDSINCE}/C{VANISHED} FETCH pipelined, the new bodies), once
box after box over one connection and once with a connection per box, all
at once.

C{--workdir DIR} keeps the server and its loaded accounts in C{DIR} and
reuses them in the next run with the same C{--messages}, C{--seed},
C{--tiny} and C{--tools} (loading 200,000 messages per account takes
minutes); C{DIR} is left for the caller to delete.

Invariants: the server and the proxy listen on 127.0.0.1 only and are
stopped on every way out; the two tools never share an account, a Maildir
or a state file. Plain IMAP (C{SSLType None}, C{AuthMechs LOGIN}) so the
floor and the tools do the same work.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: mbsync 1.5.0, the oracle beside the checkout (tool mbsync15; $MBSYNC15 overrides).
MBSYNC15 = ROOT.parent / "shared" / "oracles" / "mbsync-1.5.0"
sys.path.insert(0, str(ROOT))

from bench.delayproxy import DelayProxy  # noqa: E402
from bench.rawimap import (  # noqa: E402
    Link,
    floor_pull,
    floor_resync,
    maildir_summary,
    resync_known,
)
from tests.fakes.corpus import Message, generate_corpus  # noqa: E402
from tests.integration.dovecot import DovecotServer, check_setting  # noqa: E402
from tests.integration.imapaccount import DovecotAccount  # noqa: E402

FOLDERS = {"INBOX": 4.0, "Archive": 3.0, "Lists/twisted": 2.0, "Sent": 1.0}
CASES = {
    "a": "(a) initial pull",
    "b": "(b) no-op resync",
    "c": "(c) 1% flags + 100 new",
    "d": "(d) push 1,000 new",
    "ea": "(e) initial pull, 20 ms RTT",
    "ec": "(e) 1% + 100 new, 20 ms RTT",
}
MAX_SIZE = 2_000_000
#: Set from the command line: C{--tiny} (a corpus of few-hundred-byte
#: messages), C{--no-fsync} (C{FSync no} for both tools).
SETTINGS = {"tiny": False, "fsync": True}
#: With C{--profile}: where msync's profiles go.
PROFILE: dict[str, Path] = {}
#: The size mix of a corpus loaded as files (C{--huge}): as many multi-MB
#: messages in absolute numbers as C{--large} has, but a smaller share, so
#: 200,000 messages are ~7 GB per copy (the default mix averages ~75 KB a
#: message: two accounts and two Maildirs of it would need 60 GB).
FILE_BANDS = (
    (0.80, 1024, 8 << 10),
    (0.17, 8 << 10, 100 << 10),
    (0.025, 100 << 10, 1 << 20),
    (0.005, 1 << 20, 5 << 20),
)


def tiny_corpus(seed: int, count: int, folders: Mapping[str, float] = FOLDERS) -> Iterator[Message]:
    """
    C{count} messages of a few hundred bytes (C{--tiny}): what a big box
    costs in bookkeeping, without the disk and the network of the bodies.
    Flags spread as in the full corpus (C{\\Seen} 70%, C{\\Answered}
    10%, C{\\Flagged} 5%).
    """
    names = list(folders)
    weights = [folders[name] for name in names]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for index in range(count):
        rng = random.Random(f"msync-tiny:{seed}:{index}")
        folder = rng.choices(names, weights)[0]
        date = start + timedelta(minutes=37 * index, seconds=rng.randrange(2000))
        message_id = f"{seed}.{index}.{rng.getrandbits(40):010x}@tiny.example"
        flags = {
            flag
            for flag, share in (("\\Seen", 0.7), ("\\Answered", 0.1), ("\\Flagged", 0.05))
            if rng.random() < share
        }
        body = b"line %d of a tiny message\r\n" % index * rng.randrange(2, 8)
        data = (
            b"From: someone@tiny.example\r\nTo: you@tiny.example\r\n"
            b"Subject: tiny %d\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\n"
            % (index, message_id.encode(), format_datetime(date).encode())
        ) + body
        yield Message(folder, data, frozenset(flags), date, message_id)


class Mismatch(Exception):
    """
    A tool's run left the two sides different (or it failed).
    """


@dataclass
class Measure:
    """
    One tool run: wall seconds, client CPU seconds (user + sys, and the
    user part alone), peak RSS in KiB.
    """

    seconds: float
    cpu: float
    max_rss_kib: int
    user: float = 0.0


@dataclass
class Tool:
    """
    One tool under test and its own account and work directory.
    """

    name: str
    command: list[str]
    account: DovecotAccount
    workdir: Path

    @property
    def offlineimap(self) -> bool:
        """
        Whether this tool is OfflineIMAP (its own configuration and
        metadata), not mbsync or msync (one C{~/.mbsyncrc}).
        """
        return self.name == "offlineimap"


def run_tool(tool: Tool, config: Path) -> Measure:
    """
    Run one sync under C{/usr/bin/time} (whose own memory is tiny, so the
    child's peak RSS is the tool's alone); raise L{Mismatch} if it fails.
    """
    report = tool.workdir / "time.out"
    argv = ["/usr/bin/time", "-f", "%U %S %M", "-o", str(report)]
    command = tool.command
    if command[-1] == "-o":
        # --profile: a file per run, then msync itself.
        runs = len(list(PROFILE["dir"].glob("*.prof")))
        command = [*command, str(PROFILE["dir"] / f"{runs:02d}.prof"), "-m", "msync"]
    argv += [*command, "-c", str(config)]
    if not tool.offlineimap:
        argv.append("-a")
    started = time.monotonic()
    done = subprocess.run(
        argv, cwd=tool.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise Mismatch(f"{tool.name} exited {done.returncode}: {done.stderr[-500:]!r}")
    user, system, rss = report.read_text().split()[-3:]
    return Measure(elapsed, float(user) + float(system), int(rss), float(user))


def write_config(tool: Tool, port: int) -> Path:
    """
    An mbsync configuration syncing every folder of the tool's account (an
    OfflineIMAP one for OfflineIMAP).
    """
    if tool.offlineimap:
        return write_offlineimap_config(tool, port)
    mail = tool.workdir / "Mail"
    config = tool.workdir / "rc"
    account = tool.account
    config.write_text(
        ("" if SETTINGS["fsync"] else "FSync no\n\n")
        + f"IMAPAccount bench\nHost 127.0.0.1\nPort {port}\nUser {account.user}\n"
        f"Pass {account.password}\nSSLType None\nAuthMechs LOGIN\nPipelineDepth 32\n\n"
        "IMAPStore bench-remote\nAccount bench\n\n"
        f"MaildirStore bench-local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n"
        "Channel bench\nFar :bench-remote:\nNear :bench-local:\nPatterns *\n"
        "Create Both\nExpunge Both\nSyncState *\n"
    )
    return config


def write_offlineimap_config(tool: Tool, port: int) -> Path:
    """
    The OfflineIMAP configuration that does what L{write_config}'s does:
    every folder both ways, nested folders as nested Maildirs (C{sep = /}),
    plain IMAP with C{LOGIN}, C{fsync} as the other tools' C{FSync}; its
    other settings at their defaults (one connection, as a user's). Its
    metadata (its sync state) lives in C{meta/}, reset with the Maildir by
    L{fresh}: an empty Maildir beside old metadata would read as "every
    message deleted locally".
    """
    config = tool.workdir / "offlineimaprc"
    account = tool.account
    config.write_text(
        f"[general]\naccounts = bench\nmetadata = {tool.workdir / 'meta'}\n"
        f"fsync = {'true' if SETTINGS['fsync'] else 'false'}\n\n"
        "[Account bench]\nlocalrepository = local\nremoterepository = remote\n\n"
        f"[Repository local]\ntype = Maildir\nlocalfolders = {tool.workdir / 'Mail'}\n"
        "sep = /\n\n"
        f"[Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n"
        f"remoteuser = {account.user}\nremotepass = {account.password.replace('%', '%%')}\n"
        "ssl = no\nstarttls = no\nauth_mechanisms = LOGIN\n"
    )
    return config


def verify(tool: Tool, port: int) -> None:
    """
    Both sides hold the same messages with the same system flags.
    """
    link = Link("127.0.0.1", port, tool.account.user, tool.account.password)
    try:
        for folder in FOLDERS:
            server = link.summary(folder)
            local = maildir_summary(tool.workdir / "Mail" / folder)
            if server != local:
                missing = sum((server - local).values())
                extra = sum((local - server).values())
                raise Mismatch(
                    f"{tool.name}: {folder} differs: {missing} only on the server,"
                    f" {extra} only in the Maildir"
                )
    finally:
        link.close()


class ServerChanges:
    """
    Changes made to one account behind the tool's back, and their undoing.
    """

    def __init__(self, tool: Tool, port: int) -> None:
        self.tool = tool
        self.port = port
        self.uid_next: dict[str, int] = {}
        self.old_flags: dict[str, dict[int, frozenset[bytes]]] = {}

    def _link(self) -> Link:
        return Link("127.0.0.1", self.port, self.tool.account.user, self.tool.account.password)

    def remember(self) -> None:
        link = self._link()
        try:
            for folder in FOLDERS:
                self.uid_next[folder] = link.uid_next(folder)
        finally:
            link.close()

    def small_change(self, seed: int) -> None:
        """
        Re-flag 1% of every folder's messages and add 100 to INBOX.
        """
        rng = random.Random(seed)
        link = self._link()
        try:
            for folder in FOLDERS:
                flags = link.flags(folder)
                changed = rng.sample(sorted(flags), max(1, len(flags) // 100))
                self.old_flags.setdefault(folder, {})
                link.select(folder)
                for uid in changed:
                    self.old_flags[folder].setdefault(uid, flags[uid])
                    new = flags[uid] ^ {b"\\Seen", b"\\Flagged"}
                    wanted = b" ".join(sorted(f for f in new if f != b"\\Recent"))
                    link.run(b"UID STORE %d FLAGS.SILENT (%s)" % (uid, wanted))
        finally:
            link.close()
        if SETTINGS["tiny"]:
            extra: Iterator[Message] = tiny_corpus(seed + 1, 100, {"INBOX": 1.0})
        else:
            extra = generate_corpus(seed + 1, 100, max_size=MAX_SIZE, folders=["INBOX"])
        self.tool.account.add_messages("INBOX", [(m.data, m.flags, m.date) for m in extra])

    def undo(self) -> None:
        """
        Expunge what was added since L{remember}; restore changed flags.
        """
        link = self._link()
        try:
            for folder in FOLDERS:
                added = [uid for uid in link.flags(folder) if uid >= self.uid_next[folder]]
                link.select(folder)
                for uid, flags in self.old_flags.get(folder, {}).items():
                    wanted = b" ".join(sorted(f for f in flags if f != b"\\Recent"))
                    link.run(b"UID STORE %d FLAGS.SILENT (%s)" % (uid, wanted))
                for start in range(0, len(added), 500):
                    uids = b",".join(b"%d" % uid for uid in added[start : start + 500])
                    link.run(b"UID STORE " + uids + b" +FLAGS.SILENT (\\Deleted)")
                    link.run(b"UID EXPUNGE " + uids)
        finally:
            link.close()
        self.old_flags.clear()


def local_push(mail: Path, seed: int, count: int = 1000) -> None:
    """
    C{count} new messages in the local INBOX, as a mail client delivers them.
    """
    for index, message in enumerate(generate_corpus(seed + 2, count, max_size=MAX_SIZE)):
        name = f"{1700000000 + index}.bench{seed}_{index}.host:2,"
        data = message.data.replace(b"\r\n", b"\n")
        (mail / "INBOX" / "new" / name).write_bytes(data)


def set_aside(path: Path) -> None:
    """
    Move C{path} (a Maildir or the floor's files) out of the way, into the
    work directory's C{deleted/}, which goes only at the end of the run.

    Deleting thousands of files right before a tool's pull would make that
    tool pay for it: ext4 without a journal (this machine's disk) does not
    hand out an inode freed in the last minute (five if its block is
    dirty), and each one it skips costs a read of the inode table. A
    2,000-message pull right after such a delete took 2.6 s wall and 2.0 s
    of system CPU; into a directory made 70 s after the delete, or with the
    old Maildir only moved aside, 1.3 s and 0.6 s (Dec 2026). So whichever
    tool ran right after another's delete (msync after mbsync's in every
    repeat, mbsync after msync-base's in the second and later) was slowed
    by the other's files, not its own.
    """
    if not path.exists():
        return
    graveyard = path.parent.parent / "deleted"
    graveyard.mkdir(exist_ok=True)
    path.rename(graveyard / f"{len(list(graveyard.iterdir()))}-{path.parent.name}-{path.name}")


def fresh(tool: Tool) -> None:
    """
    An empty Maildir (state files live in it: C{SyncState *}) and no
    OfflineIMAP metadata.
    """
    set_aside(tool.workdir / "Mail")
    set_aside(tool.workdir / "meta")
    (tool.workdir / "Mail").mkdir(parents=True)


def cycle(
    tool: Tool, cases: str, server_port: int, proxy_port: int, seed: int
) -> dict[str, Measure]:
    """
    One tool's cycle through the chosen cases; the server is restored after.
    """
    results: dict[str, Measure] = {}
    changes = ServerChanges(tool, server_port)
    changes.remember()

    def step(case: str, port: int, before: Callable[[], None] | None = None) -> None:
        if before is not None:
            before()
        results[case] = run_tool(tool, write_config(tool, port))
        verify(tool, server_port)

    try:
        fresh(tool)
        step("a", server_port)
        if "b" in cases:
            step("b", server_port)
        if "c" in cases:
            step("c", server_port, lambda: changes.small_change(seed))
        if "d" in cases:
            step("d", server_port, lambda: local_push(tool.workdir / "Mail", seed))
        changes.undo()
        if "e" in cases:
            fresh(tool)
            step("ea", proxy_port)
            step("ec", proxy_port, lambda: changes.small_change(seed + 1000))
    finally:
        changes.undo()
    return results


def load_account(account: DovecotAccount, messages: int, seed: int) -> None:
    """
    Create the folders and load the corpus over IMAP (identical for every
    account).
    """
    for folder in FOLDERS:
        if folder != "INBOX":
            account.create_mailbox(folder)
    batch: dict[str, list[tuple[bytes, frozenset[str], object]]] = {f: [] for f in FOLDERS}
    loaded = 0
    if SETTINGS["tiny"]:
        corpus = tiny_corpus(seed, messages)
    else:
        corpus = generate_corpus(seed, messages, max_size=MAX_SIZE, folders=FOLDERS)
    for message in corpus:
        batch[message.folder].append((message.data, message.flags, message.date))
        loaded += len(message.data)
        if loaded > 64 << 20:
            flush(account, batch)
            loaded = 0
    flush(account, batch)


def deliver_accounts(accounts: list[DovecotAccount], messages: int, seed: int) -> None:
    """
    Write the corpus straight into every account's Maildir, generating each
    message once (C{--huge}: APPENDing 200,000 messages would take hours;
    Dovecot indexes the files when a tool first opens each folder).
    """
    if SETTINGS["tiny"]:
        corpus = tiny_corpus(seed, messages)
    else:
        corpus = generate_corpus(
            seed, messages, max_size=MAX_SIZE, folders=FOLDERS, size_bands=FILE_BANDS
        )
    for message in corpus:
        item = (message.data, message.flags, message.date)
        for account in accounts:
            account.deliver_files(message.folder, [item])


def flush(
    account: DovecotAccount, batch: dict[str, list[tuple[bytes, frozenset[str], object]]]
) -> None:
    for folder, items in batch.items():
        if items:
            account.add_messages(folder, items)  # type: ignore[arg-type]
        items.clear()


def floor(server: DovecotServer, account: DovecotAccount, base: Path) -> tuple[float, float]:
    """
    The floor's wall times: download only; download, write and fsync
    (without the fsync under C{--no-fsync}).
    """
    started = time.monotonic()
    floor_pull("127.0.0.1", server.imap_port, account.user, account.password, [*FOLDERS], None)
    download = time.monotonic() - started
    target = base / "floor" / "files"
    set_aside(target)
    target.mkdir(parents=True)
    started = time.monotonic()
    floor_pull(
        "127.0.0.1",
        server.imap_port,
        account.user,
        account.password,
        [*FOLDERS],
        target,
        SETTINGS["fsync"],
    )
    written = time.monotonic() - started
    set_aside(target)
    return download, written


def floor_c(tool: Tool, port: int, seed: int) -> tuple[float, float]:
    """
    The (c) floor's wall times on C{tool}'s account (C{tool} is no tool,
    only an account), each right after the bench's small change, as a
    tool's (c) run: over one connection; one connection per box.
    """
    times = []
    account = tool.account
    for parallel in (False, True):
        changes = ServerChanges(tool, port)
        changes.remember()
        known = resync_known("127.0.0.1", port, account.user, account.password, [*FOLDERS])
        try:
            changes.small_change(seed)
            started = time.monotonic()
            changed, bodies = floor_resync(
                "127.0.0.1", port, account.user, account.password, known, parallel
            )
            times.append(time.monotonic() - started)
        finally:
            changes.undo()
        if bodies != 100 or changed < 100:
            raise Mismatch(f"(c) floor: {changed} changed, {bodies} new bodies (100 expected)")
    return times[0], times[1]


def add_dovecot_option(parser: argparse.ArgumentParser) -> None:
    """
    Give C{parser} the option C{--dovecot KEY=VALUE} (see
    L{dovecot_settings}).
    """
    parser.add_argument(
        "--dovecot",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the server's dovecot.conf, e.g. maildir_very_dirty_syncs=yes"
        " (Dovecot trusts its index instead of re-listing a changed Maildir); repeatable",
    )


def dovecot_settings(
    parser: argparse.ArgumentParser, options: argparse.Namespace
) -> dict[str, str]:
    """
    The C{--dovecot} settings given, by name; a malformed one is a usage
    error naming it.
    """
    settings = {}
    for given in options.dovecot:
        key, equals, value = (part.strip() for part in given.partition("="))
        try:
            if not equals:
                raise ValueError("no '='")
            check_setting(key, value)
        except ValueError:
            parser.error(
                f"--dovecot {given!r}: expected KEY=VALUE, e.g. maildir_very_dirty_syncs=yes"
            )
        settings[key] = value
    return settings


def median(measures: list[Measure], field: str) -> float:
    values: list[float] = [getattr(m, field) for m in measures]
    return statistics.median(values)


def print_table(
    messages: int,
    repeats: int,
    names: list[str],
    runs: dict[str, dict[str, list[Measure]]],
    floors: list[tuple[float, float]],
    floors_c: list[tuple[float, float]],
) -> None:
    """
    The results as a Markdown table (medians; ratio = msync / mbsync).
    """
    print(f"\n{messages} messages, medians of {repeats}; ratio = msync / mbsync (wall)\n")
    header = "| case |" + "".join(f" {n} wall | {n} CPU | {n} RSS |" for n in names)
    # Every other tool's ratio too (OfflineIMAP's, a baseline's), after msync's.
    others = [n for n in names if n not in ("mbsync", "msync")] if "mbsync" in names else []
    # msync following 1.5 against mbsync 1.5.
    pairs15 = [("msync15", "mbsync15")] if {"msync15", "mbsync15"} <= set(names) else []
    others = [n for n in others if n not in ("msync15", "mbsync15") or not pairs15]
    print(
        header
        + " ratio |"
        + "".join(f" {n} / mbsync |" for n in others)
        + "".join(f" {ours} / {theirs} |" for ours, theirs in pairs15)
    )
    print("|---" * (1 + 3 * len(names) + 1 + len(others) + len(pairs15)) + "|")
    for case, title in CASES.items():
        if not all(runs[n].get(case) for n in names):
            continue
        row = f"| {title} |"
        for name in names:
            measures = runs[name][case]
            row += (
                f" {median(measures, 'seconds'):.2f} s | {median(measures, 'cpu'):.2f} s"
                f" | {median(measures, 'max_rss_kib') / 1024:.0f} MB |"
            )

        def ratio(name: str, case: str = case, against: str = "mbsync") -> str:
            """
            The tool's median wall over C{against}'s (mbsync's), in this case.
            """
            if against not in names or name not in names:
                return "n/a"
            theirs = median(runs[against][case], "seconds")
            return f"{median(runs[name][case], 'seconds') / theirs:.2f}" if theirs else "n/a"

        print(
            row
            + "".join(f" {ratio(name)} |" for name in ["msync", *others])
            + "".join(f" {ratio(ours, against=theirs)} |" for ours, theirs in pairs15)
        )
    if floors:
        download = statistics.median(f[0] for f in floors)
        written = statistics.median(f[1] for f in floors)
        kind = "write + fsync" if SETTINGS["fsync"] else "write (no fsync)"
        print(f"\nfloor (a): download only {download:.2f} s; download + {kind} {written:.2f} s")
        if "msync" in names and runs["msync"].get("a"):
            ours = median(runs["msync"]["a"], "seconds")
            print(f"msync initial pull / download-{kind} floor: {ours / written:.2f}")
    if floors_c:
        single = statistics.median(f[0] for f in floors_c)
        spread = statistics.median(f[1] for f in floors_c)
        print(
            f"floor (c): one connection {single:.2f} s; a connection per box, in parallel"
            f" {spread:.2f} s"
        )
        for name in names:
            if runs[name].get("c"):
                wall = median(runs[name]["c"], "seconds")
                print(
                    f"{name} (c) / floor (c): {wall / single:.2f} (one connection),"
                    f" {wall / spread:.2f} (parallel)"
                )


def default_tools() -> list[str]:
    """
    The tools run when C{--tools} is not given: mbsync and msync, and
    OfflineIMAP when it is installed.
    """
    tools = ["mbsync", "msync"]
    if shutil.which("offlineimap"):
        tools.append("offlineimap")
    return tools


def main() -> int:
    """
    Run the benchmark and print the comparison table.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--large", action="store_true", help="20,000 messages")
    parser.add_argument("--huge", action="store_true", help="200,000 messages")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default="abcde", help="letters of the cases to run")
    parser.add_argument(
        "--tools",
        default=",".join(default_tools()),
        help="of mbsync, msync, msync-par (--parallel 4), msync-base (see --baseline),"
        " offlineimap, mbsync15 (mbsync 1.5: $MBSYNC15, else the oracle in"
        " ../shared/oracles), msync15 (msync --compat 1.5, held against mbsync15);"
        " default: mbsync, msync and offlineimap when it is installed",
    )
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="another msync checkout (sharing this .venv) run as the tool msync-base, to"
        " compare two versions in the same minutes",
    )
    parser.add_argument("--rtt", type=float, default=0.020)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        help="the work directory, kept; a server loaded there by an earlier run with the same"
        " --messages, --seed, --tiny and --tools is reused",
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the floor (the default with --huge)"
    )
    parser.add_argument(
        "--files",
        action="store_true",
        help="load the accounts as Maildir files, not over IMAP (the default from 50,000)",
    )
    parser.add_argument(
        "--tiny", action="store_true", help="messages of a few hundred bytes (bookkeeping only)"
    )
    parser.add_argument("--no-fsync", action="store_true", help="FSync no for both tools")
    add_dovecot_option(parser)
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run msync under cProfile, one DIR/<case>-<run>.prof per run (its times grow)",
    )
    options = parser.parse_args()
    SETTINGS["tiny"] = options.tiny
    SETTINGS["fsync"] = not options.no_fsync
    messages = 200_000 if options.huge else 20_000 if options.large else options.messages
    commands = {
        "mbsync": ["mbsync"],
        "msync": [str(ROOT / ".venv" / "bin" / "msync")],
        # msync syncing up to four box pairs at once (--parallel 4).
        "msync-par": [str(ROOT / ".venv" / "bin" / "msync"), "--parallel", "4"],
        "offlineimap": ["offlineimap", "-u", "quiet"],
        # mbsync 1.5 (what most distributions ship) and msync following it.
        "mbsync15": [os.environ.get("MBSYNC15", str(MBSYNC15))],
        "msync15": [str(ROOT / ".venv" / "bin" / "msync"), "--compat", "1.5"],
    }
    if options.profile:
        Path(options.profile).mkdir(parents=True, exist_ok=True)
        commands["msync"] = [str(ROOT / ".venv" / "bin" / "python"), "-m", "cProfile", "-o"]
        PROFILE["dir"] = Path(options.profile).resolve()
    if options.baseline:
        # The checkout's own msync package comes first on the path.
        baseline = str(Path(options.baseline).resolve())
        commands["msync-base"] = ["env", f"PYTHONPATH={baseline}", *commands["msync"]]
    names = options.tools.split(",")
    with_floor_c = "c" in options.cases and not options.no_floor
    if options.workdir:
        base = Path(options.workdir).resolve()
        base.mkdir(parents=True, exist_ok=True)
    else:
        base = Path(tempfile.mkdtemp(prefix="msync-bench-"))
    accounts = [*names, "floor"] if with_floor_c else names
    fixture = f"{messages} {options.seed} {options.tiny} {','.join(accounts)}\n"
    marker = base / "loaded"
    reuse = marker.exists() and marker.read_text() == fixture
    if not reuse:
        marker.unlink(missing_ok=True)
        shutil.rmtree(base / "server", ignore_errors=True)
    server = DovecotServer(str(base / "server"), settings=dovecot_settings(parser, options))
    server.start()
    proxy = DelayProxy("127.0.0.1", server.imap_port, options.rtt)
    proxy.start()
    try:
        tools = []
        files = options.files or messages >= 50_000
        if not reuse:
            print(f"loading {messages} messages per account ...", flush=True)
        started = time.monotonic()
        for name in accounts:
            # The same password every run: a reused server's accounts keep
            # theirs (the server listens on 127.0.0.1 only).
            password = f"bench-{name}-password"
            account = server.add_account(f"bench-{name}", password)
            if not files and not reuse:
                load_account(account, messages, options.seed)
            workdir = base / name
            workdir.mkdir(exist_ok=True)
            tools.append(Tool(name, commands.get(name, []), account, workdir))
        if files and not reuse:
            deliver_accounts([tool.account for tool in tools], messages, options.seed)
            for tool in tools:
                # Index now, so that no tool's first run pays for it.
                server.doveadm("force-resync", "-u", tool.account.user, "*")
        if not reuse:
            marker.write_text(fixture)
            print(f"loaded in {time.monotonic() - started:.0f} s", flush=True)
        floor_tool = tools.pop() if with_floor_c else None
        runs: dict[str, dict[str, list[Measure]]] = {name: {} for name in names}
        floors = []
        floors_c = []
        for repeat in range(options.repeats):
            if not (options.no_floor or options.huge):
                floors.append(floor(server, tools[0].account, base))
            if floor_tool is not None:
                floors_c.append(floor_c(floor_tool, server.imap_port, options.seed + repeat))
                print(
                    f"  run {repeat + 1} floor (c) one connection {floors_c[-1][0]:.2f}s,"
                    f" a connection per box {floors_c[-1][1]:.2f}s",
                    flush=True,
                )
            for tool in tools:
                results = cycle(
                    tool, options.cases, server.imap_port, proxy.port, options.seed + repeat
                )
                # Each cycle starts from an empty Maildir (the files go at
                # the end: see set_aside).
                set_aside(tool.workdir / "Mail")
                for case, measure in results.items():
                    runs[tool.name].setdefault(case, []).append(measure)
                line = "  ".join(
                    f"{case} {m.seconds:.2f}s/{m.cpu:.2f}s (user {m.user:.2f}s)/{m.max_rss_kib // 1024}M"
                    for case, m in results.items()
                )
                print(f"  run {repeat + 1} {tool.name:7s} {line}", flush=True)
        print_table(messages, options.repeats, names, runs, floors, floors_c)
        print("every run verified: both sides equal (Message-ID and flags per folder)")
        return 0
    except Mismatch as error:
        print(f"MISMATCH: {error}")
        return 1
    finally:
        proxy.stop()
        server.stop()
        if options.keep or options.workdir:
            shutil.rmtree(base / "deleted", ignore_errors=True)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
