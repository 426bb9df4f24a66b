"""
Issue 8, against a real Dovecot: local numbering and naming anomalies never
cost mail on the server and never pair one server box with two folders.

  - A file renamed to carry another's C{,U=} (point 2): msync refuses the
    box with mbsync 1.4.4's error and changes nothing on either side, as
    mbsync does (run on the same tree for comparison); a byte-identical copy
    is pushed as a new message and nothing else changes.
  - A local C{Café} next to the C{Caf&AOk-} pulled from the server, a local
    C{Ärger}, a local C{Q&A} (points 4, 5): refused with readable errors
    naming the folders; no server box is created or synchronized twice, no
    second local folder appears.
"""

from __future__ import annotations

import shutil

from tests.integration.synctree import (
    IMAPSyncCase,
    crlf,
    lf,
    run_tool,
    snapshot,
    without_tuid,
)


class DuplicateUIDTests(IMAPSyncCase):
    """
    Point 2: the UID trap.
    """

    def synced(self) -> None:
        """
        Three server messages pulled into the local INBOX (UIDs 1-3 on both
        sides, paired 1-1, 2-2, 3-3).
        """
        self.seed_inbox()
        self.msync()
        self.assertEqual([m.uid for m in self.local()], [1, 2, 3])
        self.assertEqual(self.state_entries(), ["1 1 ", "2 2 S", "3 3 FR"])

    def test_renamed_file_refused_like_mbsync(self) -> None:
        """
        Message 3's file renamed to carry C{U=1}: msync stops the box with
        mbsync's C{Maildir error: duplicate UID 1.}, exit 1; the server keeps
        its three messages (nothing deleted, nothing pushed), the local files
        and the state are untouched. mbsync 1.4.4 does the same on the same
        tree.
        """
        self.synced()
        far_before = self.far()
        three = self.local()[2]
        renamed = three.path.with_name(three.path.name.replace(",U=3", ",U=1"))
        three.path.rename(renamed)
        local_before = snapshot(self.mail)
        state_before = self.state_entries()
        _, err = self.msync(status=1)
        self.assertIn("Maildir error: duplicate UID 1.", err)
        self.assertEqual(self.far(), far_before)
        self.assertEqual([uid for uid, _, _ in self.far()], [1, 2, 3])
        self.assertEqual(snapshot(self.mail), local_before)
        self.assertEqual(self.state_entries(), state_before)
        self.assertEqual(sorted(m.uid for m in self.local()), [1, 1, 2])
        # mbsync 1.4.4 on the same tree: the same error, nothing changed.
        mbsync = run_tool("mbsync", self.config, "-a")
        self.assertEqual(mbsync.returncode, 1, mbsync.stderr)
        self.assertIn("Maildir error: duplicate UID 1.", mbsync.stderr)
        self.assertEqual(self.far(), far_before)
        self.assertEqual(snapshot(self.mail), local_before)
        # Once the user gives the file its UID back, all converges as before.
        renamed.rename(three.path)
        self.msync()
        self.assertEqual(self.far(), far_before)
        self.assertEqual(self.state_entries(), state_before)
        self.assertInSync()

    def test_identical_copy_pushed_as_new(self) -> None:
        """
        A byte-identical copy of message 1 carrying C{U=1} (a MUA's copy):
        the original keeps UID 1, the copy becomes local UID 4 and is pushed
        as server UID 4; messages 1-3 stay as they were on both sides.
        """
        self.synced()
        far_before = self.far()
        one = self.local()[0]
        copy = one.path.with_name("1999999999.1_1.copy,U=1:2,")
        shutil.copyfile(one.path, copy)
        self.msync()
        far = self.far()
        self.assertEqual(far[:3], far_before)
        self.assertEqual([uid for uid, _, _ in far], [1, 2, 3, 4])
        self.assertEqual(without_tuid(lf(far[3][2])), without_tuid(one.body))
        local = self.local()
        self.assertEqual([m.uid for m in local], [1, 2, 3, 4])
        self.assertEqual(local[0].path, one.path)
        self.assertEqual(local[3].body, one.body)
        self.assertEqual(local[3].path.name, "1999999999.1_1.copy,U=4:2,")
        self.assertEqual(self.state_entries(), ["1 1 ", "2 2 S", "3 3 FR", "4 4 "])
        self.assertInSync()

    def test_file_moved_in_from_another_box(self) -> None:
        """
        The UID trap repair still works where nothing is in doubt: message 3
        moved from INBOX into Archive with its C{,U=3} (a mail reader that
        does not rename; mbsync 1.4.4 refuses Archive: C{UID 3 is beyond
        highest assigned UID 1}). Archive's state pairs no UID 3, so the
        file is numbered as Archive's UID 2 and pushed; INBOX's UID 3 is
        gone, so the server's is deleted: the server moves it too. Exit 0.
        """
        self.dovecot.create_mailbox("Archive")
        self.dovecot.add_message("Archive", crlf("Subject: old\n\nold\n"), ["\\Seen"])
        self.synced()
        three = self.local()[2]
        moved = self.mail / "Archive" / "cur" / three.path.name
        three.path.rename(moved)
        _, err = self.msync()
        self.assertIn("UID 3 of", err)
        self.assertIn("paired with no message; numbering it as a new message, UID 2", err)
        self.assertEqual([uid for uid, _, _ in self.far()], [1, 2])
        archive = self.far("Archive")
        self.assertEqual([uid for uid, _, _ in archive], [1, 2])
        self.assertEqual(without_tuid(lf(archive[1][2])), without_tuid(three.body))
        self.assertEqual([m.uid for m in self.local("Archive")], [1, 2])
        self.assertEqual(self.state_entries("Archive"), ["1 1 S", "2 2 FR"])
        self.assertInSync()
        self.assertInSync("Archive")


