# -*- test-case-name: tests.integration.test_fuzz_interop -*-
"""
A differential fuzzer: msync and the real mbsync 1.4 on two copies of one
Maildir<->Maildir tree, given the same random changes round after round.

Each round changes both trees alike (new messages in C{new/} or C{cur/},
flag changes, deletions, a new box; on either side, in any box), runs
C{mbsync -a} on one and C{msync -a} on the other, and compares everything a
user or a later run can see (L{tests.integration.test_maildir_interop}'s
snapshot: file names less their unique part, flags, C{new/} vs C{cur/},
contents, state files). The trees then go on from there, so later rounds
run on state both tools wrote. One box, C{big}, holds more messages than
msync's names cache threshold, so its saved listings and directory hints
are used too; rounds follow one another within the same second, where
those hints must not be trusted blindly.

Messages are named by their C{Subject} (C{s<N>}), not by their file name
(whose unique part each tool makes its own): a change is generated from
mbsync's tree and applied to both by subject.

C{python -m tests.integration.fuzzinterop --seeds 1-20 --rounds 12} runs a
campaign and prints the first difference of each failing seed (the trees
are kept in C{--workdir}).
"""

from __future__ import annotations

import argparse
import difflib
import os
import random
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.dovecot import DovecotServer
from tests.integration.imapaccount import DovecotAccount
from tests.integration.synctree import far_snapshot, run_tool
from tests.integration.test_maildir_interop import CONFIG as MAILDIR_CONFIG
from tests.integration.test_maildir_interop import mkbox, snapshot

__all__ = ["Divergence", "Fuzz", "run_seed"]

#: More messages than msync's names cache threshold (NAMES_CACHE_MIN, 2,048).
BIG = 2100
#: What a round may set as a message's flags (Maildir letters, sorted).
FLAG_SETS = ("", "S", "S", "RS", "FS", "F", "DS", "T", "ST", "D")
SYNCS = ("All", "All", "Pull", "Push", "New", "Flags", "Pull New", "Push Flags", "Pull Push")
EXPUNGES = ("None", "Both", "Far", "Near")

#: test_maildir_interop's two Maildir stores and channel, with the options
#: drawn here.
CONFIG = MAILDIR_CONFIG.replace("Create Both\n", "{create}\n").replace(
    "{extra}\n", "Sync {sync}\nExpunge {expunge}\n{extra}"
)


class Divergence(AssertionError):
    """
    The two tools left different trees, or exited differently.
    """


#: A message's name in its subject line (a placeholder's too).
_SUBJECT = re.compile(rb"^Subject: (?:\[placeholder\] )?(s\d+)", re.MULTILINE)


def _message(subject: str) -> bytes:
    """
    A message named by its subject; its body grows with the subject's
    number (about 50 to 110 bytes in all), so that C{MaxSize} splits them.
    """
    padding = "x" * (int(subject[1:]) % 61)
    return (
        f"Subject: {subject}\nMessage-ID: <{subject}@fuzz>\n\nbody of {subject}\n{padding}\n"
    ).encode()


def _write(box: Path, serial: int, subject: str, flags: str) -> None:
    mkbox(box)
    sub = "cur" if flags else "new"
    name = f"{1700000000 + serial}.{serial}_1.fuzz:2,{flags}"
    (box / sub / name).write_bytes(_message(subject))


def _index(box: Path) -> dict[str, Path]:
    """
    The messages of a box by subject.
    """
    found: dict[str, Path] = {}
    for sub in ("cur", "new"):
        folder = box / sub
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            with path.open("rb") as handle:
                first = handle.readline()
            # A placeholder (MaxSize) is named after its message:
            # "[placeholder] s528".
            match = _SUBJECT.match(first)
            if match is not None:
                found[match.group(1).decode()] = path
    return found


def _oldest_first(subjects: Iterable[str]) -> list[str]:
    """
    Message names (C{s<N>}) in the order they were made.
    """
    return sorted(subjects, key=lambda subject: int(subject[1:]))


def _boxes(side: Path) -> list[str]:
    """
    The boxes of one side (SubFolders Verbatim), by name.
    """
    names = []
    for path in sorted(side.rglob("cur")):
        relative = path.parent.relative_to(side)
        names.append(str(relative))
    return names


