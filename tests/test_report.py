"""
Tests for L{msync.report}: the progress line, its truncation, and message
routing. Rows marked "verified" were compared with mbsync 1.4.4 run under
C{script} with the given C{COLUMNS}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from msync.model import Side
from msync.report import (
    DEFAULT_COLUMNS,
    Counters,
    OutputPolicy,
    ProgressDisplay,
    Severity,
    SideCounters,
    Stream,
    box_cannot_be_opened,
    columns_from,
    planned_sentence,
    progress_line,
    show_progress,
)

_FINAL = Counters(1, 1, 3, 3, SideCounters(1, 1), SideCounters(1, 1))
"""The final counters of the verification run (one message each way)."""


class ProgressLineTests(SynchronousTestCase):
    """
    L{progress_line}.
    """

    def test_format(self) -> None:
        """
        Every counter lands in its slot of mbsync's format, F: before N:.
        """
        counters = Counters(
            1, 2, 3, 4, SideCounters(5, 6, 7, 8, 9, 10), SideCounters(11, 12, 13, 14, 15, 16)
        )
        self.assertEqual(
            progress_line(counters, 1000),
            "\rC: 1/2  B: 3/4  F: +5/6 *7/8 #9/10  N: +11/12 *13/14 #15/16",
        )

    def test_initial(self) -> None:
        """
        The first line mbsync draws (verified: C{C: 0/1  B: 0/0 ...}).
        """
        self.assertEqual(
            progress_line(Counters(channels_total=1)),
            "\rC: 0/1  B: 0/0  F: +0/0 *0/0 #0/0  N: +0/0 *0/0 #0/0",
        )

    def test_truncation(self) -> None:
        """
        Each half is cut to C{(COLUMNS - len(head) - 10) / 2} characters with
        a C{~} as its last one; rows verified against mbsync 1.4.4.
        """
        rows = [
            (80, "F: +1/1 *0/0 #0/0  N: +1/1 *0/0 #0/0"),
            (50, "F: +1/1 *0/0 #0~  N: +1/1 *0/0 #0~"),
            (40, "F: +1/1 *0~  N: +1/1 *0~"),
            (31, "F: +1~  N: +1~"),
            (30, "F: +1~  N: +1~"),
            (29, "F: +~  N: +~"),
            (26, "F: ~  N: ~"),
            (20, "F: ~"),
            (1000, "F: +1/1 *0/0 #0/0  N: +1/1 *0/0 #0/0"),
        ]
        for columns, tail in rows:
            with self.subTest(columns=columns):
                line = progress_line(_FINAL, columns)
                self.assertEqual(line, "\rC: 1/1  B: 3/3  " + tail)
                self.assertLessEqual(len(line) - 1, columns)

    def test_narrower_than_head(self) -> None:
        """
        A terminal too narrow for mbsync's arithmetic still gets a line that
        fits: cut as a whole, ending in C{~}.
        """
        for columns in (1, 5, 12, 25):
            line = progress_line(_FINAL, columns)
            self.assertEqual(len(line) - 1, columns, columns)
            self.assertTrue(line.endswith("~"))

    def test_exact_fit(self) -> None:
        """
        A half exactly as wide as allowed is not cut.
        """
        # head "C: 1/1  B: 3/3" is 14 wide; (52 - 14 - 10) / 2 = 14 = len("+1/1 *0/0 #0/0")
        self.assertEqual(
            progress_line(_FINAL, 52),
            "\rC: 1/1  B: 3/3  F: +1/1 *0/0 #0/0  N: +1/1 *0/0 #0/0",
        )

    def test_zero_width(self) -> None:
        """
        Half widths below one (undefined behaviour in mbsync) cut the line
        as a whole to the terminal's width.
        """
        self.assertEqual(progress_line(_FINAL, 25), "\rC: 1/1  B: 3/3  F: +1/1 ~")

    def test_side(self) -> None:
        """
        L{Counters.side} indexes the halves by target side.
        """
        counters = Counters(far=SideCounters(1), near=SideCounters(2))
        self.assertEqual(counters.side(Side.FAR).new_done, 1)
        self.assertEqual(counters.side(Side.NEAR).new_done, 2)


class ColumnsTests(SynchronousTestCase):
    """
    L{columns_from} reads C{COLUMNS} like C{atoi}.
    """

    def test_rows(self) -> None:
        """
        Unset, zero and garbage mean 80; leading digits count (verified: mbsync
        treats C{abc} and C{0} as 80 and C{12abc} as 12).
        """
        rows: list[tuple[str | None, int]] = [
            (None, DEFAULT_COLUMNS),
            ("", DEFAULT_COLUMNS),
            ("0", DEFAULT_COLUMNS),
            ("abc", DEFAULT_COLUMNS),
            ("50", 50),
            ("  50", 50),
            ("+50", 50),
            ("12abc", 12),
            ("-5", -5),
            ("٣", DEFAULT_COLUMNS),
        ]
        for value, expected in rows:
            with self.subTest(value=value):
                self.assertEqual(columns_from(value), expected)


class PolicyTests(SynchronousTestCase):
    """
    L{OutputPolicy}, L{Severity.stream} and L{show_progress}.
    """

    def test_streams(self) -> None:
        """
        Info and notices go to stdout, warnings and errors to stderr.
        """
        self.assertEqual(Severity.INFO.stream, Stream.STDOUT)
        self.assertEqual(Severity.NOTICE.stream, Stream.STDOUT)
        self.assertEqual(Severity.WARNING.stream, Stream.STDERR)
        self.assertEqual(Severity.ERROR.stream, Stream.STDERR)

    def test_shows(self) -> None:
        """
        C{-q} hides notices, C{-qq} warnings too; info needs C{-V} and is not
        hidden by C{-q} (verified: C{mbsync -q -V} prints info); errors
        always show.
        """
        rows = [
            (OutputPolicy(), {Severity.NOTICE, Severity.WARNING, Severity.ERROR}),
            (OutputPolicy(quiet=1), {Severity.WARNING, Severity.ERROR}),
            (OutputPolicy(quiet=2), {Severity.ERROR}),
            (
                OutputPolicy(verbose=True, quiet=1),
                {Severity.INFO, Severity.WARNING, Severity.ERROR},
            ),
            (OutputPolicy(verbose=True), set(Severity)),
        ]
        for policy, shown in rows:
            with self.subTest(policy=policy):
                self.assertEqual({s for s in Severity if policy.shows(s)}, shown)

    def test_show_progress(self) -> None:
        """
        Progress only on a terminal without C{-q} and without any C{-D}
        (verified: even C{-DC} hides it).
        """
        self.assertTrue(show_progress(is_tty=True, quiet=0, debugging=False))
        self.assertFalse(show_progress(is_tty=False, quiet=0, debugging=False))
        self.assertFalse(show_progress(is_tty=True, quiet=1, debugging=False))
        self.assertFalse(show_progress(is_tty=True, quiet=0, debugging=True))


class ProgressDisplayTests(SynchronousTestCase):
    """
    L{ProgressDisplay} ends a visible line before messages and at exit.
    """

    def test_sequence(self) -> None:
        """
        Redraws start with C{\\r}; a message first gets a newline once; the
        exit newline only appears when a line is pending (verified shape:
        C{\\rC: ...\\n<message>\\n\\rC: ...\\n}).
        """
        display = ProgressDisplay(enabled=True, columns=80)
        self.assertEqual(display.interrupt(), "")
        self.assertTrue(display.update(Counters()).startswith("\rC: 0/0"))
        self.assertTrue(display.update(Counters(channels_total=1)).startswith("\rC: 0/1"))
        self.assertEqual(display.interrupt(), "\n")
        self.assertEqual(display.interrupt(), "")
        display.update(Counters())
        self.assertEqual(display.finish(), "\n")
        self.assertEqual(display.finish(), "")

    def test_isync15_erases(self) -> None:
        """
        Following isync 1.5, a pending line is erased rather than ended:
        C{\\r}, a space per character of the line (at most 120), C{\\r}.
        """
        display = ProgressDisplay(enabled=True, columns=80, isync15=True)
        line = display.update(Counters(channels_total=1))
        self.assertEqual(display.interrupt(), "\r" + " " * (len(line) - 1) + "\r")
        self.assertEqual(display.interrupt(), "")
        display.columns = 300
        big = 10**30
        self.assertGreater(len(display.update(Counters(big, big, big, big))), 121)
        self.assertEqual(display.finish(), "\r" + " " * 120 + "\r")
        self.assertEqual(display.finish(), "")

    def test_disabled(self) -> None:
        """
        A disabled display draws nothing and never asks for newlines.
        """
        display = ProgressDisplay(enabled=False)
        self.assertEqual(display.update(Counters()), "")
        self.assertEqual(display.interrupt(), "")
        self.assertEqual(display.finish(), "")


class WordingTests(SynchronousTestCase):
    """
    Message helpers use mbsync's wording.
    """

    def test_box_cannot_be_opened(self) -> None:
        """
        Verified: C{Error: channel star: near side box Ab cannot be opened.}
        """
        self.assertEqual(
            box_cannot_be_opened("star", Side.NEAR, "Ab"),
            "Error: channel star: near side box Ab cannot be opened.",
        )
        self.assertEqual(
            box_cannot_be_opened("c", Side.FAR, "q"),
            "Error: channel c: far side box q cannot be opened.",
        )


class PlannedSentenceTests(SynchronousTestCase):
    """
    L{planned_sentence}: each C{--dry-run} operation as a sentence naming
    the channel and the box pair, with no bare C{-} for an empty flag set.
    """

    ROWS = [
        (
            "far side: UID 1: flags +F -",
            "would change the flags of far side UID 1: add F (flagged).",
        ),
        (
            "near side: UID 2: flags +FS -T",
            "would change the flags of near side UID 2: add F (flagged), S (seen); "
            "remove T (deleted).",
        ),
        (
            "far side: UID 7: flags + -S",
            "would change the flags of far side UID 7: remove S (seen).",
        ),
        (
            "far side: store copy of near side UID 2 with flags -",
            "would copy near side UID 2 to the far side, with no flags.",
        ),
        (
            "near side: store placeholder of far side UID 9 with flags RS",
            "would store a placeholder for far side UID 9 to the near side, "
            "with flags R (replied), S (seen).",
        ),
        (
            "far side: UID 3: trash into near side Trash",
            "would move far side UID 3 into the near side's trash box Trash.",
        ),
        ("far side: expunge UIDs 3", "would expunge far side UID 3."),
        ("near side: expunge UIDs 3,4", "would expunge near side UIDs 3,4."),
        ("near side: create box A/B", "would create near side box A/B."),
        ("far side: delete box Old", "would delete far side box Old."),
    ]

    def test_rows(self) -> None:
        """
        Every form the synchronizer plans reads as a sentence after
        C{Channel c, box B:}; none ends in C{ -}.
        """
        for planned, sentence in self.ROWS:
            text = planned_sentence("work", "INBOX", "INBOX", planned)
            self.assertEqual(text, f"Channel work, box INBOX: {sentence}", planned)
            self.assertFalse(text.endswith(" -"), text)

    def test_different_box_names(self) -> None:
        """
        A pair whose sides are named differently names both.
        """
        self.assertEqual(
            planned_sentence("c", "INBOX", "inbox", "far side: expunge UIDs 1"),
            "Channel c, boxes INBOX (far) and inbox (near): would expunge far side UID 1.",
        )

    def test_unknown_kept(self) -> None:
        """
        A description of an unknown form is kept whole, after the channel
        and box.
        """
        self.assertEqual(
            planned_sentence("c", "A", "A", "far side: something new"),
            "Channel c, box A: far side: something new",
        )
