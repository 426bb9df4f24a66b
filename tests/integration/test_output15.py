# -*- test-case-name: tests.integration.test_output15 -*-
"""
What a user of mbsync 1.5 sees, line by line: the mbsync 1.5.0 oracle
(C{../shared/oracles/mbsync-1.5.0}, copied into the test directory) and
C{msync} following 1.5 run on identical fresh trees (Maildir<->Maildir, and
a Dovecot account with non-ASCII and nested folders) and must print the
same standard output and error and exit with the same status.

Only what legitimately differs is normalised (L{normalise}): the trees'
paths and the server's port, the program's name (C{mbsync} in its
messages, C{msync} in ours), msync's own C{-V} line saying which
generation it follows, and the Maildir notice about sleeping after a
recent directory modification (it depends on timing). The differences
that remain on purpose are each tested by name below: 1.5.0's
C{--dry-run} modifies the mailboxes (it creates the boxes it says it
would create; msync changes nothing), and C{-h}/C{-v} name msync.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from twisted.trial.unittest import SynchronousTestCase

from tests.integration.dovecot import DovecotTestCase, free_port
from tests.integration.synctree import MSYNC
from tests.integration.test_imap_interop import add_far

ORACLE = Path(__file__).resolve().parents[3] / "shared" / "oracles" / "mbsync-1.5.0"

FOLDERS = ("INBOX", "Entwürfe", "Archiv/Bücher", "Sent")

MAILDIR_RC = """\
MaildirStore far
Path {root}/far/
Inbox {root}/far/INBOX
SubFolders Verbatim

MaildirStore near
Path {root}/near/
Inbox {root}/near/INBOX
SubFolders Verbatim

Channel c
Far :far:
Near :near:
Patterns INBOX *
Create Both
Expunge Both
SyncState *
"""

IMAP_RC = """\
IMAPAccount acc
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
TLSType STARTTLS
CertificateFile {cert}

IMAPStore remote
Account acc

MaildirStore local
Path {root}/mail/
Inbox {root}/mail/INBOX
SubFolders Verbatim

