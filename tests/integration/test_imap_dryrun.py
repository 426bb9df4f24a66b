# -*- test-case-name: tests.integration.test_imap_dryrun -*-
"""
C{msync --dry-run} against a real Dovecot, run as a subprocess as a user
runs it: with work pending of every kind it changes nothing on either side
(the server's mailboxes, messages, flags, UIDs, UIDNEXT and C{\\Recent};
every local file and directory, contents and modification times) and
prints the operations a real run then carries out.

A missing Dovecot fails every test.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.integration.synctree import IMAPSyncCase, crlf


def disk_snapshot(root: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """
    Everything under C{root}: per path its mode, modification time (ns)
    and, for files, contents.
    """
    seen: dict[str, tuple[int, int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        status = os.lstat(path)
        data = path.read_bytes() if path.is_file() else None
        seen[str(path.relative_to(root))] = (status.st_mode, status.st_mtime_ns, data)
    return seen


class DryRunTests(IMAPSyncCase):
    """
    C{msync -y -a} between Dovecot and a Maildir tree.
    """

    def server_snapshot(self) -> dict[str, object]:
        """
        Every mailbox of the server: its messages (UID, flags, body),
        UIDVALIDITY, UIDNEXT and how many messages are C{\\Recent}.
        """
        account = self.dovecot.account
        return {
            box: (
                self.far(box),
                account.uid_validity(box),
                account.uid_next(box),
                account.recent_count(box),
            )
            for box in account.list_mailboxes()
        }

    def plan(self, *args: str) -> list[str]:
        """
        Run msync; its output lines, Maildir notices left out.
        """
        stdout, stderr = self.msync(*args)
        self.assertEqual(stderr, "")
        return [line for line in stdout.splitlines() if not line.startswith("Maildir notice")]

    def test_dry_run_changes_nothing(self) -> None:
        """
        Pending: a server flag change, a local deletion (C{Expunge Both}),
        new messages on both sides (the local one without C{,U=}, the
        server one still C{\\Recent}), a server box and a local box (without
        C{.uidvalidity}) the other side lacks (C{Create Both}). C{-y}
        prints every operation, EXAMINEs instead of SELECTing, and changes
        nothing on either side; the real run then does that work, giving
        the local file the UID printed, and a second dry run finds nothing
        to do.
        """
        self.seed_inbox()
        self.msync()
        account = self.dovecot.account
        account.set_flags("INBOX", 1, ["\\Flagged"])
        [second] = [message for message in self.local() if message.uid == 2]
        self.rename_flags(second, "ST")
        self.put("INBOX", "Subject: local\nMessage-ID: <l@t>\n\nlocal\n")
        self.put("drafts", "Subject: draft\n\ndraft\n", "D")
        account.create_mailbox("Projects")
        account.add_message("Projects", crlf("Subject: project\n\nproject\n"))
        # Leave INBOX (EXAMINE elsewhere): the session that has it selected
        # would take the new message's \Recent.
        account.messages("Projects")
        account.add_message("INBOX", crlf("Subject: four\nMessage-ID: <4@t>\n\nfourth\n"))
        far_before = self.server_snapshot()
        self.assertEqual(far_before["INBOX"][3], 1)  # type: ignore[index]
        near_before = disk_snapshot(self.root)
        plan = self.plan("-y", "-a")
        self.assertEqual(disk_snapshot(self.root), near_before)
        self.assertEqual(self.server_snapshot(), far_before)
        self.assertEqual(
            plan,
            [
                "Channel c, box INBOX: would change the flags of far side UID 2: add T (deleted).",
                "Channel c, box INBOX: would change the flags of near side UID 1: add F (flagged).",
                "Channel c, box INBOX: would copy near side UID 4 to the far side, with no flags.",
                "Channel c, box INBOX: would copy far side UID 4 to the near side, with no flags.",
                "Channel c, box INBOX: would expunge far side UID 2.",
                "Channel c, box INBOX: would expunge near side UID 2.",
                "Channel c, box Projects: would create near side box Projects.",
                "Channel c, box Projects: would copy far side UID 1 to the near side, with no flags.",
                "Channel c, box drafts: would create far side box drafts.",
                "Channel c, box drafts: would copy near side UID 1 to the far side, with flags D (draft).",
            ],
        )
        self.assertEqual(self.plan("-a"), [])
        inbox = self.local()
        self.assertEqual([m.uid for m in inbox], [1, 3, 4, 5])
        self.assertEqual(inbox[2].body, b"Subject: local\nMessage-ID: <l@t>\n\nlocal\n")
        self.assertInSync("INBOX")
        self.assertInSync("Projects")
        self.assertInSync("drafts")
        self.assertEqual(self.plan("-y", "-a"), [])
