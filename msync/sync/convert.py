# -*- test-case-name: tests.sync.test_convert -*-
"""
Streaming conversion of a message copied between stores: line endings,
the C{X-TUID} header line, and MaxSize placeholders (mbsync 1.4
C{copy_msg_convert}).

Invariants:
  - L1: pure. Bytes in, bytes out, fed in chunks of any size; the output
    is the same however the input is split (a CRLF pair or a header line
    may straddle two chunks).
  - Line endings: copying to a CRLF store drops every CR and writes every
    LF as CRLF; copying to an LF store drops every CR; between stores of
    the same convention bytes pass unchanged (mbsync C{copy_msg_bytes}).
  - A tracked copy (C{tuid} set) carries exactly one C{X-TUID: <tuid>}
    line of our making: the first header line starting with C{X-TUID: }
    (case-insensitive) is replaced in place, else the line is added as the
    last header line. The new line ends in CRLF when the target is CRLF
    and the source is LF or its header has any CR, else in LF (mbsync's
    C{app_cr}).
  - Without a C{X-TUID} line, a tracked copy needs an empty line ending
    the header; a message lacking one is refused (L{MessageError}), as
    mbsync skips it (C{has incomplete header; skipping}).
  - A placeholder keeps the header only (up to and including the empty
    line), prefixes the first C{Subject:} with C{[placeholder] } (or adds
    C{Subject: [placeholder] (No Subject)}) and replaces the body with
    mbsync's text. It is never bigger than its header plus ~200 bytes.
  - Memory: one header line is buffered at a time, the whole header only
    for placeholders; body chunks are converted as they come.
"""

from __future__ import annotations

import enum
import re

from msync.errors import MessageError
from msync.model import LineEnding
from msync.records import record

PLACEHOLDER_PREFIX = b"[placeholder] "
"""
What mbsync puts before the subject of a placeholder.
"""

PLACEHOLDER_SUBJECT = b"Subject: [placeholder] (No Subject)"
"""
The subject line mbsync adds to a placeholder of a message without one.
"""

_TUID_FIELD = b"X-TUID: "
_SUBJECT_FIELD = b"SUBJECT:"

# The first empty line (CRs only, then LF) and the first X-TUID line, at
# the start of the text (checked apart) or after an LF (ASCII
# case-insensitive, as bytes.upper()). Each pattern starts with the LF, a
# literal: the search skips to the next LF instead of trying a match at
# every byte of the header (20 times faster on a 2 KB header).
_BLANK_START = re.compile(rb"\r*\n")
_BLANK_LINE = re.compile(rb"\n(\r*\n)")
_TUID_LINE = re.compile(rb"\n(X-TUID: )", re.IGNORECASE)


def placeholder_body(size: int, newline: bytes, mode: str = "ReNew") -> bytes:
    """
    The body mbsync writes into a MaxSize placeholder.

    @param size: the size of the original message in bytes (as loaded).
    @param newline: C{b"\\r\\n"} or C{b"\\n"}.
    @param mode: the Sync mode named: C{ReNew} (mbsync 1.4), C{Upgrade}
        (isync 1.5).
    @return: C{Having a size of 2KiB, this message is over the MaxSize
        limit.} and the instruction to flag it, each line ended by
        C{newline}; sizes from 1024000 bytes on are given in MiB with one
        decimal.
    """
    if size < 1024000:
        text = f"{size >> 10}KiB"
    else:
        text = f"{size / 1048576.0:.1f}MiB"
    return (
        f"Having a size of {text}, this message is over the MaxSize limit.".encode("ascii")
        + newline
        + f"Flag it and sync again (Sync mode {mode}) to fetch its real contents.".encode("ascii")
        + newline
    )


def convert_line_endings(data: bytes, source: LineEnding, target: LineEnding) -> bytes:
    """
    Convert bytes between line ending conventions as mbsync does; stateless,
    so it may be applied to arbitrary slices of a message.
    """
    if source is target:
        return data
    data = data.replace(b"\r", b"")
    if target is LineEnding.CRLF:
        data = data.replace(b"\n", b"\r\n")
    return data


