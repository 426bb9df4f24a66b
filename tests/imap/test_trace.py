"""
Tests for L{msync.imap.trace}: the C{-Dn} rendering of what the server sends.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.imap.trace import LINE_LIMIT, ServerTrace, printable


def _all_ways(data: bytes) -> list[list[str]]:
    """
    The lines traced for C{data} fed whole, one byte at a time, and in
    every two-piece split.
    """
    results = []
    trace = ServerTrace()
    results.append(trace.feed(data))
    trace = ServerTrace()
    results.append([line for i in range(len(data)) for line in trace.feed(data[i : i + 1])])
    for cut in range(1, len(data)):
        trace = ServerTrace()
        results.append(trace.feed(data[:cut]) + trace.feed(data[cut:]))
    return results


class ServerTraceTests(SynchronousTestCase):
    """
    L{ServerTrace}: protocol lines as text, literal contents left out.
    """

    def test_lines_and_literals(self) -> None:
        """
        Lines lose their CRLF; a literal's contents (which may hold CRLF and
        braces) are skipped, however the input is split.
        """
        data = (
            b"* 1 FETCH (UID 7 BODY[] {12}\r\nab\r\n{3}\r\nxyz)\r\n"
            b"* 2 FETCH (UID 8 FLAGS ())\r\nA1 OK done\r\n"
        )
        expected = ["* 1 FETCH (UID 7 BODY[] {12}", ")", "* 2 FETCH (UID 8 FLAGS ())", "A1 OK done"]
        for result in _all_ways(data):
            self.assertEqual(result, expected)

    def test_non_synchronizing_literal(self) -> None:
        """
        C{{N+}} announces a literal too.
        """
        self.assertEqual(ServerTrace().feed(b"* X {2+}\r\n\r\n OK\r\n"), ["* X {2+}", " OK"])

    def test_partial_line_waits(self) -> None:
        """
        A line is shown only once complete.
        """
        trace = ServerTrace()
        self.assertEqual(trace.feed(b"* OK hel"), [])
        self.assertEqual(trace.feed(b"lo\r\n"), ["* OK hello"])

    def test_long_line_bounded(self) -> None:
        """
        A line longer than L{LINE_LIMIT} is cut, the rest counted.
        """
        trace = ServerTrace()
        [line] = trace.feed(b"* " + b"x" * (LINE_LIMIT * 3) + b"\r\n")
        self.assertEqual(
            line, "* " + "x" * (LINE_LIMIT - 2) + f"[... {LINE_LIMIT * 2 + 2} more bytes]"
        )

    def test_escapes(self) -> None:
        """
        Control characters (a terminal escape) and bytes that are not UTF-8
        are shown as C{\\xNN}; UTF-8 text is shown as text.
        """
        self.assertEqual(
            ServerTrace().feed(b"* OK \x1b[2J caf\xc3\xa9 \xff\r\n"),
            ["* OK \\x1b[2J café \\xff"],
        )
        self.assertEqual(printable(b"a\tb\x7f"), "a\\x09b\\x7f")
