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
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.test_maildir_interop import MSYNC, mkbox, snapshot

__all__ = ["Divergence", "Fuzz", "run_seed"]

#: More messages than msync's names cache threshold (NAMES_CACHE_MIN, 2,048).
BIG = 2100
#: What a round may set as a message's flags (Maildir letters, sorted).
FLAG_SETS = ("", "S", "S", "RS", "FS", "F", "DS", "T", "ST", "D")
SYNCS = ("All", "All", "Pull", "Push", "New", "Flags", "Pull New", "Push Flags", "Pull Push")
EXPUNGES = ("None", "Both", "Far", "Near")

CONFIG = """\
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
Patterns *
Create Both
SyncState *
Sync {sync}
Expunge {expunge}
{extra}"""


class Divergence(AssertionError):
    """
    The two tools left different trees, or exited differently.
    """


def _message(subject: str) -> bytes:
    return f"Subject: {subject}\nMessage-ID: <{subject}@fuzz>\n\nbody of {subject}\n".encode()


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
            if first.startswith(b"Subject: "):
                found[first[9:].strip().decode()] = path
    return found


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

    def __post_init__(self) -> None:
        self.rng = random.Random(f"msync-fuzz:{self.seed}")
        self.sync = self.rng.choice(SYNCS)
        self.expunge = self.rng.choice(EXPUNGES)
        if self.rng.random() < 0.3:
            self.extra = f"MaxMessages {self.rng.choice((50, 3000))}\n"

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
        self.serial = 0
        plan: list[tuple[str, str, str, str]] = []
        for side, box, count in (("far", "INBOX", 5), ("near", "INBOX", 3), ("far", "big", BIG)):
            for _ in range(count):
                plan.append((side, box, self._subject(), self.rng.choice(FLAG_SETS)))
        for root in self.trees:
            mkbox(root / "far" / "INBOX")
            mkbox(root / "near" / "INBOX")
            for side, box, subject, flags in plan:
                _write(root / side / box, int(subject[1:]), subject, flags)
        self.configure()

    def _subject(self) -> str:
        self.serial += 1
        return f"s{self.serial}"

    def configure(self) -> None:
        for root in self.trees:
            (root / "rc").write_text(
                CONFIG.format(root=root, sync=self.sync, expunge=self.expunge, extra=self.extra)
            )

    def change(self) -> None:
        """
        One round's random changes, made to both trees alike.
        """
        theirs = self.trees[0]
        ops = self.rng.randrange(1, 12)
        for _ in range(ops):
            side = self.rng.choice(("far", "near"))
            boxes = _boxes(theirs / side)
            if not boxes:
                continue
            box = self.rng.choice(boxes)
            roll = self.rng.random()
            existing = sorted(_index(theirs / side / box), key=lambda s: int(s[1:]))
            if roll < 0.35 or not existing:
                subject, flags = self._subject(), self.rng.choice(FLAG_SETS)
                self.log.append(f"new {side}/{box} {subject} {flags!r}")
                for root in self.trees:
                    _write(root / side / box, int(subject[1:]), subject, flags)
            elif roll < 0.75:
                subject, flags = self.rng.choice(existing), self.rng.choice(FLAG_SETS)
                self.log.append(f"flags {side}/{box} {subject} {flags!r}")
                for root in self.trees:
                    self._reflag(root / side / box, subject, flags)
            elif roll < 0.95:
                subject = self.rng.choice(existing)
                self.log.append(f"delete {side}/{box} {subject}")
                for root in self.trees:
                    path = _index(root / side / box).get(subject)
                    if path is not None:
                        path.unlink()
            else:
                box = f"nb{self.serial}"
                subject = self._subject()
                self.log.append(f"newbox {side}/{box} {subject}")
                for root in self.trees:
                    _write(root / side / box, int(subject[1:]), subject, "")
        if self.rng.random() < 0.15:
            self.sync = self.rng.choice(SYNCS)
            self.expunge = self.rng.choice(EXPUNGES)
            self.log.append(f"config Sync {self.sync}, Expunge {self.expunge}")
            self.configure()

    @staticmethod
    def _reflag(box: Path, subject: str, flags: str) -> None:
        path = _index(box).get(subject)
        if path is None:
            return
        base = path.name.split(":2,")[0]
        path.rename(box / "cur" / f"{base}:2,{flags}")

    def run(self) -> None:
        """
        mbsync on one tree, msync on the other; the trees must agree.
        """
        results = []
        for tool, root in zip(("mbsync", "msync"), self.trees, strict=True):
            program = MSYNC if tool == "msync" else "mbsync"
            done = subprocess.run(
                [program, "-c", str(root / "rc"), "-a"],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            results.append(done)
        theirs, ours = results
        if theirs.returncode != ours.returncode:
            raise Divergence(
                f"exit {theirs.returncode} (mbsync) != {ours.returncode} (msync)\n"
                f"mbsync: {theirs.stdout}{theirs.stderr}\nmsync: {ours.stdout}{ours.stderr}"
            )
        left, right = (_without_sidecars(snapshot(root)) for root in self.trees)
        if left != right:
            raise Divergence(
                f"both exited {ours.returncode}\n{_first_difference(left, right)}\n"
                f"mbsync said: {theirs.stdout}{theirs.stderr}\nmsync said: {ours.stdout}{ours.stderr}"
            )


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


def run_seed(base: Path, seed: int, rounds: int) -> Fuzz:
    """
    Run one seed's rounds; raise L{Divergence} (with the round's log) on
    the first difference.
    """
    fuzz = Fuzz(base, seed)
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
    options = parser.parse_args()
    failed = 0
    for seed in _seeds(options.seeds):
        base = Path(options.workdir) / f"seed-{seed}"
        try:
            run_seed(base, seed, options.rounds)
        except Divergence as error:
            failed += 1
            print(f"DIVERGED {error}\n", flush=True)
            continue
        print(f"seed {seed}: {options.rounds} rounds agreed", flush=True)
        shutil.rmtree(base, ignore_errors=True)
    print(f"{failed} seed(s) diverged")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
