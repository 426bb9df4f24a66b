# -*- test-case-name: tests.integration.test_imap_sync -*-
"""
An unchanged mbsyncrc with an IMAP account, synced by the C{msync} command
against a real Dovecot: every test runs msync as a subprocess, as a user
does, and checks both sides afterwards (the server through the fixture's own
IMAP connection, the near side through the Maildir files): contents, flags,
UIDs, counts, state files.

The expectations are mbsync 1.4.4's (checked by running it on the same
scenarios; C{test_imap_interop} compares the two tools directly). A missing
Dovecot fails every test.
"""

from __future__ import annotations

from tests.integration.synctree import (
    PLAIN_CHANNEL,
    SLEEPING,
    IMAPSyncCase,
    crlf,
    file_stamps,
    lf,
    tuid_of,
    without_tuid,
)


class InitialSyncTests(IMAPSyncCase):
    """
    First runs, no-op runs and uploads with the ArchWiki configuration.
    """

    def test_initial_pull_nested_and_non_ascii(self) -> None:
        """
        The first run pulls every box into Maildirs named as mbsync 1.4
        names them (raw modified UTF-7, C{/} as directory levels), with LF
        line ends, an X-TUID header, seen mail in cur/ and unseen in new/,
        UIDs from 1, and a state file pairing the UIDs.
        """
        self.seed_inbox()
        for box in ("Archive/2024", "Entwürfe", "Ünïcode/Tief", "INBOX/sub"):
            self.dovecot.create_mailbox(box)
        self.dovecot.add_message("Archive/2024", crlf("Subject: old\n\narchived\n"), ["\\Seen"])
        self.dovecot.add_message("Entwürfe", crlf("Subject: Grüße\n\ndraft\n"), ["\\Draft"])
        self.dovecot.add_message("Ünïcode/Tief", crlf("Subject: deep\n\ndeep\n"))
        self.dovecot.add_message("INBOX/sub", crlf("Subject: sub\n\nsub\n"), ["\\Seen"])
        self.msync()
        boxes = sorted(str(path.parent.relative_to(self.mail)) for path in self.mail.rglob("cur"))
        self.assertEqual(
            boxes,
            ["&ANw-n&AO8-code/Tief", "Archive/2024", "Entw&APw-rfe", "INBOX", "INBOX/sub"],
        )
        self.assertFalse((self.mail / "Archive" / "cur").exists())
        inbox = self.local()
        self.assertEqual(
            [(m.uid, m.subdir, m.flags) for m in inbox],
            [(1, "new", ""), (2, "cur", "S"), (3, "new", "FR")],
        )
        for message, (_, _, body) in zip(inbox, self.far(), strict=True):
            self.assertEqual(without_tuid(message.body), lf(body))
            tuid_of(message.body)
        (draft,) = self.local("Entw&APw-rfe")
        self.assertEqual((draft.uid, draft.subdir, draft.flags), (1, "new", "D"))
        self.assertEqual(without_tuid(draft.body), "Subject: Grüße\n\ndraft\n".encode())
        (sub,) = self.local("INBOX/sub")
        self.assertEqual((sub.uid, sub.subdir, sub.flags), (1, "cur", "S"))
        self.assertEqual(self.state_entries(), ["1 1 ", "2 2 S", "3 3 FR"])
        header = (self.mail / "INBOX" / ".mbsyncstate").read_text().partition("\n\n")[0]
        self.assertIn(f"FarUidValidity {self.dovecot.uid_validity('INBOX')}\n", header + "\n")
        self.assertIn("MaxPulledUid 3\nMaxPushedUid 3", header)
        self.assertEqual(len(self.far()), 3)

    def test_noop_second_run(self) -> None:
        """
        A second run with nothing to do exits 0 and touches no file: names
        and modification times stay as they were. (Box directories change
        their mtime as the lock file comes and goes, with mbsync too.)
        """
        self.seed_inbox()
        self.dovecot.create_mailbox("Archive/2024")
        self.dovecot.add_message("Archive/2024", crlf("Subject: a\n\na\n"))
        self.put("drafts", "Subject: local\n\nlocal\n", "D")
        self.msync()
        far_before = {box: self.far(box) for box in ("INBOX", "Archive/2024", "drafts")}
        before = file_stamps(self.mail)
        stdout, stderr = self.msync()
        # mbsync may print its notice about sleeping for a fresh directory
        # modification; nothing else.
        self.assertEqual(stdout.replace(SLEEPING, ""), "")
        self.assertEqual(stderr, "")
        self.assertEqual(file_stamps(self.mail), before)
        far_after = {box: self.far(box) for box in ("INBOX", "Archive/2024", "drafts")}
        self.assertEqual(far_after, far_before)

    def test_local_new_message_uploaded_once(self) -> None:
        """
        A message delivered locally is uploaded once, with an X-TUID header
        and CRLF line ends, its file renamed to carry its UID; a second run
        uploads nothing.
        """
        self.seed_inbox()
        path = self.put("INBOX", "Subject: mine\nMessage-ID: <mine@t>\n\nlocal\n", "S")
        self.msync()
        far = self.far()
        self.assertEqual(len(far), 4)
        uid, flags, body = far[3]
        self.assertEqual((uid, flags), (4, frozenset({"\\Seen"})))
        self.assertEqual(without_tuid(body), crlf("Subject: mine\nMessage-ID: <mine@t>\n\nlocal\n"))
        tuid_of(body)
        self.assertFalse(path.exists())
        # The local file is numbered when the box is first scanned, before
        # the server's messages arrive.
        mine = self.local()[0]
        self.assertEqual((mine.uid, mine.subdir, mine.flags), (1, "cur", "S"))
        self.assertEqual(mine.body, b"Subject: mine\nMessage-ID: <mine@t>\n\nlocal\n")
        # mbsync lists the pushed pair first.
        self.assertEqual(self.state_entries(), ["4 1 S", "1 2 ", "2 3 S", "3 4 FR"])
        self.msync()
        self.assertEqual(self.far(), far)
        self.assertEqual(len(self.local()), 4)
        self.assertInSync()


