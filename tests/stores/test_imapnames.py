# -*- test-case-name: tests.stores.test_imapnames -*-
"""
Tests for L{msync.stores.imapnames}: server mailbox names to and from
mbsync's canonical names.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.errors import MailboxNameError
from msync.stores.imapnames import (
    MBSYNC14_NAMES,
    MBSYNC15_UTF8_NAMES,
    Listed,
    ServerNaming,
    server_spelling,
    wire_argument,
)


class NamingTests(SynchronousTestCase):
    """
    L{ServerNaming} maps names as mbsync 1.4 does.
    """

    def test_box_names(self) -> None:
        """
        Listed names: prefix stripped, delimiter mapped, INBOX normalised,
        lock files, C{/} in names with another delimiter, INBOX inside the
        prefix and foreign names skipped.
        """
        rows = [
            (ServerNaming("", "/"), "Archive/2024", Listed("Archive/2024")),
            (ServerNaming("", "/"), "inbox", Listed("INBOX")),
            (ServerNaming("", "/"), "Inbox/sub", Listed("INBOX/sub")),
            (ServerNaming("", "/"), "INBOXES", Listed("INBOXES")),
            (ServerNaming("", "/"), "Entw&APw-rfe", Listed("Entw&APw-rfe")),
            (ServerNaming("", "/"), "a.lock", Listed(None)),
            (ServerNaming("", "."), "a.b.c", Listed("a/b/c")),
            (
                ServerNaming("", "."),
                "a/b",
                Listed(None, "IMAP warning: ignoring mailbox a/b (reserved character '/' in name)"),
            ),
            (ServerNaming("INBOX.", "."), "INBOX.Sent", Listed("Sent")),
            (ServerNaming("INBOX.", "."), "INBOX", Listed("INBOX")),
            (ServerNaming("Mail/", "/"), "Mail/x", Listed("x")),
            (ServerNaming("Mail/", "/"), "Other", Listed(None)),
            (ServerNaming("Mail/", "/"), "INBOX/y", Listed("INBOX/y")),
            (
                ServerNaming("Mail/", "/"),
                "Mail/INBOX",
                Listed(None, "IMAP warning: ignoring INBOX in Mail/"),
            ),
            (ServerNaming("Mail/", "/"), "Mail/INBOX/z", Listed(None)),
            (ServerNaming("Mail/", "/"), "Mail/", Listed(None)),
            (
                ServerNaming("", "/"),
                "x" * 1001,
                Listed(None, "IMAP warning: ignoring overlong mailbox name " + "x" * 40 + "..."),
            ),
        ]
        for naming, raw, expected in rows:
            self.assertEqual(naming.box_name(raw), expected, (naming, raw))

    def test_server_names(self) -> None:
        """
        Names sent: prefix and delimiter applied, INBOX without prefix.
        """
        rows = [
            (ServerNaming("", "/"), "Archive/2024", "Archive/2024"),
            (ServerNaming("INBOX.", "."), "Sent/x", "INBOX.Sent.x"),
            (ServerNaming("INBOX.", "."), "INBOX", "INBOX"),
            (ServerNaming("Mail/", "/"), "INBOX/a", "INBOX/a"),
            (ServerNaming("Mail/", "/"), "Inbox", "Mail/Inbox"),
            (ServerNaming("", ""), "flat", "flat"),
        ]
        for naming, box, expected in rows:
            self.assertEqual(naming.server_name(box), expected, (naming, box))

    def test_unexpressible_names(self) -> None:
        """
        Names the server cannot take raise L{MailboxNameError}.
        """
        rows = [
            (ServerNaming("", "."), "a.b"),
            (ServerNaming("", ""), "a/b"),
            (ServerNaming("", "/"), "Inbox"),
        ]
        for naming, box in rows:
            self.assertRaises(MailboxNameError, naming.server_name, box)

    def test_list_patterns(self) -> None:
        """
        mbsync lists C{*} without prefix, C{INBOX*} for a prefix under
        INBOX, and both the prefix's hierarchy and C{INBOX*} otherwise.
        """
        self.assertEqual(ServerNaming("", "/").list_patterns(), ("*",))
        self.assertEqual(ServerNaming("INBOX.", ".").list_patterns(), ("INBOX*",))
        self.assertEqual(ServerNaming("Mail/", "/").list_patterns(), ("Mail/*", "INBOX*"))

    def test_wire_argument(self) -> None:
        """
        Raw modified UTF-7 is decoded so the encoder sends it back
        unchanged; invalid modified UTF-7 cannot be sent.
        """
        self.assertEqual(wire_argument("Entw&APw-rfe"), "Entwürfe")
        self.assertEqual(wire_argument("A&-B"), "A&B")
        self.assertRaises(MailboxNameError, wire_argument, "a&b")

    def test_wire_argument_refuses_unspelled_names(self) -> None:
        """
        Issue 8: with mbsync 1.4 naming a name that is not canonical
        modified UTF-7 (C{Q&A}, C{Ärger}) is refused, with a readable
        message giving its modified UTF-7 spelling; it is never sent
        encoded (the next listing would show that spelling as a new box).
        """
        rows = [
            ("INBOX.Q&A", "INBOX.Q&-A"),
            ("Ärger", "&AMQ-rger"),
            ("Café", "Caf&AOk-"),
            ("a\x1bb", "a&ABs-b"),
        ]
        for name, spelling in rows:
            error = self.assertRaises(MailboxNameError, wire_argument, name)
            self.assertEqual(server_spelling(name), spelling)
            self.assertTrue(str(error).endswith(f"spelled so, it is {spelling}"), str(error))
            self.assertIn("not valid modified UTF-7", str(error))
            self.assertNotIn("\x1b", str(error))
            self.assertNotIn("b'", str(error))

    def test_server_spelling(self) -> None:
        """
        Canonical names are their own spelling; others are encoded, and
        the mapping in use says the same.
        """
        for name, spelling in [("Caf&AOk-", "Caf&AOk-"), ("Q&-A", "Q&-A"), ("INBOX", "INBOX")]:
            self.assertEqual(server_spelling(name), spelling)
            self.assertEqual(MBSYNC14_NAMES.spelling(name), spelling)
        self.assertEqual(MBSYNC14_NAMES.to_server("Q&-A"), "Q&A")
        self.assertEqual(MBSYNC14_NAMES.from_server(b"Caf&AOk-"), "Caf&AOk-")
        self.assertEqual(server_spelling("bad\udcff"), "bad\udcff")


class Utf8NamesTests(SynchronousTestCase):
    """
    L{MBSYNC15_UTF8_NAMES}: names in UTF-8 on the wire (RFC 6855), once
    the server confirmed C{ENABLE UTF8=ACCEPT}.
    """

    def test_round_trip(self) -> None:
        """
        Names go out and come back unchanged, C{&} included; each name is
        its own spelling.
        """
        for name in ("Entwürfe", "Archiv/Bücher", "Q&A", "INBOX"):
            self.assertEqual(MBSYNC15_UTF8_NAMES.to_server(name), name)
            self.assertEqual(MBSYNC15_UTF8_NAMES.from_server(name.encode()), name)
            self.assertEqual(MBSYNC15_UTF8_NAMES.spelling(name), name)
        self.assertTrue(MBSYNC15_UTF8_NAMES.isync15)

    def test_invalid(self) -> None:
        """
        Invalid UTF-8 from the server and undecodable names from disk are
        refused with 1.5's C{invalid UTF-8 string}.
        """
        with self.assertRaises(MailboxNameError) as raised:
            MBSYNC15_UTF8_NAMES.from_server(b"Entw\xfcrfe")
        self.assertIn("invalid UTF-8 string", str(raised.exception))
        with self.assertRaises(MailboxNameError):
            MBSYNC15_UTF8_NAMES.to_server("Entw\udcfcrfe")
