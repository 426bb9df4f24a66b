"""
Tests for L{tests.fakes.corpus}.
"""

from __future__ import annotations

import base64
import email
import email.policy
import functools
import statistics
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

from twisted.trial.unittest import SynchronousTestCase

from tests.fakes.corpus import FLAG_ODDS, KB, MB, Message, generate_corpus

FOLDERS = ("INBOX", "Archive/2024", "Sent")


@functools.cache
def _shared_corpus() -> tuple[Message, ...]:
    """
    One 300-message corpus for the read-only checks, generated once.
    """
    return tuple(generate_corpus(7, 300, folders=FOLDERS))


@functools.cache
def _parse(message: Message) -> EmailMessage:
    """
    Parse with the stdlib's modern policy (memoized: messages are frozen).
    """
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


class CorpusTests(SynchronousTestCase):
    """
    The generated mail is deterministic, well-formed and realistic.
    """

    corpus: tuple[Message, ...]

    def setUp(self) -> None:
        """
        Use the shared corpus.
        """
        self.corpus = _shared_corpus()

    def test_deterministic(self) -> None:
        """
        The same seed yields the same messages; another seed does not; and a
        longer corpus starts with the shorter one.
        """
        again = tuple(generate_corpus(7, 300, folders=FOLDERS))
        self.assertEqual(again, self.corpus)
        other = list(generate_corpus(8, 20))
        self.assertNotEqual([m.data for m in other], [m.data for m in self.corpus[:20]])
        shorter = tuple(generate_corpus(7, 10, folders=FOLDERS))
        self.assertEqual(shorter, self.corpus[:10])

    def test_lazy(self) -> None:
        """
        L{generate_corpus} is a generator: asking for a million messages costs
        nothing until they are consumed.
        """
        corpus = generate_corpus(1, 1_000_000)
        self.assertIsInstance(next(corpus), Message)

    def test_crlf_only(self) -> None:
        """
        Every line ends in CRLF, there is no bare CR or LF, and no line is
        longer than 998 octets (RFC 5322 §2.1.1).
        """
        for message in self.corpus:
            self.assertTrue(message.data.endswith(b"\r\n"))
            lines = message.data.split(b"\r\n")
            for line in lines:
                self.assertNotIn(b"\r", line)
                self.assertNotIn(b"\n", line)
                self.assertLessEqual(len(line), 998)

    def test_seven_bit(self) -> None:
        """
        Messages are plain ASCII on the wire: headers use encoded words and
        bodies quoted-printable or base64.
        """
        for message in self.corpus:
            self.assertTrue(message.data.isascii(), message.message_id)

    def test_parseable(self) -> None:
        """
        The stdlib parser finds no defects, and the headers carry the
        message's metadata.
        """
        for message in self.corpus:
            parsed = _parse(message)
            self.assertEqual([part.defects for part in parsed.walk() if part.defects], [])
            self.assertEqual(parsed["Message-ID"], f"<{message.message_id}>")
            date = parsed["Date"]
            assert date is not None
            self.assertEqual(parsedate_to_datetime(date), message.date)
            for name in ("From", "To", "Subject", "MIME-Version"):
                self.assertIsNotNone(parsed[name], name)

    def test_structures(self) -> None:
        """
        The corpus mixes plain text, multipart/alternative and
        multipart/mixed whose base64 attachments decode.
        """
        kinds = {_parse(message).get_content_type() for message in self.corpus}
        self.assertEqual(kinds, {"text/plain", "multipart/alternative", "multipart/mixed"})
        attachments = 0
        for message in self.corpus:
            for part in _parse(message).iter_attachments():
                payload = part.get_payload()
                assert isinstance(payload, str)
                self.assertEqual(part["Content-Transfer-Encoding"], "base64")
                self.assertEqual(part.get_content(), base64.b64decode(payload))
                self.assertIsNotNone(part.get_filename())
                attachments += 1
        self.assertGreater(attachments, 10)

    def test_encoded_words(self) -> None:
        """
        Some subjects and names are RFC 2047 encoded UTF-8 that decodes to
        non-ASCII text.
        """
        subjects = [str(_parse(message)["Subject"]) for message in self.corpus]
        self.assertTrue(any(b"Subject: =?utf-8?" in m.data for m in self.corpus))
        self.assertIn("Grüße aus München", subjects)
        senders = {str(_parse(message)["From"]) for message in self.corpus}
        self.assertIn("Jürgen Müller <juergen@example.de>", senders)

    def test_size_spread(self) -> None:
        """
        Most messages are small, a few exceed a megabyte, none exceeds
        C{max_size}, and the smallest are about 1 KB.
        """
        sizes = sorted(len(message.data) for message in self.corpus)
        self.assertGreaterEqual(sizes[0], 1 * KB)
        self.assertLess(sizes[0], 2 * KB)
        self.assertLess(statistics.median(sizes), 16 * KB)
        self.assertGreater(sizes[-1], 1 * MB)
        self.assertLessEqual(sizes[-1], 5 * MB)

    def test_max_size(self) -> None:
        """
        A small C{max_size} caps every message exactly.
        """
        sizes = [len(message.data) for message in generate_corpus(3, 200, max_size=20 * KB)]
        self.assertLessEqual(max(sizes), 20 * KB)
        self.assertGreater(max(sizes), 15 * KB)
        self.assertRaises(ValueError, list, generate_corpus(3, 1, max_size=100))

    def test_custom_distribution(self) -> None:
        """
        C{size_bands} replaces the size distribution (give or take the
        encodings' overhead).
        """
        corpus = generate_corpus(4, 50, size_bands=[(1.0, 30 * KB, 40 * KB)])
        for message in corpus:
            self.assertTrue(30 * KB < len(message.data) <= 42 * KB, len(message.data))

    def test_folders_and_weights(self) -> None:
        """
        Messages land only in the given folders; weights steer the split.
        """
        folders = {message.folder for message in self.corpus}
        self.assertEqual(folders, {"INBOX", "Archive/2024", "Sent"})
        weighted = [m.folder for m in generate_corpus(5, 200, folders={"INBOX": 9, "Spam": 1})]
        self.assertGreater(weighted.count("INBOX"), 150)
        self.assertGreater(weighted.count("Spam"), 0)

    def test_flags_and_dates(self) -> None:
        """
        Flags come from the known set with \\Seen the most common, and dates
        increase from C{start}.
        """
        allowed = {flag for flag, _ in FLAG_ODDS}
        seen = 0
        for message in self.corpus:
            self.assertLessEqual(message.flags, allowed)
            seen += "\\Seen" in message.flags
        self.assertTrue(150 < seen < 270, seen)
        dates = [message.date for message in self.corpus]
        self.assertEqual(dates, sorted(dates))
        self.assertGreaterEqual(dates[0], datetime(2024, 1, 1, tzinfo=UTC))