class FlagTests(IMAPSyncCase):
    """
    Flag changes travel both ways.
    """

    def test_flags_near_to_far(self) -> None:
        """
        Renaming a local file to change its flags (a mail reader marking
        it seen, flagged, replied, or no longer seen) sets exactly those
        flags on the server.
        """
        self.seed_inbox()
        self.msync()
        one, two, three = self.local()
        self.rename_flags(one, "FS")
        self.rename_flags(two, "")
        self.rename_flags(three, "DRS")
        self.msync()
        self.assertEqual(
            [(uid, flags) for uid, flags, _ in self.far()],
            [
                (1, frozenset({"\\Flagged", "\\Seen"})),
                (2, frozenset()),
                (3, frozenset({"\\Draft", "\\Answered", "\\Seen"})),
            ],
        )
        self.assertEqual(self.state_entries(), ["1 1 FS", "2 2 ", "3 3 DRS"])
        self.assertInSync()

    def test_flags_far_to_near(self) -> None:
        """
        Flags stored on the server rename the local files, which move to
        cur/; the UIDs and contents stay.
        """
        self.seed_inbox()
        self.msync()
        bodies = [m.body for m in self.local()]
        self.dovecot.set_flags("INBOX", 1, ["\\Seen", "\\Answered"])
        self.dovecot.set_flags("INBOX", 2, [])
        self.dovecot.set_flags("INBOX", 3, ["\\Draft"])
        self.msync()
        local = self.local()
        self.assertEqual(
            [(m.uid, m.subdir, m.flags) for m in local],
            [(1, "cur", "RS"), (2, "cur", ""), (3, "cur", "D")],
        )
        self.assertEqual([m.body for m in local], bodies)
        self.assertEqual(self.state_entries(), ["1 1 RS", "2 2 ", "3 3 D"])
        self.assertEqual(len(self.far()), 3)


