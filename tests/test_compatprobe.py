# -*- test-case-name: tests.test_compatprobe -*-
"""
Tests for L{msync.compatprobe}: the detection rule on each kind of tree
left on disk by mbsync 1.4 or 1.5.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from msync.compat import Generation
from msync.compatprobe import decide, installed_mbsync
from msync.config.load import parse_config

V14, V15 = Generation.V14, Generation.V15

RC = """\
IMAPAccount a
Host 127.0.0.1
User u
Pass p
SSLType None

IMAPStore remote
Account a

MaildirStore local
Path {home}/mail/
Inbox {home}/mail/INBOX
SubFolders Verbatim

Channel c
Far :remote:
Near :local:
Patterns *
"""


class DecideTests(SynchronousTestCase):
    """
    L{decide} on trees made the way each generation leaves them.
    """

    def setUp(self) -> None:
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.home, "mail", "INBOX", "cur"))
        self.rc = os.path.join(self.home, ".mbsyncrc")
        self.text = RC.format(home=self.home)
        with open(self.rc, "w") as f:
            f.write(self.text)
        self.asked: list[list[str]] = []
        self.answer: str | None = "isync 1.4.4\n"

    def mkdir(self, *parts: str) -> str:
        path = os.path.join(self.home, *parts)
        os.makedirs(path, exist_ok=True)
        return path

    def run_command(self, argv: list[str]) -> str | None:
        self.asked.append(argv)
        return self.answer

    def decide(self, option: str | None = None, **environ: str) -> tuple[Generation, str, str]:
        config = parse_config(self.text, self.rc, home=self.home)
        env = {"HOME": self.home, **environ}
        decision = decide(config, self.rc, option, env, self.home, run=self.run_command)
        return decision.choice.generation, decision.choice.reason, decision.state_directory

    def test_fresh_follows_installed(self) -> None:
        """
        Nothing on disk: the installed mbsync decides (asked once); none
        installed, or msync itself answering, gives 1.5.
        """
        self.assertEqual(
            self.decide(),
            (V14, "installed mbsync is isync 1.4.4", self.home + "/.mbsync/"),
        )
        self.assertEqual(self.asked, [["mbsync", "--version"]])
        self.answer = None
        self.assertEqual(
            self.decide(),
            (V15, "fresh setup, no mbsync installed", self.home + "/.local/state/isync/"),
        )
        self.answer = "msync 0.1.0 (isync 1.4.4 compatible)\n"
        self.assertEqual(self.decide()[0], V15)

    def test_old_state_without_mbsync(self) -> None:
        """
        With no mbsync installed, C{~/.mbsync/} (only 1.4 creates it) means
        1.4; a 1.4 folder C{Q&-A} (the server's C{Q&A}) is 1.4 evidence.
        """
        self.answer = None
        self.mkdir(".mbsync")
        self.assertEqual(
            self.decide(),
            (
                V14,
                f"sync state in {self.home}/.mbsync/, no mbsync installed",
                self.home + "/.mbsync/",
            ),
        )
        self.mkdir("mail", "Q&-A", "cur")
        self.assertEqual(self.decide()[1], "folder names in modified UTF-7 (Q&-A)")

    def test_tree_of_14(self) -> None:
        """
        mbsync 1.4's tree: modified UTF-7 folders and C{~/.mbsync/}; the
        installed mbsync is not asked.
        """
        self.mkdir("mail", "Entw&APw-rfe", "cur")
        self.mkdir(".mbsync")
        self.answer = "isync 1.5.0"
        self.assertEqual(
            self.decide(),
            (V14, "folder names in modified UTF-7 (Entw&APw-rfe)", self.home + "/.mbsync/"),
        )
        self.assertEqual(self.asked, [])

    def test_tree_of_15(self) -> None:
        """
        mbsync 1.5's tree: UTF-8 folders; state in the XDG directory, or
        still in C{~/.mbsync/} when only that exists (1.5 keeps using it).
        """
        self.mkdir("mail", "Archiv", "Bücher", "cur")
        self.mkdir(".mbsync")
        self.assertEqual(
            self.decide(),
            (V15, "folder names in UTF-8 (Bücher)", self.home + "/.mbsync/"),
        )
        state = self.mkdir(".local", "state", "isync") + "/"
        os.rmdir(os.path.join(self.home, ".mbsync"))
        self.assertEqual(self.decide()[2], state)

    def test_state_location(self) -> None:
        """
        Only 1.5 makes C{$XDG_STATE_HOME/isync/}.
        """
        state = self.mkdir("xdg", "isync") + "/"
        self.assertEqual(
            self.decide(XDG_STATE_HOME=os.path.join(self.home, "xdg")),
            (V15, f"sync state in {state}", state),
        )

    def test_live_journal_wins(self) -> None:
        """
        A live journal (with its C{.new}) decides before folder names; a
        stale one (no C{.new}) says nothing.
        """
        self.mkdir("mail", "Entwürfe", "cur")
        state = self.mkdir(".mbsync")
        with open(os.path.join(state, ":remote:INBOX_:local:INBOX.journal"), "w") as f:
            f.write("4\n+ 1 0\n")
        self.assertEqual(self.decide()[1], "folder names in UTF-8 (Entwürfe)")
        with open(os.path.join(state, ":remote:INBOX_:local:INBOX.new"), "w") as f:
            f.write("")
        journal = os.path.join(state, ":remote:INBOX_:local:INBOX.journal")
        self.assertEqual(
            self.decide()[:2], (V14, f"interrupted run's journal version 4 ({journal})")
        )

    def test_config_location_and_spellings(self) -> None:
        """
        1.5's C{isyncrc} location and 1.5-only keywords choose 1.5.
        """
        xdg_rc = os.path.join(self.mkdir(".config"), "isyncrc")
        config = parse_config(self.text, xdg_rc, home=self.home)
        decision = decide(
            config, xdg_rc, None, {"HOME": self.home}, self.home, run=self.run_command
        )
        self.assertEqual(decision.choice.reason, f"configuration file {xdg_rc}")
        with open(self.rc, "a") as f:
            f.write("ExpireSide Near\n")
        self.assertEqual(self.decide()[:2], (V15, "1.5-only configuration keywords (ExpireSide)"))

    def test_overrides(self) -> None:
        """
        C{--compat} beats C{MSYNC_COMPAT}, which beats the tree.
        """
        self.mkdir("mail", "Entw&APw-rfe", "cur")
        self.assertEqual(self.decide(MSYNC_COMPAT="1.5")[:2], (V15, "MSYNC_COMPAT=1.5"))
        self.assertEqual(self.decide("1.4", MSYNC_COMPAT="1.5")[:2], (V14, "--compat 1.4"))

    def test_installed_mbsync(self) -> None:
        """
        A failing or silent mbsync is no answer.
        """
        self.assertIsNone(installed_mbsync(lambda argv: None))
        self.assertIsNone(installed_mbsync(lambda argv: "  \n"))
        self.assertEqual(installed_mbsync(lambda argv: "isync 1.5.1\n"), "isync 1.5.1")
