# -*- test-case-name: tests.test_migrate -*-
"""
Tests for L{msync.migrate}: names toward each generation, and a tree
renamed on disk.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from msync.compat import Generation
from msync.config.load import parse_config
from msync.migrate import migrate_names, renamed

RC = """\
IMAPAccount a
Host 127.0.0.1
User u
Pass p
SSLType None

IMAPStore remote
Account a

MaildirStore local
Path {root}/mail/
Inbox {root}/mail/INBOX
SubFolders Verbatim

MaildirStore other
Path {root}/other/

Channel c
Far :remote:
Near :local:
Patterns *

Channel d
Far :other:
Near :local:
"""


class RenamedTests(SynchronousTestCase):
    """
    L{renamed} row by row.
    """

    def test_rows(self) -> None:
        """
        Toward 1.5 canonical modified UTF-7 is decoded; toward 1.4
        non-ASCII is encoded; everything else stays.
        """
        rows = [
            ("Entw&APw-rfe", Generation.V15, "Entwürfe"),
            (
                ":remote:Archiv!B&APw-cher_:local:Archiv!B&APw-cher",
                Generation.V15,
                ":remote:Archiv!Bücher_:local:Archiv!Bücher",
            ),
            ("Q&-A", Generation.V15, "Q&A"),
            ("Q&A", Generation.V15, None),
            ("INBOX", Generation.V15, None),
            ("Entwürfe", Generation.V15, None),
            ("Entwürfe", Generation.V14, "Entw&APw-rfe"),
            ("Entw&APw-rfe", Generation.V14, None),
            ("Q&A", Generation.V14, None),
        ]
        for name, target, expected in rows:
            self.assertEqual(renamed(name, target), expected, (name, target))


class MigrateTests(SynchronousTestCase):
    """
    L{migrate_names} on a tree.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.config = parse_config(RC.format(root=self.root), "rc", home=self.root)
        self.state = os.path.join(self.root, ".mbsync")
        for folder in ("mail/INBOX", "mail/Entw&APw-rfe", "mail/Archiv/B&APw-cher", "other/T&AOQ-"):
            os.makedirs(os.path.join(self.root, folder, "cur"))
        os.makedirs(self.state)
        self.lines: list[str] = []

    def touch(self, *parts: str) -> None:
        with open(os.path.join(self.root, *parts), "w") as f:
            f.write("x")

    def test_tree(self) -> None:
        """
        Folders of the IMAP-paired store and the state files are renamed,
        message files kept; the Maildir-only store is left alone; back
        toward 1.4 gives the first tree again.
        """
        self.touch("mail", "Entw&APw-rfe", "cur", "1.a,U=1:2,S")
        self.touch(".mbsync", ":remote:Entw&APw-rfe_:local:Entw&APw-rfe")
        self.touch(".mbsync", ":remote:Entw&APw-rfe_:local:Entw&APw-rfe.lock")
        status = migrate_names(self.config, Generation.V15, [self.state + "/"], self.lines.append)
        self.assertEqual(status, 0)
        self.assertEqual(
            sorted(os.listdir(os.path.join(self.root, "mail"))), ["Archiv", "Entwürfe", "INBOX"]
        )
        self.assertEqual(os.listdir(os.path.join(self.root, "mail", "Archiv")), ["Bücher"])
        self.assertEqual(
            os.listdir(os.path.join(self.root, "mail", "Entwürfe", "cur")), ["1.a,U=1:2,S"]
        )
        self.assertEqual(os.listdir(os.path.join(self.root, "other")), ["T&AOQ-"])
        self.assertEqual(
            sorted(os.listdir(self.state)),
            [":remote:Entwürfe_:local:Entwürfe", ":remote:Entwürfe_:local:Entwürfe.lock"],
        )
        self.assertEqual(len(self.lines), 4)
        migrate_names(self.config, Generation.V14, [self.state + "/"], self.lines.append)
        self.assertEqual(
            sorted(os.listdir(os.path.join(self.root, "mail"))), ["Archiv", "Entw&APw-rfe", "INBOX"]
        )

    def test_refusals(self) -> None:
        """
        A live journal stops everything; an existing target is reported
        and left.
        """
        self.touch(".mbsync", "s.journal")
        self.touch(".mbsync", "s.new")
        status = migrate_names(self.config, Generation.V15, [self.state + "/"], self.lines.append)
        self.assertEqual(
            (status, self.lines),
            (1, [f"Error: interrupted run's journal {self.state}/s.journal; synchronize first"]),
        )
        os.unlink(os.path.join(self.state, "s.new"))
        os.makedirs(os.path.join(self.root, "mail", "Entwürfe"))
        del self.lines[:]
        status = migrate_names(self.config, Generation.V15, [self.state + "/"], self.lines.append)
        self.assertEqual(status, 1)
        mail = os.path.join(self.root, "mail")
        self.assertIn(
            f"Error: not renaming {mail}/Entw&APw-rfe: {mail}/Entwürfe exists", self.lines
        )
        self.assertIn("Entw&APw-rfe", os.listdir(mail))
