# -*- test-case-name: tests.test_compat -*-
"""
Tests for L{msync.compat}: the generation rule, row by row.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.compat import (
    Evidence,
    Generation,
    choose,
    default_state_directory,
    folder_generation,
    installed_generation,
    new_spellings,
)
from msync.config.load import parse_config
from msync.config.schema import DEFAULT_TLS_VERSIONS, Config, MaildirStore, TLSVersion
from msync.errors import UsageError
from msync.model import Side
from msync.report import Counters, RunSummary, SideCounters, progress_line, summary_text

V14, V15 = Generation.V14, Generation.V15

# (evidence, generation, reason)
RULES = [
    (Evidence(option="1.4", utf8_folder="Entwürfe"), V14, "--compat 1.4"),
    (Evidence(option="1.5", environment="1.4"), V15, "--compat 1.5"),
    (Evidence(environment="1.4", xdg_state="/h/.local/state/isync/"), V14, "MSYNC_COMPAT=1.4"),
    (
        Evidence(journals=(("4", "/s.journal"),), utf8_folder="Entwürfe"),
        V14,
        "interrupted run's journal version 4 (/s.journal)",
    ),
    (
        Evidence(journals=(("5", "/s.journal"),), utf7_folder="Entw&APw-rfe"),
        V15,
        "interrupted run's journal version 5 (/s.journal)",
    ),
    (
        Evidence(utf7_folder="Entw&APw-rfe", xdg_state="/x/"),
        V14,
        "folder names in modified UTF-7 (Entw&APw-rfe)",
    ),
    (
        Evidence(utf8_folder="Entwürfe", installed="isync 1.4.4"),
        V15,
        "folder names in UTF-8 (Entwürfe)",
    ),
    (Evidence(xdg_state="/x/isync/", installed="isync 1.4.4"), V15, "sync state in /x/isync/"),
    (Evidence(xdg_config="/c/isyncrc"), V15, "configuration file /c/isyncrc"),
    (
        Evidence(spellings=("TLSType",), installed="isync 1.4.4"),
        V15,
        "1.5-only configuration keywords (TLSType)",
    ),
    (Evidence(installed="isync 1.4.4\n"), V14, "installed mbsync is isync 1.4.4"),
    (
        Evidence(installed="isync 1.5.0", old_state="/h/.mbsync/"),
        V15,
        "installed mbsync is isync 1.5.0",
    ),
    (Evidence(old_state="/h/.mbsync/"), V14, "sync state in /h/.mbsync/, no mbsync installed"),
    (Evidence(installed="isync 1.5.1"), V15, "installed mbsync is isync 1.5.1"),
    (Evidence(), V15, "fresh setup, no mbsync installed"),
]


class ChooseTests(SynchronousTestCase):
    """
    L{choose} follows the documented order.
    """

    def test_rules(self) -> None:
        """
        Each row's evidence gives its generation and reason, and the C{-V}
        line names both.
        """
        for evidence, generation, reason in RULES:
            choice = choose(evidence)
            self.assertEqual((choice.generation, choice.reason), (generation, reason), evidence)
            self.assertEqual(choice.describe(), f"Following mbsync {generation.value}: {reason}")

    def test_bad_values(self) -> None:
        """
        Anything but a 1.4 or 1.5 version is a usage error naming its source.
        """
        error = self.assertRaises(UsageError, choose, Evidence(option="2"))
        self.assertEqual(str(error), "--compat: unknown mbsync generation '2' (use 1.4 or 1.5)")
        error = self.assertRaises(UsageError, choose, Evidence(environment="1.6"))
        self.assertIn("MSYNC_COMPAT", str(error))
        self.assertEqual(choose(Evidence(option="1.5.1")).generation, V15)

    def test_journal_versions(self) -> None:
        """
        Each generation writes its own journal version.
        """
        self.assertEqual((V14.journal_version, V15.journal_version), ("4", "5"))


class EvidenceTests(SynchronousTestCase):
    """
    What names, version texts and configuration texts say.
    """

    def test_folder_generation(self) -> None:
        """
        Modified UTF-7 of non-ASCII text is 1.4, non-ASCII is 1.5, plain
        ASCII (even with C{&}) says nothing.
        """
        rows = [
            ("Entw&APw-rfe", V14),
            (".Entw&APw-rfe", V14),
            ("Entwürfe", V15),
            ("INBOX", None),
            ("Q&-A", V14),
            ("Q&A", None),
            ("&AGE-", None),
        ]
        for name, generation in rows:
            self.assertEqual(folder_generation(name), generation, name)

    def test_installed_generation(self) -> None:
        """
        C{mbsync --version} texts map to generations; no number, no answer.
        """
        rows = [("isync 1.4.4", V14), ("isync 1.3.0", V14), ("isync 1.5.0", V15), ("x", None)]
        for text, generation in rows:
            self.assertEqual(installed_generation(text), generation, text)

    def test_new_spellings(self) -> None:
        """
        1.5-only keywords and Sync/Create words are found once each, as
        spelled; comments and 1.4 keywords are not.
        """
        text = (
            "# TLSType IMAPS\nIMAPAccount a\nSSLType IMAPS\ntlstype IMAPS\nTLSVersions +1.3\n"
            "Channel c\nSync Pull Gone\nSync Upgrade\nExpireSide Near\nCreate Both\n"
        )
        self.assertEqual(
            new_spellings(text),
            ("tlstype", "TLSVersions", "Sync Gone", "Sync Upgrade", "ExpireSide"),
        )
        self.assertEqual(new_spellings("Sync All\nSSLVersions TLSv1.2\n"), ())


class StateDirectoryTests(SynchronousTestCase):
    """
    L{default_state_directory} follows mbsync 1.5's C{load_config}.
    """

    def test_rows(self) -> None:
        """
        1.4 always uses C{~/.mbsync/}; 1.5 uses the XDG directory unless
        only C{~/.mbsync/} exists, and reports both existing.
        """
        old, new = "/h/.mbsync/", "/h/.local/state/isync/"
        rows = [
            (V14, {new: True}, None, (old, None)),
            (V15, {}, None, (new, None)),
            (V15, {old: True}, None, (old, None)),
            (V15, {new: True}, None, (new, None)),
            (
                V15,
                {old: True, new: True},
                None,
                (new, f"both {new} and {old} exist; delete one or set SyncState globally."),
            ),
            (V15, {}, "/s", ("/s/isync/", None)),
        ]
        for generation, exists, xdg, expected in rows:
            self.assertEqual(default_state_directory(generation, "/h", xdg, exists), expected)


class Isync15ReadingTests(SynchronousTestCase):
    """
    L{msync.config.load.parse_config} with C{isync15}: the file read as
    isync 1.5 reads it (its C{expand_strdup} and C{imap_parse_store}).
    """

    TEXT = (
        "IMAPAccount a\nHost h\nUser u\nPass p\n\n"
        "IMAPAccount b\nHost h\nUser u\nPass p\nTLSVersions +1.1\n\n"
        "MaildirStore m\nPath mail/\nInbox /abs/INBOX\n\n"
        "MaildirStore n\nPath ~/n/\n"
    )

    def parse(self, filename: str, isync15: bool) -> Config:
        return parse_config(self.TEXT, filename, home="/home/u", isync15=isync15)

    def test_relative_paths(self) -> None:
        """
        Relative paths are read from the file's directory (C{./} for a bare
        file name) only as 1.5; absolute and C{~} paths are unchanged.
        """
        paths = {
            (name, isync15): [
                (s.path, s.inbox)
                for s in self.parse(name, isync15).stores
                if isinstance(s, MaildirStore)
            ]
            for name in ("/etc/x/rc", "rc")
            for isync15 in (False, True)
        }
        self.assertEqual(paths[("/etc/x/rc", False)][0], ("mail/", "/abs/INBOX"))
        self.assertEqual(paths[("/etc/x/rc", True)][0], ("/etc/x/mail/", "/abs/INBOX"))
        self.assertEqual(paths[("rc", True)][0], ("./mail/", "/abs/INBOX"))
        self.assertEqual(paths[("rc", True)][1], ("/home/u/n/", "/home/u/Maildir"))

    def test_tls_defaults(self) -> None:
        """
        Without SSLVersions/TLSVersions, 1.4 allows TLS 1.0 to 1.3 and 1.5
        only 1.2 and 1.3; C{TLSVersions +1.1} adds to 1.5's default.
        """
        old = {a.name: a.ssl_versions for a in self.parse("rc", False).accounts}
        new = {a.name: a.ssl_versions for a in self.parse("rc", True).accounts}
        self.assertEqual(old["a"], DEFAULT_TLS_VERSIONS)
        self.assertEqual(new["a"], frozenset({TLSVersion.TLSV1_2, TLSVersion.TLSV1_3}))
        expected = frozenset({TLSVersion.TLSV1_1, TLSVersion.TLSV1_2, TLSVersion.TLSV1_3})
        self.assertEqual((old["b"], new["b"]), (expected, expected))


class Isync15OutputTests(SynchronousTestCase):
    """
    isync 1.5's progress line and summary (its C{main_sync.c} formats).
    """

    def counters(self) -> Counters:
        return Counters(
            channels_done=1,
            channels_total=1,
            boxes_done=1,
            boxes_total=1,
            near=SideCounters(3, 3, 0, 0, 1, 1, 1, 1),
        )

    def test_progress_line(self) -> None:
        """
        Each half gains C{-expunged/total}; 1.4's line is unchanged.
        """
        counters = self.counters()
        self.assertEqual(
            progress_line(counters, 80, isync15=True),
            "\rC: 1/1  B: 1/1  F: +0/0 *0/0 #0/0 -0/0  N: +3/3 *0/0 #1/1 -1/1",
        )
        self.assertEqual(
            progress_line(counters, 80),
            "\rC: 1/1  B: 1/1  F: +0/0 *0/0 #0/0  N: +3/3 *0/0 #1/1",
        )

    def test_summary(self) -> None:
        """
        The near side first; trash and expunge lines only for sides that
        some channel trashes or expunges; nothing when no box finished.
        """
        summary = RunSummary(
            boxes=1,
            channels=1,
            ops={Side.FAR, Side.NEAR},
            trash={Side.NEAR},
            expunge={Side.FAR, Side.NEAR},
            expunged={Side.FAR: 0, Side.NEAR: 1},
        )
        self.assertEqual(
            summary_text(summary, self.counters()),
            "Processed 1 box(es) in 1 channel(s),\n"
            "pulled 3 new message(s) and 0 flag update(s),\n"
            "moved 1 near side message(s) to trash,\n"
            "expunged 1 message(s) from near side,\n"
            "pushed 0 new message(s) and 0 flag update(s),\n"
            "expunged 0 message(s) from far side.",
        )
        self.assertIsNone(summary_text(RunSummary(), self.counters()))
        self.assertEqual(
            summary_text(
                RunSummary(boxes=2, channels=1, ops={Side.NEAR}), Counters(), dry_run=True
            ),
            "Processed 2 box(es) in 1 channel(s),\nwould pull 0 new message(s) and 0 flag update(s).",
        )
