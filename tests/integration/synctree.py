# -*- test-case-name: tests.integration.test_imap_sync,tests.integration.test_imap_sync_options,tests.integration.test_imap_interop -*-
"""
Shared pieces of the IMAP<->Maildir integration tests: the ArchWiki-style
configuration they run, running C{msync} and C{mbsync} as a user does,
reading what a sync left behind on either side, and L{IMAPSyncCase}, the
base of the tests that run msync alone.

Invariants: nothing here changes mail; snapshots leave out exactly what
differs between two equivalent runs (the C{time.pid_n.host} part of Maildir
file names, UIDVALIDITY values, X-TUID values, lock files) and nothing else.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from tests.integration.dovecot import DovecotAccount, DovecotServer, DovecotTestCase

MSYNC = os.path.join(os.path.dirname(sys.executable), "msync")

STORES = """\
IMAPStore remote
Account acc
{store_extra}
MaildirStore local
Path {mail}/
Inbox {mail}/INBOX
SubFolders Verbatim

"""

ARCHWIKI_CHANNEL = """\
Channel c
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
CopyArrivalDate yes
"""

SLEEPING = "Maildir notice: sleeping due to recent directory modification.\n"

PLAIN_CHANNEL = """\
Channel c
Far :remote:
Near :local:
Patterns *
Create Both
SyncState *
{extra}
"""

_UNIQUE = re.compile(r"^[0-9]+\.[0-9]+_[0-9]+\.[^,:]+")
_TUID = re.compile(rb"X-TUID: \S+")


def write_config(
    server: DovecotServer,
    root: Path,
    channels: str = ARCHWIKI_CHANNEL,
    ssl_type: str = "STARTTLS",
    account_extra: str = "",
    store_extra: str = "",
    user: DovecotAccount | None = None,
) -> Path:
    """
    Write an mbsyncrc for an account of the server, an IMAP store
    C{remote} and a Maildir store C{local} under C{root/mail}.

    @param server: the Dovecot to sync with.
    @param root: where the config (C{rc}) and the Maildir tree (C{mail}) go.
    @param channels: the Channel and Group sections.
    @param ssl_type: the account's C{SSLType}.
    @param account_extra: more lines for the IMAPAccount section.
    @param store_extra: more lines for the IMAPStore section.
    @param user: another account of the server than its default one.
    @return: the config file's path.
    """
    (root / "mail").mkdir(parents=True, exist_ok=True)
    section = server.imap_account_section("acc", ssl_type)
    if user is not None:
        section = section.replace(f"User {server.user}\n", f"User {user.user}\n")
        section = section.replace(f"Pass {server.password}\n", f"Pass {user.password}\n")
    account = section.rstrip("\n") + "\n" + account_extra
    text = account + "\n" + STORES.format(mail=root / "mail", store_extra=store_extra) + channels
    path = root / "rc"
    path.write_text(text, encoding="utf-8")
    return path


def run_tool(
    program: str, config: Path, *args: str, compat: str = "1.4"
) -> subprocess.CompletedProcess[str]:
    """
    Run C{msync} or an mbsync on a config, as a user runs it.

    @param program: C{"msync"}, or the mbsync to run (C{"mbsync"}, or an
        oracle's path).
    @param config: the mbsyncrc.
    @param args: the rest of the command line (channels, options).
    @param compat: the mbsync generation msync follows (C{MSYNC_COMPAT}):
        these tests compare msync with mbsync 1.4.4 unless told otherwise,
        whatever the machine's home directory holds (docs/compat.md).
    @return: the finished process, output captured as text.
    """
    executable = MSYNC if program == "msync" else program
    environ = dict(os.environ, MSYNC_COMPAT=compat)
    return subprocess.run(
        [executable, "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


class LocalMessage(NamedTuple):
    """
    One message file of a Maildir box.

    @ivar uid: the UID in its C{,U=} infix (0 if none).
    @ivar subdir: C{new} or C{cur}.
    @ivar flags: the flag letters after C{:2,}.
    @ivar body: the file's bytes.
    @ivar path: the file.
    """

    uid: int
    subdir: str
    flags: str
    body: bytes
    path: Path


def local_messages(box: Path) -> list[LocalMessage]:
    """
    Read a Maildir box's messages (not its subfolders).

    @param box: the box's directory.
    @return: its messages by UID (unnumbered ones first).
    """
    found = []
    for subdir in ("new", "cur"):
        directory = box / subdir
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            match = re.search(r",U=([0-9]+)", path.name)
            uid = int(match.group(1)) if match else 0
            _, _, flags = path.name.partition(":2,")
            found.append(LocalMessage(uid, subdir, flags, path.read_bytes(), path))
    return sorted(found, key=lambda message: (message.uid, message.path.name))


def file_stamps(root: Path) -> dict[str, int]:
    """
    Every file under C{root} with its modification time (lock files left
    out: they come and go with every run; so is msync's sidecar, which a
    run that pushed writes on the next run, L{msync.sync.quickcheck}).

    @param root: the tree.
    @return: relative path to C{st_mtime_ns}.
    """
    return {
        str(path.relative_to(root)): path.stat().st_mtime_ns
        for path in root.rglob("*")
        if path.is_file() and not path.name.endswith((".lock", ".msync-pair"))
    }


def snapshot(root: Path) -> dict[str, object]:
    """
    What a user sees of a Maildir tree: per file (unique part of its name
    removed) its content; state files without their UIDVALIDITY lines,
    C{.uidvalidity} without its first line (both come from clocks), X-TUID
    values masked (they are random); lock files and msync's own files
    (C{<state>.msync-far}, C{.msync-near}, C{.msync-pair}) left out.

    @param root: the tree.
    @return: a comparable description.
    """
    seen: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_dir():
            seen[relative + "/"] = True
            continue
        if path.name.endswith((".lock", ".msync-far", ".msync-near", ".msync-pair")):
            # Lock files, and msync's own CONDSTORE listing and no-op sidecar
            # beside the state file (mbsync keeps neither; they describe the
            # server and the last sync, not the sync's result).
            continue
        head, _, name = relative.rpartition("/")
        key = f"{head}/{_UNIQUE.sub('', name)}"
        if path.name == ".uidvalidity":
            seen[key] = path.read_text().splitlines()[1:]
        elif path.name.startswith(".mbsyncstate"):
            lines = path.read_text().splitlines()
            seen[key] = [line for line in lines if "UidValidity" not in line]
        else:
            bodies = seen.setdefault(key, [])
            assert isinstance(bodies, list)
            bodies.append(_TUID.sub(b"X-TUID: *", path.read_bytes()))
            bodies.sort()
    return seen


def far_snapshot(account: DovecotAccount) -> dict[str, list[tuple[int, frozenset[str], bytes]]]:
    """
    Every selectable mailbox of an account with its messages (UID, flags,
    body with the X-TUID value masked).

    @param account: the account.
    @return: mailbox name to messages.
    """
    return {
        name: [
            (message.uid, message.flags, _TUID.sub(b"X-TUID: *", message.body))
            for message in account.messages(name)
        ]
        for name in account.list_mailboxes()
    }


def crlf(text: str) -> bytes:
    """
    A message as an IMAP server stores it: CRLF line ends.

    @param text: the message with LF line ends.
    @return: its bytes with CRLF line ends.
    """
    return text.replace("\n", "\r\n").encode("utf-8")


def lf(body: bytes) -> bytes:
    """
    A server message as mbsync stores it in a Maildir: LF line ends.
    """
    return body.replace(b"\r\n", b"\n")


def without_tuid(body: bytes) -> bytes:
    """
    A message less the X-TUID header mbsync adds to every copy it makes.
    """
    return re.sub(rb"X-TUID: [A-Za-z0-9+/]{12}\r?\n", b"", body, count=1)


def tuid_of(body: bytes) -> bytes:
    """
    The X-TUID value of a copy, which must be the last header line.
    """
    match = re.search(rb"\nX-TUID: ([A-Za-z0-9+/]{12})\r?\n\r?\n", body)
    assert match is not None, body
    return match.group(1)


class IMAPSyncCase(DovecotTestCase):
    """
    A Dovecot, a temporary directory with an mbsyncrc and a Maildir tree,
    and ways to run msync and look at both sides.
    """

    def setUp(self) -> None:
        """
        Start Dovecot; prepare the local tree's root.
        """
        super().setUp()
        self.root = Path(self.mktemp()).resolve()
        self.mail = self.root / "mail"
        self.config = self.configure()

    def configure(
        self,
        channels: str = ARCHWIKI_CHANNEL,
        ssl_type: str = "STARTTLS",
        account_extra: str = "",
        store_extra: str = "",
    ) -> Path:
        """
        (Re)write the configuration; see L{write_config}.
        """
        self.config = write_config(
            self.dovecot, self.root, channels, ssl_type, account_extra, store_extra
        )
        return self.config

    def msync(self, *args: str, status: int = 0) -> tuple[str, str]:
        """
        Run C{msync -c rc ARGS} (C{-a} when no arguments); assert its exit
        status.

        @return: its standard output and standard error.
        """
        result = run_tool("msync", self.config, *(args or ("-a",)))
        self.assertEqual(result.returncode, status, result.stdout + result.stderr)
        return result.stdout, result.stderr

    def local(self, box: str = "INBOX") -> list[LocalMessage]:
        """
        The near side's messages of a box.
        """
        return local_messages(self.mail / box)

    def far(self, box: str = "INBOX") -> list[tuple[int, frozenset[str], bytes]]:
        """
        The far side's messages of a box: UID, flags, body.
        """
        return [(m.uid, m.flags, m.body) for m in self.dovecot.messages(box)]

    def put(
        self, box: str, text: str, flags: str = "", name: str = "1600000000.1_1.elsewhere"
    ) -> Path:
        """
        Deliver a message to a local box as another program would (no
        C{,U=}); into cur/ when it has flags.
        """
        for sub in ("cur", "new", "tmp"):
            (self.mail / box / sub).mkdir(parents=True, exist_ok=True)
        path = self.mail / box / ("cur" if flags else "new") / f"{name}:2,{flags}"
        path.write_text(text)
        return path

    def rename_flags(self, message: LocalMessage, flags: str) -> Path:
        """
        Change a local message's flags as a mail reader does: rename into
        cur/ with the new info part.
        """
        base = message.path.name.partition(":2,")[0]
        target = message.path.parent.parent / "cur" / f"{base}:2,{flags}"
        message.path.rename(target)
        return target

    def seed_inbox(self) -> list[int]:
        """
        Three server messages: unseen, seen, flagged+answered.
        """
        return self.dovecot.account.add_messages(
            "INBOX",
            [
                (crlf("Subject: one\nMessage-ID: <1@t>\n\nfirst\n"), (), None),
                (crlf("Subject: two\nMessage-ID: <2@t>\n\nsecond\n"), ("\\Seen",), None),
                (
                    crlf("Subject: three\nMessage-ID: <3@t>\n\nthird\n"),
                    ("\\Flagged", "\\Answered"),
                    None,
                ),
            ],
        )

    def assertInSync(self, box: str = "INBOX") -> None:
        """
        Both sides of a box hold the same messages with the same flags,
        X-TUID headers and line ends aside.
        """
        letters = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S"}
        letters["\\Deleted"] = "T"
        far = sorted(
            (without_tuid(lf(body)), "".join(sorted(letters[flag] for flag in flags)))
            for _, flags, body in self.far(box)
        )
        near = sorted((without_tuid(message.body), message.flags) for message in self.local(box))
        self.assertEqual(near, far)

    def state_entries(self, box: str = "INBOX") -> list[str]:
        """
        The entry lines of a box's C{.mbsyncstate} (after the header).
        """
        text = (self.mail / box / ".mbsyncstate").read_text()
        return text.partition("\n\n")[2].splitlines()