@dataclass
class Fuzz:
    """
    One seed's campaign: two trees and the random changes given to both.
    """

    base: Path
    seed: int
    rng: random.Random = field(init=False)
    serial: int = 0
    sync: str = "All"
    expunge: str = "None"
    extra: str = ""
    log: list[str] = field(default_factory=list)
    #: The mbsync to hold msync against, and the generation msync follows.
    oracle: str = "mbsync"
    compat: str = "1.4"
    #: More channel options, drawn per seed from a random source of their
    #: own (the changes' draws stay those of the seed): C{--options}.
    options: bool = False
    create: str = "Create Both"

    def __post_init__(self) -> None:
        self.rng = random.Random(f"msync-fuzz:{self.seed}")
        self.sync = self.rng.choice(SYNCS)
        self.expunge = self.rng.choice(EXPUNGES)
        if self.rng.random() < 0.3:
            self.extra = f"MaxMessages {self.rng.choice((50, 3000))}\n"

    def draw_options(self) -> None:
        """
        With L{options}: C{Create}, C{Remove}, C{MaxSize} and
        C{CopyArrivalDate} drawn from the seed's own second source.
        """
        rng = random.Random(f"msync-fuzz-options:{self.seed}")
        self.create = rng.choice(("Create Both", "Create Near", "Create Far", "Create None"))
        for line in ("Remove Both", "Remove Near", "MaxSize 80", "CopyArrivalDate yes"):
            if rng.random() < 0.3:
                self.extra += line + "\n"

    @property
    def trees(self) -> tuple[Path, Path]:
        return self.base / "mbsync", self.base / "msync"

    def start(self) -> None:
        """
        Both trees as the first run finds them: a few messages in the far
        and near INBOX, the big far box.
        """
        for root in self.trees:
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            mkbox(root / "near" / "INBOX")
        self.serial = 0
        plan: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
        for side, box, count in (("far", "INBOX", 5), ("near", "INBOX", 3), ("far", "big", BIG)):
            for _ in range(count):
                subject = self._subject()
                plan.setdefault((side, box), []).append(
                    (self.serial, subject, self.rng.choice(FLAG_SETS))
                )
        for copy in (0, 1):
            for (side, box), messages in plan.items():
                self.put_many(copy, side, box, messages)
        self.configure()

    def _subject(self) -> str:
        self.serial += 1
        return f"s{self.serial}"

    def configure(self) -> None:
        for copy, root in enumerate(self.trees):
            (root / "rc").write_text(self.config_text(copy))

    # What a change does to one copy (0: mbsync's, 1: msync's) of a side;
    # an IMAP far side (ImapFuzz) does it over IMAP.

    def config_text(self, copy: int) -> str:
        text = CONFIG.format(
            root=self.trees[copy],
            sync=self.sync,
            expunge=self.expunge,
            extra=self.extra,
            create=self.create,
        )
        if self.compat == "1.5":
            # mbsync 1.5.0's Patterns * leaves out an Inbox inside Path (a
            # difference kept on purpose, docs/compat.md); naming INBOX
            # lists it with both tools.
            text = text.replace("Patterns *\n", "Patterns INBOX *\n")
        return text

    def boxes(self, side: str) -> list[str]:
        """
        The boxes of a side of mbsync's copy.
        """
        return _boxes(self.trees[0] / side)

    def subjects(self, side: str, box: str) -> list[str]:
        """
        The messages of a box of mbsync's copy, by subject, oldest first.
        """
        return _oldest_first(_index(self.trees[0] / side / box))

    def put_many(
        self, copy: int, side: str, box: str, messages: list[tuple[int, str, str]]
    ) -> None:
        for serial, subject, flags in messages:
            _write(self.trees[copy] / side / box, serial, subject, flags)

    def reflag(self, copy: int, side: str, box: str, subject: str, flags: str) -> None:
        folder = self.trees[copy] / side / box
        path = _index(folder).get(subject)
        if path is None:
            return
        base = path.name.split(":2,")[0]
        path.rename(folder / "cur" / f"{base}:2,{flags}")

    def delete(self, copy: int, side: str, box: str, subject: str) -> None:
        path = _index(self.trees[copy] / side / box).get(subject)
        if path is not None:
            path.unlink()

    def snapshot(self, copy: int) -> dict[str, object]:
        return _without_sidecars(snapshot(self.trees[copy]))

    def change(self) -> None:
        """
        One round's random changes, made to both trees alike.
        """
        ops = self.rng.randrange(1, 12)
        for _ in range(ops):
            side = self.rng.choice(("far", "near"))
            boxes = self.boxes(side)
            if not boxes:
                continue
            box = self.rng.choice(boxes)
            roll = self.rng.random()
            existing = self.subjects(side, box)
            if roll < 0.35 or not existing:
                subject, flags = self._subject(), self.rng.choice(FLAG_SETS)
                self.log.append(f"new {side}/{box} {subject} {flags!r}")
                for copy in (0, 1):
                    self.put_many(copy, side, box, [(self.serial, subject, flags)])
            elif roll < 0.75:
                subject, flags = self.rng.choice(existing), self.rng.choice(FLAG_SETS)
                self.log.append(f"flags {side}/{box} {subject} {flags!r}")
                for copy in (0, 1):
                    self.reflag(copy, side, box, subject, flags)
            elif roll < 0.95:
                subject = self.rng.choice(existing)
                self.log.append(f"delete {side}/{box} {subject}")
                for copy in (0, 1):
                    self.delete(copy, side, box, subject)
            else:
                box = f"nb{self.serial}"
                subject = self._subject()
                self.log.append(f"newbox {side}/{box} {subject}")
                for copy in (0, 1):
                    self.put_many(copy, side, box, [(self.serial, subject, "")])
        if self.rng.random() < 0.15:
            self.sync = self.rng.choice(SYNCS)
            self.expunge = self.rng.choice(EXPUNGES)
            self.log.append(f"config Sync {self.sync}, Expunge {self.expunge}")
            self.configure()

    def run(self) -> None:
        """
        mbsync on one tree, msync on the other; the trees must agree.
        """
        theirs, ours = (
            run_tool(program, root / "rc", "-a", compat=self.compat)
            for program, root in zip((self.oracle, "msync"), self.trees, strict=True)
        )
        if theirs.returncode != ours.returncode:
            raise Divergence(
                f"exit {theirs.returncode} (mbsync) != {ours.returncode} (msync)\n"
                f"mbsync: {theirs.stdout}{theirs.stderr}\nmsync: {ours.stdout}{ours.stderr}"
            )
        left, right = self.snapshot(0), self.snapshot(1)
        if left != right:
            raise Divergence(
                f"both exited {ours.returncode}\n{_first_difference(left, right)}\n"
                f"mbsync said: {theirs.stdout}{theirs.stderr}\nmsync said: {ours.stdout}{ours.stderr}"
            )


