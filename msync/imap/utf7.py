# -*- test-case-name: tests.imap.test_utf7 -*-
"""
Modified UTF-7 mailbox names (RFC 3501 §5.1.3), the one boundary where IMAP
mailbox names (C{bytes}) become C{str} and back.

Invariants:
  - Pure: stdlib only, no I/O.
  - Printable US-ASCII (0x20–0x7E) stands for itself, except C{&}, which is
    C{&-}; every other character is UTF-16BE in modified base64 (C{,} for
    C{/}, no padding) between C{&} and C{-}.
  - Decoding is strict and accepts only the canonical form that
    L{encode_mailbox_name} produces, so C{encode(decode(b)) == b} for every
    accepted C{b} and C{decode(encode(s)) == s} for every encodable C{s}.
    Anything else raises L{MailboxNameError}.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode, b64encode
from typing import Final

from msync.errors import MailboxNameError

# Runs of characters that must be base64-encoded: anything but printable ASCII.
_NON_PRINTABLE: Final = re.compile(r"[^\x20-\x7e]+")
# A shifted run: "&" modified-base64 "-".
_SHIFTED: Final = re.compile(rb"&([A-Za-z0-9+,]*)-")
_PRINTABLE_BYTES: Final = re.compile(rb"[\x20-\x25\x27-\x7e]+")


def _encode_run(run: str) -> str:
    """
    Encode a run of non-printable characters as C{&...-}.
    """
    try:
        utf16 = run.encode("utf-16-be")
    except UnicodeEncodeError as error:
        raise MailboxNameError(run, f"cannot be encoded: {error.reason}") from None
    # RFC 3501 §5.1.3: modified BASE64 uses "," for "/" and omits "=".
    encoded = b64encode(utf16).rstrip(b"=").replace(b"/", b",")
    return "&" + encoded.decode("ascii") + "-"


def encode_mailbox_name(name: str) -> bytes:
    """
    Encode a mailbox name into modified UTF-7.

    @param name: the name as text.
    @return: the name as IMAP bytes, e.g. C{b"Entw&APw-rfe"} for
        C{"Entwürfe"}.
    @raise MailboxNameError: if the name holds lone surrogates.
    """
    text = name.replace("&", "&-")
    text = _NON_PRINTABLE.sub(lambda match: _encode_run(match.group()), text)
    return text.encode("ascii")


def _text(encoded: bytes) -> str:
    """
    Modified base64 (ASCII letters, digits, C{+} and C{,} only) as text for
    a message.
    """
    return encoded.decode("ascii")


def _decode_run(name: bytes, encoded: bytes) -> str:
    """
    Decode the modified base64 of one C{&...-} run, strictly.
    """
    if not encoded:
        return "&"
    padded = encoded.replace(b",", b"/") + b"=" * (-len(encoded) % 4)
    try:
        utf16 = b64decode(padded, validate=True)
    except binascii.Error:
        raise MailboxNameError(name, f"invalid modified base64 &{_text(encoded)}-") from None
    if len(utf16) % 2 or b64encode(utf16).rstrip(b"=").replace(b"/", b",") != encoded:
        raise MailboxNameError(name, f"non-canonical modified base64 &{_text(encoded)}-")
    try:
        text = utf16.decode("utf-16-be")
    except UnicodeDecodeError:
        raise MailboxNameError(name, f"invalid UTF-16 in &{_text(encoded)}-") from None
    if _NON_PRINTABLE.fullmatch(text) is None:
        # RFC 3501 §5.1.3: printable US-ASCII must represent itself.
        raise MailboxNameError(name, f"printable ASCII encoded in &{_text(encoded)}-")
    return text


def _invalid_at(name: bytes, pos: int) -> str:
    """
    Why C{name} cannot be decoded at C{pos}, in words.
    """
    byte = name[pos]
    if byte == 0x26:
        # A "&" that starts no valid shift: a literal "&" must be "&-".
        return (
            f"'&' at offset {pos} is not followed by modified base64 and '-' ('&' is written '&-')"
        )
    if byte >= 0x80:
        return f"8-bit byte 0x{byte:02x} at offset {pos} (names are modified UTF-7)"
    return f"control character 0x{byte:02x} at offset {pos}"


def decode_mailbox_name(name: bytes) -> str:
    """
    Decode a modified UTF-7 mailbox name.

    @param name: the name as IMAP bytes.
    @return: the name as text, e.g. C{"台北"} for C{b"&U,BTFw-"}.
    @raise MailboxNameError: if C{name} is not canonical modified UTF-7:
        8-bit or control bytes, an unterminated or invalid shift, bad
        padding bits, unpaired surrogates, encoded printable ASCII, or two
        adjacent shifted runs.
    """
    parts: list[str] = []
    pos = 0
    previous_shift_end = -1
    while pos < len(name):
        plain = _PRINTABLE_BYTES.match(name, pos)
        if plain is not None:
            parts.append(plain.group().decode("ascii"))
            pos = plain.end()
            continue
        shifted = _SHIFTED.match(name, pos)
        if shifted is None:
            raise MailboxNameError(name, _invalid_at(name, pos))
        encoded = shifted.group(1)
        if encoded and previous_shift_end == pos:
            raise MailboxNameError(name, f"adjacent encoded runs at offset {pos}")
        parts.append(_decode_run(name, encoded))
        pos = shifted.end()
        if encoded:
            previous_shift_end = pos
    return "".join(parts)