@record
class Conversion:
    """
    How to convert one message for its target store.

    @ivar source: the line ending of the store the message comes from.
    @ivar target: the line ending of the store it goes to.
    @ivar tuid: the TUID for the C{X-TUID} line of a tracked copy, or
        C{None} for an untracked one (C{TrashRemoteNew}).
    @ivar placeholder_size: for a MaxSize placeholder, the size of the
        original message; C{None} for a full copy. Requires C{tuid}.
    @ivar upgrade_word: the Sync mode a placeholder names (C{ReNew},
        isync 1.5's C{Upgrade}).
    """

    source: LineEnding
    target: LineEnding
    tuid: str | None = None
    placeholder_size: int | None = None
    upgrade_word: str = "ReNew"

    def __post_init__(self) -> None:
        if self.placeholder_size is not None and self.tuid is None:
            raise ValueError("placeholders are tracked copies: give a TUID")

    @property
    def identity(self) -> bool:
        """
        Whether the message passes unchanged.
        """
        return self.tuid is None and self.source is self.target


class _Phase(enum.Enum):
    HEADER = "header"
    BODY = "body"
    DONE = "done"


class MessageConverter:
    """
    Convert one message, fed in chunks.

    Use L{feed} for every chunk in order, then L{finish}; concatenating
    what they return gives the converted message. After L{complete}
    becomes true, further input is ignored (a placeholder's body).
    """

    def __init__(self, conversion: Conversion) -> None:
        """
        @param conversion: what to do.
        """
        self._conversion = conversion
        self._phase = _Phase.HEADER if conversion.tuid is not None else _Phase.BODY
        self._minimal = conversion.placeholder_size is not None
        self._line = bytearray()
        # Header lines seen so far, kept only for placeholders.
        self._header: list[bytes] = []
        self._header_crs = 0
        self._tuid_at: int | None = None
        self._subject_at: int | None = None

    @property
    def complete(self) -> bool:
        """
        Whether the output is final and further input would be ignored.
        """
        return self._phase is _Phase.DONE

    def feed(self, chunk: bytes) -> bytes:
        """
        Convert the next chunk of the message.

        @return: converted bytes, possibly empty.
        """
        if self._phase is _Phase.BODY:
            return self._convert(chunk)
        if self._phase is _Phase.DONE:
            return b""
        if not self._minimal and not self._line:
            whole = self._whole_header(chunk)
            if whole is not None:
                return whole
        output = bytearray()
        start = 0
        while self._phase is _Phase.HEADER:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._line += chunk[start:]
                return bytes(output)
            self._line += chunk[start : end + 1]
            start = end + 1
            line = bytes(self._line)
            self._line.clear()
            output += self._header_line(line)
        if self._phase is _Phase.BODY:
            output += self._convert(chunk[start:])
        return bytes(output)

    def finish(self) -> bytes:
        """
        End the message.

        @return: the last converted bytes.
        @raise MessageError: a tracked copy's header never ended.
        """
        if self._phase is _Phase.HEADER:
            raise MessageError("message has incomplete header")
        return b""

    # The header.

    def _whole_header(self, chunk: bytes) -> bytes | None:
        """
        For a full copy fed from the start of a header line: if the chunk
        holds the rest of the header up to the X-TUID or empty line that
        ends it, convert the chunk in one go, exactly as L{_header_line}
        would line by line.

        @return: the converted chunk, or C{None} to go line by line.
        """
        split = _split_header(chunk)
        if split is None:
            return None
        cut, after, counted = split
        self._header_crs += chunk.count(b"\r", 0, counted)
        self._phase = _Phase.BODY
        return self._convert(chunk[:cut]) + self._tuid_line() + self._convert(chunk[after:])

    def _convert(self, data: bytes) -> bytes:
        return convert_line_endings(data, self._conversion.source, self._conversion.target)

    def _newline(self) -> bytes:
        # mbsync's app_cr: a CR for our own lines only where the target
        # wants CRLF and the source either had none or used them.
        conversion = self._conversion
        wants_cr = conversion.target is LineEnding.CRLF and (
            conversion.source is LineEnding.LF or self._header_crs > 0
        )
        return b"\r\n" if wants_cr else b"\n"

    def _tuid_line(self) -> bytes:
        assert self._conversion.tuid is not None
        return _TUID_FIELD + self._conversion.tuid.encode("ascii") + self._newline()

    def _header_line(self, line: bytes) -> bytes:
        """
        Handle one complete header line (with its LF).

        @return: what can be output now.
        """
        crs = line.count(b"\r")
        blank = len(line) - 1 == crs
        if self._tuid_at is None and line[:8].upper() == _TUID_FIELD:
            # The first X-TUID line is dropped and replaced by ours.
            if not self._minimal:
                self._phase = _Phase.BODY
                return self._tuid_line()
            self._tuid_at = len(self._header)
            self._header.append(b"")
            return b""
        if self._minimal and self._subject_at is None and line[:8].upper() == _SUBJECT_FIELD:
            self._subject_at = len(self._header)
        self._header_crs += crs
        if not blank:
            if self._minimal:
                self._header.append(line)
                return b""
            return self._convert(line)
        if not self._minimal:
            self._phase = _Phase.BODY
            return self._tuid_line() + self._convert(line)
        self._phase = _Phase.DONE
        return self._placeholder(line)

    def _placeholder(self, blank: bytes) -> bytes:
        newline = self._newline()
        output = bytearray()
        for index, line in enumerate(self._header):
            if index == self._tuid_at:
                output += self._tuid_line()
            elif index == self._subject_at:
                cut = 8 + (line[8:9] == b" ")
                output += self._convert(line[:cut]) + PLACEHOLDER_PREFIX
                output += self._convert(line[cut:])
            else:
                output += self._convert(line)
        if self._tuid_at is None:
            output += self._tuid_line()
        if self._subject_at is None:
            output += PLACEHOLDER_SUBJECT + newline
        output += self._convert(blank)
        assert self._conversion.placeholder_size is not None
        output += placeholder_body(
            self._conversion.placeholder_size, newline, self._conversion.upgrade_word
        )
        return bytes(output)


