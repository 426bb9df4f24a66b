"""
Tests for L{msync.config.load}: whole configurations, real-world files,
defaults and precedence, and a table of broken configurations with the exact
error mbsync 1.4.4 gives (checked against the installed C{mbsync}).
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from msync.config.load import config_path_15, default_config_path, load_config, parse_config
from msync.config.schema import (
    ALL_SIDES,
    DEFAULT_TLS_VERSIONS,
    NO_SIDES,
    SYNC_ALL,
    BoxSpec,
    ChannelSetting,
    Config,
    GroupMember,
    IMAPStore,
    MaildirStore,
    ShellCommand,
    SSLType,
    SubFolders,
    SyncOp,
    SyncOps,
    SyncState,
    SyncStateKind,
    TLSVersion,
)
from msync.errors import ConfigError
from msync.model import Secret, Side

DATA = os.path.join(os.path.dirname(__file__), "data")
SAMPLE = "/usr/share/doc/isync/examples/mbsyncrc.sample"
HOME = "/home/u"

# Two Maildir stores taking lines 1-7; a channel using them starts at line 9.
STORES = "MaildirStore a\nPath /m/a/\nInbox /m/a/INBOX\n\nMaildirStore b\nPath /m/b/\n\n"
CHANNEL = STORES + "Channel c\nFar :a:\nNear :b:\n"
IMAP = "IMAPStore i\nHost h\n"


def parse(text: str, **kwargs: object) -> Config:
    """
    Parse C{text} as C{msyncrc} with C{~} = L{HOME}.
    """
    return parse_config(text, "msyncrc", home=HOME, **kwargs)  # type: ignore[arg-type]


def parse_file(name: str) -> Config:
    """
    Parse a data file by its path.
    """
    path = os.path.join(DATA, name)
    with open(path, encoding="utf-8") as stream:
        return parse_config(stream.read(), path, home=HOME)


# Checked against mbsync 1.4.4 (`mbsync -c msyncrc -a`, exit 1): each text is
# exactly mbsync's stderr, one error per line, its Notice/Warning lines left
# out. mbsync gives no location for errors it finds at the end of a section
# or of the file (the error's `line` still names the section's first line, or
# the option's last line). Deliberate differences: over-long lines (mbsync
# silently splits them and then misparses the rest), and UseKeychain,
# TLSVersions and ExpireSide, which mbsync 1.4.4 on Linux does not know at all.
BROKEN: list[tuple[str, str]] = [
    # Lexical errors.
    ('MaildirStore a\nPath "foo\n', "msyncrc:2: missing closing quote"),
    ("MaildirStore a\nPath foo\\\n", "msyncrc:2: unterminated escape sequence"),
    ("MaildirStore a\nPath foo bar\n", "msyncrc:2: excess token 'bar'"),
    ("MaildirStore a\nPath\n", "msyncrc:2: parameter missing"),
    (
        "MaildirStore a\nPath /" + "x" * 1100 + "\n",
        "msyncrc:2: line too long (more than 1022 bytes)",
    ),
    # Top level.
    ("Pss x\n", "msyncrc:1: 'Pss' is not a recognized section-starting or global keyword"),
    (STORES + "Pss x\n", "msyncrc:8: 'Pss' is not a recognized section-starting or global keyword"),
    ("FSync no\n" + STORES + "FSync no\n", "msyncrc:9: global options may not follow sections"),
    (STORES + "Sync All\n", "msyncrc:8: global options may not follow sections"),
    ("FSync maybe\n", "msyncrc:1: invalid boolean value 'maybe'"),
    ("FieldDelimiter ab\n", "msyncrc:1: Field delimiter must be exactly one character long"),
    ("FieldDelimiter a\n", "msyncrc:1: Field delimiter must be a punctuation character"),
    ("BufferLimit 1x\n", ("msyncrc:1: invalid size '1x'\nmsyncrc:1: BufferLimit cannot be zero")),
    ("BufferLimit 0\n", "msyncrc:1: BufferLimit cannot be zero"),
    ("MaxSize 1k\n", "msyncrc:1: 'MaxSize' is not a recognized section-starting or global keyword"),
    ("Channel\n", "msyncrc:1: parameter missing"),
    ("Channel a b\n", ("msyncrc:1: excess token 'b'\nchannel 'a' refers to no far side store")),
    # Unknown keywords in each section.
    (
        "IMAPAccount x\nPss x\n",
        (
            "msyncrc:2: keyword 'Pss' is not recognized in IMAPAccount sections\n"
            "IMAP account 'x' has neither Tunnel nor Host"
        ),
    ),
    (
        "IMAPStore x\nPss x\n",
        (
            "msyncrc:2: keyword 'Pss' is not recognized in IMAPStore sections\n"
            "IMAP store 'x' has neither Tunnel nor Host"
        ),
    ),
    (
        "MaildirStore x\nPss x\n",
        "msyncrc:2: keyword 'Pss' is not recognized in MaildirStore sections",
    ),
    (CHANNEL + "Pss x\n", "msyncrc:11: keyword 'Pss' is not recognized in Channel sections"),
    ("Group g\nPss x\n", "msyncrc:2: keyword 'Pss' is not recognized in Group sections"),
    (
        CHANNEL + "MaildirStore z\n",
        "msyncrc:11: keyword 'MaildirStore' is not recognized in Channel sections",
    ),
    (
        "IMAPAccount x\nHost h\nAccount y\n",
        "msyncrc:3: keyword 'Account' is not recognized in IMAPAccount sections",
    ),
    (
        "MaildirStore x\nHost h\n",
        "msyncrc:2: keyword 'Host' is not recognized in MaildirStore sections",
    ),
    # IMAP accounts and stores.
    ("IMAPAccount x\nUser u\n", "IMAP account 'x' has neither Tunnel nor Host"),
    ("IMAPStore i\nUser u\n", "IMAP store 'i' has neither Tunnel nor Host"),
    (
        "IMAPStore i\nAccount nope\n",
        ("msyncrc:2: unknown IMAP account 'nope'\nIMAP store 'i' has neither Tunnel nor Host"),
    ),
    (
        "IMAPStore i\nHost h\n\nIMAPAccount i\nHost h\n\nIMAPStore j\nAccount j\n",
        ("msyncrc:8: unknown IMAP account 'j'\nIMAP store 'j' has neither Tunnel nor Host"),
    ),
    (
        "IMAPAccount x\nHost h\n\nIMAPStore a\nHost h\nAccount x\n",
        "IMAP store 'a' has both Account and account-specific options",
    ),
    (
        "IMAPAccount x\nHost h\n\nIMAPStore a\nAccount x\nUser u\n",
        "IMAP store 'a' has both Account and account-specific options",
    ),
    (IMAP + "Port 12a\n", "msyncrc:3: invalid integer value '12a'"),
    (IMAP + "Port 0x10\n", "msyncrc:3: invalid integer value '0x10'"),
    (IMAP + "Port 70000\n", "msyncrc:3: Invalid port number"),
    (IMAP + "Port -1\n", "msyncrc:3: Invalid port number"),
    (IMAP + "Port\n", "msyncrc:3: parameter missing"),
    (IMAP + "PipelineDepth 0\n", "msyncrc:3: PipelineDepth must be at least 1"),
    (IMAP + "SSLType Bogus\n", "msyncrc:3: Invalid SSL type"),
    (IMAP + "SSLVersions TLSv1.2 Bogus\n", "msyncrc:3: Unrecognized SSL version"),
    (
        IMAP + "UseIMAPS yes\nSSLType IMAPS\n",
        "IMAP store 'i': The deprecated UseSSL*, UseTLS*, UseIMAPS, and RequireSSL options are mutually exclusive with SSLType and SSLVersions.",
    ),
    (
        IMAP + "SSLType IMAPS\nRequireSSL no\n",
        "IMAP store 'i': The deprecated UseSSL*, UseTLS*, UseIMAPS, and RequireSSL options are mutually exclusive with SSLType and SSLVersions.",
    ),
    (
        IMAP + "UseTLSv1.2 yes\nSSLVersions TLSv1.2\n",
        "IMAP store 'i': The deprecated UseSSL*, UseTLS*, UseIMAPS, and RequireSSL options are mutually exclusive with SSLType and SSLVersions.",
    ),
    (
        IMAP + "RequireCRAM yes\nAuthMechs LOGIN\n",
        "IMAP store 'i': The deprecated RequireCRAM option is mutually exclusive with AuthMech.",
    ),
    (IMAP + "UseTLSv1 no\n", "IMAP store 'i' requires SSL but no SSL versions enabled"),
    (IMAP + "UseKeychain perhaps\n", "msyncrc:3: invalid boolean value 'perhaps'"),
    (IMAP + "PathDelimiter ab\n", "msyncrc:3: Path delimiter must be exactly one character long"),
    (
        IMAP + "Flatten a/b\n",
        "msyncrc:3: flattened hierarchy delimiter cannot contain the canonical delimiter '/'",
    ),
    (IMAP + "AuthMechs\n", "msyncrc:3: parameter missing"),
    (IMAP + "TLSVersions +1.4\n", "msyncrc:3: Unrecognized TLS version '+1.4'"),
    # Maildir stores.
    ("MaildirStore m\nSubFolders Bogus\n", "msyncrc:2: Unrecognized SubFolders style"),
    (
        "MaildirStore m\nPath /x/\nSubFolders Maildir++\n",
        "Maildir store 'm': Setting Path is incompatible with 'SubFolders Maildir++'",
    ),
    (
        "MaildirStore m\nInfoDelimiter ab\n",
        "msyncrc:2: Info delimiter must be exactly one character long",
    ),
    (
        "MaildirStore m\nInfoDelimiter a\n",
        "msyncrc:2: Info delimiter must be a punctuation character",
    ),
    ("MaildirStore m\nAltMap maybe\n", "msyncrc:2: invalid boolean value 'maybe'"),
    ("MaildirStore m\nMaxSize 10x\n", "msyncrc:2: invalid size '10x'"),
    # mbsync 1.4.4: "rc:5: Unrecognized IMAP extension 'FOO'", exit 1.
    (IMAP + "DisableExtensions FOO\n", "msyncrc:3: Unrecognized IMAP extension 'FOO'"),
    (
        IMAP + "DisableExtensions UIDPLUS IDLE move IMAP4rev1\n",
        "msyncrc:3: Unrecognized IMAP extension 'IDLE'\n"
        "msyncrc:3: Unrecognized IMAP extension 'IMAP4rev1'",
    ),
    ("MaildirStore m\nTrashNewOnly 2\n", "msyncrc:2: invalid boolean value '2'"),
    # Channels.
    (STORES + "Channel c\nFar :a:\n", "channel 'c' refers to no near side store"),
    (STORES + "Channel c\nNear :b:\n", "channel 'c' refers to no far side store"),
    (
        STORES + "Channel c\nFar :x:\nNear :b:\n",
        ("msyncrc:9: unknown store 'x'\nchannel 'c' refers to no far side store"),
    ),
    (
        "Channel c\nFar :a:\nNear :b:\n\n" + STORES,
        (
            "msyncrc:2: unknown store 'a'\n"
            "msyncrc:3: unknown store 'b'\n"
            "channel 'c' refers to no far side store"
        ),
    ),
    (
        STORES + "Channel c\nFar a\n",
        ("msyncrc:9: malformed mailbox spec\nchannel 'c' refers to no far side store"),
    ),
    (
        STORES + "Channel c\nFar :a\n",
        ("msyncrc:9: malformed mailbox spec\nchannel 'c' refers to no far side store"),
    ),
    (
        STORES + "Channel c\nFar ::\n",
        ("msyncrc:9: unknown store ''\nchannel 'c' refers to no far side store"),
    ),
    (
        STORES + "Channel c\nFar :a:x y\n",
        ("msyncrc:9: excess token 'y'\nchannel 'c' refers to no near side store"),
    ),
    (
        STORES + "Channel c\nFar :a:\n \t \nNear :b:\n",
        "channel 'c' refers to no near side store\n"
        "msyncrc:11: 'Near' is not a recognized section-starting or global keyword",
    ),
    (CHANNEL + "Sync PullNew Pull\n", "Conflicting Sync args specified."),
    (CHANNEL + "Sync PullNew\nSync Pull\n", "Conflicting Sync args specified."),
    (CHANNEL + "Sync PullNew Delete Push\n", "Conflicting Sync args specified."),
    (CHANNEL + "Sync Bogus\n", "msyncrc:11: invalid Sync arg 'Bogus'"),
    (CHANNEL + "Sync PullNew PushBogus\n", "msyncrc:11: invalid Sync arg 'PushBogus'"),
    (CHANNEL + "Sync\n", "msyncrc:11: parameter missing"),
    (CHANNEL + "Create Far\nCreate Both\n", "Conflicting Create args specified."),
    (CHANNEL + "Expunge Both Near\n", "Conflicting Expunge args specified."),
    (CHANNEL + "Create Bogus\n", "msyncrc:11: invalid Create arg 'Bogus'"),
    (CHANNEL + "Remove\n", "msyncrc:11: parameter missing"),
    (CHANNEL + "Patterns\n", "msyncrc:11: parameter missing"),
    (CHANNEL + "SyncState\n", "msyncrc:11: parameter missing"),
    (CHANNEL + "MaxMessages many\n", "msyncrc:11: invalid integer value 'many'"),
    (CHANNEL + "CopyArrivalDate sometimes\n", "msyncrc:11: invalid boolean value 'sometimes'"),
    (CHANNEL + "ExpireSide Both\n", "msyncrc:11: invalid ExpireSide arg 'Both'"),
    ("Sync PullNew Pull\n", "Conflicting Sync args specified."),
    ("Create Both Far\n", "Conflicting Create args specified."),
]

# Configurations with several errors, and every line mbsync prints for them
# (Notice lines aside), in order. Each row was checked against mbsync 1.4.4
# (`mbsync -c msyncrc -a` and `-l x`: these lines on stderr, nothing on
# stdout, exit 1). mbsync goes on after every configuration error: a bad line
# is dropped, an unknown keyword outside sections drops the lines up to the
# next blank one, a section with a bad end check is dropped (stores and
# accounts are kept), and only the first end check or conflict of a section
# is reported.
MULTI: list[tuple[str, tuple[str, ...]]] = [
    # Line errors in a channel: excess token, unknown keyword, bad boolean and
    # number; all reported, the channel still has both sides.
    (
        CHANNEL.replace("Near :b:", "Near :b: extra")
        + "Pss x\nCopyArrivalDate maybe\nMaxMessages 12x\n",
        (
            "msyncrc:10: excess token 'extra'",
            "msyncrc:11: keyword 'Pss' is not recognized in Channel sections",
            "msyncrc:12: invalid boolean value 'maybe'",
            "msyncrc:13: invalid integer value '12x'",
        ),
    ),
    # Unknown stores leave sides missing; only the first missing side counts.
    (
        STORES + "Channel c\nFar :zz:\nNear :yy:\nSync Bogus\n\nChannel d\nFar :a:\n",
        (
            "msyncrc:9: unknown store 'zz'",
            "msyncrc:10: unknown store 'yy'",
            "msyncrc:11: invalid Sync arg 'Bogus'",
            "channel 'c' refers to no far side store",
            "channel 'd' refers to no near side store",
        ),
    ),
    # Only the first conflict of a channel; none when a side is missing.
    (
        CHANNEL + "Sync PullNew Pull\nCreate Both Far\n\nChannel d\nNear :b:\nSync PullNew Pull\n",
        ("Conflicting Sync args specified.", "channel 'd' refers to no far side store"),
    ),
    # A second Far naming an unknown store keeps the first.
    (CHANNEL + "Far :x:\n", ("msyncrc:11: unknown store 'x'",)),
    # An unknown global keyword drops the lines up to the next blank one; a
    # failed account is still known to stores; late global options are
    # applied and refused; User with UserCmd.
    (
        "FSync maybe\nBogus x\nSync Bogus\nFSync maybe\n\n"
        "IMAPAccount acc\nUser u\nPort 12x\n\n"
        "IMAPStore st\nAccount acc\nPss y\n\n"
        "FSync no\nSync All\nIMAPStore st2\nHost h\nUser u\nUserCmd v\n",
        (
            "msyncrc:1: invalid boolean value 'maybe'",
            "msyncrc:2: 'Bogus' is not a recognized section-starting or global keyword",
            "msyncrc:8: invalid integer value '12x'",
            "IMAP account 'acc' has neither Tunnel nor Host",
            "msyncrc:12: keyword 'Pss' is not recognized in IMAPStore sections",
            "msyncrc:14: global options may not follow sections",
            "msyncrc:15: global options may not follow sections",
            "IMAP store 'st2' has both User and UserCmd",
        ),
    ),
    # Quoting errors drop their line (even as a keyword, without ending the
    # section); the escape and the quote are both reported.
    (
        'MaildirStore a\nPath "/tmp/x\nInbox /m/a/INBOX\n"Pss x\nInbox /x y\nAltMap maybe\n'
        "SubFolders Bogus\nPath /m/\\\n"
        'Trash "t\\\n\n'
        "MaildirStore b\nPath /x/\nSubFolders Maildir++\nInfoDelimiter ab\n",
        (
            "msyncrc:2: missing closing quote",
            "msyncrc:4: missing closing quote",
            "msyncrc:5: excess token 'y'",
            "msyncrc:6: invalid boolean value 'maybe'",
            "msyncrc:7: Unrecognized SubFolders style",
            "msyncrc:8: unterminated escape sequence",
            "msyncrc:9: unterminated escape sequence",
            "msyncrc:9: missing closing quote",
            "msyncrc:14: Info delimiter must be exactly one character long",
            "Maildir store 'b': Setting Path is incompatible with 'SubFolders Maildir++'",
        ),
    ),
    # A header without a name drops only its line: what follows is outside
    # any section. Failed stores are still known to channels. Global
    # conflicts are found at the end of the file.
    (
        "Sync PullNew Pull\nCreate Both Far\n\nChannel\nFar :a:\nNear :b:\n\n"
        "MaildirStore m\nPath /x/\nSubFolders Maildir++\n\nIMAPStore i\nUser u\n\n"
        "Channel a b\nFar :m:\nNear :i:\n\nGroup\nChannel a\n\nGroup g x\nPss y\nChannel a\n",
        (
            "msyncrc:4: parameter missing",
            "msyncrc:5: 'Far' is not a recognized section-starting or global keyword",
            "Maildir store 'm': Setting Path is incompatible with 'SubFolders Maildir++'",
            "IMAP store 'i' has neither Tunnel nor Host",
            "msyncrc:15: excess token 'b'",
            "msyncrc:19: parameter missing",
            "channel 'a' refers to no far side store",
            "msyncrc:23: keyword 'Pss' is not recognized in Group sections",
            "Conflicting Sync args specified.",
        ),
    ),
    # Everything after a line's value is checked only once the line is
    # handled: its own errors come first, then an excess token or the quoting
    # error that ended it. Lines dropped after an unknown keyword still get
    # those checks; a bad number that PipelineDepth or BufferLimit then reads
    # as 0 is refused twice; each bad word of a list is reported.
    (
        'Pss\nBufferLimit 1x\nFSync maybe extra "q\nFSync maybe "q\n'
        'IMAPStore i\nHost h\nPipelineDepth x\nPort 1 2 3\nPath "a\nAuthMechs a "b\n'
        "Timeout 1x y\nSSLVersions TLSv1 Bad TLSv1.2 Worse\nPass p\nPassCmd q\n\n"
        'Bogus x\nFar :a: extra\nPattern a b c\nPath\nHost "x\n\n'
        'Channel c z\nFar :i: q\nNear :i:\nPatterns a b "c\nSync Pull Bogus Push Bad\n'
        "Create Both Bogus\nCreate Far\nExpunge Near\nExpunge Both\nSync PullNew Pull\n\n"
        "Sync Bogus\nFSync maybe\n",
        (
            "msyncrc:1: parameter missing",
            "msyncrc:2: invalid size '1x'",
            "msyncrc:2: BufferLimit cannot be zero",
            "msyncrc:3: invalid boolean value 'maybe'",
            "msyncrc:3: excess token 'extra'",
            "msyncrc:4: invalid boolean value 'maybe'",
            "msyncrc:4: missing closing quote",
            "msyncrc:7: invalid integer value 'x'",
            "msyncrc:7: PipelineDepth must be at least 1",
            "msyncrc:8: excess token '2'",
            "msyncrc:9: missing closing quote",
            "msyncrc:10: missing closing quote",
            "msyncrc:11: invalid integer value '1x'",
            "msyncrc:11: excess token 'y'",
            "msyncrc:12: Unrecognized SSL version",
            "msyncrc:12: Unrecognized SSL version",
            "IMAP store 'i' has both Pass and PassCmd",
            "msyncrc:16: 'Bogus' is not a recognized section-starting or global keyword",
            "msyncrc:17: excess token 'extra'",
            "msyncrc:18: excess token 'b'",
            "msyncrc:19: parameter missing",
            "msyncrc:20: missing closing quote",
            "msyncrc:22: excess token 'z'",
            "msyncrc:23: excess token 'q'",
            "msyncrc:25: missing closing quote",
            "msyncrc:26: invalid Sync arg 'Bogus'",
            "msyncrc:26: invalid Sync arg 'Bad'",
            "msyncrc:27: invalid Create arg 'Bogus'",
            "Conflicting Sync args specified.",
            "msyncrc:33: invalid Sync arg 'Bogus'",
            "msyncrc:33: global options may not follow sections",
            "msyncrc:34: invalid boolean value 'maybe'",
            "msyncrc:34: global options may not follow sections",
        ),
    ),
]


class BrokenConfigTests(SynchronousTestCase):
    """
    Every broken configuration fails with mbsync's message at the right line.
    """

    def test_table(self) -> None:
        """
        Each row raises L{ConfigError} with exactly the expected text.
        """
        self.assertGreaterEqual(len(BROKEN), 40)
        for text, message in BROKEN:
            with self.subTest(text=text[-60:], message=message):
                with self.assertRaises(ConfigError) as caught:
                    parse(text)
                self.assertEqual(str(caught.exception), message)
                self.assertEqual(caught.exception.filename, "msyncrc")

    def test_unreadable_certificate(self) -> None:
        """
        Certificate and key files must be readable when parsed, like mbsync.
        """
        for keyword in ("CertificateFile", "ClientCertificate", "ClientKey"):
            with self.subTest(keyword=keyword):
                with self.assertRaises(ConfigError) as caught:
                    parse(
                        IMAP + f"{keyword} ~/nope.pem\n",
                        file_error=lambda path: "No such file or directory",
                    )
                self.assertEqual(
                    str(caught.exception),
                    f"msyncrc:3: {keyword} '/home/u/nope.pem': No such file or directory",
                )


class MultipleErrorTests(SynchronousTestCase):
    """
    Like mbsync, the parser goes on after an error and reports them all.
    """

    def test_table(self) -> None:
        """
        Each row raises one L{ConfigError} whose C{errors} print as exactly
        mbsync's lines, in order; the error itself reads as all of them and
        carries the first one's location and reason.
        """
        for text, lines in MULTI:
            with self.subTest(lines=lines):
                with self.assertRaises(ConfigError) as caught:
                    parse(text)
                error = caught.exception
                self.assertEqual(tuple(str(each) for each in error.errors), lines)
                self.assertEqual(str(error), "\n".join(lines))
                first = error.errors[0]
                self.assertEqual(
                    (error.filename, error.line, error.reason, error.located),
                    (first.filename, first.line, first.reason, first.located),
                )
                for each in error.errors:
                    self.assertEqual(each.errors, (each,))

    def test_single_error_is_itself(self) -> None:
        """
        With one error, the raised L{ConfigError} is that error.
        """
        with self.assertRaises(ConfigError) as caught:
            parse("FSync maybe\n")
        self.assertEqual(caught.exception.errors, (caught.exception,))
        self.assertEqual((caught.exception.line, caught.exception.located), (1, True))

    def test_unlocated_errors_keep_their_line(self) -> None:
        """
        An error mbsync prints without a location still names the section's
        first line (or, for a global conflict, the option's last line).
        """
        with self.assertRaises(ConfigError) as caught:
            parse("Sync PullNew\nSync Pull\n\n" + STORES + "Channel c\nFar :a:\n")
        channel, conflict = caught.exception.errors
        self.assertEqual(
            (channel.line, channel.located, channel.reason),
            (11, False, "channel 'c' refers to no near side store"),
        )
        self.assertEqual((conflict.line, conflict.located), (2, False))
        self.assertEqual(str(conflict), "Conflicting Sync args specified.")

    def test_collect(self) -> None:
        """
        L{ConfigError.collect} returns a lone error as is and joins several.
        """
        one = ConfigError("rc", 1, "a")
        two = ConfigError("rc", 5, "b", located=False)
        self.assertIs(ConfigError.collect([one]), one)
        both = ConfigError.collect([one, two])
        self.assertEqual(both.errors, (one, two))
        self.assertEqual(str(both), "rc:1: a\nb")
        self.assertEqual((both.filename, both.line, both.reason), ("rc", 1, "a"))


class RealWorldTests(SynchronousTestCase):
    """
    Typical configurations parse into the expected values.
    """

    def test_mbsyncrc_sample(self) -> None:
        """
        isync's own example file (installed with isync) parses completely.
        """
        with open(SAMPLE, encoding="utf-8") as stream:
            config = parse_config(stream.read(), SAMPLE, home=HOME)
        self.assertEqual(config.global_options.expunge, NO_SIDES)
        self.assertEqual(config.global_options.create, ALL_SIDES)
        self.assertEqual(
            [c.name for c in config.channels], ["work", "personal", "remote", "rst", "o2o", "inbox"]
        )
        work = config.channel("work")
        assert work is not None
        self.assertEqual(work.sync, SyncOps(pull=SyncOp.NEW, push=SyncOp.ALL))
        self.assertEqual(work.expunge, frozenset({Side.NEAR}))
        self.assertEqual(work.create, ALL_SIDES)
        self.assertEqual(work.far, BoxSpec("work", None))
        self.assertEqual(work.near, BoxSpec("local", "work"))
        assert isinstance(work.far_store, IMAPStore)
        self.assertEqual(work.far_store.account.password, Secret("xxxxxxxx"))
        self.assertEqual(work.far_store.account.user, "tehuser")
        self.assertEqual(work.far_store.account.port, 143)
        # "MaxSize 200k" in channel personal changes both of its stores,
        # including "local" as seen from channel work.
        self.assertEqual(work.near_store.max_size, 204800)
        personal = config.channel("personal")
        assert personal is not None and isinstance(personal.far_store, IMAPStore)
        self.assertEqual(personal.max_messages, 150)
        self.assertEqual(personal.far_store.account.port, 6789)
        self.assertEqual(personal.far_store.account.ssl_versions, frozenset({TLSVersion.TLSV1}))
        remote = config.store("remote")
        assert isinstance(remote, IMAPStore)
        self.assertEqual(remote.account.tunnel, "ssh -q host.remote.com /usr/sbin/imapd")
        self.assertIs(remote.account.ssl_type, SSLType.NONE)
        st1 = config.store("st1")
        assert isinstance(st1, IMAPStore)
        self.assertEqual(st1.account.auth_mechs, ("CRAM-MD5",))
        self.assertEqual(st1.account.certificate_files, ("/home/u/.st1-certificate.crt",))
        st2 = config.store("st2")
        assert isinstance(st2, IMAPStore)
        self.assertEqual(st2.path, "non-standard/")
        self.assertEqual(st2.account.ssl_versions, frozenset())
        self.assertIs(st2.account.ssl_type, SSLType.NONE)
        server = config.store("server")
        assert isinstance(server, IMAPStore)
        self.assertEqual(server.account.host, "foo.bar.com")
        self.assertIs(server.account.ssl_type, SSLType.IMAPS)
        self.assertEqual(server.account.port, 993)
        self.assertEqual((server.map_inbox, server.trash), ("inbox", "~/trash"))
        self.assertTrue(server.trash_remote_new)
        local = config.store("local")
        assert isinstance(local, MaildirStore)
        self.assertEqual((local.path, local.trash), ("/home/u/Mail/", "Trash"))
        self.assertEqual(local.inbox, "/home/u/Maildir")
        self.assertEqual([g.name for g in config.groups], ["boxes", "partial"])
        self.assertEqual(
            config.groups[0].members,
            (GroupMember("work"), GroupMember("personal"), GroupMember("remote")),
        )
        self.assertEqual(
            config.groups[1].members, (GroupMember("o2o", ("inbox", "sent-mail", "foobar")),)
        )
        inbox = config.channel("inbox")
        assert inbox is not None
        self.assertEqual(inbox.patterns, ("*",))
        self.assertEqual(inbox.far, BoxSpec("server", "INBOX"))
        # Exactly what mbsync 1.4.4 prints for this file.
        self.assertEqual(
            config.notices,
            (
                "Notice: IMAP store 'personal': UseSSL*, UseTLS*, UseIMAPS, and RequireSSL are"
                " deprecated. Use SSLType and SSLVersions instead.",
                "Notice: IMAP store 'personal': 'RequireSSL no' is being ignored",
                "Notice: IMAP store 'st1': RequireCRAM is deprecated. Use AuthMech instead.",
                "Notice: IMAP store 'st2': UseSSL*, UseTLS*, UseIMAPS, and RequireSSL are"
                " deprecated. Use SSLType and SSLVersions instead.",
                f"{SAMPLE}:73: Notice: URL notation is deprecated; use a plain host name and"
                " possibly 'SSLType IMAPS' instead",
            ),
        )
        self.assertNotIn("xxxxxxxx", repr(config))

    def test_archwiki_gmail(self) -> None:
        """
        The ArchWiki Gmail example: account, Patterns with negation and
        quoted names, SyncState *, Create/Expunge Both.
        """
        config = parse_file("archwiki-gmail.rc")
        self.assertEqual(config.notices, ())
        (channel,) = config.channels
        self.assertEqual(
            channel.patterns,
            ("*", "![Gmail]*", "[Gmail]/Sent Mail", "[Gmail]/Starred", "[Gmail]/All Mail"),
        )
        self.assertEqual((channel.create, channel.expunge), (ALL_SIDES, ALL_SIDES))
        self.assertEqual(channel.sync_state, SyncState(SyncStateKind.IN_BOX))
        self.assertTrue(channel.copy_arrival_date)
        self.assertEqual(channel.sync, SYNC_ALL)
        assert isinstance(channel.far_store, IMAPStore)
        account = channel.far_store.account
        self.assertIs(account, config.accounts[0])
        self.assertEqual(account.name, "gmail")
        self.assertEqual((account.host, account.port), ("imap.gmail.com", 993))
        self.assertEqual(
            account.pass_cmd,
            ShellCommand("gpg -q --for-your-eyes-only --no-tty -d ~/.mailpass.gpg", False),
        )
        self.assertEqual(account.auth_mechs, ("LOGIN",))
        self.assertEqual(account.certificate_files, ("/etc/ssl/certs/ca-certificates.crt",))
        local = channel.near_store
        assert isinstance(local, MaildirStore)
        self.assertEqual(local.path, "/home/u/.mail/gmail/")
        self.assertEqual(local.inbox, "/home/u/.mail/gmail/Inbox")
        self.assertIs(local.subfolders, SubFolders.VERBATIM)
        self.assertEqual(
            channel.explicit,
            {
                ChannelSetting.CREATE,
                ChannelSetting.EXPUNGE,
                ChannelSetting.SYNC_STATE,
                ChannelSetting.COPY_ARRIVAL_DATE,
            },
        )

    def test_archwiki_folders(self) -> None:
        """
        Per-folder channels with name translation, joined by a group.
        """
        config = parse_file("archwiki-folders.rc")
        self.assertEqual(
            [c.name for c in config.channels], ["gmail-inbox", "gmail-trash", "gmail-sent"]
        )
        sent = config.channels[2]
        self.assertEqual(sent.far, BoxSpec("gmail-remote", "[Google Mail]/Gesendet"))
        self.assertEqual(sent.near, BoxSpec("gmail-local", "sent"))
        self.assertEqual(sent.create, frozenset({Side.NEAR}))
        self.assertEqual(sent.sync, SyncOps(pull=SyncOp.ALL, push=SyncOp.NONE))
        self.assertEqual(config.channels[0].patterns, ("INBOX",))
        self.assertEqual(config.channels[1].far.box, "[Google Mail]/Bin")
        (group,) = config.groups
        self.assertEqual(
            [m.channel for m in group.members], ["gmail-inbox", "gmail-sent", "gmail-trash"]
        )
        account = config.accounts[0]
        self.assertEqual(account.password, Secret('s3cr"et pass'))
        self.assertEqual((account.pipeline_depth, account.timeout), (1, 60))
        self.assertNotIn("s3cr", repr(config))

    def test_master_slave(self) -> None:
        """
        A legacy configuration: Master/Slave with one notice, imaps: host,
        UseIMAPS/RequireSSL, repeated CertificateFile, global options.
        """
        config = parse_file("master-slave.rc")
        path = os.path.join(DATA, "master-slave.rc")
        self.assertEqual(
            config.notices,
            (
                f"{path}:6: Notice: URL notation is deprecated; use a plain host name"
                " and possibly 'SSLType IMAPS' instead",
                "Notice: IMAP store 'work-remote': UseSSL*, UseTLS*, UseIMAPS, and RequireSSL"
                " are deprecated. Use SSLType and SSLVersions instead.",
                "Notice: Master/Slave are deprecated; use Far/Near instead.",
            ),
        )
        (channel,) = config.channels
        self.assertEqual(channel.far, BoxSpec("work-remote", None))
        self.assertEqual(channel.near, BoxSpec("work-local", None))
        self.assertEqual(channel.create, frozenset({Side.NEAR}))
        self.assertEqual(channel.expunge, frozenset({Side.FAR}))
        self.assertEqual(channel.patterns, ("*", "!Junk"))
        # Global options apply to the channel.
        self.assertEqual(channel.sync_state, SyncState(SyncStateKind.IN_BOX))
        self.assertEqual(channel.sync, SyncOps(pull=SyncOp.NEW, push=SyncOp.ALL))
        assert isinstance(channel.far_store, IMAPStore)
        account = channel.far_store.account
        self.assertEqual(
            (account.host, account.ssl_type, account.port), ("mail.example.org", SSLType.IMAPS, 993)
        )
        self.assertEqual(account.pass_cmd, ShellCommand("pass show mail/work", True))
        self.assertEqual(
            account.certificate_files, ("/home/u/certs/work.pem", "/home/u/certs/ca.pem")
        )

    def test_mutt_wizard(self) -> None:
        """
        A mutt-wizard configuration: MaxMessages, Sync All, Remove Both,
        SyncState *, inline account options, names with C{@}.
        """
        config = parse_file("mutt-wizard.rc")
        (channel,) = config.channels
        self.assertEqual(channel.name, "me@example.com")
        self.assertEqual(channel.far, BoxSpec("me@example.com-remote", None))
        self.assertEqual(channel.remove, ALL_SIDES)
        self.assertEqual(channel.sync, SYNC_ALL)
        self.assertEqual(channel.max_messages, 0)
        self.assertIs(channel.expire_unread, False)
        self.assertEqual(
            channel.patterns, ("*", "![Gmail]/All Mail", "!*fts-flatcurve*", "!*virtual*")
        )
        assert isinstance(channel.far_store, IMAPStore)
        self.assertEqual(channel.far_store.account.name, "me@example.com-remote")
        self.assertEqual(config.accounts, ())
        self.assertIn(ChannelSetting.SYNC, channel.explicit)


class DefaultsTests(SynchronousTestCase):
    """
    Defaults, precedence and resolution.
    """

    def test_store_defaults(self) -> None:
        """
        Bare stores get mbsync's defaults.
        """
        config = parse("IMAPStore i\nHost h\n\nMaildirStore m\n")
        imap, maildir = config.stores
        assert isinstance(imap, IMAPStore) and isinstance(maildir, MaildirStore)
        account = imap.account
        self.assertEqual((account.port, account.timeout, account.pipeline_depth), (143, 20, None))
        self.assertIs(account.ssl_type, SSLType.STARTTLS)
        self.assertEqual(account.ssl_versions, DEFAULT_TLS_VERSIONS)
        self.assertEqual(account.auth_mechs, ("*",))
        self.assertTrue(account.system_certificates)
        self.assertTrue(imap.use_namespace)
        self.assertEqual(maildir.inbox, "/home/u/Maildir")
        self.assertIsNone(maildir.path)
        self.assertIsNone(maildir.subfolders)
        self.assertEqual(maildir.info_delimiter, ":")
        options = config.global_options
        self.assertEqual((options.fsync, options.field_delimiter), (True, ":"))
        self.assertEqual(options.buffer_limit, 10 * 1024 * 1024)
        self.assertEqual(options.sync_state, SyncState(SyncStateKind.GLOBAL, "/home/u/.mbsync/"))

    def test_channel_defaults(self) -> None:
        """
        A bare channel: Sync All, nothing created or expunged, global state.
        """
        (channel,) = parse(CHANNEL).channels
        self.assertEqual(channel.sync, SYNC_ALL)
        self.assertEqual((channel.create, channel.remove, channel.expunge), (NO_SIDES,) * 3)
        self.assertEqual(channel.sync_state, SyncState(SyncStateKind.GLOBAL, "/home/u/.mbsync/"))
        self.assertEqual(channel.explicit, frozenset())
        self.assertEqual((channel.far.box, channel.near.box), (None, None))

    def test_tunnel_and_imaps(self) -> None:
        """
        SSLType defaults to None with a Tunnel; IMAPS gives port 993.
        """
        config = parse("IMAPStore t\nTunnel 'x'\n\nIMAPStore s\nHost h\nsslTYPE imaps\n")
        tunnel, secure = (store.account for store in config.stores if isinstance(store, IMAPStore))
        self.assertIs(tunnel.ssl_type, SSLType.NONE)
        self.assertEqual((secure.ssl_type, secure.port), (SSLType.IMAPS, 993))

    def test_precedence(self) -> None:
        """
        Channel options beat global ones, which beat defaults; global
        options are recorded as explicit.
        """
        text = (
            "Sync Pull\nCreate Near\nExpunge Both\nSyncState ~/state/\nMaxMessages 5\n\n"
            + CHANNEL
            + "Create Far\nSyncState /s/\n"
        )
        (channel,) = parse(text).channels
        self.assertEqual(channel.sync, SyncOps(pull=SyncOp.ALL, push=SyncOp.NONE))
        self.assertEqual(channel.create, frozenset({Side.FAR}))
        self.assertEqual(channel.expunge, ALL_SIDES)
        self.assertEqual(channel.sync_state, SyncState(SyncStateKind.PREFIX, "/s/"))
        self.assertEqual(channel.max_messages, 5)
        self.assertIn(ChannelSetting.SYNC, channel.explicit)
        self.assertIn(ChannelSetting.CREATE, channel.explicit)
        self.assertNotIn(ChannelSetting.REMOVE, channel.explicit)

    def test_global_sync_state(self) -> None:
        """
        A global SyncState is a directory for the long file names.
        """
        config = parse("SyncState ~/state/\n\n" + CHANNEL)
        self.assertEqual(
            config.channels[0].sync_state, SyncState(SyncStateKind.GLOBAL, "/home/u/state/")
        )

    def test_field_delimiter(self) -> None:
        """
        FieldDelimiter is the default InfoDelimiter; InfoDelimiter overrides.
        """
        config = parse("FieldDelimiter ;\n\nMaildirStore a\n\nMaildirStore b\nInfoDelimiter !\n")
        self.assertEqual(config.global_options.field_delimiter, ";")
        delimiters = [s.info_delimiter for s in config.stores if isinstance(s, MaildirStore)]
        self.assertEqual(delimiters, [";", "!"])

    def test_tilde(self) -> None:
        """
        C{~} and C{~user} expand in local paths; unknown users and IMAP
        paths stay as written; a trailing slash is kept.
        """
        text = (
            "MaildirStore a\nPath ~/Mail/\nInbox ~bob/inbox\n\n"
            "MaildirStore b\nPath ~nobody/x-\nInbox ~\n\n"
            "IMAPStore i\nHost h\nPath ~/imap/\n"
        )
        config = parse(text, user_home={"bob": "/users/bob"}.get)
        a, b, i = config.stores
        assert isinstance(a, MaildirStore) and isinstance(b, MaildirStore)
        assert isinstance(i, IMAPStore)
        self.assertEqual((a.path, a.inbox), ("/home/u/Mail/", "/users/bob/inbox"))
        self.assertEqual((b.path, b.inbox), ("~nobody/x-", "/home/u"))
        self.assertEqual(i.path, "~/imap/")

    def test_case_insensitive_keywords(self) -> None:
        """
        Keywords and keyword-valued arguments ignore case; names do not.
        """
        text = (
            STORES.replace("MaildirStore", "MAILDIRSTORE")
            + "channel C\nfar :a:\nNEAR :b:\nsync pullnew PUSH\n"
        )
        config = parse(text)
        self.assertEqual(config.channels[0].name, "C")
        self.assertEqual(config.channels[0].sync, SyncOps(pull=SyncOp.NEW, push=SyncOp.ALL))
        self.assertIsNone(config.channel("c"))

    def test_channel_max_size(self) -> None:
        """
        A channel's MaxSize is set on both of its stores (0 = unlimited).
        """
        config = parse(CHANNEL + "MaxSize 1m\n")
        self.assertEqual([s.max_size for s in config.stores], [1 << 20, 1 << 20])
        self.assertEqual(config.channels[0].far_store.max_size, 1 << 20)

    def test_max_size_wraps_like_mbsync(self) -> None:
        """
        mbsync 1.4.4 accepts a negative C{MaxSize}: its C{strtoul} result is
        kept as a C{uint}, so C{-5} is 4294967291 bytes, and C{-1} is
        C{UINT_MAX}, which mbsync, like 0, takes as no limit.
        """
        rows = [("-5", 4294967291), ("-1", 0), ("0", 0), ("-1k", 4294966272), ("k", 0)]
        for word, expected in rows:
            config = parse(f"MaildirStore m\nMaxSize {word}\n")
            self.assertEqual(config.stores[0].max_size, expected, word)
            config = parse(CHANNEL + f"MaxSize {word}\n")
            self.assertEqual([s.max_size for s in config.stores], [expected, expected], word)

    def test_disable_extensions(self) -> None:
        """
        The extensions mbsync 1.4.4 knows are accepted in any case and kept
        upper-cased.
        """
        config = parse(IMAP + "DisableExtensions uidplus Move LITERAL+ compress=deflate\n")
        store = config.stores[0]
        assert isinstance(store, IMAPStore)
        self.assertEqual(
            store.account.disabled_extensions,
            ("UIDPLUS", "MOVE", "LITERAL+", "COMPRESS=DEFLATE"),
        )

    def test_legacy_notice_once(self) -> None:
        """
        Master/Slave in several places give one notice.
        """
        text = (
            STORES
            + "Channel c\nMaster :a:\nSlave :b:\nCreate Slave\n\nChannel d\nMaster :a:\nSlave :b:\n"
        )
        config = parse(text)
        self.assertEqual(
            config.notices, ("Notice: Master/Slave are deprecated; use Far/Near instead.",)
        )

    def test_release_15_spellings(self) -> None:
        """
        isync 1.5 spellings parse: TLSType, TLSVersions, ExpungeSolo,
        ExpireSide, Sync Old/Upgrade/Gone.
        """
        text = (
            "IMAPStore i\nHost h\nTLSType IMAPS\nTLSVersions -1.2\n\n"
            + STORES.replace("MaildirStore a", "MaildirStore a")
            + "Channel c\nFar :i:\nNear :b:\nExpungeSolo Far\nExpireSide Far\nSync PullOld Upgrade Gone\n"
        )
        (channel,) = parse(text).channels
        assert isinstance(channel.far_store, IMAPStore)
        self.assertIs(channel.far_store.account.ssl_type, SSLType.IMAPS)
        self.assertEqual(channel.far_store.account.ssl_versions, frozenset({TLSVersion.TLSV1_3}))
        self.assertEqual(channel.expunge_solo, frozenset({Side.FAR}))
        self.assertIs(channel.expire_side, Side.FAR)
        renew_delete = SyncOp.RENEW | SyncOp.DELETE
        self.assertEqual(channel.sync, SyncOps(pull=SyncOp.OLD | renew_delete, push=renew_delete))

    def test_ssl_v3_warning(self) -> None:
        """
        SSLv3 is dropped with mbsync's warning.
        """
        config = parse(IMAP + "SSLVersions SSLv3 TLSv1.3\n")
        self.assertEqual(config.warnings, ("Warning: SSLVersion SSLv3 is no longer supported",))
        store = config.stores[0]
        assert isinstance(store, IMAPStore)
        self.assertEqual(store.account.ssl_versions, frozenset({TLSVersion.TLSV1_3}))

    def test_duplicates_first_wins(self) -> None:
        """
        Like mbsync, a duplicate store name is accepted and the first one
        is used; duplicate channels are both kept in file order.
        """
        text = (
            STORES
            + "MaildirStore a\nPath /other/\n\n"
            + "Channel c\nFar :a:\nNear :b:\n\nChannel c\nFar :b:\nNear :a:\n"
        )
        config = parse(text)
        self.assertEqual(config.channels[0].far_store.path, "/m/a/")
        self.assertEqual(len(config.channels), 2)
        self.assertIs(config.channel("c"), config.channels[0])

    def test_group_members(self) -> None:
        """
        Group members come from the header and Channel[s] lines; box lists
        split on commas; unknown channels are not checked here (mbsync
        checks them only when named on the command line).
        """
        config = parse("Group g a b:x,,y\nChannels c:\nChannel d\n")
        self.assertEqual(
            config.groups[0].members,
            (
                GroupMember("a"),
                GroupMember("b", ("x", "", "y")),
                GroupMember("c", ("",)),
                GroupMember("d"),
            ),
        )

    def test_user_and_pass_commands(self) -> None:
        """
        UserCmd and PassCmd keep the command; C{+} marks it interactive.
        """
        config = parse(IMAP + 'UserCmd "+echo me"\nPassCmd "pass show x"\n')
        store = config.stores[0]
        assert isinstance(store, IMAPStore)
        self.assertEqual(store.account.user_cmd, ShellCommand("echo me", True))
        self.assertEqual(store.account.pass_cmd, ShellCommand("pass show x", False))


class PathTests(SynchronousTestCase):
    """
    L{default_config_path} and L{load_config}.
    """

    def test_default_mbsyncrc(self) -> None:
        """
        Without an isyncrc, C{~/.mbsyncrc} is used.
        """
        self.assertEqual(default_config_path("/h", {}, lambda path: False), "/h/.mbsyncrc")

    def test_xdg(self) -> None:
        """
        An existing C{$XDG_CONFIG_HOME/isyncrc} (or C{~/.config/isyncrc}) wins.
        """
        self.assertEqual(
            default_config_path("/h", {"XDG_CONFIG_HOME": "/x"}, lambda path: True), "/x/isyncrc"
        )
        self.assertEqual(
            default_config_path("/h", {}, lambda path: path == "/h/.config/isyncrc"),
            "/h/.config/isyncrc",
        )

    def test_isync15_names(self) -> None:
        """
        L{config_path_15}: 1.5 names a missing default file by its XDG
        name, warns when both exist, and reads a bare C{-c} name from
        C{./} (checked with mbsync 1.5.0).
        """
        self.assertEqual(
            config_path_15(None, "/h", {}, lambda path: False), ("/h/.config/isyncrc", None)
        )
        self.assertEqual(
            config_path_15(None, "/h", {}, lambda path: path == "/h/.mbsyncrc"),
            ("/h/.mbsyncrc", None),
        )
        self.assertEqual(
            config_path_15(None, "/h", {"XDG_CONFIG_HOME": "/x"}, lambda path: True),
            ("/x/isyncrc", "Both /x/isyncrc and /h/.mbsyncrc exist; using the former."),
        )
        for given, shown in (("rc", "./rc"), ("./rc", "./rc"), ("a/rc", "a/rc"), ("/r", "/r")):
            self.assertEqual(config_path_15(given, "/h", {}, lambda path: False), (shown, None))

    def test_load_config(self) -> None:
        """
        L{load_config} reads a file, expanding C{~} from C{$HOME}.
        """
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(CHANNEL)
        config = load_config(path, {"HOME": "/home/z"})
        self.assertEqual(config.filename, path)
        self.assertEqual(config.channels[0].sync_state.path, "/home/z/.mbsync/")

    def test_load_default_path(self) -> None:
        """
        Without a path, L{load_config} reads C{~/.mbsyncrc}.
        """
        home = self.mktemp()
        os.mkdir(home)
        with open(os.path.join(home, ".mbsyncrc"), "w", encoding="utf-8") as stream:
            stream.write(CHANNEL)
        config = load_config(None, {"HOME": home})
        self.assertEqual(config.filename, os.path.join(home, ".mbsyncrc"))

    def test_missing_file(self) -> None:
        """
        A missing file is a L{ConfigError} without a line.
        """
        with self.assertRaises(ConfigError) as caught:
            load_config("/nonexistent/rc", {"HOME": "/h"})
        self.assertIsNone(caught.exception.line)
        self.assertEqual(caught.exception.filename, "/nonexistent/rc")

    def test_certificate_checked(self) -> None:
        """
        L{load_config} checks certificate files on disk.
        """
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(IMAP + "CertificateFile /nonexistent.pem\n")
        with self.assertRaises(ConfigError) as caught:
            load_config(path, {"HOME": "/h"})
        self.assertEqual(
            caught.exception.reason, "CertificateFile '/nonexistent.pem': No such file or directory"
        )


class Isync15SemanticsTests(SynchronousTestCase):
    """
    isync 1.5's C{ExpungeSolo}, C{ExpireSide} and C{Sync Old}: errors read
    as mbsync 1.4.4 reads the file (checked against it), and C{All}/C{Full}
    including C{Old} read as 1.5 does (checked against mbsync 1.5.0).
    """

    _TEXT = (
        "ExpireSide Far\nExpungeSolo Near\n\n"
        "MaildirStore a\nPath /m/a/\n\nMaildirStore b\nPath /m/b/\n\n"
        "Channel c\nFar :a:\nNear :b:\nSync Old New\nExpungeSolo Both\n"
    )

    def test_isync14_refuses(self) -> None:
        """
        mbsync 1.4.4 calls the global C{ExpireSide} unknown (skipping to
        the next blank line), C{Old} an invalid Sync arg and
        C{ExpungeSolo} unknown in a Channel section.
        """
        error = self.assertRaises(ConfigError, parse, self._TEXT, isync14=True)
        self.assertEqual(
            [str(each) for each in error.errors],
            [
                "msyncrc:1: 'ExpireSide' is not a recognized section-starting or global keyword",
                "msyncrc:13: invalid Sync arg 'Old'",
                "msyncrc:14: keyword 'ExpungeSolo' is not recognized in Channel sections",
            ],
        )
        for word in ("PullOld", "PushOld", "PullFull", "PushFull"):
            with self.subTest(word=word):
                text = self._TEXT.replace("Sync Old New", f"Sync {word}")
                text = text.replace("ExpungeSolo Both\n", "").split("\n\n", 1)[1]
                error = self.assertRaises(ConfigError, parse, text, isync14=True)
                self.assertEqual(
                    [str(each) for each in error.errors], [f"msyncrc:10: invalid Sync arg '{word}'"]
                )

    def test_isync15_reads(self) -> None:
        """
        Following 1.5 the options reach the channel; C{Sync Old New} is
        both types both ways.
        """
        channel = parse(self._TEXT, isync15=True).channels[0]
        self.assertEqual(channel.expunge_solo, ALL_SIDES)
        self.assertEqual(channel.expire_side, Side.FAR)
        self.assertEqual(channel.sync, SyncOps(SyncOp.NEW | SyncOp.OLD, SyncOp.NEW | SyncOp.OLD))

    def test_full_includes_old(self) -> None:
        """
        isync 1.5 reads C{All}/C{Full} as every type including C{Old} (so
        C{Pull All} is a pull of all of them), C{PullFull} as a cell; 1.4
        reads C{All} as both directions.
        """
        every = SyncOp.ALL | SyncOp.OLD
        rows = [
            ("All", SyncOps(every, every), SYNC_ALL),
            ("Full", SyncOps(every, every), SYNC_ALL),
            ("Pull All", SyncOps(every, SyncOp.NONE), SYNC_ALL),
            ("PullFull PushNew", SyncOps(every, SyncOp.NEW), SyncOps(SyncOp.ALL, SyncOp.NEW)),
            ("Pull Push", SYNC_ALL, SYNC_ALL),
        ]
        for words, isync15, neutral in rows:
            with self.subTest(words=words):
                text = self._TEXT.split("\n\n", 1)[1].replace("Sync Old New", f"Sync {words}")
                self.assertEqual(parse(text, isync15=True).channels[0].sync, isync15)
                self.assertEqual(parse(text).channels[0].sync, neutral)


class Conflicts15Tests(SynchronousTestCase):
    """
    Following isync 1.5, conflicting C{Sync}/C{Create}/... words are
    merged and worded as 1.5.0 does (each row run with the oracle:
    these lines on stderr, exit status 1); 1.4's wording is unchanged.
    """

    def errors(self, text: str, **kwargs: object) -> list[str]:
        error = self.assertRaises(ConfigError, parse, text, **kwargs)
        return [str(each) for each in error.errors]

    def test_channel_rows(self) -> None:
        """
        In a channel: C{Conflicting} (C{None} with anything), C{Redundant}
        (a cell asserted twice, C{Both} with a side) and C{Invalid
        combination} (a bare direction with a type or the other direction
        next to cells); Sync first, then Expunge, ExpungeSolo, Create,
        Remove.
        """
        where = "in Channel 'c'."
        rows = [
            ("Sync PullNew Pull\n", f"Redundant Sync options specified {where}"),
            ("Sync PullNew\nSync New\n", f"Redundant Sync options specified {where}"),
            ("Sync PullFull Pull\n", f"Redundant Sync options specified {where}"),
            ("Sync PullNew None\n", f"Conflicting Sync options specified {where}"),
            ("Sync Noop Pull\n", f"Conflicting Sync options specified {where}"),
            (
                "Sync PullNew Push Flags\n",
                f"Invalid combination of simple and compound Sync options {where}",
            ),
            (
                "Sync PullNew Pull Push\n",
                f"Invalid combination of simple and compound Sync options {where}",
            ),
            ("Create Both Far\n", f"Redundant Create options specified {where}"),
            ("Create None Near\n", f"Conflicting Create options specified {where}"),
            ("Remove Both\nRemove Slave\n", f"Redundant Remove options specified {where}"),
            (
                "Create Both Far\nExpungeSolo None Near\n",
                f"Conflicting ExpungeSolo options specified {where}",
            ),
            (
                "Create Both Far\nExpunge Both Near\n",
                f"Redundant Expunge options specified {where}",
            ),
        ]
        for words, message in rows:
            with self.subTest(words=words):
                self.assertEqual(self.errors(CHANNEL + words, isync15=True), [message])

    def test_merged_as_15(self) -> None:
        """
        What only 1.5 accepts: a bare direction adds its row's default
        types to a row holding only C{Old}; C{None} alone is nothing.
        """
        rows = [
            ("Sync PullOld Pull\n", SyncOps(SyncOp.ALL | SyncOp.OLD, SyncOp.NONE)),
            ("Sync PullNew Push\n", SyncOps(SyncOp.NEW, SyncOp.ALL)),
            ("Sync PullNew Flags\n", SyncOps(SyncOp.NEW | SyncOp.FLAGS, SyncOp.FLAGS)),
            ("Sync None\n", SyncOps(SyncOp.NONE, SyncOp.NONE)),
            ("Sync Pull\n", SyncOps(SyncOp.ALL, SyncOp.NONE)),
        ]
        for words, expected in rows:
            with self.subTest(words=words):
                self.assertEqual(parse(CHANNEL + words, isync15=True).channels[0].sync, expected)
        self.assertEqual(
            parse(CHANNEL + "Create None\nExpunge Far Near\n", isync15=True).channels[0].expunge,
            ALL_SIDES,
        )

    def test_global_and_missing_side(self) -> None:
        """
        Global options are named as the global section; a channel missing
        both sides reports both and its conflict (1.4.4: only the first).
        """
        self.assertEqual(
            self.errors("Sync PullNew Pull\n\n" + CHANNEL, isync15=True),
            ["Redundant Sync options specified in global config section."],
        )
        text = STORES + "Channel d\nSync PullNew Pull\n"
        self.assertEqual(
            self.errors(text, isync15=True),
            [
                "channel 'd' refers to no far side store",
                "channel 'd' refers to no near side store",
                "Redundant Sync options specified in Channel 'd'.",
            ],
        )
        self.assertEqual(self.errors(text), ["channel 'd' refers to no far side store"])

    def test_14_wording_kept(self) -> None:
        """
        Read as 1.4.4 (or before the generation is known), the same
        conflicts keep 1.4.4's words.
        """
        for kwargs in ({}, {"isync14": True}):
            with self.subTest(kwargs=kwargs):
                self.assertEqual(
                    self.errors(CHANNEL + "Sync PullNew Pull\n", **kwargs),
                    ["Conflicting Sync args specified."],
                )
                self.assertEqual(
                    self.errors(CHANNEL + "Create Both Far\n", **kwargs),
                    ["Conflicting Create args specified."],
                )