class NameCollisionTests(IMAPSyncCase):
    """
    Points 4 and 5: names that are not the server's modified UTF-7.
    """

    def assertPaired(self, far_box: str, near_box: str) -> None:
        """
        A server box and a local folder hold the same messages and flags
        (X-TUID headers and line ends aside).
        """
        letters = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S"}
        far = sorted(
            (without_tuid(lf(body)), "".join(sorted(letters[flag] for flag in flags)))
            for _, flags, body in self.far(far_box)
        )
        near = sorted((without_tuid(m.body), m.flags) for m in self.local(near_box))
        self.assertEqual(near, far)
        self.assertTrue(far)

    def local_folders(self) -> list[str]:
        """
        The local boxes (directories with C{cur/}), relative to the root.
        """
        return sorted(str(p.parent.relative_to(self.mail)) for p in self.mail.rglob("cur"))

    def test_utf8_folder_next_to_pulled_one(self) -> None:
        """
        With the server's C{Café} pulled as local C{Caf&AOk-} (mbsync 1.4
        naming), a local C{Café} is refused with an error naming both
        folders; its message is not put into the server box, which is
        synchronized once, with C{Caf&AOk-}.
        """
        self.dovecot.create_mailbox("Café")
        self.dovecot.add_message("Café", crlf("Subject: far\n\nfar\n"), ["\\Seen"])
        self.msync()
        self.assertEqual(self.local_folders(), ["Caf&AOk-", "INBOX"])
        self.put("Café", "Subject: local\n\nlocal\n")
        _, err = self.msync(status=1)
        self.assertIn(
            "near side boxes Café and Caf&AOk- both map to far side box Caf&AOk-; "
            "not synchronizing Café",
            err,
        )
        self.assertEqual(len(self.far("Café")), 1)
        self.assertEqual(self.dovecot.list_mailboxes(), ["Café", "INBOX"])
        self.assertEqual(len(self.local("Café")), 1)
        self.assertEqual(self.local("Café")[0].uid, 0)
        self.assertPaired("Café", "Caf&AOk-")

    def test_utf8_folder_alone_refused(self) -> None:
        """
        A local C{Ärger} is refused with a readable error giving its
        modified UTF-7 spelling (mbsync 1.4.4 sends it unchanged and Dovecot
        answers C{NO Mailbox name is not valid mUTF-7}); no server box is
        created, and a second run creates no second local folder.
        """
        self.put("Ärger", "Subject: grr\n\ngrr\n")
        for _ in range(2):
            _, err = self.msync(status=1)
            self.assertIn("mailbox name Ärger: not valid modified UTF-7", err)
            self.assertIn("spelled so, it is &AMQ-rger", err)
            self.assertEqual(self.dovecot.list_mailboxes(), ["INBOX"])
            self.assertEqual(self.local_folders(), ["INBOX", "Ärger"])

    def test_terminal_escapes_shown_escaped(self) -> None:
        """
        A local folder whose name holds a terminal escape sequence is named
        escaped in the error (C{\\x1b}), never raw; nothing is created.
        """
        self.put("evil\x1b[2J\x1b]0;pwned\x07", "Subject: e\n\ne\n")
        _, err = self.msync(status=1)
        self.assertIn("mailbox evil\\x1b[2J\\x1b]0;pwned\\x07: mailbox name", err)
        self.assertNotIn("\x1b", err)
        self.assertNotIn("\x07", err)
        self.assertEqual(self.dovecot.list_mailboxes(), ["INBOX"])

    def test_ampersand_folder(self) -> None:
        """
        A local C{Q&A}: a readable error (no Python bytes repr) giving the
        spelling C{Q&-A}; nothing is created. A server C{Q&A} (sent as
        C{Q&-A}) is pulled as C{Q&-A}, as mbsync 1.4 names it, and kept in
        sync both ways; the local C{Q&A} is then refused naming both.
        """
        self.put("Q&A", "Subject: q\n\nq\n")
        _, err = self.msync(status=1)
        self.assertIn("mailbox name Q&A: not valid modified UTF-7", err)
        self.assertIn("spelled so, it is Q&-A", err)
        self.assertNotIn("b'", err)
        self.assertEqual(self.dovecot.list_mailboxes(), ["INBOX"])
        self.dovecot.create_mailbox("Q&A")
        self.dovecot.add_message("Q&A", crlf("Subject: a\n\na\n"))
        _, err = self.msync(status=1)
        self.assertIn("near side boxes Q&A and Q&-A both map to far side box Q&-A", err)
        self.assertEqual(self.local_folders(), ["INBOX", "Q&-A", "Q&A"])
        self.assertEqual(len(self.far("Q&A")), 1)
        self.assertPaired("Q&A", "Q&-A")