def _split_header(data: bytes) -> tuple[int, int, int] | None:
    """
    Where our X-TUID line goes in a tracked full copy whose C{data} starts
    at a header line, if C{data} holds the header up to its end: in place
    of the first X-TUID line (the whole line is dropped), else right
    before the empty line that ends the header.

    @return: C{(cut, after, counted)}: our line replaces C{data[cut:after]};
        the CRs in C{data[:counted]} are the header's CRs before our line
        (mbsync's app_cr counts them). C{None} when no empty line ends the
        header within C{data}.
    """
    start = _BLANK_START.match(data)
    if start is not None:
        begin, end = start.span()
    else:
        blank = _BLANK_LINE.search(data)
        if blank is None:
            return None
        begin, end = blank.span(1)
    if begin >= len(_TUID_FIELD) and data[: len(_TUID_FIELD)].upper() == _TUID_FIELD:
        return 0, data.find(b"\n") + 1, 0
    found = _TUID_LINE.search(data, 0, begin)
    if found is not None:
        at = found.start(1)
        return at, data.find(b"\n", at) + 1, at
    return begin, begin, end


def convert_whole(data: bytes, conversion: Conversion) -> bytes | None:
    """
    A tracked full copy (not a placeholder) of a whole message held in
    one piece, converted in one go: what L{MessageConverter} gives for it
    however it is fed, with one search for the header's end, one for an
    X-TUID line and one pass over the bytes, without a converter.

    @return: the converted message, or C{None} when this does not apply
        (untracked, a placeholder, or no line ends the header: the
        converter then says what is wrong).
    """
    tuid = conversion.tuid
    if tuid is None or conversion.placeholder_size is not None:
        return None
    split = _split_header(data)
    if split is None:
        return None
    cut, after, counted = split
    source, target = conversion.source, conversion.target
    # mbsync's app_cr, as L{MessageConverter._newline}.
    wants_cr = target is LineEnding.CRLF and (
        source is LineEnding.LF or data.count(b"\r", 0, counted) > 0
    )
    line = _TUID_FIELD + tuid.encode("ascii") + (b"\r\n" if wants_cr else b"\n")
    # Our line converts to itself (it has no CR for an LF target; for a
    # CRLF target it ends in CRLF), so the whole converts at once.
    return convert_line_endings(data[:cut] + line + data[after:], source, target)


def convert_message(data: bytes, conversion: Conversion) -> bytes:
    """
    Convert a whole message held in memory (placeholders for tests, small
    messages).

    @raise MessageError: see L{MessageConverter.finish}.
    """
    converter = MessageConverter(conversion)
    return converter.feed(data) + converter.finish()