class DeletionTests(IMAPSyncCase):
    """
    Deletions on either side, with and without C{Expunge Both}.
    """

    def test_deletions_expunge_both(self) -> None:
        """
        With C{Expunge Both}: a message expunged on the server is removed
        locally; a local file removed, or marked trashed (C{T}), is expunged
        on the server; the state forgets all three.
        """
        self.seed_inbox()
        self.dovecot.add_message("INBOX", crlf("Subject: four\n\nfourth\n"))
        self.msync()
        self.dovecot.expunge("INBOX", 1)
        one, two, three, four = self.local()
        two.path.unlink()
        self.rename_flags(three, "FRST")
        self.msync()
        self.assertEqual([uid for uid, _, _ in self.far()], [4])
        self.assertEqual([m.uid for m in self.local()], [4])
        self.assertEqual(self.state_entries(), ["4 4 "])
        self.assertInSync()

    def test_deletions_without_expunge(self) -> None:
        """
        Without C{Expunge}: a message expunged on the server is marked C{T}
        locally but kept; a local deletion marks the server message
        C{\\Deleted} but keeps it.
        """
        self.configure(PLAIN_CHANNEL.format(extra=""))
        self.seed_inbox()
        self.msync()
        self.dovecot.expunge("INBOX", 1)
        one, two, three = self.local()
        two.path.unlink()
        self.msync()
        self.assertEqual(
            [(uid, flags) for uid, flags, _ in self.far()],
            [(2, frozenset({"\\Seen", "\\Deleted"})), (3, frozenset({"\\Flagged", "\\Answered"}))],
        )
        local = self.local()
        self.assertEqual(
            [(m.uid, m.subdir, m.flags) for m in local], [(1, "cur", "T"), (3, "new", "FR")]
        )
        self.assertEqual(local[0].body, one.body)
        self.assertEqual(self.state_entries(), ["0 1 ", "2 0 S", "3 3 FR"])


