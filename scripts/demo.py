"""
The demo behind C{make demo}: a private Dovecot full of realistic mail, and
msync mirroring it into a local Maildir.

Steps: start Dovecot (L{tests.integration.dovecot}) in C{./demo/server};
load two thousand generated messages (L{tests.fakes.corpus}) into INBOX and
nested and non-ASCII folders; write C{./demo/msyncrc}; run
C{msync -c demo/msyncrc -V -l demo} and C{msync -c demo/msyncrc demo},
showing their output live; print what the server holds next to what landed
in C{./demo/Mail}.

Invariants:
  - Dovecot is stopped on every way out (normal end, error, Ctrl-C, SIGTERM;
    and by the kernel should this process be killed outright).
  - The exit status is non-zero only when the I{setup} failed; msync's own
    exit statuses are reported in the summary.
  - Every run starts from scratch: C{./demo} is removed first.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.corpus import Message, generate_corpus  # noqa: E402
from tests.integration.dovecot import (  # noqa: E402
    DovecotError,
    DovecotServer,
    encode_mailbox_name,
)

DEMO = ROOT / "demo"
SEED = 2024
COUNT = 2000
FOLDERS = {"INBOX": 5.0, "Archive/2024": 3.0, "Lists/twisted": 3.0, "Sent": 2.0, "Entwürfe": 1.0}
BATCH = 20
CHANNEL = "demo"


class SetupFailed(Exception):
    """
    The demo could not prepare the server, the mail or the configuration.
    """


def _load_mail(server: DovecotServer) -> dict[str, int]:
    """
    Create the folders and append the corpus, showing progress.

    @return: how many messages went into each folder.
    """
    for folder in FOLDERS:
        if folder != "INBOX":
            server.create_mailbox(folder)
    pending: dict[str, list[Message]] = {folder: [] for folder in FOLDERS}
    loaded = {folder: 0 for folder in FOLDERS}
    total_bytes = 0
    started = time.monotonic()

    def flush(folder: str) -> None:
        nonlocal total_bytes
        batch = pending[folder]
        server.account.add_messages(
            folder, [(message.data, message.flags, message.date) for message in batch]
        )
        loaded[folder] += len(batch)
        total_bytes += sum(len(message.data) for message in batch)
        done = sum(loaded.values())
        progress = f"  loading messages: {done}/{COUNT} ({total_bytes / 1e6:.1f} MB)"
        if sys.stdout.isatty():
            print("\r" + progress, end="", flush=True)
        elif done // 100 != (done - len(batch)) // 100:
            print(progress, flush=True)
        batch.clear()

    for message in generate_corpus(SEED, COUNT, folders=FOLDERS):
        pending[message.folder].append(message)
        if len(pending[message.folder]) >= BATCH:
            flush(message.folder)
    for folder in FOLDERS:
        if pending[folder]:
            flush(folder)
    if sys.stdout.isatty():
        print()
    print(f"  loaded {COUNT} messages in {time.monotonic() - started:.1f}s")
    return loaded


def _write_config(server: DovecotServer) -> Path:
    """
    Write C{./demo/msyncrc}, an mbsync-style configuration for the server,
    and create the (empty) C{./demo/Mail/} it names.

    @return: its path.
    """
    # Like mbsync, msync does not create the MaildirStore's Path itself.
    (DEMO / "Mail").mkdir(exist_ok=True)
    config = DEMO / "msyncrc"
    config.write_text(
        "# Written by scripts/demo.py for the private Dovecot in ./demo/server.\n"
        + server.imap_account_section(CHANNEL, "STARTTLS")
        + f"IMAPStore {CHANNEL}-far\nAccount {CHANNEL}\n\n"
        f"MaildirStore {CHANNEL}-near\nPath ./demo/Mail/\nInbox ./demo/Mail/INBOX\n"
        "SubFolders Verbatim\n\n"
        f"Channel {CHANNEL}\nFar :{CHANNEL}-far:\nNear :{CHANNEL}-near:\n"
        "Patterns *\nCreate Near\nSyncState *\n",
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def _run_msync(arguments: Sequence[str]) -> tuple[int, str]:
    """
    Run the C{msync} console script from this virtualenv on a pseudo
    terminal, so that it draws its live progress line (C{C: B: F: N:}) as it
    does for a user; echo its output as it comes.

    @return: its exit status and its output.
    """
    executable = Path(sys.executable).parent / "msync"
    command = [str(executable), *arguments]
    print(f"\n$ {' '.join(['msync', *arguments])}", flush=True)
    if not executable.exists():
        print(f"  {executable} is missing: run scripts/bootstrap.sh")
        return 127, ""
    master, slave = pty.openpty()
    environment = dict(os.environ, COLUMNS=os.environ.get("COLUMNS", "100"))
    with subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=environment
    ) as process:
        os.close(slave)
        output = _echo(master)
    os.close(master)
    return process.returncode, output


def _echo(master: int) -> str:
    """
    Copy a pseudo terminal's output to stdout until it closes. On a
    terminal the progress line is redrawn in place; elsewhere (a log) each
    redraw becomes a line, at most twice a second, plus the final one.

    @return: everything read.
    """
    interactive = sys.stdout.isatty()
    seen: list[str] = []
    pending = ""
    last_shown = 0.0
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        text = chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        seen.append(text)
        if interactive:
            sys.stdout.write(text)
            sys.stdout.flush()
            continue
        for piece in re.split(r"(\r|\n)", text):
            if piece == "\n":
                if pending:
                    print("  " + pending, flush=True)
                pending = ""
            elif piece == "\r":
                if pending and time.monotonic() - last_shown >= 0.5:
                    print("  " + pending, flush=True)
                    last_shown = time.monotonic()
                pending = ""
            else:
                pending += piece
    if pending:
        print("  " + pending, flush=True)
    return "".join(seen)


def _change_both_sides(server: DovecotServer) -> None:
    """
    Between the two syncs: new mail, flag changes and a deletion on the
    server, and a message written locally (as a mail client would).
    """
    account = server.account
    extra = generate_corpus(SEED + 1, 5, max_size=50_000, folders=["INBOX"])
    account.add_messages("INBOX", [(m.data, m.flags, m.date) for m in extra])
    uids = [message.uid for message in account.messages("Lists/twisted")]
    for uid in uids[:10]:
        account.set_flags("Lists/twisted", uid, ["\\Seen", "\\Flagged"])
    account.expunge("Lists/twisted", uids[-1])
    local = DEMO / "Mail" / "Sent" / "new"
    local.mkdir(parents=True, exist_ok=True)
    (local / f"{int(time.time())}.demo_1.localhost").write_bytes(
        b"From: demo@example.org\nTo: friend@example.org\nSubject: written offline\n"
        b"Message-ID: <offline-1@example.org>\n\nSent from the train.\n"
    )
    print(
        "\nChanged both sides: 5 new messages in INBOX, 10 re-flagged and 1 deleted in"
        " Lists/twisted on the server; 1 new message written locally in Sent."
    )


def _maildir_count(folder: str) -> int | None:
    """
    @return: the message files msync wrote for C{folder}, or C{None} if it
        has no Maildir. SubFolders Verbatim nests C{Archive/2024}; mbsync 1.4
        keeps non-ASCII names in modified UTF-7 on disk, so try both forms.
    """
    for name in (folder, encode_mailbox_name(folder).decode("ascii")):
        path = DEMO / "Mail" / name
        if (path / "cur").is_dir():
            return sum(
                1 for sub in ("cur", "new") for entry in (path / sub).iterdir() if entry.is_file()
            )
    return None


def folder_table(counts: Sequence[tuple[str, int | str, int | None]]) -> list[str]:
    """
    The summary's folder lines. Folders are named as C{msync -l} lists them
    and as their directories in ./demo/Mail are called: mbsync 1.4 (and so
    msync) keep IMAP's modified UTF-7 (C{Entw&APw-rfe}); a note after the
    table gives the readable form of such names.

    @param counts: per server folder (its Unicode name), the messages on
        the server and in ./demo/Mail (C{None}: no Maildir).
    @return: the lines.
    """
    lines = [f"  {'folder':<16} {'server':>7} {'./demo/Mail':>12}"]
    spelled: list[str] = []
    for folder, on_server, local in counts:
        name = encode_mailbox_name(folder).decode("ascii")
        if name != folder:
            spelled.append(f"{name} is {folder}")
        lines.append(f"  {name:<16} {on_server:>7} {'-' if local is None else local:>12}")
    if spelled:
        lines.append(
            "  (names as msync -l lists them, in IMAP's modified UTF-7 like mbsync 1.4: "
            + ", ".join(spelled)
            + ")"
        )
    return lines


def _summary(server: DovecotServer, runs: list[tuple[str, int, str]]) -> None:
    print("\nSummary")
    counts: list[tuple[str, int | str, int | None]] = []
    for folder in server.list_mailboxes():
        try:
            on_server: int | str = server.account.message_count(folder)
        except DovecotError:
            on_server = "?"
        counts.append((folder, on_server, _maildir_count(folder)))
    print("\n".join(folder_table(counts)))
    print(
        "  (a message deleted on the server is marked deleted (T) in ./demo/Mail, as mbsync"
        " does;\n   it goes away with 'Expunge Both' in the channel)"
    )
    for title, status, output in runs:
        verdict = "ok" if status == 0 else f"exit status {status}"
        if status != 0 and "not implemented" in output.lower():
            verdict += " (this part of msync is not implemented yet)"
        print(f"  {title}: {verdict}")


def _terminate(signum: int, frame: FrameType | None) -> None:
    """
    Turn SIGTERM into an exception so that C{finally} stops Dovecot.
    """
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    """
    Run the demo.

    @return: the exit status: 0 when the setup worked, whatever msync did.
    """
    signal.signal(signal.SIGTERM, _terminate)
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    server = DovecotServer(str(DEMO / "server"))
    try:
        try:
            print("Starting a private Dovecot on 127.0.0.1 ...", flush=True)
            server.start()
            print(
                f"  imap port {server.imap_port} (STARTTLS), imaps port {server.imaps_port},"
                f" user {server.user}, log {os.path.relpath(server.log_path, ROOT)}"
            )
            _load_mail(server)
            config = os.path.relpath(_write_config(server), ROOT)
            print(f"  wrote {config}")
        except (DovecotError, OSError) as error:
            raise SetupFailed(str(error)) from error
        runs = []
        for title, arguments in [
            ("list", ["-c", config, "-V", "-l", CHANNEL]),
            ("sync", ["-c", config, CHANNEL]),
            ("change", []),
            ("second sync", ["-c", config, CHANNEL]),
        ]:
            if title == "change":
                _change_both_sides(server)
                continue
            status, output = _run_msync(arguments)
            runs.append((f"msync {' '.join(arguments)} ({title})", status, output))
            if status != 0:
                print(f"  ({title} ended with exit status {status})")
        _summary(server, runs)
        return 0
    except SetupFailed as error:
        print(f"\ndemo setup failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        server.stop()
        print("Dovecot stopped.")


if __name__ == "__main__":
    sys.exit(main())
