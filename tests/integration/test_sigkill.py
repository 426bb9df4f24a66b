# -*- test-case-name: tests.integration.test_sigkill -*-
"""
msync killed with SIGKILL at random instants while it syncs a Dovecot
account with a Maildir tree, then rerun to completion.

Every round changes both sides (new messages in two boxes, a flag changed
and a synced message deleted on each side), starts C{msync -a} as a
subprocess and kills it after a random delay (seeded) once its sync proper
began (counted from the moment it holds a pair's state lock, or, for half
of the kills, from its first journal write); sometimes it kills the resuming run too (up to three kills in a
row); then it reruns msync until it exits 0, and runs it once more.
Then, for every box on both sides:
  - nothing is lost: every Message-ID that should exist is there;
  - nothing is duplicated: no Message-ID is there twice;
  - the copies agree: same body (line ends and X-TUID aside) and flags;
  - the rerun converged: it exited 0 and the run after it changed nothing.

A short run (10 killed runs) is part of the suite; C{MSYNC_LONG_TESTS=1}
makes it 100. C{MSYNC_SIGKILL_SEED} picks another seed. The counts are
printed: C{sigkill: 14 kills in 10 runs, 0 lost, 0 duplicated, 10/10 runs
converged (...)}.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from tests.integration.dovecot import DovecotTestCase
from tests.integration.synctree import MSYNC, lf, local_messages, without_tuid, write_config

CHANNEL = """\
Channel c
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
"""

BOXES = ("INBOX", "Work")
LETTERS = {"\\Draft": "D", "\\Flagged": "F", "$Forwarded": "P", "\\Answered": "R", "\\Seen": "S"}
_MESSAGE_ID = re.compile(rb"(?im)^Message-ID: *(\S+)")


def kills_wanted() -> int:
    """
    How many killed runs to make: 10, or 100 with C{MSYNC_LONG_TESTS=1}.
    """
    return 100 if os.environ.get("MSYNC_LONG_TESTS") == "1" else 10


def make_message(tag: str, rng: random.Random) -> str:
    """
    A message with LF line ends and a unique Message-ID built from C{tag}.
    """
    lines = [
        "From: sender@example.org",
        "To: user@example.org",
        f"Subject: message {tag}",
        f"Message-ID: <{tag}@sigkill.test>",
        "Date: Thu, 1 Jan 2026 00:00:00 +0000",
        "",
    ]
    for _ in range(rng.randint(1, 80)):
        lines.append("".join(rng.choice("abcdefghij klmnop") for _ in range(rng.randint(0, 70))))
    return "\n".join(lines) + "\n"


def wait_for_open(process: subprocess.Popen[bytes], anchor: str) -> float:
    """
    Wait until C{process} has a file C{.mbsyncstate.<anchor>} open, or
    ends.

    @return: when it was seen.
    """
    suffix = ".mbsyncstate." + anchor
    descriptors = f"/proc/{process.pid}/fd"
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        try:
            names = os.listdir(descriptors)
            if any(_target(descriptors, name).endswith(suffix) for name in names):
                break
        except OSError:
            pass
        time.sleep(0.002)
    return time.monotonic()


def _target(directory: str, name: str) -> str:
    """
    What a descriptor of another process refers to ("" if it is gone).
    """
    try:
        return os.readlink(os.path.join(directory, name))
    except OSError:
        return ""


def message_id(body: bytes) -> bytes:
    match = _MESSAGE_ID.search(body)
    assert match is not None, body[:200]
    return match.group(1)


class SigkillTests(DovecotTestCase):
    """
    Kill msync at random instants; every rerun must converge with nothing
    lost and nothing duplicated.
    """

    def setUp(self) -> None:
        super().setUp()
        self.root = Path(self.mktemp()).resolve()
        self.config = write_config(self.dovecot, self.root, CHANNEL)
        self.mail = self.root / "mail"
        self.account.create_mailbox("Work")
        for box in BOXES:
            (self.mail / box / "cur").mkdir(parents=True, exist_ok=True)
            (self.mail / box / "new").mkdir(exist_ok=True)
            (self.mail / box / "tmp").mkdir(exist_ok=True)
        self.created = 0

    def run_msync(self) -> tuple[int, float]:
        """
        Run C{msync -a} to its end.

        @return: its exit status and how long it took.
        """
        started = time.monotonic()
        done = subprocess.run(
            [MSYNC, "-q", "-c", str(self.config), "-a"], capture_output=True, timeout=120
        )
        return done.returncode, time.monotonic() - started

    def start_msync(self, anchor: str = "lock") -> tuple[subprocess.Popen[bytes], float]:
        """
        Start C{msync -a} and wait until it has a box pair's state file
        C{.mbsyncstate.<anchor>} open (C{lock}: it is synchronizing a pair;
        C{journal}: it has logged a change), or until it ends. Files a
        killed run left behind do not count: the process's own open
        descriptors are looked at.

        @return: the process and when the anchor was seen.
        """
        process = subprocess.Popen(
            [MSYNC, "-q", "-c", str(self.config), "-a"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return process, wait_for_open(process, anchor)

    def change(
        self, rng: random.Random, round_number: int
    ) -> dict[str, tuple[set[bytes], set[bytes]]]:
        """
        New messages on both sides, and on each side (once there are some)
        one synced message's flags changed and another deleted; the far
        side picks other messages than the near side.

        @return: per box, the Message-IDs created and those deleted.
        """
        changes = {}
        for box in BOXES:
            created: set[bytes] = set()
            far_new = []
            for index in range(rng.randint(2, 10)):
                tag = f"r{round_number}-far-{box}-{index}"
                flags = rng.choice([(), ("\\Seen",), ("\\Flagged",)])
                far_new.append((make_message(tag, rng).replace("\n", "\r\n").encode(), flags, None))
                created.add(f"<{tag}@sigkill.test>".encode())
            for index in range(rng.randint(2, 10)):
                tag = f"r{round_number}-near-{box}-{index}"
                self.created += 1
                name = f"1700000000.{self.created}_{index}.sigkill:2,"
                (self.mail / box / "new" / name).write_text(make_message(tag, rng))
                created.add(f"<{tag}@sigkill.test>".encode())
            deleted: set[bytes] = set()
            picked: set[bytes] = set()
            synced = [m for m in local_messages(self.mail / box) if m.uid]
            if len(synced) >= 4:
                flagged, gone = rng.sample(synced, 2)
                letters = "".join(sorted(set(flagged.flags) ^ {"F"}))
                flagged.path.rename(
                    flagged.path.with_name(flagged.path.name.split(":2,")[0] + ":2," + letters)
                )
                gone.path.unlink()
                picked = {message_id(flagged.body), message_id(gone.body)}
                deleted.add(message_id(gone.body))
            far = [m for m in self.account.messages(box) if message_id(m.body) not in picked]
            if len(far) >= 4:
                flagged_far, gone_far = rng.sample(far, 2)
                self.account.set_flags(box, flagged_far.uid, flagged_far.flags ^ {"\\Seen"})
                self.account.expunge(box, gone_far.uid)
                deleted.add(message_id(gone_far.body))
            self.account.add_messages(box, far_new)
            changes[box] = (created, deleted)
        return changes

    def sides(self) -> dict[str, tuple[Side, Side]]:
        """
        Per box, both sides' messages by Message-ID.
        """
        result = {}
        for box in BOXES:
            far = Side()
            for message in self.account.messages(box):
                letters = "".join(sorted(LETTERS[f] for f in message.flags if f in LETTERS))
                far.add(message_id(message.body), without_tuid(lf(message.body)), letters)
            near = Side()
            for local in local_messages(self.mail / box):
                near.add(message_id(local.body), without_tuid(local.body), local.flags)
            result[box] = (far, near)
        return result

    def check(
        self,
        round_number: int,
        changes: dict[str, tuple[set[bytes], set[bytes]]],
        expected: dict[str, set[bytes]],
    ) -> tuple[int, int, bool, list[str]]:
        """
        After a round: rerun msync until it exits 0 (at most 3 times), look
        at both sides, run it once more and look again.

        @return: Message-IDs lost, Message-IDs duplicated, whether the
            rerun converged (and nothing is wrong), what is wrong.
        """
        statuses = []
        for _ in range(3):
            status, _ = self.run_msync()
            statuses.append(status)
            if status == 0:
                break
        after = self.sides()
        status_again, _ = self.run_msync()
        again = self.sides()
        problems = []
        lost = duplicated = 0
        for box in BOXES:
            far, near = after[box]
            created, deleted = changes[box]
            # A message deleted on one side is gone on both.
            want = (expected[box] - deleted) | created
            expected[box] = want
            missing = (want - set(far.count)) | (want - set(near.count))
            extra = {key for side in (far, near) for key, n in side.count.items() if n > 1}
            unexpected = (set(far.count) | set(near.count)) - want
            differ = {key for key in want if far.content.get(key) != near.content.get(key)}
            lost += len(missing)
            duplicated += len(extra)
            if missing or extra or unexpected or differ:
                problems.append(
                    f"round {round_number} {box}: missing {sorted(missing)}, "
                    f"duplicated {sorted(extra)}, unexpected {sorted(unexpected)}, "
                    f"differing {sorted(differ)}"
                )
        if statuses[-1] or status_again or again != after:
            problems.append(
                f"round {round_number}: rerun statuses {statuses}, then {status_again}, "
                f"changed by the run after: {again != after}"
            )
        return lost, duplicated, not problems, problems

    def test_random_kills(self) -> None:
        """
        SIGKILL at random instants during syncs with changes on both
        sides: after each rerun nothing is lost or duplicated, both sides
        agree, and one more run changes nothing.
        """
        seed = int(os.environ.get("MSYNC_SIGKILL_SEED", "8"))
        rng = random.Random(seed)
        wanted = kills_wanted()
        expected: dict[str, set[bytes]] = {box: set() for box in BOXES}
        # Kill at a random instant of the sync proper: after the first box
        # pair's state is locked (before, msync only imports, reads its
        # config and logs in, which changes nothing), within as long as the
        # rest of an uninterrupted round's sync takes.
        changes = self.change(rng, 0)
        process, locked = self.start_msync("lock")
        logged = wait_for_open(process, "journal")
        self.assertEqual(process.wait(60), 0)
        ended = time.monotonic()
        window = {"lock": max(0.05, ended - locked), "journal": max(0.05, ended - logged)}
        _, _, ok, problems = self.check(0, changes, expected)
        self.assertTrue(ok, problems)
        kills = lost = duplicated = converged = journals = finished = 0
        round_number = runs = 0
        while runs < wanted and round_number < 3 * wanted:
            round_number += 1
            changes = self.change(rng, round_number)
            # Kill the run; sometimes kill the resuming run too (up to three
            # kills in a row), then let a rerun finish.
            killed = 0
            while True:
                anchor = rng.choice(("lock", "journal"))
                process, _ = self.start_msync(anchor)
                time.sleep(rng.uniform(0.0, window[anchor]))
                if process.poll() is not None:
                    process.wait()
                    if not killed:
                        # Later rounds sync faster than the first: aim earlier.
                        finished += 1
                        window[anchor] *= 0.8
                    break
                process.send_signal(signal.SIGKILL)
                process.wait(60)
                killed += 1
                journals += any(self.mail.rglob(".mbsyncstate.journal"))
                if killed == 3 or rng.random() >= 0.4:
                    break
            kills += killed
            runs += killed > 0
            round_lost, round_duplicated, ok, round_problems = self.check(
                round_number, changes, expected
            )
            lost += round_lost
            duplicated += round_duplicated
            converged += ok and killed > 0
            problems.extend(round_problems)
        print(
            f"sigkill: {kills} kills in {runs} runs, {lost} lost, {duplicated} duplicated, "
            f"{converged}/{runs} runs converged ({journals} kills left a journal, "
            f"{finished} runs finished before their kill; seed {seed})"
        )
        self.assertEqual(runs, wanted, "msync finished before most kills")
        self.assertEqual(
            (lost, duplicated, converged, problems), (0, 0, runs, []), "\n".join(problems)
        )


class Side:
    """
    One side of a box: how often each Message-ID occurs, and its body
    (line ends and X-TUID aside) and flag letters.
    """

    def __init__(self) -> None:
        self.count: Counter[bytes] = Counter()
        self.content: dict[bytes, tuple[bytes, str]] = {}

    def add(self, key: bytes, body: bytes, flags: str) -> None:
        self.count[key] += 1
        self.content[key] = (body, "".join(sorted(flags)))

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Side):
            return NotImplemented
        return (self.count, self.content) == (other.count, other.content)
