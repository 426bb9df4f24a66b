# -*- test-case-name: tests.imap.test_commands -*-
"""
Tests for L{msync.imap.commands}.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import LocalProtocolError, MailboxNameError
from msync.imap.commands import (
    IDLE_DONE,
    SASL_CANCEL,
    AppendMessage,
    Command,
    QResync,
    StoreMode,
    sasl_response_line,
)
from msync.imap.uids import UIDRange, UIDSet
from msync.model import Secret

NONE: frozenset[bytes] = frozenset()
PLUS = frozenset({b"LITERAL+"})
MINUS = frozenset({b"LITERAL-"})
ALL_CAPS = frozenset(
    b"IMAP4REV1 STARTTLS SASL-IR ENABLE ID NAMESPACE COMPRESS=DEFLATE IDLE LIST-STATUS "
    b"CONDSTORE QRESYNC UNSELECT MOVE UIDPLUS".split()
)
UTF8 = frozenset({b"UTF8=ACCEPT"})

Row = tuple[Command, Sequence[bytes]]


class _EncodingTestCase(SynchronousTestCase):
    """
    Shared assertion for exact encodings.
    """

    def assertRows(
        self,
        rows: Sequence[Row],
        capabilities: frozenset[bytes] = NONE,
        enabled: frozenset[bytes] = NONE,
    ) -> None:
        """
        Every command encodes with tag C{A1} to exactly its segments; the
        rows leave out the C{A1 } that starts the first segment.
        """
        for command, (first, *rest) in rows:
            encoded = command.encode(b"A1", capabilities, enabled)
            self.assertEqual(encoded, (b"A1 " + first, *rest), command.redacted())


class SimpleCommandTests(_EncodingTestCase):
    """
    Commands without arguments, and their pipelining properties.
    """

    def test_encodings(self) -> None:
        """
        Argument-less commands are the tag, the name and CRLF.
        """
        self.assertRows(
            [
                (Command.capability(), [b"CAPABILITY\r\n"]),
                (Command.noop(), [b"NOOP\r\n"]),
                (Command.logout(), [b"LOGOUT\r\n"]),
                (Command.starttls(), [b"STARTTLS\r\n"]),
                (Command.namespace(), [b"NAMESPACE\r\n"]),
                (Command.check(), [b"CHECK\r\n"]),
                (Command.expunge(), [b"EXPUNGE\r\n"]),
                (Command.close(), [b"CLOSE\r\n"]),
                (Command.unselect(), [b"UNSELECT\r\n"]),
                (Command.idle(), [b"IDLE\r\n"]),
                (Command.compress(), [b"COMPRESS DEFLATE\r\n"]),
            ],
            capabilities=ALL_CAPS,
        )

    def test_properties(self) -> None:
        """
        Barriers, selection changes and continuation use are set for the
        commands that need them and for no others.
        """
        rows = [
            # command, barrier, changes_selection, expects_continuation
            (Command.capability(), False, False, False),
            (Command.noop(), False, False, False),
            (Command.logout(), True, False, False),
            (Command.starttls(), True, False, False),
            (Command.login("u", Secret("p")), True, False, False),
            (Command.authenticate(b"PLAIN"), True, False, True),
            # QRESYNC changes only answers about a selected mailbox.
            (Command.enable(b"QRESYNC"), False, False, False),
            (Command.enable(b"UTF8=ACCEPT"), True, False, False),
            (Command.enable(b"QRESYNC", b"UTF8=ACCEPT"), True, False, False),
            (Command.compress(), True, False, False),
            (Command.idle(), True, False, True),
            (Command.select("INBOX"), True, True, False),
            (Command.select("INBOX", read_only=True), True, True, False),
            (Command.close(), True, True, False),
            (Command.unselect(), True, True, False),
            (Command.uid_fetch(UIDRange(1, None), (b"FLAGS",)), False, False, False),
            (Command.append("INBOX", b"x\r\n"), False, False, False),
            (Command.list("", "*"), False, False, False),
        ]
        for command, barrier, selection, continuation in rows:
            self.assertEqual(
                (command.barrier, command.changes_selection, command.expects_continuation),
                (barrier, selection, continuation),
                command.redacted(),
            )

    def test_missing_capability(self) -> None:
        """
        Commands of extensions the server lacks refuse to encode.
        """
        commands = [
            Command.starttls(),
            Command.namespace(),
            Command.unselect(),
            Command.idle(),
            Command.compress(),
            Command.enable(b"UTF8=ACCEPT"),
            Command.id(None),
            Command.uid_move(UIDRange(1, 1), "Trash"),
            Command.uid_expunge(UIDRange(1, 1)),
            Command.select("INBOX", condstore=True),
            Command.uid_fetch(UIDRange(1, None), (b"FLAGS",), changed_since=5),
            Command.uid_store(UIDRange(1, 1), StoreMode.ADD, (), unchanged_since=5),
            Command.list("", "*", return_status=(b"MESSAGES",)),
        ]
        for command in commands:
            self.assertRaises(LocalProtocolError, command.encode, b"A1", NONE)

    def test_capabilities_any_case(self) -> None:
        """
        Capability names are compared case-insensitively.
        """
        self.assertEqual(
            Command.uid_move(UIDRange(3, 3), "Trash").encode(b"A1", frozenset({b"move"})),
            (b"A1 UID MOVE 3 Trash\r\n",),
        )

    def test_invalid_tags(self) -> None:
        """
        Tags must be non-empty ASTRING-CHARs other than C{+}.
        """
        for tag in [b"", b"A 1", b"A+1", b"A\r", b"A(", b"\xff"]:
            self.assertRaises(LocalProtocolError, Command.noop().encode, tag, NONE)


class LoginTests(_EncodingTestCase):
    """
    LOGIN and AUTHENTICATE.
    """

    def test_login_strings(self) -> None:
        """
        User and password are atoms, quoted strings or literals as their
        bytes require.
        """
        self.assertRows(
            [
                (Command.login("tim", Secret("tanstaaf")), [b"LOGIN tim tanstaaf\r\n"]),
                (
                    Command.login("tim@example.com", Secret("two words")),
                    [b'LOGIN tim@example.com "two words"\r\n'],
                ),
                (Command.login("tim", Secret('a"b\\c')), [b'LOGIN tim "a\\"b\\\\c"\r\n']),
                (Command.login("tim", Secret("")), [b'LOGIN tim ""\r\n']),
                (Command.login("tim", Secret("p]%*")), [b'LOGIN tim "p]%*"\r\n']),
                (Command.login("tim", Secret("p]")), [b"LOGIN tim p]\r\n"]),
                (
                    Command.login("tim", Secret("pässword")),
                    [b"LOGIN tim {9}\r\n", "pässword\r\n".encode()],
                ),
                (
                    Command.login("tïm", Secret("pässword")),
                    [b"LOGIN {4}\r\n", "tïm {9}\r\n".encode(), "pässword\r\n".encode()],
                ),
            ]
        )
        self.assertRows(
            [
                (
                    Command.login("tim", Secret("pässword")),
                    [b"LOGIN tim {9+}\r\n" + "pässword\r\n".encode()],
                )
            ],
            capabilities=PLUS,
        )

    def test_login_refused(self) -> None:
        """
        LOGIN is never sent to a server announcing LOGINDISABLED, nor with
        a NUL in the password.
        """
        command = Command.login("tim", Secret("x"))
        self.assertRaises(LocalProtocolError, command.encode, b"A1", frozenset({b"LOGINDISABLED"}))
        command = Command.login("tim", Secret("a\0b"))
        self.assertRaises(LocalProtocolError, command.encode, b"A1", PLUS)

    def test_authenticate(self) -> None:
        """
        AUTHENTICATE carries a base64 initial response with SASL-IR, C{=}
        for an empty one, and nothing without one.
        """
        sasl_ir = frozenset({b"SASL-IR"})
        self.assertRows(
            [
                (Command.authenticate(b"CRAM-MD5"), [b"AUTHENTICATE CRAM-MD5\r\n"]),
                (Command.authenticate(b"plain"), [b"AUTHENTICATE PLAIN\r\n"]),
            ]
        )
        self.assertRows(
            [
                (
                    Command.authenticate(b"PLAIN", b"\0tim\0tanstaaf"),
                    [b"AUTHENTICATE PLAIN AHRpbQB0YW5zdGFhZg==\r\n"],
                ),
                (Command.authenticate(b"EXTERNAL", b""), [b"AUTHENTICATE EXTERNAL =\r\n"]),
            ],
            capabilities=sasl_ir,
        )

    def test_initial_response_needs_sasl_ir(self) -> None:
        """
        An initial response cannot be sent to a server without SASL-IR;
        mechanism names must be atoms.
        """
        self.assertRaises(LocalProtocolError, Command.authenticate, b"PL AIN")
        self.assertRaises(LocalProtocolError, Command.authenticate, b"")
        command = Command.authenticate(b"PLAIN", b"\0tim\0x")
        self.assertRaises(LocalProtocolError, command.encode, b"A1", NONE)

    def test_response_line(self) -> None:
        """
        Challenge answers are base64 lines; an empty answer is an empty
        line; C{*} cancels the exchange; C{DONE} ends IDLE.
        """
        self.assertEqual((SASL_CANCEL, IDLE_DONE), (b"*\r\n", b"DONE\r\n"))
        self.assertEqual(sasl_response_line(b"tim"), b"dGlt\r\n")
        self.assertEqual(sasl_response_line(b""), b"\r\n")


class RedactionTests(SynchronousTestCase):
    """
    Log renderings and reprs never contain secrets.
    """

    def test_login(self) -> None:
        """
        LOGIN's password is C{<redacted>} in the rendering and absent from
        repr(), also when it would be sent as a literal.
        """
        for password in ["hunter2xyzzy", "hünter2xyzzy", "two words xyzzy"]:
            command = Command.login("tim", Secret(password))
            self.assertEqual(command.redacted(b"A1"), "A1 LOGIN tim <redacted>")
            self.assertNotIn("xyzzy", repr(command))
            self.assertNotIn("xyzzy", command.redacted())

    def test_authenticate(self) -> None:
        """
        AUTHENTICATE's initial response is redacted, raw and in base64.
        """
        payload = b"\0tim\0hunter2xyzzy"
        command = Command.authenticate(b"PLAIN", payload)
        self.assertEqual(command.redacted(b"A7"), "A7 AUTHENTICATE PLAIN <redacted>")
        encoded = command.encode(b"A7", frozenset({b"SASL-IR"}))[0].split()[-1].decode()
        for text in [repr(command), command.redacted()]:
            self.assertNotIn("xyzzy", text)
            self.assertNotIn(encoded, text)
            self.assertNotIn(repr(payload), text)

    def test_literals_shown_as_size(self) -> None:
        """
        Literal contents are not rendered, only their size.
        """
        command = Command.append("INBOX", b"Subject: private\r\n\r\nbody\r\n", flags=(b"\\Seen",))
        self.assertEqual(command.redacted(), "APPEND INBOX (\\Seen) {26}")
        self.assertNotIn("private", repr(command))

    def test_plain_rendering(self) -> None:
        """
        Other commands render as they are sent, without the CRLF.
        """
        command = Command.uid_fetch(UIDSet.of([1, 2, 3, 7]), (b"UID", b"FLAGS"))
        self.assertEqual(command.redacted(b"A3"), "A3 UID FETCH 1:3,7 (UID FLAGS)")


class MailboxNameTests(_EncodingTestCase):
    """
    Mailbox names and LIST patterns.
    """

    def test_ascii_names(self) -> None:
        """
        ASCII names are atoms when possible, else quoted with escapes, else
        literals; INBOX is case-insensitive.
        """
        self.assertRows(
            [
                (Command.create("Archive"), [b"CREATE Archive\r\n"]),
                (Command.create("a]b"), [b"CREATE a]b\r\n"]),
                (Command.create("Sent Items"), [b'CREATE "Sent Items"\r\n']),
                (Command.create('say "hi"'), [b'CREATE "say \\"hi\\""\r\n']),
                (Command.create("back\\slash"), [b'CREATE "back\\\\slash"\r\n']),
                (Command.create("50%"), [b'CREATE "50%"\r\n']),
                (Command.create("a(b)"), [b'CREATE "a(b)"\r\n']),
                (Command.create("{x}"), [b'CREATE "{x}"\r\n']),
                (Command.create("NIL"), [b"CREATE NIL\r\n"]),
                (Command.create(""), [b'CREATE ""\r\n']),
                (Command.delete("inbox"), [b"DELETE INBOX\r\n"]),
                (Command.select("InBoX"), [b"SELECT INBOX\r\n"]),
                (Command.select("INBOX/sub"), [b"SELECT INBOX/sub\r\n"]),
                (Command.create("x" * 1000), [b"CREATE " + b"x" * 1000 + b"\r\n"]),
                (Command.create("x " * 500 + "y"), [b"CREATE {1001}\r\n", b"x " * 500 + b"y\r\n"]),
            ]
        )

    def test_list_patterns(self) -> None:
        """
        LIST and LSUB send reference and pattern; wildcards are atoms.
        """
        self.assertRows(
            [
                (Command.list("", "*"), [b'LIST "" *\r\n']),
                (Command.list("", "INBOX*"), [b'LIST "" INBOX*\r\n']),
                (Command.list("", "inbox"), [b'LIST "" inbox\r\n']),
                (Command.list("", "Lists/%"), [b'LIST "" Lists/%\r\n']),
                (Command.lsub("", "My Box*"), [b'LSUB "" "My Box*"\r\n']),
                (Command.list("~user/", "*"), [b"LIST ~user/ *\r\n"]),
                (
                    Command.list("", "*", return_status=(b"MESSAGES", b"UIDNEXT")),
                    [b'LIST "" * RETURN (STATUS (MESSAGES UIDNEXT))\r\n'],
                ),
            ],
            capabilities=ALL_CAPS,
        )

    def test_control_and_newline(self) -> None:
        """
        Names containing CR or LF go as literals; NUL is refused.
        """
        self.assertRows(
            [(Command.create("a\r\nb"), [b"CREATE {4}\r\n", b"a\r\nb\r\n"])], enabled=UTF8
        )
        self.assertRows(
            [(Command.create("a\r\nb"), [b"CREATE {4+}\r\na\r\nb\r\n"])],
            capabilities=MINUS,
            enabled=UTF8,
        )
        self.assertRaises(LocalProtocolError, Command.create("a\0b").encode, b"A1", NONE, UTF8)

    def test_utf8_accept(self) -> None:
        """
        With UTF8=ACCEPT enabled, non-ASCII names are quoted UTF-8.
        """
        self.assertRows(
            [
                (Command.create("Entwürfe"), [b'CREATE "' + "Entwürfe".encode() + b'"\r\n']),
                (Command.select("Tom & Jerry"), [b'SELECT "Tom & Jerry"\r\n']),
                (Command.create("Ünïcödé"), [b'CREATE "' + "Ünïcödé".encode() + b'"\r\n']),
            ],
            enabled=UTF8,
        )

    def test_utf8_advertised_not_enabled(self) -> None:
        """
        Merely advertising UTF8=ACCEPT does not allow UTF-8 strings.
        """
        command = Command.login("tïm", Secret("x"))
        self.assertEqual(
            command.encode(b"A1", frozenset({b"UTF8=ACCEPT"})),
            (b"A1 LOGIN {4}\r\n", b"t\xc3\xafm x\r\n"),
        )

    def test_modified_utf7(self) -> None:
        """
        Non-ASCII names, "&" and control characters are sent in modified
        UTF-7 (RFC 3501 §5.1.3).
        """
        self.assertRows(
            [
                (Command.create("Entwürfe"), [b"CREATE Entw&APw-rfe\r\n"]),
                (Command.select("Tom & Jerry"), [b'SELECT "Tom &- Jerry"\r\n']),
                (
                    Command.create("~peter/mail/台北/日本語"),
                    [b"CREATE ~peter/mail/&U,BTFw-/&ZeVnLIqe-\r\n"],
                ),
                (Command.list("", "Entwürfe/*"), [b'LIST "" Entw&APw-rfe/*\r\n']),
                (Command.create("tab\tname"), [b"CREATE tab&AAk-name\r\n"]),
            ]
        )

    def test_unencodable_names(self) -> None:
        """
        Names with lone surrogates cannot be sent, in either encoding.
        """
        command = Command.create("bad\udc80")
        self.assertRaises(MailboxNameError, command.encode, b"A1", NONE)
        self.assertRaises(MailboxNameError, command.encode, b"A1", NONE, UTF8)

    def test_dotless_i_is_not_inbox(self) -> None:
        """
        Only ASCII spellings of INBOX are INBOX ("ınbox".upper() is "INBOX").
        """
        self.assertEqual(
            Command.select("ınbox").encode(b"A1", NONE, UTF8),
            (b'A1 SELECT "' + "ınbox".encode() + b'"\r\n',),
        )


class SelectStatusTests(_EncodingTestCase):
    """
    SELECT, EXAMINE, STATUS, ENABLE, ID.
    """

    def test_select(self) -> None:
        """
        SELECT and EXAMINE, plain, with CONDSTORE and with QRESYNC.
        """
        qresync = frozenset({b"QRESYNC"})
        self.assertRows(
            [
                (Command.select("INBOX"), [b"SELECT INBOX\r\n"]),
                (Command.select("Sent", read_only=True), [b"EXAMINE Sent\r\n"]),
                (Command.select("INBOX", condstore=True), [b"SELECT INBOX (CONDSTORE)\r\n"]),
                (
                    Command.select("INBOX", qresync=QResync(67890007, 20050715194045000)),
                    [b"SELECT INBOX (QRESYNC (67890007 20050715194045000))\r\n"],
                ),
                (
                    Command.select(
                        "INBOX",
                        qresync=QResync(
                            67890007, 90060115194045000, UIDSet.of([41, *range(43, 212)])
                        ),
                    ),
                    [b"SELECT INBOX (QRESYNC (67890007 90060115194045000 41,43:211))\r\n"],
                ),
            ],
            capabilities=ALL_CAPS,
            enabled=frozenset({b"QRESYNC"}),
        )
        self.assertRaises(
            LocalProtocolError,
            Command.select("INBOX", qresync=QResync(1, 1)).encode,
            b"A1",
            ALL_CAPS,
        )
        self.assertRaises(
            LocalProtocolError, Command.select, "INBOX", condstore=True, qresync=QResync(1, 1)
        )
        del qresync

    def test_status_enable_id(self) -> None:
        """
        STATUS items, ENABLE extensions, and ID parameters (always quoted).
        """
        self.assertRows(
            [
                (
                    Command.status("Sent Items", (b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY")),
                    [b'STATUS "Sent Items" (MESSAGES UIDNEXT UIDVALIDITY)\r\n'],
                ),
                (Command.enable(b"CONDSTORE", b"QRESYNC"), [b"ENABLE CONDSTORE QRESYNC\r\n"]),
                (Command.id(None), [b"ID NIL\r\n"]),
                (
                    Command.id([("name", "msync"), ("version", "0.1")]),
                    [b'ID ("name" "msync" "version" "0.1")\r\n'],
                ),
            ],
            capabilities=ALL_CAPS,
        )

    def test_invalid_arguments(self) -> None:
        """
        Empty or malformed item lists are refused at construction.
        """
        self.assertRaises(LocalProtocolError, Command.status, "INBOX", ())
        self.assertRaises(LocalProtocolError, Command.status, "INBOX", (b"MESS AGES",))
        self.assertRaises(LocalProtocolError, Command.enable)
        self.assertRaises(LocalProtocolError, Command.uid_fetch, UIDRange(1, 1), ())
        self.assertRaises(LocalProtocolError, Command.uid_fetch, UIDRange(1, 1), (b"F\r\n",))
        self.assertRaises(LocalProtocolError, Command.uid_fetch, UIDRange(1, 1), (b"",))
        self.assertRaises(
            LocalProtocolError, Command.uid_fetch, UIDRange(1, 1), (b"FLAGS",), vanished=True
        )
        self.assertRaises(
            LocalProtocolError, Command.uid_fetch, UIDRange(1, 1), (b"FLAGS",), changed_since=-1
        )


class MessageCommandTests(_EncodingTestCase):
    """
    UID FETCH, STORE, COPY, MOVE, EXPUNGE and SEARCH.
    """

    def test_fetch(self) -> None:
        """
        UID FETCH with items in parentheses and CONDSTORE/QRESYNC modifiers.
        """
        self.assertRows(
            [
                (Command.uid_fetch(UIDRange(1, None), (b"FLAGS",)), [b"UID FETCH 1:* (FLAGS)\r\n"]),
                (
                    Command.uid_fetch(
                        UIDSet.of([1, 2, 3, 4, 5, 7, 9, 10, 11, 12]),
                        (b"UID", b"FLAGS", b"RFC822.SIZE", b"BODY.PEEK[HEADER.FIELDS (X-TUID)]"),
                    ),
                    [
                        b"UID FETCH 1:5,7,9:12 (UID FLAGS RFC822.SIZE "
                        b"BODY.PEEK[HEADER.FIELDS (X-TUID)])\r\n"
                    ],
                ),
                (
                    Command.uid_fetch(UIDRange(1, None), (b"FLAGS",), changed_since=12345),
                    [b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n"],
                ),
                (
                    Command.uid_fetch(
                        UIDRange(300, 500), (b"FLAGS",), changed_since=12345, vanished=True
                    ),
                    [b"UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n"],
                ),
            ],
            capabilities=ALL_CAPS,
            enabled=frozenset({b"QRESYNC"}),
        )

    def test_vanished_needs_qresync_enabled(self) -> None:
        """
        VANISHED is only valid once QRESYNC is enabled.
        """
        command = Command.uid_fetch(UIDRange(1, None), (b"FLAGS",), changed_since=1, vanished=True)
        self.assertRaises(LocalProtocolError, command.encode, b"A1", ALL_CAPS)

    def test_store(self) -> None:
        """
        UID STORE in its three silent modes, with UNCHANGEDSINCE.
        """
        self.assertRows(
            [
                (
                    Command.uid_store(UIDRange(5, 5), StoreMode.ADD, (b"\\Seen",)),
                    [b"UID STORE 5 +FLAGS.SILENT (\\Seen)\r\n"],
                ),
                (
                    Command.uid_store(
                        UIDRange(5, 5), StoreMode.REMOVE, (b"\\Flagged", b"\\Deleted")
                    ),
                    [b"UID STORE 5 -FLAGS.SILENT (\\Flagged \\Deleted)\r\n"],
                ),
                (
                    Command.uid_store(UIDSet.of([2, 4]), StoreMode.REPLACE, (b"$Forwarded",)),
                    [b"UID STORE 2,4 FLAGS.SILENT ($Forwarded)\r\n"],
                ),
                (
                    Command.uid_store(UIDRange(5, 5), StoreMode.REPLACE, ()),
                    [b"UID STORE 5 FLAGS.SILENT ()\r\n"],
                ),
                (
                    Command.uid_store(
                        UIDRange(7, 7), StoreMode.ADD, (b"\\Seen",), unchanged_since=320162338
                    ),
                    [b"UID STORE 7 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Seen)\r\n"],
                ),
            ],
            capabilities=ALL_CAPS,
        )

    def test_invalid_flags(self) -> None:
        """
        Flags must be atoms, optionally after one backslash.
        """
        for flag in [b"", b"\\", b"two words", b"(x", b"a*", b"\\\\Seen", b"\xe4"]:
            self.assertRaises(
                LocalProtocolError, Command.uid_store, UIDRange(1, 1), StoreMode.ADD, (flag,)
            )

    def test_copy_move_expunge_search(self) -> None:
        """
        UID COPY, MOVE, EXPUNGE and SEARCH.
        """
        self.assertRows(
            [
                (Command.uid_copy(UIDSet.of([3, 1, 2]), "Trash"), [b"UID COPY 1:3 Trash\r\n"]),
                (
                    Command.uid_move(UIDRange(8, 8), "Deleted Items"),
                    [b'UID MOVE 8 "Deleted Items"\r\n'],
                ),
                (Command.uid_expunge(UIDSet.of([4, 6])), [b"UID EXPUNGE 4,6\r\n"]),
                (Command.uid_search(), [b"UID SEARCH ALL\r\n"]),
                (
                    Command.uid_search(header=(b"X-TUID", b"z6pSfRqzNsJn")),
                    [b"UID SEARCH HEADER X-TUID z6pSfRqzNsJn\r\n"],
                ),
                (
                    Command.uid_search(uids=UIDRange(40, None), header=(b"X-TUID", b"a b")),
                    [b'UID SEARCH UID 40:* HEADER X-TUID "a b"\r\n'],
                ),
                (
                    Command.uid_search(header=(b"Subject", "ä".encode())),
                    [b"UID SEARCH CHARSET UTF-8 HEADER Subject {2}\r\n", b"\xc3\xa4\r\n"],
                ),
            ],
            capabilities=ALL_CAPS,
        )


class AppendTests(_EncodingTestCase):
    """
    APPEND and literal splitting.
    """

    def test_multiappend(self) -> None:
        """
        MULTIAPPEND sends each message with its own flags and date, one
        literal after another, synchronizing unless LITERAL+ allows.
        """
        date = datetime(2024, 1, 5, 9, 8, 7, tzinfo=timezone(timedelta(hours=1)))
        command = Command.multiappend(
            "INBOX",
            [AppendMessage(b"A\r\n", (b"\\Seen",), date), AppendMessage(b"BB\r\n")],
        )
        multi = frozenset({b"MULTIAPPEND"})
        self.assertRows(
            [
                (
                    command,
                    [
                        b'APPEND INBOX (\\Seen) "05-Jan-2024 09:08:07 +0100" {3}\r\n',
                        b"A\r\n {4}\r\n",
                        b"BB\r\n\r\n",
                    ],
                )
            ],
            capabilities=multi,
        )
        self.assertRows(
            [
                (
                    command,
                    [
                        b'APPEND INBOX (\\Seen) "05-Jan-2024 09:08:07 +0100" {3+}\r\nA\r\n'
                        b" {4+}\r\nBB\r\n\r\n"
                    ],
                )
            ],
            capabilities=multi | PLUS,
        )

    def test_multiappend_needs_extension(self) -> None:
        """
        Several messages need MULTIAPPEND; one is a plain APPEND; none is
        refused.
        """
        two = Command.multiappend("INBOX", [AppendMessage(b"A"), AppendMessage(b"B")])
        with self.assertRaises(LocalProtocolError) as caught:
            two.encode(b"A1", PLUS)
        self.assertIn("needs MULTIAPPEND", str(caught.exception))
        self.assertEqual(
            Command.multiappend("INBOX", [AppendMessage(b"A")]),
            Command.append("INBOX", b"A"),
        )
        self.assertRaises(LocalProtocolError, Command.multiappend, "INBOX", [])

    def test_append(self) -> None:
        """
        APPEND sends flags, an internal date and the message as a literal,
        synchronizing unless the server has LITERAL+ or LITERAL-.
        """
        message = b"Subject: hi\r\n\r\nbody\r\n"
        date = datetime(2024, 1, 5, 9, 8, 7, tzinfo=timezone(timedelta(hours=1)))
        self.assertRows(
            [
                (Command.append("INBOX", message), [b"APPEND INBOX {21}\r\n", message + b"\r\n"]),
                (
                    Command.append(
                        "Sent Items", message, flags=(b"\\Seen", b"$label"), internal_date=date
                    ),
                    [
                        b'APPEND "Sent Items" (\\Seen $label) "05-Jan-2024 09:08:07 +0100" '
                        b"{21}\r\n",
                        message + b"\r\n",
                    ],
                ),
                (Command.append("INBOX", b""), [b"APPEND INBOX {0}\r\n", b"\r\n"]),
            ]
        )
        self.assertRows(
            [(Command.append("INBOX", message), [b"APPEND INBOX {21+}\r\n" + message + b"\r\n"])],
            capabilities=PLUS,
        )
        self.assertRows(
            [(Command.append("INBOX", message), [b"APPEND INBOX {21+}\r\n" + message + b"\r\n"])],
            capabilities=MINUS,
        )

    def test_internal_dates(self) -> None:
        """
        Internal dates use English months, two-digit days and the offset;
        naive datetimes and sub-minute offsets are refused.
        """
        rows = [
            (datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), b'"31-Dec-1999 23:59:59 +0000"'),
            (
                datetime(2023, 7, 1, 0, 0, 0, tzinfo=timezone(-timedelta(hours=9, minutes=30))),
                b'"01-Jul-2023 00:00:00 -0930"',
            ),
        ]
        for when, text in rows:
            line = Command.append("INBOX", b"x", internal_date=when).encode(b"A1", PLUS)[0]
            self.assertIn(b" " + text + b" ", line)
        self.assertRaises(
            LocalProtocolError, Command.append, "INBOX", b"x", internal_date=datetime(2024, 1, 1)
        )
        odd = timezone(timedelta(seconds=30))
        self.assertRaises(
            LocalProtocolError,
            Command.append,
            "INBOX",
            b"x",
            internal_date=datetime(2024, 1, 1, tzinfo=odd),
        )

    def test_literal_plus_limits(self) -> None:
        """
        LITERAL+ is used below 100 KiB only (mbsync 1.4); LITERAL- up to
        4096 octets (RFC 7888).
        """
        rows = [
            (PLUS, 100 * 1024 - 1, True),
            (PLUS, 100 * 1024, False),
            (MINUS, 4096, True),
            (MINUS, 4097, False),
            (PLUS | MINUS, 5000, True),
        ]
        for capabilities, size, non_synchronizing in rows:
            message = b"x" * size
            segments = Command.append("INBOX", message).encode(b"A1", capabilities)
            expected: tuple[bytes, ...]
            if non_synchronizing:
                expected = (b"A1 APPEND INBOX {%d+}\r\n" % (size,) + message + b"\r\n",)
            else:
                expected = (b"A1 APPEND INBOX {%d}\r\n" % (size,), message + b"\r\n")
            self.assertEqual(segments, expected, (capabilities, size))

    def test_nul_refused(self) -> None:
        """
        Messages containing NUL cannot be appended.
        """
        command = Command.append("INBOX", b"a\0b\r\n")
        self.assertRaises(LocalProtocolError, command.encode, b"A1", PLUS)

    def test_not_converted(self) -> None:
        """
        Bare LF line ends are sent as given (the caller provides CRLF).
        """
        segments = Command.append("INBOX", b"a\nb\n").encode(b"A1", PLUS)
        self.assertEqual(segments, (b"A1 APPEND INBOX {4+}\r\na\nb\n\r\n",))