class SyncOperationTests(IMAPSyncCase):
    """
    C{Sync} limits what travels, and in which direction.
    """

    def seed_both(self) -> None:
        """
        Three server messages and one local one.
        """
        self.seed_inbox()
        self.put("INBOX", "Subject: mine\n\nlocal\n", "S")

    def change_flags_both(self) -> None:
        """
        Mark server UID 1 seen; mark the local copy of server UID 2 flagged
        and no longer seen.
        """
        self.dovecot.set_flags("INBOX", 1, ["\\Seen"])
        (two,) = [m for m in self.local() if b"second" in m.body]
        self.rename_flags(two, "F")

    def test_sync_pull(self) -> None:
        """
        C{Sync Pull}: server mail and server flag changes reach the Maildir;
        nothing local reaches the server, and the local message keeps its
        name without C{,U=} (UID 0 here): no load wants local new messages,
        so none is numbered (as mbsync 1.4.4).
        """
        self.configure(PLAIN_CHANNEL.format(extra="Sync Pull"))
        self.seed_both()
        self.msync()
        self.assertEqual(len(self.far()), 3)
        self.assertEqual(
            [(m.uid, m.flags) for m in self.local()], [(0, "S"), (1, ""), (2, "S"), (3, "FR")]
        )
        self.change_flags_both()
        self.msync()
        self.assertEqual(
            [(m.uid, m.flags) for m in self.local()], [(0, "S"), (1, "S"), (2, "F"), (3, "FR")]
        )
        self.assertEqual([flags for _, flags, _ in self.far()][1], frozenset({"\\Seen"}))
        self.assertEqual(len(self.far()), 3)

    def test_sync_push(self) -> None:
        """
        C{Sync Push}: local mail and local flag changes reach the server;
        nothing from the server reaches the Maildir.
        """
        self.configure(PLAIN_CHANNEL.format(extra="Sync Push"))
        self.seed_both()
        self.msync()
        (mine,) = self.local()
        self.assertEqual((mine.uid, mine.flags), (1, "S"))
        far = self.far()
        self.assertEqual([uid for uid, _, _ in far], [1, 2, 3, 4])
        self.assertEqual(without_tuid(far[3][2]), crlf("Subject: mine\n\nlocal\n"))
        self.dovecot.set_flags("INBOX", 1, ["\\Seen"])
        self.rename_flags(mine, "FS")
        self.msync()
        self.assertEqual(len(self.local()), 1)
        self.assertEqual(
            [flags for _, flags, _ in self.far()],
            [
                frozenset({"\\Seen"}),
                frozenset({"\\Seen"}),
                frozenset({"\\Flagged", "\\Answered"}),
                frozenset({"\\Flagged", "\\Seen"}),
            ],
        )

    def test_sync_new(self) -> None:
        """
        C{Sync New}: new messages travel both ways (with the flags they
        have); later flag changes do not.
        """
        self.configure(PLAIN_CHANNEL.format(extra="Sync New"))
        self.seed_both()
        self.msync()
        self.assertInSync()
        self.change_flags_both()
        self.dovecot.add_message("INBOX", crlf("Subject: later\n\nfar later\n"), ["\\Flagged"])
        self.put("INBOX", "Subject: near later\n\nnear later\n", name="1600000001.1_1.elsewhere")
        self.msync()
        far = self.far()
        self.assertEqual(len(far), 6)
        self.assertEqual(far[0][1], frozenset({"\\Seen"}))
        self.assertEqual(far[1][1], frozenset({"\\Seen"}))
        self.assertEqual(
            (without_tuid(far[5][2]), far[5][1]),
            (crlf("Subject: near later\n\nnear later\n"), frozenset()),
        )
        local = {without_tuid(m.body): m.flags for m in self.local()}
        self.assertEqual(len(local), 6)
        self.assertEqual(local[lf(far[0][2])], "")
        self.assertEqual(local[b"Subject: two\nMessage-ID: <2@t>\n\nsecond\n"], "F")
        self.assertEqual(local[b"Subject: later\n\nfar later\n"], "F")

    def test_sync_flags(self) -> None:
        """
        C{Sync Flags} after a full sync: flag changes travel both ways; new
        messages stay where they are.
        """
        self.seed_both()
        self.configure(PLAIN_CHANNEL.format(extra="Sync All"))
        self.msync()
        self.configure(PLAIN_CHANNEL.format(extra="Sync Flags"))
        self.change_flags_both()
        self.dovecot.add_message("INBOX", crlf("Subject: later\n\nfar later\n"))
        self.put("INBOX", "Subject: near later\n\nnear later\n", name="1600000001.1_1.elsewhere")
        self.msync()
        far = self.far()
        self.assertEqual(
            [flags for _, flags, _ in far],
            [
                frozenset({"\\Seen"}),
                frozenset({"\\Flagged"}),
                frozenset({"\\Flagged", "\\Answered"}),
                frozenset({"\\Seen"}),
                frozenset(),
            ],
        )
        local = {without_tuid(m.body): m.flags for m in self.local()}
        self.assertEqual(len(local), 5)
        self.assertEqual(local[lf(far[0][2])], "S")
        self.assertNotIn(b"Subject: later\n\nfar later\n", local)
        self.assertEqual(local[b"Subject: near later\n\nnear later\n"], "")