#: The far side an IMAP account of the server; the near store and the
#: channel as in L{CONFIG}.
IMAP_CONFIG = (
    "IMAPAccount far\nHost 127.0.0.1\nPort {port}\nUser {user}\nPass {password}\n"
    "SSLType None\nAuthMechs LOGIN\n\nIMAPStore far\nAccount far\n\n"
    + CONFIG[CONFIG.index("MaildirStore near") :]
)

#: Maildir flag letters as IMAP flags.
IMAP_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


@dataclass
class ImapFuzz(Fuzz):
    """
    The same campaign with the far side on a real Dovecot (CONDSTORE,
    QRESYNC: msync's quick checks, saved listings and SELECTs sent ahead):
    each copy is an account of C{server}, changed over IMAP; the far
    snapshot is every message's UID, flags and bytes (X-TUID masked).
    """

    server: DovecotServer | None = None
    accounts: list[DovecotAccount] = field(default_factory=list)

    def start(self) -> None:
        assert self.server is not None
        for account in self.accounts:
            account.close()
        self.accounts = [self.server.add_account() for _ in (0, 1)]
        super().start()

    def config_text(self, copy: int) -> str:
        assert self.server is not None
        account = self.accounts[copy]
        return IMAP_CONFIG.format(
            port=self.server.imap_port,
            user=account.user,
            password=account.password,
            root=self.trees[copy],
            sync=self.sync,
            expunge=self.expunge,
            extra=self.extra,
            create=self.create,
        )

    def _uids(self, copy: int, box: str) -> dict[str, int]:
        """
        A far box's messages of one copy: subject to UID.
        """
        found = {}
        for message in self.accounts[copy].messages(box):
            match = _SUBJECT.search(message.body)
            if match is not None:
                found[match.group(1).decode()] = message.uid
        return found

    def boxes(self, side: str) -> list[str]:
        if side == "near":
            return super().boxes(side)
        return self.accounts[0].list_mailboxes()

    def subjects(self, side: str, box: str) -> list[str]:
        if side == "near":
            return super().subjects(side, box)
        return _oldest_first(self._uids(0, box))

    def put_many(
        self, copy: int, side: str, box: str, messages: list[tuple[int, str, str]]
    ) -> None:
        if side == "near":
            super().put_many(copy, side, box, messages)
            return
        account = self.accounts[copy]
        if box not in account.list_mailboxes():
            account.create_mailbox(box)
        account.add_messages(
            box,
            [
                (
                    _message(subject).replace(b"\n", b"\r\n"),
                    [IMAP_FLAGS[letter] for letter in flags],
                    None,
                )
                for _, subject, flags in messages
            ],
        )

    def reflag(self, copy: int, side: str, box: str, subject: str, flags: str) -> None:
        if side == "near":
            super().reflag(copy, side, box, subject, flags)
            return
        uid = self._uids(copy, box).get(subject)
        if uid is not None:
            self.accounts[copy].set_flags(box, uid, [IMAP_FLAGS[letter] for letter in flags])

    def delete(self, copy: int, side: str, box: str, subject: str) -> None:
        if side == "near":
            super().delete(copy, side, box, subject)
            return
        uid = self._uids(copy, box).get(subject)
        if uid is not None:
            self.accounts[copy].expunge(box, uid)

    def snapshot(self, copy: int) -> dict[str, object]:
        seen = super().snapshot(copy)
        for box, messages in far_snapshot(self.accounts[copy]).items():
            seen[f"server:{box}"] = messages
        return seen


