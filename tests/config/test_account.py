# -*- test-case-name: tests.config.test_account -*-
"""
Tests for the option tables of L{msync.config.account} and
L{msync.config.load}: every row names a field its section's dataclass has,
so a misspelt field fails here rather than on some user's configuration.
The values the rows parse are tested through whole configurations in
L{tests.config.test_load}.
"""

from __future__ import annotations

import dataclasses

from twisted.trial.unittest import SynchronousTestCase

from msync.config.account import (
    ACCOUNT_OPTIONS,
    ACCOUNT_SETTINGS,
    CHANNEL_OPTIONS,
    CHANNEL_VALUE_OPTIONS,
    CHANNEL_VALUE_SETTINGS,
    STORE_OPTIONS,
    AccountDraft,
    ChannelOptions,
    Option,
    OptionTable,
    text,
)
from msync.config.load import (
    GLOBAL_OPTIONS,
    IMAP_STORE_OPTIONS,
    MAILDIR_STORE_OPTIONS,
    parse_config,
)
from msync.config.schema import GlobalOptions, IMAPAccount, IMAPStore, MaildirStore

#: Each table with the dataclasses its rows set fields of.
TABLES: list[tuple[str, OptionTable, tuple[type, ...]]] = [
    ("ACCOUNT_OPTIONS", ACCOUNT_OPTIONS, (IMAPAccount,)),
    ("ACCOUNT_SETTINGS", ACCOUNT_SETTINGS, (AccountDraft,)),
    ("STORE_OPTIONS", STORE_OPTIONS, (IMAPStore, MaildirStore)),
    ("IMAP_STORE_OPTIONS", IMAP_STORE_OPTIONS, (IMAPStore,)),
    ("MAILDIR_STORE_OPTIONS", MAILDIR_STORE_OPTIONS, (MaildirStore,)),
    ("GLOBAL_OPTIONS", GLOBAL_OPTIONS, (GlobalOptions,)),
    ("CHANNEL_VALUE_OPTIONS", CHANNEL_VALUE_OPTIONS, (ChannelOptions,)),
]


def unknown_fields(table: OptionTable, targets: tuple[type, ...]) -> list[str]:
    """
    The rows of C{table} whose field is missing from one of C{targets},
    as C{keyword -> Target.field}; keywords that are not case-folded too.
    """
    problems = []
    for keyword, option in table.items():
        if keyword != keyword.casefold():
            problems.append(f"{keyword}: not case-folded")
        for target in targets:
            names = {each.name for each in dataclasses.fields(target)}
            if option.field not in names:
                problems.append(f"{keyword} -> {target.__name__}.{option.field}")
    return problems


class TableTests(SynchronousTestCase):
    """
    The option tables are consistent with their dataclasses and with each
    other.
    """

    def test_fields_exist(self) -> None:
        """
        Every row of every table names a field of each of its dataclasses.
        """
        for name, table, targets in TABLES:
            self.assertEqual(unknown_fields(table, targets), [], name)

    def test_checker_reports_misspelling(self) -> None:
        """
        A misspelt field or an unfolded keyword is reported, so the test
        above can fail.
        """
        table = {"path": Option("pth", text), "Inbox": Option("inbox", text)}
        self.assertEqual(
            unknown_fields(table, (MaildirStore,)),
            ["path -> MaildirStore.pth", "Inbox: not case-folded"],
        )

    def test_store_options_shared(self) -> None:
        """
        Both store sections accept every common store option, each with
        the same row.
        """
        for keyword, option in STORE_OPTIONS.items():
            self.assertIs(IMAP_STORE_OPTIONS[keyword], option)
            self.assertIs(MAILDIR_STORE_OPTIONS[keyword], option)

    def test_channel_settings(self) -> None:
        """
        Each channel value option names the setting it makes explicit, and
        is a channel option.
        """
        self.assertEqual(set(CHANNEL_VALUE_SETTINGS), set(CHANNEL_VALUE_OPTIONS))
        self.assertLessEqual(set(CHANNEL_VALUE_OPTIONS), CHANNEL_OPTIONS)

    def test_account_tables_disjoint(self) -> None:
        """
        A keyword sets an account field or a draft setting, never both, and
        no IMAPStore option shadows an account option.
        """
        self.assertEqual(set(ACCOUNT_OPTIONS) & set(ACCOUNT_SETTINGS), set())
        self.assertEqual(set(IMAP_STORE_OPTIONS) & set(ACCOUNT_OPTIONS), set())
        self.assertEqual(set(IMAP_STORE_OPTIONS) & set(ACCOUNT_SETTINGS), set())

    def test_rows_reach_the_dataclass(self) -> None:
        """
        A value read through each kind of table lands in its field of the
        frozen result.
        """
        config = parse_config(
            "FSync no\nFieldDelimiter ;\nMaxMessages 7\n\n"
            "IMAPAccount a\nHost h\nPort 1143\nUser u\nCipherString HIGH\nTLSType IMAPS\n\n"
            "IMAPStore i\nAccount a\nPathDelimiter .\nSubscribedOnly yes\nTrash T\n\n"
            "MaildirStore m\nPath ~/mail/\nAltMap yes\nMaxSize 10k\n",
            "rc",
            home="/home/u",
        )
        self.assertEqual(
            (config.global_options.fsync, config.global_options.field_delimiter),
            (False, ";"),
        )
        self.assertEqual(config.global_options.max_messages, 7)
        imap, maildir = config.stores
        assert isinstance(imap, IMAPStore) and isinstance(maildir, MaildirStore)
        account = imap.account
        self.assertEqual(
            (account.host, account.port, account.user, account.cipher_string),
            ("h", 1143, "u", "HIGH"),
        )
        self.assertEqual((imap.path_delimiter, imap.subscribed_only, imap.trash), (".", True, "T"))
        self.assertEqual(
            (maildir.path, maildir.alt_map, maildir.max_size, maildir.info_delimiter),
            ("/home/u/mail/", True, 10240, ";"),
        )