class BoxSelectionTests(IMAPSyncCase):
    """
    Which boxes a run syncs: Create, Patterns, groups, C{channel:box},
    name translation.
    """

    def setUp(self) -> None:
        """
        Server: INBOX and Sent with a message each; local: a drafts box with
        a message.
        """
        super().setUp()
        self.dovecot.add_message("INBOX", crlf("Subject: in\n\nin\n"))
        self.dovecot.create_mailbox("Sent")
        self.dovecot.add_message("Sent", crlf("Subject: sent\n\nsent\n"), ["\\Seen"])
        self.put("drafts", "Subject: draft\n\ndraft\n", "D")

    def test_create_none(self) -> None:
        """
        Without C{Create}, boxes missing on one side are errors (exit 1),
        as mbsync words them; INBOX still syncs.
        """
        self.configure("Channel c\nFar :remote:\nNear :local:\nPatterns *\nSyncState *\n")
        _, stderr = self.msync(status=1)
        self.assertEqual(
            stderr,
            "Error: channel c: near side box Sent cannot be opened.\n"
            "Error: channel c: far side box drafts cannot be opened.\n",
        )
        self.assertInSync("INBOX")
        self.assertFalse((self.mail / "Sent").exists())
        self.assertEqual(self.dovecot.list_mailboxes(), ["INBOX", "Sent"])
        self.assertEqual(len(self.local("drafts")), 1)

    def test_create_near(self) -> None:
        """
        C{Create Near} makes the missing Maildir; the box missing on the
        server is still an error.
        """
        self.configure(
            "Channel c\nFar :remote:\nNear :local:\nPatterns *\nSyncState *\nCreate Near\n"
        )
        _, stderr = self.msync(status=1)
        self.assertEqual(stderr, "Error: channel c: far side box drafts cannot be opened.\n")
        self.assertInSync("INBOX")
        self.assertInSync("Sent")
        self.assertEqual(self.dovecot.list_mailboxes(), ["INBOX", "Sent"])

    def test_create_both(self) -> None:
        """
        C{Create Both} makes the missing box on either side and fills it.
        """
        self.configure(PLAIN_CHANNEL.format(extra=""))
        self.msync()
        self.assertEqual(self.dovecot.list_mailboxes(), ["INBOX", "Sent", "drafts"])
        for box in ("INBOX", "Sent", "drafts"):
            self.assertInSync(box)
        self.assertEqual(len(self.far("drafts")), 1)

    def test_patterns_with_exclusion(self) -> None:
        """
        C{Patterns * !Archive* !drafts} leaves out the excluded boxes on
        both sides.
        """
        self.dovecot.create_mailbox("Archive/2024")
        self.dovecot.add_message("Archive/2024", crlf("Subject: a\n\na\n"))
        self.configure(
            PLAIN_CHANNEL.format(extra="").replace("Patterns *", "Patterns * !Archive* !drafts")
        )
        self.msync()
        self.assertFalse((self.mail / "Archive").exists())
        self.assertInSync("Sent")
        self.assertEqual(self.dovecot.list_mailboxes(), ["Archive/2024", "INBOX", "Sent"])
        self.assertFalse((self.mail / "drafts" / ".mbsyncstate").exists())

    def test_groups_and_channel_boxes(self) -> None:
        """
        A group of a channel and a C{channel:box} syncs just those boxes;
        C{channel:box} on the command line just that one.
        """
        self.dovecot.create_mailbox("Archive/2024")
        self.dovecot.add_message("Archive/2024", crlf("Subject: a\n\na\n"))
        self.configure(
            "Channel inbox\nFar :remote:\nNear :local:\nPatterns INBOX\nSyncState *\n\n"
            "Channel folders\nFar :remote:\nNear :local:\nPatterns * !INBOX\n"
            "Create Both\nSyncState *\n\n"
            "Group g inbox\nChannel folders:Sent\n"
        )
        self.msync("g")
        self.assertInSync("INBOX")
        self.assertInSync("Sent")
        self.assertFalse((self.mail / "Archive").exists())
        self.assertEqual(self.dovecot.list_mailboxes(), ["Archive/2024", "INBOX", "Sent"])
        self.msync("folders:Archive/2024")
        self.assertInSync("Archive/2024")
        self.assertEqual(self.dovecot.list_mailboxes(), ["Archive/2024", "INBOX", "Sent"])

    def test_name_translation(self) -> None:
        """
        C{Far :remote:"Archive/2024"} with C{Near :local:archive} syncs that
        server box with the Maildir C{archive}, both ways.
        """
        self.dovecot.create_mailbox("Archive/2024")
        self.dovecot.add_message("Archive/2024", crlf("Subject: a\n\na\n"), ["\\Seen"])
        self.configure(
            'Channel arch\nFar :remote:"Archive/2024"\nNear :local:archive\n'
            "Create Near\nSyncState *\n"
        )
        self.msync("arch")
        self.assertEqual([(m.uid, m.flags) for m in self.local("archive")], [(1, "S")])
        self.put("archive", "Subject: b\n\nb\n", "F")
        self.msync("arch")
        self.assertEqual([(m.uid, m.flags) for m in self.local("archive")], [(1, "S"), (2, "F")])
        far = self.far("Archive/2024")
        self.assertEqual(
            [(uid, flags) for uid, flags, _ in far],
            [(1, frozenset({"\\Seen"})), (2, frozenset({"\\Flagged"}))],
        )
        self.assertFalse((self.mail / "Archive").exists())
        self.assertEqual(self.dovecot.list_mailboxes(), ["Archive/2024", "INBOX", "Sent"])
