# -*- test-case-name: tests.fakes.test_imapwire -*-
"""
The IMAP syntax the fake servers need: splitting client command lines into
tokens, UID sets, and formatting values for responses.

Invariants: tokens are C{bytes} (atoms, quoted strings and literals alike,
quoting removed) or lists of tokens (parenthesised lists); an atom keeps a
bracketed section whole (C{BODY.PEEK[HEADER.FIELDS (FROM TO)]}); nothing
here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

Token = bytes | list["Token"]

_QUOTED = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n")
_ATOM = re.compile(rb"(?:[^ ()\[\r\n]|\[[^\]]*\])+")
_MONTHS = b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


class IMAPSyntaxError(ValueError):
    """
    A command the fake server cannot parse; answered with BAD.
    """


def tokenize(command: bytes) -> list[Token]:
    """
    Split one complete command (literals inline, final CRLF optional).

    @param command: e.g. C{b'A1 LOGIN "me" {3}\\r\\npw!\\r\\n'}.
    @return: its tokens.
    @raise IMAPSyntaxError: on unbalanced parentheses or bad quoting.
    """
    stack: list[list[Token]] = [[]]
    position, end = 0, len(command)
    if command.endswith(b"\r\n"):
        end -= 2
    while position < end:
        char = command[position : position + 1]
        if char == b" ":
            position += 1
        elif char == b"(":
            stack.append([])
            position += 1
        elif char == b")":
            if len(stack) == 1:
                raise IMAPSyntaxError("unbalanced )")
            done = stack.pop()
            stack[-1].append(done)
            position += 1
        elif char == b'"':
            match = _QUOTED.match(command, position)
            if match is None:
                raise IMAPSyntaxError("unterminated quoted string")
            stack[-1].append(re.sub(rb"\\(.)", rb"\1", match.group(1)))
            position = match.end()
        elif (literal := _LITERAL.match(command, position)) is not None:
            size = int(literal.group(1))
            stack[-1].append(command[literal.end() : literal.end() + size])
            position = literal.end() + size
        else:
            atom = _ATOM.match(command, position)
            if atom is None:
                raise IMAPSyntaxError(f"unexpected {char!r}")
            stack[-1].append(atom.group(0))
            position = atom.end()
    if len(stack) != 1:
        raise IMAPSyntaxError("unbalanced (")
    return stack[0]


def parse_uid_set(text: bytes, largest: int) -> set[int]:
    """
    Expand a sequence set of UIDs (RFC 3501 §9 C{sequence-set}).

    C{*} is the largest UID in use, and C{n:m} means the same as C{m:n}, so
    C{7:*} names the largest UID even when it is below 7 (RFC 3501 §6.4.8).

    @param text: e.g. C{b"1:3,7,10:*"}.
    @param largest: the largest UID in the mailbox (0 if empty).
    @return: the UIDs named (whether or not they exist).
    @raise IMAPSyntaxError: if C{text} is not a sequence set.
    """
    uids: set[int] = set()
    for part in text.split(b","):
        bounds = part.split(b":")
        if not 1 <= len(bounds) <= 2:
            raise IMAPSyntaxError(f"bad sequence set {text!r}")
        try:
            numbers = [largest if bound == b"*" else int(bound) for bound in bounds]
        except ValueError:
            raise IMAPSyntaxError(f"bad sequence set {text!r}") from None
        uids.update(range(min(numbers), max(numbers) + 1))
    return uids


def format_uid_set(uids: Sequence[int]) -> bytes:
    """
    Compress UIDs into a sequence set, keeping their order (for COPYUID).

    @param uids: e.g. C{[1, 2, 3, 7]}.
    @return: e.g. C{b"1:3,7"}.
    """
    parts: list[bytes] = []
    runs: list[list[int]] = []
    for uid in uids:
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    for first, last in runs:
        parts.append(b"%d" % first if first == last else b"%d:%d" % (first, last))
    return b",".join(parts)


def quote(value: bytes) -> bytes:
    """
    Render a string as an atom when it can be one, else quoted, else as a
    literal (CR, LF or 8-bit data).
    """
    if re.fullmatch(rb"[A-Za-z0-9!#$&'+,\-./:;<=>?@^_`|~]+", value) and value.upper() != b"NIL":
        return value
    if re.search(rb"[\r\n\x80-\xff\x00]", value):
        return b"{%d}\r\n" % len(value) + value
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def format_internal_date(moment: datetime) -> bytes:
    """
    @return: RFC 3501 C{date-time}, quoted, e.g. C{b'"01-Jan-2024 00:00:00 +0000"'}.
    """
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    sign = b"+" if minutes >= 0 else b"-"
    return b'"%02d-%s-%04d %02d:%02d:%02d %s%02d%02d"' % (
        moment.day,
        _MONTHS[moment.month - 1],
        moment.year,
        moment.hour,
        moment.minute,
        moment.second,
        sign,
        abs(minutes) // 60,
        abs(minutes) % 60,
    )


def parse_internal_date(text: bytes) -> datetime:
    """
    Parse an APPEND date-time (quotes already removed).

    @raise IMAPSyntaxError: if it is not one.
    """
    try:
        return datetime.strptime(text.decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z")
    except (UnicodeDecodeError, ValueError):
        raise IMAPSyntaxError(f"bad date-time {text!r}") from None