Channel c
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
"""

_SLEEPING = re.compile(r"^Maildir notice: sleeping due to recent directory modification\.\n", re.M)
_FOLLOWING = re.compile(r"^Following mbsync 1\.5: .*\n", re.M)


def normalise(text: str, root: Path, port: int | None = None) -> str:
    """
    Replace what legitimately differs between the two runs.

    @param text: one tool's standard output or error.
    @param root: the tree the tool ran in (shown as C{ROOT}).
    @param port: the server's port, if any (shown as C{PORT}).
    """
    text = text.replace(str(root), "ROOT")
    if port is not None:
        text = text.replace(f":{port}", ":PORT")
    text = _FOLLOWING.sub("", _SLEEPING.sub("", text))
    return re.sub(r"\bmbsync\b", "msync", text)


class Outcome:
    """
    One run: the exit status and the normalised streams.
    """

    def __init__(self, status: int, stdout: str, stderr: str) -> None:
        self.status = status
        self.stdout = stdout
        self.stderr = stderr

    def lines(self) -> tuple[int, list[str], list[str]]:
        """
        The status and each stream's lines, for comparing.
        """
        return self.status, self.stdout.splitlines(), self.stderr.splitlines()


class _Both:
    """
    Running the oracle and msync on their own copies of one tree.
    """

    base: Path
    oracle: Path

    def copy_oracle(self, base: Path) -> None:
        if not ORACLE.exists():
            raise AssertionError(f"mbsync 1.5.0 oracle missing: {ORACLE}")
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.oracle = base / "mbsync"
        shutil.copy(ORACLE, self.oracle)

    def run_tool(self, tool: str, root: Path, *args: str, port: int | None = None) -> Outcome:
        """
        Run one tool in C{root} with its config and C{HOME} there.
        """
        program = str(self.oracle) if tool == "oracle" else MSYNC
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MSYNC_"))}
        environ["HOME"] = str(root / "home")
        environ["MSYNC_COMPAT"] = "1.5"
        done = subprocess.run(
            [program, "-c", str(root / "rc"), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=environ,
            cwd=root,
        )
        return Outcome(
            done.returncode,
            normalise(done.stdout, root, port),
            normalise(done.stderr, root, port),
        )


def render(data: str) -> list[str]:
    """
    What a terminal shows for C{data}: each line as left by its carriage
    returns (a redraw overwrites, spaces erase), trailing blanks removed.
    """
    shown = []
    for raw in data.replace("\r\n", "\n").split("\n"):
        cells: list[str] = []
        column = 0
        for char in raw:
            if char == "\r":
                column = 0
                continue
            if column < len(cells):
                cells[column] = char
            else:
                cells.append(char)
            column += 1
        shown.append("".join(cells).rstrip())
    return shown


class MaildirOutputTests(SynchronousTestCase, _Both):
    """
    Maildir<->Maildir: both tools print the same.
    """

    def setUp(self) -> None:
        self.copy_oracle(Path(self.mktemp()).resolve())
        self.trees = 0

    def tree(self, extra: str = "") -> Path:
        """
        A far store with messages in non-ASCII and nested folders, an
        empty near store, a home directory and the config.
        """
        self.trees += 1
        root = self.base / f"tree{self.trees}"
        for folder in FOLDERS:
            for sub in ("cur", "new", "tmp"):
                (root / "far" / folder / sub).mkdir(parents=True)
        for index in range(3):
            (root / "far" / "INBOX" / "cur" / f"100{index}.x:2,S").write_text(
                f"Subject: m{index}\n\nb\n"
            )
            (root / "far" / "Entwürfe" / "cur" / f"100{index}.x:2,").write_text(
                f"Subject: e{index}\n\nb\n"
            )
        (root / "far" / "Archiv" / "Bücher" / "new" / "1.x").write_text("Subject: b\n\nb\n")
        for path in root.rglob("*"):
            os.utime(path, (1_600_000_000, 1_600_000_000))
        (root / "near").mkdir()
        (root / "home").mkdir()
        (root / "rc").write_text(MAILDIR_RC.format(root=root) + extra, encoding="utf-8")
        return root

    def both(self, *args: str, extra: str = "", before: tuple[str, ...] = ()) -> Outcome:
        """
        Run both tools with C{args} on fresh trees (after C{before}, if
        given, on each); assert the same status and lines.

        @return: the oracle's outcome.
        """
        outcomes = []
        for tool in ("oracle", "msync"):
            root = self.tree(extra)
            if before:
                first = self.run_tool(tool, root, *before)
                self.assertEqual(first.status, 0, first.stdout + first.stderr)
            outcomes.append(self.run_tool(tool, root, *args))
        self.assertEqual(outcomes[1].lines(), outcomes[0].lines())
        return outcomes[0]

    def run_on_terminal(self, tool: str, root: Path, *args: str) -> tuple[int, list[str]]:
        """
        Run one tool with standard output and error on a terminal (so
        that the progress line is drawn).

        @return: the status and the screen's lines (normalised).
        """
        program = str(self.oracle) if tool == "oracle" else MSYNC
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MSYNC_"))}
        environ.update(HOME=str(root / "home"), MSYNC_COMPAT="1.5", COLUMNS="100")
        controller, terminal = pty.openpty()
        try:
            process = subprocess.Popen(
                [program, "-c", str(root / "rc"), *args],
                stdin=subprocess.DEVNULL,
                stdout=terminal,
                stderr=terminal,
                env=environ,
                cwd=root,
            )
        finally:
            os.close(terminal)
        chunks = []
        try:
            while True:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the tool closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(controller)
            status = process.wait(timeout=60)
        screen = "\n".join(render(b"".join(chunks).decode("utf-8"))) + "\n"
        return status, normalise(screen, root).splitlines()

    def test_progress_on_terminal(self) -> None:
        """
        On a terminal, isync 1.5 draws the progress line and erases it
        (rather than ending it with a newline, as 1.4 does) before each
        message and the summary: the screens end up the same.
        """
        screens = {}
        for tool in ("oracle", "msync"):
            screens[tool] = self.run_on_terminal(tool, self.tree(), "c")
        self.assertEqual(screens["msync"], screens["oracle"])
        status, lines = screens["oracle"]
        self.assertEqual(status, 0)
        self.assertFalse(any(line.startswith("C: ") for line in lines), lines)
        self.assertIn("Processed 4 box(es) in 1 channel(s),", lines)

    def test_first_run(self) -> None:
        """
        A first run: a notice naming each box created without UIDVALIDITY,
        then 1.5's summary.
        """
        oracle = self.both("c")
        self.assertIn(
            "Maildir notice: no UIDVALIDITY in ROOT/far/Entwürfe, creating new.\n", oracle.stdout
        )
        self.assertIn(
            "Processed 4 box(es) in 1 channel(s),\npulled 7 new message(s)", oracle.stdout
        )

    def test_verbose_first_run(self) -> None:
        """
        C{-V}: the configuration file read, the channel, each store and
        box opened and created, the loads, the summary.
        """
        oracle = self.both("-V", "c")
        self.assertTrue(oracle.stdout.startswith("Reading configuration file ROOT/rc\n"))
        self.assertIn("Creating near side box Archiv/Bücher...\n", oracle.stdout)

    def test_noop_run(self) -> None:
        """
        A second run finds nothing to do, quietly or verbosely.
        """
        self.both("c", before=("c",))
        self.both("-V", "c", before=("c",))

    def test_quiet(self) -> None:
        """
        C{-q} hides the summary, C{-qq} the notices too.
        """
        self.assertEqual(self.both("-q", "c").stdout.count("Processed"), 0)
        self.assertEqual(self.both("-qq", "c").stdout, "")

    def test_list(self) -> None:
        """
        C{-l} (and with C{-V}) lists the channel's boxes.
        """
        self.assertEqual(self.both("-l", "c").stdout.count("\n"), 4)
        self.both("-V", "-l", "c")

    def test_operations(self) -> None:
        """
        Direction and type options and a box list.
        """
        self.both("-Ln", "c")
        self.both("-e", "-H", "c", before=("c",))
        self.both("c:INBOX,Sent")

    def test_ext_exit(self) -> None:
        """
        C{-e}: 64 for the changed near side, 0 after a no-op run.
        """
        self.assertEqual(self.both("-e", "c").status, 64)
        self.assertEqual(self.both("--ext-exit", "c", before=("c",)).status, 0)

    def test_dry_run(self) -> None:
        """
        C{--dry-run}: only the summary, worded C{would ...} (msync's plan
        lines are verbose output under 1.5).
        """
        oracle = self.both("-q", "--dry-run", "c")
        self.assertEqual(oracle.stdout, "")
        oracle = self.both("-y", "c", before=("c",))
        self.assertIn("would pull 0 new message(s)", oracle.stdout)

    def test_dry_run_first(self) -> None:
        """
        The one difference left on purpose: mbsync 1.5.0's C{--dry-run}
        really creates the boxes and copies the messages (its dry-run
        driver is only used with C{-Dd}); msync's changes nothing and says
        so in the notice. Everything else is the same.
        """
        outcomes = {}
        for tool in ("oracle", "msync"):
            root = self.tree()
            outcomes[tool] = self.run_tool(tool, root, "-y", "c")
            created = (root / "near" / "Entwürfe" / "cur").exists()
            self.assertEqual(created, tool == "oracle", tool)
        notice = re.compile(r"^Maildir notice: no UIDVALIDITY.*\n", re.M)
        self.assertEqual(
            notice.sub("", outcomes["msync"].stdout), notice.sub("", outcomes["oracle"].stdout)
        )
        self.assertEqual(outcomes["msync"].status, outcomes["oracle"].status)

    def test_unknown_channel(self) -> None:
        """
        A bad operand: its error alone, and nothing is synchronized even
        for the good operands.
        """
        self.assertEqual(
            self.both("nosuch").stderr, "No channel or group named 'nosuch' defined.\n"
        )
        self.assertEqual(self.both("nosuch", "c").stdout, "")
        self.both()
        self.both("c:INBOX", extra="Channel d\nFar :far:\nNear :near:\n", before=())

    def test_config_errors(self) -> None:
        """
        A bad line, an unknown store, a missing file.
        """
        self.assertEqual(self.both("c", extra="Bogus line\n").status, 1)
        self.both("c", extra="\nChannel d\nFar :far:\nNear :nosuch:\n")
        self.both("-c", "/nonexistent/rc", "c")
        self.both("c", extra="\nChannel d\nFar :far:\n")

    def test_relative_config_name(self) -> None:
        """
        A bare C{-c} name is read from C{./} and named so, in C{-V}'s line
        and in errors.
        """
        oracle = self.both("-c", "rc", "-V", "-l", "c")
        self.assertTrue(oracle.stdout.startswith("Reading configuration file ./rc\n"))
        oracle = self.both("-c", "rc", "c", extra="Bogus line\n")
        self.assertRegex(oracle.stderr, r"^\./rc:\d+: keyword 'Bogus' is not recognized")

    def test_old_spellings(self) -> None:
        """
        1.5's notices for C{-N}/C{-d} and the old keywords.
        """
        self.both("-N", "-d", "c", extra="Sync Pull\n")
        self.assertEqual(self.both("-N", "-V", "c", extra="SSLType None\n").status, 1)
        self.both("c", extra="Sync Pull ReNew Delete\n")

    def test_conflicting_options(self) -> None:
        """
        Conflicting operation options, in a channel, in a second channel
        without a near side, and on the command line: isync 1.5's
        C{Conflicting}, C{Redundant} and C{Invalid combination} lines
        (after its notices), exit status 1, nothing synchronized. An
        option only 1.5 merges without a conflict runs.
        """
        in_channel = {
            "Sync PullNew Pull\n": "Redundant Sync options specified in Channel 'c'.",
            "Sync PullNew None\n": "Conflicting Sync options specified in Channel 'c'.",
            "Sync PullNew Push Flags\n": (
                "Invalid combination of simple and compound Sync options in Channel 'c'."
            ),
            "Create Both Far\n": "Redundant Create options specified in Channel 'c'.",
            "Create None Far\nExpunge Both Near\n": (
                "Redundant Expunge options specified in Channel 'c'."
            ),
            "ExpungeSolo None Near\nCreate Both Far\n": (
                "Conflicting ExpungeSolo options specified in Channel 'c'."
            ),
            "\nChannel d\nFar :far:\nSync None Pull\n": (
                "channel 'd' refers to no near side store\n"
                "Conflicting Sync options specified in Channel 'd'."
            ),
        }
        for extra, expected in in_channel.items():
            oracle = self.both("c", extra=extra)
            self.assertEqual((oracle.status, oracle.stderr), (1, expected + "\n"), extra)
            self.assertEqual(oracle.stdout, "")
        command_line = {
            ("-Ln", "-L"): "Redundant Sync options specified on the command line.",
            ("-Ln", "-0"): "Conflicting Sync options specified on the command line.",
            ("-F", "-Ln"): (
                "Invalid combination of simple and compound Sync options on the command line."
            ),
            ("--no-create", "-Cf"): "Conflicting Create options specified on the command line.",
            ("-x", "-xf", "-C", "-Cf"): (
                "Redundant ExpungeSolo options specified on the command line."
            ),
            ("-N", "-Ln", "-L"): (
                "Notice: --renew/-N are deprecated; use --upgrade/-u instead.\n"
                "Invalid combination of simple and compound Sync options on the command line."
            ),
        }
        for args, expected in command_line.items():
            oracle = self.both(*args, "c")
            self.assertEqual((oracle.status, oracle.stderr), (1, expected + "\n"), args)
        self.assertEqual(self.both("c", extra="Sync PullOld Pull\n").status, 0)

    def test_list_stores(self) -> None:
        """
        C{-ls}: each store's boxes in mbsync's order.
        """
        self.both("-ls")
        self.both("--list-stores", "near", "nosuch")
        self.both("-ls", "far", before=("c",))

    def test_help_and_version(self) -> None:
        """
        C{-h}: the same options as mbsync 1.5.0's, but C{-x} (not
        offered) and msync's own C{--json}; C{-v} names msync and the
        release it follows.
        """
        texts = {}
        for tool in ("oracle", "msync"):
            texts[tool] = self.run_tool(tool, self.tree(), "--help")
            self.assertEqual(texts[tool].status, 0)
        # Every line from "usage:" on but the lines naming what only one
        # tool has: mbsync's -x and build options, msync's --json and the
        # manual pages it points to.
        own = ("--expunge-solo", "--json", "Compile time options", "+HAVE_", "See ")
        lines = {
            tool: [
                line
                for line in text.stdout.replace(
                    # mbsync 1.5.0's sentence naming -x (and missing a space).
                    ", --expunge, and --expunge-solo can be suffixed with-far",
                    ", and --expunge can be suffixed with -far",
                )
                .split("usage:\n", 1)[1]
                .rstrip("\n")
                .splitlines()
                if not any(mark in line for mark in own)
            ]
            for tool, text in texts.items()
        }
        self.assertEqual("\n".join(lines["msync"]).rstrip(), "\n".join(lines["oracle"]).rstrip())
        self.assertIn("  -ls, --list-stores\traw listing of stores' mailboxes", lines["msync"])
        version = self.run_tool("msync", self.tree(), "-v")
        self.assertRegex(version.stdout, r"^msync \S+ \(isync 1\.5\.0 compatible\)\n$")


class ImapOutputTests(DovecotTestCase, _Both):
    """
    A Dovecot account with non-ASCII and nested folders synchronized into
    an empty Maildir: both tools print the same. Each tool has an account
    of its own with the same messages (the first to open a folder takes
    its \\Recent flags, which C{-V} counts).
    """

    def setUp(self) -> None:
        super().setUp()
        self.copy_oracle(Path(self.mktemp()).resolve())
        self.trees = 0
        self.port = self.dovecot.imap_port

    def tree(self, password: str | None = None, port: int | None = None) -> Path:
        """
        A fresh account with the corpus and an empty Maildir, with the
        config (the account's password replaced by C{password} if given,
        the port by C{port}).
        """
        self.trees += 1
        account = self.dovecot.add_account(f"u{self.trees}")
        for folder in FOLDERS[1:]:
            account.create_mailbox(folder)
        add_far(account, 7, 12, FOLDERS)
        root = self.base / f"tree{self.trees}"
        (root / "home").mkdir(parents=True)
        (root / "mail").mkdir()
        (root / "rc").write_text(
            IMAP_RC.format(
                root=root,
                port=port or self.port,
                user="USER",
                password=password or account.password,
                cert=self.dovecot.cert_path,
            ).replace("User USER", f"User {account.user}"),
            encoding="utf-8",
        )
        return root

    def both(
        self,
        *args: str,
        before: tuple[str, ...] = (),
        between: Callable[[Path], None] | None = None,
        same_stderr: bool = True,
        **tree: object,
    ) -> tuple[Outcome, Outcome]:
        """
        Run both tools with C{args} (after C{before}, if given) on fresh
        trees and accounts; assert the same status and lines (standard
        error too, unless C{same_stderr} is false).

        @return: the oracle's outcome and msync's.
        """
        outcomes = []
        for tool in ("oracle", "msync"):
            root = self.tree(**tree)  # type: ignore[arg-type]
            if before:
                first = self.run_tool(tool, root, *before, port=self.port)
                self.assertEqual(first.status, 0, first.stdout + first.stderr)
            if between is not None:
                between(root)
            outcome = self.run_tool(tool, root, *args, port=self.port)
            user = f"u{self.trees}"
            outcomes.append(
                Outcome(
                    outcome.status,
                    outcome.stdout.replace(user, "USER"),
                    outcome.stderr.replace(user, "USER"),
                )
            )
        self.maxDiff = None
        compared = (lambda o: o.lines()) if same_stderr else (lambda o: o.lines()[:2])
        self.assertEqual(compared(outcomes[1]), compared(outcomes[0]))
        return outcomes[0], outcomes[1]

    def test_first_and_noop_runs(self) -> None:
        """
        A first run (folders created in UTF-8), then a no-op run.
        """
        oracle, _ = self.both("c")
        self.assertIn("pulled 12 new message(s)", oracle.stdout)
        self.both("c", before=("c",))

    def test_verbose(self) -> None:
        """
        C{-V}: connecting, logging in, each box opened, created, loaded.
        """
        oracle, _ = self.both("-V", "c")
        self.assertIn("Opening far side box Archiv/Bücher...\n", oracle.stdout)
        self.both("-V", "c", before=("c",))

    def test_verbose_changes(self) -> None:
        """
        C{-V} after local changes: a message deleted and one flagged in
        C{Entwürfe}, pushed and expunged on the server.
        """

        def change(root: Path) -> None:
            box = root / "mail" / "Entwürfe"
            entries = sorted((box / "cur").iterdir()) + sorted((box / "new").iterdir())
            for entry, flag in zip(entries[:2], "TF", strict=True):
                target = box / "cur" / (entry.name.split(":2,")[0] + ":2," + flag)
                entry.rename(target)

        oracle, _ = self.both("-V", "c", before=("c",), between=change)
        self.assertIn("expunged 1 message(s) from far side.", oracle.stdout)

    def test_list_and_list_stores(self) -> None:
        """
        C{-l} and C{-ls} name the boxes in UTF-8, in mbsync's order.
        """
        self.assertIn("Entwürfe\n", self.both("-l", "c")[0].stdout)
        self.both("-ls")
        self.both("-ls", "remote")

    def test_quiet_dry_run_ext_exit(self) -> None:
        """
        C{-q}, C{-y} and C{-e}.
        """
        self.both("-q", "c")
        self.both("-y", "c", before=("c",))
        self.assertEqual(self.both("-e", "c")[0].status, 64)

    def test_wrong_password(self) -> None:
        """
        A refused login: the same status and output; the error is worded
        differently on purpose (mbsync: C{IMAP command 'AUTHENTICATE
        CRAM-MD5' returned an error: ...}; msync names the store and the
        account, in either generation), both ending with the server's text.
        """
        oracle, ours = self.both("c", password="wrong", same_stderr=False)
        self.assertEqual(oracle.status, 1)
        self.assertRegex(
            oracle.stderr, r"^IMAP command 'AUTHENTICATE CRAM-MD5' returned an error: "
        )
        self.assertRegex(ours.stderr, r"^IMAP error: store remote \(account acc at 127\.0\.0\.1\)")
        for each in (oracle, ours):
            self.assertTrue(each.stderr.endswith(" Authentication failed.\n"), each.stderr)
            self.assertNotIn("wrong", each.stderr)

    def test_unreachable_server(self) -> None:
        """
        Nobody listens on the port.
        """
        self.assertEqual(self.both("c", port=free_port())[0].status, 1)


class _Utf8Server:
    """
    A tiny IMAP server on 127.0.0.1 offering C{UTF8=ACCEPT}: it greets
    with C{PREAUTH}, confirms C{ENABLE}, lists three boxes with UTF-8
    quoted names, and answers C{SELECT} with an empty box. It records the
    commands received (tags removed). One connection at a time, in a
    daemon thread; L{close} closes the socket and joins the thread.
    """

    CAPABILITIES = b"IMAP4rev1 ENABLE UTF8=ACCEPT NAMESPACE UIDPLUS"
    NAMES = ("INBOX", "Entwürfe", "Archiv/Bücher")

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port: int = self.listener.getsockname()[1]
        self.commands: list[bytes] = []
        # Set while no connection is being served: a client that closes
        # right behind its LOGOUT (msync) may exit before it is read.
        self.idle = threading.Event()
        self.idle.set()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        # shutdown wakes the thread blocked in accept (close alone does not).
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(10)
        if self.thread.is_alive():
            raise AssertionError("UTF-8 test server did not stop")

    def _run(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.idle.clear()
            try:
                with client, client.makefile("rb") as lines:
                    self._serve(client, lines)
            except OSError:
                pass  # the client closed without waiting for an answer
            finally:
                self.idle.set()

    def _serve(self, client: socket.socket, lines: BinaryIO) -> None:
        client.sendall(b"* PREAUTH [CAPABILITY " + self.CAPABILITIES + b"] hi\r\n")
        for line in lines:
            tag, _, command = line.rstrip(b"\r\n").partition(b" ")
            self.commands.append(command)
            verb = command.split(b" ")[0].upper()
            out = b""
            if verb == b"CAPABILITY":
                out = b"* CAPABILITY " + self.CAPABILITIES + b"\r\n"
            elif verb == b"ENABLE":
                out = b"* ENABLED UTF8=ACCEPT\r\n"
            elif verb == b"NAMESPACE":
                out = b'* NAMESPACE (("" "/")) NIL NIL\r\n'
            elif verb == b"LIST":
                out = b"".join(b'* LIST () "/" "%s"\r\n' % name.encode() for name in self.NAMES)
            elif verb == b"SELECT":
                out = b"* 0 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\n* OK [UIDNEXT 1] x\r\n"
            elif verb == b"LOGOUT":
                out = b"* BYE bye\r\n"
            client.sendall(out + tag + b" OK done\r\n")
            if verb == b"LOGOUT":
                return


UTF8_RC = """\
IMAPAccount a
Host 127.0.0.1
Port {port}
User u
TLSType None

IMAPStore r
Account a

MaildirStore l
Path {root}/mail/
Inbox {root}/mail/INBOX
SubFolders Verbatim

Channel c
Far :r:
Near :l:
Patterns *
Create Near
SyncState *
"""


class Utf8AcceptTests(SynchronousTestCase, _Both):
    """
    A server offering C{UTF8=ACCEPT}: msync following 1.5 sends C{ENABLE
    UTF8=ACCEPT} where mbsync 1.5.0 does and then names boxes in UTF-8
    quoted strings, as it does; following 1.4 it never enables it.
    """

    def setUp(self) -> None:
        self.copy_oracle(Path(self.mktemp()).resolve())
        self.server = _Utf8Server()
        self.addCleanup(self.server.close)

    def tree(self, name: str) -> Path:
        root = self.base / name
        (root / "home").mkdir(parents=True)
        (root / "mail").mkdir()
        (root / "rc").write_text(UTF8_RC.format(port=self.server.port, root=root))
        return root

    def commands(self) -> list[bytes]:
        """
        The commands received since the last call, but C{LIST} (whose
        pattern the tools quote differently) and C{CAPABILITY} (1.5.0 takes
        the greeting's).
        """
        self.assertTrue(self.server.idle.wait(10), "the test server is still serving")
        found = [c for c in self.server.commands if not c.startswith((b"LIST", b"CAPABILITY"))]
        del self.server.commands[:]
        return found

    def test_sync_like_oracle(self) -> None:
        """
        The same output, and the same commands: C{ENABLE UTF8=ACCEPT} right
        after the greeting, then C{SELECT "Entwürfe"} in UTF-8.
        """
        outcomes, commands = [], []
        for tool in ("oracle", "msync"):
            outcomes.append(self.run_tool(tool, self.tree(tool), "c").lines())
            commands.append(self.commands())
        self.assertEqual(outcomes[1], outcomes[0])
        self.assertEqual(outcomes[0][0], 0)
        self.assertEqual(
            [c for c in commands[0] if c != b'SELECT "INBOX"'],
            [b"ENABLE UTF8=ACCEPT", b"NAMESPACE"]
            + [b'SELECT "%s"' % n.encode() for n in ("Archiv/Bücher", "Entwürfe")]
            + [b"LOGOUT"],
        )
        # 1.5.0 quotes every name; msync quotes what needs it.
        self.assertEqual([c.replace(b'"INBOX"', b"INBOX") for c in commands[0]], commands[1])
        self.assertTrue((self.base / "msync" / "mail" / "Entwürfe" / "cur").is_dir())

    def test_list_stores_like_oracle(self) -> None:
        """
        C{-ls} prints the UTF-8 names in the oracle's order.
        """
        outcomes = [self.run_tool(t, self.tree(t), "-ls").lines() for t in ("oracle", "msync")]
        self.assertEqual(outcomes[1], outcomes[0])
        self.assertIn("Entwürfe", outcomes[0][1])

    def test_never_following_14(self) -> None:
        """
        Following 1.4, no C{ENABLE}: names stay modified UTF-7.
        """
        root = self.tree("msync14")
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MSYNC_"))}
        environ.update(HOME=str(root / "home"), MSYNC_COMPAT="1.4")
        done = subprocess.run(
            [MSYNC, "-c", str(root / "rc"), "-l", "c"],
            capture_output=True,
            timeout=60,
            env=environ,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        commands = self.commands()
        self.assertEqual(commands, [b"NAMESPACE", b"LOGOUT"])


class UnresolvableTests(SynchronousTestCase, _Both):
    """
    A host name without address: mbsync's C{Error: Cannot resolve server
    'host': reason} (getaddrinfo's reason), the same status.
    """

    def setUp(self) -> None:
        self.copy_oracle(Path(self.mktemp()).resolve())

    def test_unresolvable(self) -> None:
        """
        Both tools print the same error for a C{.invalid} host (RFC 2606:
        never resolves), on their own and with C{-V}.
        """
        outcomes = []
        for tool in ("oracle", "msync"):
            root = self.base / tool
            (root / "home").mkdir(parents=True)
            (root / "mail").mkdir()
            text = UTF8_RC.format(port=143, root=root)
            (root / "rc").write_text(text.replace("127.0.0.1", "nonexistent.invalid"))
            outcomes.append(
                [self.run_tool(tool, root, *args, "c").lines() for args in ((), ("-V",))]
            )
        self.assertEqual(outcomes[1], outcomes[0])
        status, _, errors = outcomes[0][0]
        self.assertEqual(status, 1)
        self.assertRegex(errors[0], r"^Error: Cannot resolve server 'nonexistent\.invalid': \S")
