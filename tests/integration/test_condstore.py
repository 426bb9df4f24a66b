# -*- test-case-name: tests.integration.test_condstore -*-
"""
The CONDSTORE fast path against the real Dovecot, differentially: two
copies of one scenario (two accounts, two local trees, the same seeded
corpus) get the same random sequence of changes on both sides, round after
round; one copy is synced by msync keeping its listing files (loads ask
only C{CHANGEDSINCE}), the other by msync with the listing files removed
before every run (the full flag scan). After every round the near trees
(files, flags, bytes, state files less UIDVALIDITY) and the far accounts
(UIDs, flags, bytes) must be identical.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.integration.dovecot import DovecotTestCase
from tests.integration.synctree import (
    ARCHWIKI_CHANNEL,
    far_snapshot,
    local_messages,
    run_tool,
    snapshot,
    write_config,
)
from tests.integration.test_imap_interop import FAR_FOLDERS, Tree, add_far, put_corpus

ROUNDS = 6


class CondstoreDifferentialTests(DovecotTestCase):
    """
    Fast path and full scan give the same trees and state files.
    """

    def tree(self, name: str) -> Tree:
        account = self.dovecot.add_account()
        for folder in FAR_FOLDERS[1:]:
            account.create_mailbox(folder)
        add_far(account, 7, 30, FAR_FOLDERS)
        root = Path(self.mktemp()).resolve() / name
        config = write_config(self.dovecot, root, ARCHWIKI_CHANNEL, user=account)
        put_corpus(root / "mail", 8, 6, ("INBOX", "drafts"), 1700000000)
        return Tree(account, root, config)

    def sync(self, tree: Tree, *args: str) -> str:
        result = run_tool("msync", tree.config, *args, "-a")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.stdout + result.stderr

    def change(self, tree: Tree, rng: random.Random, seed: int) -> None:
        """
        One round of changes drawn from C{rng}: flags set and cleared on
        the server, new server and local mail, sometimes an expunge on the
        server, local flag changes and a local deletion.
        """
        for folder in ("INBOX", "Sent"):
            messages = tree.account.messages(folder)
            for message in rng.sample(messages, min(3, len(messages))):
                flags = rng.choice([["\\Seen"], ["\\Flagged", "\\Seen"], [], ["\\Answered"]])
                tree.account.set_flags(folder, message.uid, flags)
            if messages and rng.random() < 0.4:
                tree.account.expunge(folder, rng.choice(messages).uid)
        add_far(tree.account, seed, rng.randrange(0, 4), ("INBOX", "Sent"))
        if rng.random() < 0.5:
            put_corpus(tree.mail, seed + 1, 2, ("INBOX",), 1710000000 + seed)
        local = local_messages(tree.mail / "INBOX")
        if local:
            chosen = local[rng.randrange(len(local))]
            base = chosen.path.name.partition(":2,")[0]
            letters = rng.choice(["S", "FS", "RS", ""])
            chosen.path.rename(chosen.path.parent.parent / "cur" / f"{base}:2,{letters}")
        if len(local) > 3 and rng.random() < 0.3:
            local[-1].path.unlink()

    def listing_files(self, tree: Tree) -> list[Path]:
        return sorted(tree.root.rglob("*.msync-far"))

    def test_same_results(self) -> None:
        """
        Round by round, both copies end the same; the fast copy kept a
        listing per box and asked for changes only.
        """
        self.maxDiff = None
        fast, full = self.tree("fast"), self.tree("full")
        rng_fast, rng_full = random.Random(11), random.Random(11)
        changed_since = vanished = 0
        for round_number in range(ROUNDS):
            for path in self.listing_files(full):
                path.unlink()
            output = self.sync(fast, "-Dn")
            changed_since += output.count("CHANGEDSINCE")
            vanished += output.count("* VANISHED (EARLIER)")
            self.sync(full)
            self.assertEqual(snapshot(fast.mail), snapshot(full.mail), f"round {round_number}")
            self.assertEqual(
                far_snapshot(fast.account), far_snapshot(full.account), f"round {round_number}"
            )
            self.assertEqual(len(self.listing_files(fast)), len(FAR_FOLDERS) + 1)
            seed = 100 + 10 * round_number
            self.change(fast, rng_fast, seed)
            self.change(full, rng_full, seed)
        # Every box asked for changes only (QRESYNC: expunges too).
        self.assertGreaterEqual(changed_since, 2 * (ROUNDS - 1))
        self.assertGreater(vanished, 0)


class QuickDifferentialTests(CondstoreDifferentialTests):
    """
    The no-op fast path (L{msync.sync.quickcheck}) against the real
    Dovecot: one copy is synced as a user runs msync (pairs found unchanged
    skipped without SELECT), the other with C{-V} (never skipped) and no
    listing or sidecar files. Each round both copies are synced twice, the
    second time with nothing changed in between; some rounds mbsync 1.4.4
    syncs both copies first. After every run both copies are identical.
    """

    def quick_sync(self, tree: Tree) -> tuple[int, int]:
        """
        Sync as a user does (with C{--json} to count the pairs skipped).

        @return: the pairs skipped, and all pairs.
        """
        result = run_tool("msync", tree.config, "--json", "-a")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        done = [
            event
            for event in map(json.loads, result.stdout.splitlines())
            if event["event"] == "box_done"
        ]
        return sum(event["unchanged"] for event in done), len(done)

    def compare(self, fast: Tree, full: Tree, where: str) -> None:
        self.assertEqual(snapshot(fast.mail), snapshot(full.mail), where)
        self.assertEqual(far_snapshot(fast.account), far_snapshot(full.account), where)

    def test_same_results(self) -> None:
        """
        Round by round, with and without mbsync in between, the fast copy
        ends as the full one; a pair whose sidecar survived a run is skipped
        by the next run when nothing changed in between, and the second
        run of a round without changes skips every pair.
        """
        self.maxDiff = None
        fast, full = self.tree("fast"), self.tree("full")
        rng_fast, rng_full = random.Random(23), random.Random(23)
        skipped = 0
        for round_number in range(ROUNDS):
            where = f"round {round_number}"
            if round_number % 3 == 2:
                for tree in (fast, full):
                    result = run_tool("mbsync", tree.config, "-a")
                    self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                self.compare(fast, full, where + " after mbsync")
            for first in (True, False):
                vouched = len(list(fast.root.rglob("*.msync-pair")))
                count, total = self.quick_sync(fast)
                if not first:
                    # Nothing changed since the first run of the round.
                    self.assertEqual(count, vouched, where)
                    skipped += count
                for path in [*full.root.rglob("*.msync-pair"), *self.listing_files(full)]:
                    path.unlink()
                self.sync(full, "-V")
                self.compare(fast, full, where)
            seed = 200 + 10 * round_number
            if round_number % 2 == 0:
                self.change(fast, rng_fast, seed)
                self.change(full, rng_full, seed)
        # Five box pairs a round; most second runs skip most of them.
        self.assertGreaterEqual(skipped, 3 * ROUNDS)
