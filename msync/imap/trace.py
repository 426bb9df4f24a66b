# -*- test-case-name: tests.imap.test_trace -*-
"""
The C{-Dn} wire trace as mbsync prints it: the server's lines as text, one
per protocol line, without their CRLF; a literal's contents left out (its
announcing line, ending C{{N}}, is shown, and the line after it resumes);
what msync sends prefixed C{>>> } (C{>+> } for an answer to a continuation
request).

Invariants:
  - L1: pure; bytes in, C{str} lines out.
  - Bounded: a line is kept up to L{LINE_LIMIT} bytes (the rest is counted,
    shown as C{[... N more bytes]}); literal contents are skipped by count,
    never buffered.
  - Shown text is printable: bytes that are not UTF-8 and control
    characters (terminal escapes among them) are shown as C{\\xNN}, so a
    hostile server cannot drive the user's terminal through C{-D}.
"""

from __future__ import annotations

import re

__all__ = ["LINE_LIMIT", "ServerTrace", "printable"]

LINE_LIMIT = 1024
"""The most bytes of one protocol line the trace shows."""

_LITERAL = re.compile(rb"\{(\d{1,20})\+?\}$")
_TAIL = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(data: bytes) -> str:
    """
    @param data: protocol bytes.
    @return: them as text, with undecodable bytes and control characters
        shown as C{\\xNN}.
    """
    text = data.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


class ServerTrace:
    """
    Cuts what the server sends into the lines C{-Dn} shows.
    """

    def __init__(self) -> None:
        self._line = bytearray()
        self._tail = b""  # the line's last bytes, for its literal marker
        self._dropped = 0
        self._skip = 0

    def feed(self, data: bytes) -> list[str]:
        """
        @param data: bytes as received, split anywhere.
        @return: the lines completed by them, as text.
        """
        lines: list[str] = []
        position, size = 0, len(data)
        while position < size:
            if self._skip:
                taken = min(self._skip, size - position)
                self._skip -= taken
                position += taken
                continue
            end = data.find(b"\n", position)
            stop = size if end < 0 else end + 1
            self._keep(data[position:stop])
            position = stop
            if end >= 0:
                lines.append(self._finish())
        return lines

    def _keep(self, chunk: bytes) -> None:
        self._tail = (self._tail + chunk[-_TAIL:])[-_TAIL:]
        room = LINE_LIMIT - len(self._line)
        self._line += chunk[: max(room, 0)]
        self._dropped += max(len(chunk) - max(room, 0), 0)

    def _finish(self) -> str:
        line = bytes(self._line).rstrip(b"\r\n")
        dropped = max(self._dropped - 2, 0) if self._dropped else 0
        literal = _LITERAL.search(self._tail.rstrip(b"\r\n"))
        self._line.clear()
        self._tail = b""
        self._dropped = 0
        if literal is not None:
            self._skip = int(literal.group(1))
        text = printable(line)
        if dropped:
            text += f"[... {dropped} more bytes]"
        return text
