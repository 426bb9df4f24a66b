# -*- test-case-name: tests.fakes.test_corpus -*-
"""
Seeded, realistic mail for tests, benchmarks and the demo.

L{generate_corpus} yields RFC 5322 messages one at a time (a corpus of
thousands never sits in memory at once): plain text, multipart/alternative
(text and HTML) and multipart/mixed with base64 attachments; UTF-8 subjects
and display names as RFC 2047 encoded words; Message-ID, Date, From, To and
sometimes Cc and In-Reply-To; sizes drawn from a configurable distribution
(most messages a few KB, a few of several MB).

Invariants:
  - Deterministic: message M{i} depends only on the seed, M{i} and the
    arguments, never on the process (no C{hash()}, clocks or global random).
  - Every line ends in CRLF; no bare CR or LF; no line exceeds 998 octets
    (RFC 5322 §2.1.1); stdlib C{email} parses every message without defects.
  - Bodies are 7-bit clean (quoted-printable or base64 where needed).
"""

from __future__ import annotations

import base64
import math
import quopri
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime

KB = 1024
MB = 1024 * KB

SIZE_BANDS: tuple[tuple[float, int, int], ...] = (
    (0.70, 1 * KB, 8 * KB),
    (0.20, 8 * KB, 100 * KB),
    (0.08, 100 * KB, 1 * MB),
    (0.02, 1 * MB, 5 * MB),
)
"""
The default size distribution: C{(weight, low, high)} bands; a size is
drawn log-uniformly within a band chosen by weight.
"""

FLAG_ODDS: tuple[tuple[str, float], ...] = (
    ("\\Seen", 0.7),
    ("\\Answered", 0.1),
    ("\\Flagged", 0.05),
    ("$Forwarded", 0.02),
)

_PEOPLE = (
    ("Alice Example", "alice@example.org"),
    ("Bob Builder", "bob@example.net"),
    ("Jürgen Müller", "juergen@example.de"),
    ("Zoë Ångström", "zoe@example.se"),
    ("Иван Петров", "ivan@example.ru"),
    ("山田 太郎", "taro@example.jp"),
    ("Glyph Lefkowitz", "glyph@example.com"),
    ("Twisted List", "twisted@lists.example.org"),
)
_SUBJECTS = (
    "Meeting notes",
    "Re: Release {n} planning",
    "Your invoice {n}",
    "Fwd: photos from the trip",
    "Grüße aus München",
    "Café menu for week {n}",
    "Отчёт за квартал {n}",
    "会議の議事録 {n}",
    "[Twisted] Deferred cancellation question",
    "Build #{n} failed",
)
_WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when "
    "reactor deferred protocol transport mailbox message folder sync server client state "
    "Grüße naïve façade coöperate déjà vu"
).split()
_ASCII_WORDS = tuple(word for word in _WORDS if word.isascii())
_ATTACHMENTS = (
    ("application/pdf", "report.pdf"),
    ("image/jpeg", "photo.jpg"),
    ("application/zip", "archive.zip"),
    ("application/octet-stream", "données.bin"),
)


@dataclass(frozen=True, slots=True)
class Message:
    """
    One generated message.

    @ivar folder: the folder it belongs in (C{/}-separated levels).
    @ivar data: its exact bytes, CRLF line ends.
    @ivar flags: IMAP flags such as C{\\\\Seen}.
    @ivar date: its Date header's moment, also meant as INTERNALDATE.
    @ivar message_id: its Message-ID, without angle brackets.
    """

    folder: str
    data: bytes
    flags: frozenset[str]
    date: datetime
    message_id: str


def generate_corpus(
    seed: int,
    count: int,
    max_size: int = 5 * MB,
    folders: Sequence[str] | Mapping[str, float] = ("INBOX",),
    size_bands: Sequence[tuple[float, int, int]] = SIZE_BANDS,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
) -> Iterator[Message]:
    """
    Generate C{count} messages, lazily.

    @param seed: selects the corpus; equal arguments give equal corpora.
    @param count: how many messages.
    @param max_size: no message is larger (sizes above are clipped); at
        least 2 KB, the size of the smallest message generated.
    @param folders: folder names, or names with relative weights.
    @param size_bands: the size distribution; see L{SIZE_BANDS}.
    @param start: the first message's date; later ones follow in order.
    @return: an iterator of L{Message}.
    """
    if max_size < 2 * KB:
        raise ValueError(f"max_size {max_size} is below the smallest message (2 KB)")
    names = list(folders)
    weights = [folders[name] for name in names] if isinstance(folders, Mapping) else None
    for index in range(count):
        # A generator per message: message i does not depend on count.
        rng = random.Random(f"msync-corpus:{seed}:{index}")
        folder = rng.choices(names, weights)[0]
        size = min(max_size, _draw_size(rng, size_bands))
        date = start + timedelta(minutes=37 * index, seconds=rng.randrange(2000))
        message_id = f"{seed}.{index}.{rng.getrandbits(40):010x}@corpus.example"
        flags = frozenset(flag for flag, odds in FLAG_ODDS if rng.random() < odds)
        body_seed = rng.getrandbits(64)
        data = _render(random.Random(body_seed), index, size, date, message_id)
        for _ in range(20):
            if len(data) <= max_size:
                break
            # Encodings and MIME framing overshoot the target a little: aim lower.
            size = size * max_size // len(data) - 64
            data = _render(random.Random(body_seed), index, size, date, message_id)
        else:
            raise ValueError(f"cannot fit message {index} into {max_size} octets")
        yield Message(folder, data, flags, date, message_id)


