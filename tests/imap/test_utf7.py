"""
Tests for L{msync.imap.utf7}: modified UTF-7 mailbox names (RFC 3501 §5.1.3).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import MailboxNameError
from msync.imap.utf7 import decode_mailbox_name, encode_mailbox_name

# (text, modified UTF-7): RFC 3501 §5.1.3 examples first.
PAIRS = [
    ("☺!", b"&Jjo-!"),
    ("~peter/mail/台北/日本語", b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("&", b"&-"),
    ("", b""),
    ("INBOX", b"INBOX"),
    ("Entwürfe", b"Entw&APw-rfe"),
    ("Tom & Jerry", b"Tom &- Jerry"),
    ("&&", b"&-&-"),
    ("tab\tname", b"tab&AAk-name"),
    ("Отправленные", b"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
    ("😀", b"&2D3eAA-"),
    ("ä&ö", b"&AOQ-&-&APY-"),
    ("[Gmail]/Gesendet", b"[Gmail]/Gesendet"),
]

INVALID = [
    b"&Jjo",  # unterminated shift
    b"&Jj-",  # leftover bits
    b"&Jjp-",  # non-zero padding bits
    b"&J-",  # six bits are not a byte
    b"&AGE-",  # encoded printable ASCII ("a")
    b"&AGEA5A-",  # printable ASCII inside a run
    b"&Jjo-&Jjo-",  # two adjacent runs should be one
    b"&2D0-",  # odd number of bytes
    b"&2D3YPQ-",  # two high surrogates
    b"&3gA-",  # lone low surrogate
    b"&Jj/o-",  # "/" is not modified base64
    b"&Jjo=-",  # no padding in modified base64
    b"\xc3\xa4",  # raw 8-bit
    b"a\tb",  # raw control character
    b"a\x7fb",
]


class ModifiedUTF7Tests(SynchronousTestCase):
    """
    Encoding and strict decoding of mailbox names.
    """

    def test_pairs(self) -> None:
        """
        Each text encodes to its bytes and back, including the RFC 3501
        examples.
        """
        for text, encoded in PAIRS:
            self.assertEqual(encode_mailbox_name(text), encoded, text)
            self.assertEqual(decode_mailbox_name(encoded), text, encoded)

    def test_invalid(self) -> None:
        """
        Non-canonical or invalid modified UTF-7 raises L{MailboxNameError}
        naming the name.
        """
        for encoded in INVALID:
            error = self.assertRaises(MailboxNameError, decode_mailbox_name, encoded)
            self.assertEqual(error.name, encoded)
            # Issue 8: never a Python bytes repr in a message.
            self.assertNotIn("b'", str(error), encoded)
            self.assertNotIn('b"', str(error), encoded)

    def test_invalid_readable(self) -> None:
        """
        The messages say what is wrong in words: a bare C{&}, an 8-bit byte,
        a control character.
        """
        rows = [
            (
                b"INBOX.Q&A",
                "mailbox name INBOX.Q&A: '&' at offset 7 is not followed by modified base64 "
                "and '-' ('&' is written '&-')",
            ),
            (b"Caf\xc3\xa9", "mailbox name Caf\u00e9: 8-bit byte 0xc3 at offset 3"),
            (b"a\x1bb", "mailbox name a\\x1bb: control character 0x1b at offset 1"),
            (b"a&Jjo", "mailbox name a&Jjo: '&' at offset 1"),
            (b"&AGE-", "mailbox name &AGE-: printable ASCII encoded in &AGE-"),
        ]
        for encoded, expected in rows:
            error = self.assertRaises(MailboxNameError, decode_mailbox_name, encoded)
            self.assertTrue(str(error).startswith(expected), (str(error), expected))

    def test_lone_surrogate(self) -> None:
        """
        A name with a lone surrogate (e.g. from C{surrogateescape}) cannot be
        encoded.
        """
        self.assertRaises(MailboxNameError, encode_mailbox_name, "bad\udcffname")

    @settings(max_examples=500, deadline=None)
    @given(st.text(st.characters(exclude_categories=["Cs"])))
    def test_round_trip_text(self, text: str) -> None:
        """
        Any text without lone surrogates survives encode then decode, and
        encodes to printable ASCII.
        """
        encoded = encode_mailbox_name(text)
        self.assertTrue(all(0x20 <= byte <= 0x7E for byte in encoded))
        self.assertEqual(decode_mailbox_name(encoded), text)

    @settings(max_examples=1000, deadline=None)
    @given(st.binary(max_size=20) | st.text("&-+,AZaz09/ä", max_size=12).map(str.encode))
    def test_round_trip_bytes(self, encoded: bytes) -> None:
        """
        Any bytes either decode to text that encodes back to the same bytes
        (decoding accepts only canonical names) or raise
        L{MailboxNameError}.
        """
        try:
            text = decode_mailbox_name(encoded)
        except MailboxNameError:
            return
        self.assertEqual(encode_mailbox_name(text), encoded)