def _without_sidecars(seen: dict[str, object]) -> dict[str, object]:
    """
    A snapshot less msync's own files next to the state (C{.msync-*}:
    listings, records, names; mbsync keeps none).
    """
    kept = {key: value for key, value in seen.items() if ".msync-" not in key}
    for key, value in kept.items():
        if key.endswith(".journal") and isinstance(value, list):
            # Its "| far near" UIDVALIDITY line comes from the clock.
            kept[key] = [re.sub(rb"(?m)^\| \d+ \d+$", b"| *", item) for item in value]
    return kept


def _lines(value: object) -> list[str]:
    if isinstance(value, list):
        found: list[str] = []
        for item in value:
            text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
            found += text.splitlines()
        return found
    return [repr(value)]


def _first_difference(left: dict[str, object], right: dict[str, object]) -> str:
    """
    The first few keys that differ, each with the lines only one side has.
    """
    lines = []
    for key in sorted(set(left) | set(right)):
        if left.get(key) == right.get(key):
            continue
        if key not in left or key not in right:
            lines.append(f"{key}: only in {'msync' if key not in left else 'mbsync'}'s tree")
        else:
            diff = difflib.unified_diff(
                _lines(left[key]), _lines(right[key]), "mbsync", "msync", n=1, lineterm=""
            )
            lines.append(f"{key}:\n" + "\n".join(list(diff)[:30]))
        if len(lines) >= 6:
            break
    return "\n".join(lines)


#: isync's mbsync 1.5.0, the second oracle (see its README).
ORACLE_15 = Path(__file__).resolve().parents[3] / "shared" / "oracles" / "mbsync-1.5.0"


def run_seed(
    base: Path,
    seed: int,
    rounds: int,
    server: DovecotServer | None = None,
    isync15: bool = False,
    options: bool = False,
) -> Fuzz:
    """
    Run one seed's rounds; raise L{Divergence} (with the round's log) on
    the first difference.

    @param server: a running Dovecot for the far side (L{ImapFuzz}), or
        C{None} for Maildir on both sides.
    @param isync15: hold msync (following 1.5) against mbsync 1.5.0, not
        1.4.4.
    """
    fuzz = Fuzz(base, seed) if server is None else ImapFuzz(base, seed, server=server)
    if isync15:
        fuzz.oracle, fuzz.compat = str(ORACLE_15), "1.5"
    if options:
        fuzz.options = True
        fuzz.draw_options()
    fuzz.start()
    fuzz.log.append(f"config Sync {fuzz.sync}, Expunge {fuzz.expunge} {fuzz.extra.strip()}")
    for number in range(rounds):
        if number:
            fuzz.change()
        try:
            fuzz.run()
        except Divergence as error:
            history = "\n".join(fuzz.log)
            raise Divergence(
                f"seed {seed}, round {number}:\n{error}\nchanges:\n{history}"
            ) from None
        fuzz.log.append(f"-- round {number} agreed")
    return fuzz


def _seeds(text: str) -> Iterator[int]:
    for part in text.split(","):
        first, _, last = part.partition("-")
        yield from range(int(first), int(last or first) + 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seeds", default="1-10")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--workdir", default="/tmp/msync-fuzz")
    parser.add_argument(
        "--imap", action="store_true", help="the far side on a private Dovecot (127.0.0.1)"
    )
    parser.add_argument(
        "--isync15", action="store_true", help="against mbsync 1.5.0 (../shared/oracles)"
    )
    parser.add_argument(
        "--options",
        action="store_true",
        help="also draw Create, Remove, MaxSize and CopyArrivalDate per seed",
    )
    options = parser.parse_args()
    failed = 0
    server = None
    if options.imap:
        # A fresh server: an old one's accounts would hold old mail.
        shutil.rmtree(Path(options.workdir) / "server", ignore_errors=True)
        server = DovecotServer(str(Path(options.workdir) / "server"))
        server.start()
    try:
        for seed in _seeds(options.seeds):
            base = Path(options.workdir) / f"seed-{seed}"
            try:
                run_seed(base, seed, options.rounds, server, options.isync15, options.options)
            except Divergence as error:
                failed += 1
                print(f"DIVERGED {error}\n", flush=True)
                continue
            print(f"seed {seed}: {options.rounds} rounds agreed", flush=True)
            shutil.rmtree(base, ignore_errors=True)
    finally:
        if server is not None:
            server.stop()
    print(f"{failed} seed(s) diverged")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