def _draw_size(rng: random.Random, bands: Sequence[tuple[float, int, int]]) -> int:
    _, low, high = rng.choices(list(bands), [band[0] for band in bands])[0]
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def _address(rng: random.Random) -> str:
    name, address = rng.choice(_PEOPLE)
    return f"{_encoded_word(name)} <{address}>"


def _encoded_word(text: str) -> str:
    """
    Plain ASCII stays as is; anything else becomes RFC 2047 encoded words.
    """
    if text.isascii():
        return text
    return Header(text, "utf-8", maxlinelen=76).encode(linesep="\r\n")


def _render(rng: random.Random, index: int, size: int, date: datetime, message_id: str) -> bytes:
    subject = rng.choice(_SUBJECTS).format(n=index)
    headers = [
        f"Return-Path: <{rng.choice(_PEOPLE)[1]}>",
        f"Message-ID: <{message_id}>",
        f"Date: {format_datetime(date)}",
        f"From: {_address(rng)}",
        f"To: {_address(rng)}",
        f"Subject: {_encoded_word(subject)}",
        "MIME-Version: 1.0",
    ]
    if rng.random() < 0.3:
        headers.append(f"Cc: {_address(rng)}, {_address(rng)}")
    if rng.random() < 0.3:
        headers.append(f"In-Reply-To: <{rng.getrandbits(40):010x}@corpus.example>")
    head = ("\r\n".join(headers) + "\r\n").encode("ascii")
    room = max(200, size - len(head))
    kind = rng.random()
    if room > 64 * KB or kind < 0.2:
        body = _mixed(rng, room)
    elif kind < 0.5:
        body = _alternative(rng, room)
    else:
        body = _text_part(rng, room)
    return head + body


def _line(rng: random.Random, words: Sequence[str]) -> str:
    """
    One line of words, wrapped before 72 characters.
    """
    chosen = [rng.choice(words)]
    length = len(chosen[0])
    while True:
        word = rng.choice(words)
        if length + 1 + len(word) > 72:
            return " ".join(chosen)
        chosen.append(word)
        length += 1 + len(word)


def _quoted_printable(text: str) -> bytes:
    """
    Encode one line (no line end) as quoted-printable with CRLF soft breaks.
    """
    return quopri.encodestring(text.encode("utf-8")).replace(b"\n", b"\r\n")


def _text_lines(rng: random.Random, size: int, html: bool, utf8: bool) -> bytes:
    """
    Encoded body lines, added until they reach C{size} octets, so the size
    is right whatever the encoding's expansion.
    """
    words = _WORDS if utf8 else _ASCII_WORDS
    out: list[bytes] = []
    total = 0
    while total < size:
        text = "" if out and rng.random() < 0.12 else _line(rng, words)
        if html and text:
            text = f"<p>{text}</p>"
        line = _quoted_printable(text) if utf8 else text.encode("ascii")
        out.append(line + b"\r\n")
        total += len(line) + 2
    return b"".join(out)


def _text_part(rng: random.Random, size: int) -> bytes:
    """
    A complete text/plain entity (headers and body) of about C{size} octets.
    """
    if rng.random() < 0.5:
        return (
            b"Content-Type: text/plain; charset=us-ascii\r\n"
            b"Content-Transfer-Encoding: 7bit\r\n\r\n"
            + _text_lines(rng, max(64, size - 90), html=False, utf8=False)
        )
    return (
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + _text_lines(rng, max(64, size - 100), html=False, utf8=True)
    )


def _html_part(rng: random.Random, size: int) -> bytes:
    """
    A complete text/html entity of about C{size} octets.
    """
    return (
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"<html><body>\r\n"
        + _text_lines(rng, max(64, size - 130), html=True, utf8=True)
        + b"</body></html>\r\n"
    )


def _multipart(rng: random.Random, subtype: str, parts: Sequence[bytes]) -> bytes:
    boundary = f"=_corpus_{rng.getrandbits(64):016x}"
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()]
    out.append(b"This is a multi-part message in MIME format.\r\n")
    for part in parts:
        out.append(f"\r\n--{boundary}\r\n".encode() + part)
    out.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(out)


def _alternative(rng: random.Random, size: int) -> bytes:
    return _multipart(
        rng, "alternative", [_text_part(rng, size * 2 // 5), _html_part(rng, size * 3 // 5)]
    )


def _attachment(rng: random.Random, size: int) -> bytes:
    """
    A base64 attachment entity whose encoded form is about C{size} octets.
    """
    content_type, filename = rng.choice(_ATTACHMENTS)
    # base64.encodebytes turns each 57 octets into a 76-character line + CRLF.
    raw = rng.randbytes(max(16, (size - 300) * 57 // 78))
    encoded = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    disposition = f'attachment; filename="{filename}"'
    if not filename.isascii():
        # RFC 2231 §4: a non-ASCII parameter value is charset''percent-encoded.
        disposition = f"attachment; filename*=utf-8''{_rfc2231(filename)}"
    return (
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: {disposition}\r\n\r\n"
    ).encode("ascii") + encoded


def _rfc2231(text: str) -> str:
    safe = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
    return "".join(chr(b) if b in safe else f"%{b:02X}" for b in text.encode("utf-8"))


def _mixed(rng: random.Random, size: int) -> bytes:
    text = _text_part(rng, min(size // 4, 4 * KB))
    attachments = 1 + (rng.random() < 0.3)
    share = max(256, (size - len(text)) // attachments)
    return _multipart(rng, "mixed", [text] + [_attachment(rng, share) for _ in range(attachments)])