class TrashIntoItselfTests(IMAPSyncCase):
    """
    Point 6: the far store's Trash is synchronized too (C{Trash Trash},
    C{Patterns *}, C{Expunge Both}).
    """

    def test_deleted_in_trash_moves_into_trash(self) -> None:
        """
        A message of Trash deleted locally is, on the server, moved into
        Trash itself before the expunge, as mbsync 1.4.4 does there
        (C{UID MOVE 2 "Trash"}: it becomes UID 3, still C{\\Deleted});
        exit 0, no journal left, nothing lost. A further run does the
        same again (UID 4), as mbsync does, and still exits 0.
        """
        self.configure(store_extra="Trash Trash\n")
        self.dovecot.create_mailbox("Trash")
        self.dovecot.add_message("Trash", crlf("Subject: t1\n\nt1\n"))
        self.dovecot.add_message("Trash", crlf("Subject: t2\n\nt2\n"))
        self.msync()
        local = self.local("Trash")
        self.assertEqual([m.uid for m in local], [1, 2])
        local[1].path.unlink()
        self.msync()
        box = self.mail / "Trash"
        self.assertFalse((box / ".mbsyncstate.journal").exists())
        self.assertFalse((box / ".mbsyncstate.new").exists())
        far = self.far("Trash")
        self.assertEqual(
            [(uid, flags, lf(body)) for uid, flags, body in far],
            [
                (1, frozenset(), b"Subject: t1\n\nt1\n"),
                (3, frozenset({"\\Deleted"}), b"Subject: t2\n\nt2\n"),
            ],
        )
        self.assertEqual([m.uid for m in self.local("Trash")], [1])
        self.assertEqual(self.state_entries("Trash"), ["1 1 "])
        self.msync()
        far = self.far("Trash")
        self.assertEqual([(uid, lf(body)) for uid, _, body in far][0], (1, b"Subject: t1\n\nt1\n"))
        self.assertEqual(len(far), 2)
        self.assertEqual(lf(far[1][2]), b"Subject: t2\n\nt2\n")
        self.assertEqual([m.uid for m in self.local("Trash")], [1])
        self.assertFalse((box / ".mbsyncstate.journal").exists())
