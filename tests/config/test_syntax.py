"""
Tests for L{msync.config.syntax}: words, quoting, comments, line limits and
scalar values.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.config.syntax import (
    MAX_LINE_BYTES,
    Directive,
    Reader,
    directives,
    lines,
    parse_bool,
    parse_int,
    parse_size,
    split_words,
)
from msync.errors import ConfigError

WORD_ROWS: list[tuple[str, tuple[str, ...]]] = [
    ("", ()),
    ("   \t ", ()),
    ("# comment", ()),
    ("Host imap.example.com", ("Host", "imap.example.com")),
    ("  Host\timap.example.com  ", ("Host", "imap.example.com")),
    (
        'Patterns * ![Gmail]* "[Gmail]/Sent Mail"',
        ("Patterns", "*", "![Gmail]*", "[Gmail]/Sent Mail"),
    ),
    ('Far :gmail-remote:"[Google Mail]/Gesendet"', ("Far", ":gmail-remote:[Google Mail]/Gesendet")),
    ('Pass "a b"c"d e"', ("Pass", "a bcd e")),
    ('Pass "with \\"quote\\""', ("Pass", 'with "quote"')),
    ("Pass back\\\\slash", ("Pass", "back\\slash")),
    ("Path a\\ b", ("Path", "a b")),
    ("SyncState a#b  # trailing comment", ("SyncState", "a#b")),
    ("Patterns\t#a", ("Patterns",)),
    ('Pass "#not a comment"', ("Pass", "#not a comment")),
    ('Patterns ""', ("Patterns", "")),
    ("Host h\r", ("Host", "h")),
    ('"Channel" c', ("Channel", "c")),
]


class SplitWordsTests(SynchronousTestCase):
    """
    L{split_words} splits like mbsync's C{get_arg}.
    """

    def test_table(self) -> None:
        """
        Every row splits into the expected words.
        """
        for text, expected in WORD_ROWS:
            with self.subTest(text=text):
                self.assertEqual(split_words("rc", 1, text), expected)

    def test_errors(self) -> None:
        """
        Unterminated quotes and escapes are errors with mbsync's wording.
        """
        rows = [
            ('Path "foo', "rc:3: missing closing quote"),
            ("Path foo\\", "rc:3: unterminated escape sequence"),
            ('Path "foo\\"', "rc:3: missing closing quote"),
        ]
        for text, message in rows:
            with self.subTest(text=text):
                with self.assertRaises(ConfigError) as caught:
                    split_words("rc", 3, text)
                self.assertEqual(str(caught.exception), message)


class DirectivesTests(SynchronousTestCase):
    """
    L{directives} numbers lines, drops comments and keeps blank lines.
    """

    def test_lines(self) -> None:
        """
        Comment lines vanish; blank lines stay (they end sections); the
        final newline does not make an extra line.
        """
        text = "# top\nFSync no\n\n  # indented\nMaildirStore m\n \t\nPath /x/\n"
        result = [(d.line, d.words) for d in directives(text, "rc")]
        self.assertEqual(
            result,
            [
                (2, ("FSync", "no")),
                (3, ()),
                (5, ("MaildirStore", "m")),
                (6, ()),
                (7, ("Path", "/x/")),
            ],
        )

    def test_no_final_newline(self) -> None:
        """
        A last line without a newline is still read.
        """
        self.assertEqual([d.words for d in directives("A b", "rc")], [("A", "b")])

    def test_line_limit(self) -> None:
        """
        Lines of up to 1022 bytes are fine; longer ones are errors (mbsync's
        1024-byte buffer holds the newline and a NUL).
        """
        fits = "Path /" + "x" * (MAX_LINE_BYTES - 6)
        self.assertEqual(len(list(directives(fits + "\n", "rc"))), 1)
        with self.assertRaises(ConfigError) as caught:
            list(directives("A b\n" + fits + "x\n", "rc"))
        self.assertEqual(caught.exception.line, 2)
        self.assertEqual(caught.exception.reason, "line too long (more than 1022 bytes)")

    def test_limit_counts_bytes(self) -> None:
        """
        The limit counts UTF-8 bytes, not characters.
        """
        text = "Path /" + "\u00e9" * 600
        self.assertRaises(ConfigError, list, directives(text, "rc"))


class DirectiveTests(SynchronousTestCase):
    """
    L{Directive} argument accessors give mbsync's errors.
    """

    def test_keyword_case(self) -> None:
        """
        Keywords compare case-insensitively.
        """
        directive = Directive("rc", 1, ("maildirSTORE", "x"))
        self.assertTrue(directive.is_keyword("MaildirStore"))
        self.assertFalse(directive.is_keyword("IMAPStore", "Channel"))

    def test_value(self) -> None:
        """
        C{value} wants exactly one argument.
        """
        self.assertEqual(Directive("rc", 1, ("Path", "x")).value(), "x")
        with self.assertRaises(ConfigError) as caught:
            Directive("rc", 4, ("Path",)).value()
        self.assertEqual(str(caught.exception), "rc:4: parameter missing")
        with self.assertRaises(ConfigError) as caught:
            Directive("rc", 5, ("Path", "a", "b")).value()
        self.assertEqual(str(caught.exception), "rc:5: excess token 'b'")

    def test_typed_values(self) -> None:
        """
        Boolean, integer and size accessors parse their single argument.
        """
        self.assertTrue(Directive("rc", 1, ("FSync", "On")).bool_value())
        self.assertEqual(Directive("rc", 1, ("Port", "993")).int_value(), 993)
        self.assertEqual(Directive("rc", 1, ("MaxSize", "2m")).size_value(), 2 << 20)


class ScalarTests(SynchronousTestCase):
    """
    Booleans, integers and sizes.
    """

    where = Directive("rc", 9, ("X", "y"))

    def test_booleans(self) -> None:
        """
        yes/true/on/1 and no/false/off/0 in any case.
        """
        for word in ("yes", "TRUE", "On", "1"):
            self.assertIs(parse_bool(self.where, word), True)
        for word in ("no", "False", "OFF", "0"):
            self.assertIs(parse_bool(self.where, word), False)
        with self.assertRaises(ConfigError) as caught:
            parse_bool(self.where, "maybe")
        self.assertEqual(str(caught.exception), "rc:9: invalid boolean value 'maybe'")

    def test_integers(self) -> None:
        """
        Decimal only, signs allowed (mbsync uses strtol), no trailing junk.
        """
        self.assertEqual(parse_int(self.where, "150"), 150)
        self.assertEqual(parse_int(self.where, "-1"), -1)
        self.assertEqual(parse_int(self.where, " 12"), 12)
        for word in ("12a", "0x10", "", "1.5", "12 "):
            with self.subTest(word=word):
                with self.assertRaises(ConfigError) as caught:
                    parse_int(self.where, word)
                self.assertEqual(caught.exception.reason, f"invalid integer value '{word}'")

    def test_sizes(self) -> None:
        """
        C{N[kKmM][bB]} in bytes, KiB or MiB.
        """
        rows = [("0", 0), ("200k", 204800), ("1Kb", 1024), ("10M", 10 << 20), ("5B", 5)]
        # mbsync 1.4.4's parse_size: strtoul (white space, sign, no digits
        # at all), then a uint (verified: all accepted by the binary).
        rows += [
            ("-5", 4294967291),
            ("-1", 4294967295),
            ("-0", 0),
            ("+5", 5),
            (" 5", 5),
            ("k", 0),
            ("b", 0),
            ("-1k", 4294966272),
            ("5kb", 5120),
            ("5mB", 5 << 20),
            ("4096m", 0),
            ("99999999999999999999999", 4294967295),
            ("-99999999999999999999999", 4294967295),
            ("4294967296", 0),
        ]
        for word, expected in rows:
            with self.subTest(word=word):
                self.assertEqual(parse_size(self.where, word), expected)
        for word in ("10x", "1kbb", "5 ", "5bk", "--5", "- 5", "0x10"):
            with self.subTest(word=word):
                with self.assertRaises(ConfigError) as caught:
                    parse_size(self.where, word)
                self.assertEqual(caught.exception.reason, f"invalid size '{word}'")


class LinesTests(SynchronousTestCase):
    """
    L{lines} never raises: it keeps the words read before a malformed one.
    """

    def test_malformed_words(self) -> None:
        """
        A line keeps its words up to the malformed one and says why that one
        could not be read; an unterminated escape inside quotes is both
        errors, as in mbsync.
        """
        text = 'Path "foo\\\nA b "c d\nX\\\n"Y\n \nZ z\n'
        self.assertEqual(
            [(d.line, d.words, d.lex_errors, d.is_blank) for d in lines(text, "rc")],
            [
                (1, ("Path",), ("unterminated escape sequence", "missing closing quote"), False),
                (2, ("A", "b"), ("missing closing quote",), False),
                (3, (), ("unterminated escape sequence",), False),
                (4, (), ("missing closing quote",), False),
                (5, (), (), True),
                (6, ("Z", "z"), (), False),
            ],
        )

    def test_long_line(self) -> None:
        """
        An over-long line has no words and a C{line too long} error.
        """
        (directive,) = lines("Path /" + "x" * MAX_LINE_BYTES + "\n", "rc")
        self.assertEqual(directive.words, ())
        self.assertEqual(directive.lex_errors, ("line too long (more than 1022 bytes)",))


class ReaderTests(SynchronousTestCase):
    """
    L{Reader} reads lines as mbsync's C{getcline} does and collects errors.
    """

    def test_reading(self) -> None:
        """
        Unreadable lines are dropped with their error; what follows the
        words a keyword reads is an excess token or the lexical error that
        ended the line, reported after the line's own errors; a section ends
        at a blank line; skipped lines still get the trailing checks.
        """
        text = 'Path\n"x\nA b c\nL 1 2 "3\nS n\nIn s t\n\nU v w\nV w x\n\nW 1\n'
        reader = Reader(text, "rc")
        seen: list[tuple[str, ...]] = []

        def handle(directive: Directive) -> None:
            seen.append(directive.words)
            if directive.keyword == "A":
                raise directive.error("bad A")

        statements = reader.statements()
        for directive in statements:
            if directive.keyword == "S":
                for inner in reader.section():
                    reader.apply(inner, handle, whole=False)
            elif directive.keyword == "U":
                reader.finish(directive, 2)
                reader.skip_section()
            else:
                reader.apply(directive, handle, whole=directive.keyword == "L")
        self.assertEqual(seen, [("A", "b"), ("L", "1", "2"), ("In", "s"), ("W", "1")])
        self.assertEqual(
            [str(error) for error in reader.errors],
            [
                "rc:1: parameter missing",
                "rc:2: missing closing quote",
                "rc:3: bad A",
                "rc:3: excess token 'c'",
                "rc:4: missing closing quote",
                "rc:6: excess token 't'",
                "rc:8: excess token 'w'",
                "rc:9: excess token 'x'",
            ],
        )
