# -*- test-case-name: tests.test_report -*-
"""
Progress counters, the mbsync 1.4 progress line, message routing, the
C{--dry-run} sentences and the C{--json} event lines.

Invariants:
  - pure: strings in, strings out; the caller (L{msync.cli}) writes them;
  - the progress line is byte-identical to mbsync 1.4.4's C{stats()} output,
    including its C{COLUMNS} truncation, and never wider than the terminal
    (where mbsync's arithmetic goes below zero, the whole line is cut);
  - routing follows mbsync's C{util.c}: info (only with C{-V}/C{-D}) and
    notices (hidden by C{-q}) go to stdout; warnings (hidden by C{-qq}) and
    errors (never hidden) go to stderr; a visible progress line is ended
    with a newline before any other output and at exit.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from dataclasses import field

from msync.model import Side
from msync.records import mutable_record, record
from msync.sync.notices import (
    ConflictingChanges,
    LostCopies,
    Notice,
    StrayTuid,
    UIDValidityRecovered,
    UnsupportedFlags,
)
from msync.sync.options import PairOptions

__all__ = [
    "DEFAULT_COLUMNS",
    "Counters",
    "OutputPolicy",
    "ProgressDisplay",
    "Severity",
    "SideCounters",
    "Stream",
    "box_cannot_be_opened",
    "json_event",
    "summary_fields",
    "planned_sentence",
    "columns_from",
    "describe_notice",
    "progress_line",
    "show_progress",
]

DEFAULT_COLUMNS = 80
"""The width mbsync assumes when C{COLUMNS} is unset, zero or not a number."""


@record
class SideCounters:
    """
    Work applied I{to} one side (F: = pushed to far, N: = pulled to near).
    Totals grow as work is discovered.

    @ivar new_done: messages stored.
    @ivar new_total: messages to store.
    @ivar flags_done: flag-update commands done.
    @ivar flags_total: flag-update commands to do.
    @ivar trash_done: messages trashed.
    @ivar trash_total: messages to trash.
    @ivar expunge_done: messages expunged (isync 1.5's C{-} field).
    @ivar expunge_total: messages to expunge.
    """

    new_done: int = 0
    new_total: int = 0
    flags_done: int = 0
    flags_total: int = 0
    trash_done: int = 0
    trash_total: int = 0
    expunge_done: int = 0
    expunge_total: int = 0

    def text(self) -> str:
        """
        @return: C{+new *flags #trash} as mbsync prints one half.
        """
        return (
            f"+{self.new_done}/{self.new_total} "
            f"*{self.flags_done}/{self.flags_total} "
            f"#{self.trash_done}/{self.trash_total}"
        )


@record
class Counters:
    """
    Everything the progress line shows.

    @ivar channels_done: channels finished.
    @ivar channels_total: channels selected.
    @ivar boxes_done: box pairs finished.
    @ivar boxes_total: box pairs known so far (grows as Patterns expand).
    @ivar far: work applied to the far side.
    @ivar near: work applied to the near side.
    """

    channels_done: int = 0
    channels_total: int = 0
    boxes_done: int = 0
    boxes_total: int = 0
    far: SideCounters = field(default_factory=SideCounters)
    near: SideCounters = field(default_factory=SideCounters)

    def side(self, side: Side) -> SideCounters:
        """
        @param side: the target side.
        @return: L{far} or L{near}.
        """
        return self.far if side is Side.FAR else self.near


def columns_from(value: str | None) -> int:
    """
    The terminal width mbsync uses: C{atoi(getenv("COLUMNS"))}, or 80 when
    that is unset or zero. Like C{atoi}, leading blanks and a sign are
    accepted and trailing garbage is ignored (C{"12abc"} is 12).

    @param value: the C{COLUMNS} environment variable, or C{None}.
    @return: the width.
    """
    if value is None:
        return DEFAULT_COLUMNS
    text = value.lstrip(" \t\n\v\f\r")
    sign = -1 if text[:1] == "-" else 1
    if text[:1] in ("-", "+"):
        text = text[1:]
    digits = ""
    for char in text:
        if not char.isascii() or not char.isdigit():
            break
        digits += char
    number = sign * int(digits) if digits else 0
    return number or DEFAULT_COLUMNS


def _truncate(half: str, width: int) -> str:
    """
    mbsync cuts a half to C{width} characters, the last one becoming C{~}.
    """
    if width < 1 or len(half) <= width:
        # mbsync writes before its buffer for widths < 1 (undefined
        # behaviour, garbage or a crash); showing the whole half is the sane
        # reading of its "%.*s" with a negative precision.
        return half
    return half[: width - 1] + "~"


def progress_line(counters: Counters, columns: int = DEFAULT_COLUMNS, isync15: bool = False) -> str:
    """
    mbsync 1.4's progress line,
    C{"\\rC: %d/%d  B: %d/%d  F: +%d/%d *%d/%d #%d/%d  N: +%d/%d *%d/%d #%d/%d"}.

    Each C{+.. *.. #..} half is limited to C{(columns - len(head) - 10) / 2}
    characters (C division, truncating towards zero), where C{head} is the
    C{C: ..  B: ..} part; a longer half is cut and its last character
    replaced by C{~}. A line still wider than C{columns} (a terminal too
    narrow for the head) is cut the same way as a whole, so it never wraps.

    @param counters: the counters to show.
    @param columns: the terminal width (see L{columns_from}).
    @param isync15: isync 1.5's line: each half ends with the expunge
        counters, C{-%d/%d}.
    @return: the line, starting with C{\\r}, without newline.
    """
    head = (
        f"C: {counters.channels_done}/{counters.channels_total}  "
        f"B: {counters.boxes_done}/{counters.boxes_total}"
    )
    width = int((columns - len(head) - 10) / 2)
    far = _truncate(_half(counters.far, isync15), width)
    near = _truncate(_half(counters.near, isync15), width)
    line = f"{head}  F: {far}  N: {near}"
    if len(line) > columns > 0:
        # Too narrow even for mbsync's cut halves (where mbsync misbehaves):
        # cut the whole line, so that it never wraps.
        line = line[: columns - 1] + "~"
    return "\r" + line


def _half(side: SideCounters, isync15: bool) -> str:
    """
    One half of the progress line; isync 1.5 adds the expunge counters.
    """
    if not isync15:
        return side.text()
    return f"{side.text()} -{side.expunge_done}/{side.expunge_total}"


def show_progress(*, is_tty: bool, quiet: int, debugging: bool) -> bool:
    """
    Whether the progress line is drawn: only on a terminal, and neither
    with C{-q} nor with any C{-D} flag (C{-DC} included; verified).

    @param is_tty: whether stdout is a terminal.
    @param quiet: how many C{-q} were given (0, 1, 2).
    @param debugging: whether any C{-D} flag was given.
    @return: whether to draw it.
    """
    return is_tty and not quiet and not debugging


class Stream(enum.Enum):
    """
    Where a message goes.
    """

    STDOUT = "stdout"
    STDERR = "stderr"


class Severity(enum.Enum):
    """
    mbsync's message classes (C{info}, C{notice}, C{warn}, C{error}).
    """

    INFO = "info"
    NOTICE = "notice"
    WARNING = "warning"
    ERROR = "error"

    @property
    def stream(self) -> Stream:
        """
        @return: stdout for info and notices, stderr for warnings and errors.
        """
        if self in (Severity.INFO, Severity.NOTICE):
            return Stream.STDOUT
        return Stream.STDERR


@record
class OutputPolicy:
    """
    Which messages are shown, from C{-V}, C{-D} and C{-q}.

    @ivar verbose: C{-V} or any C{-D} flag but C{-DC}: info is shown.
    @ivar quiet: 0, 1 (C{-q}: no notices) or 2 (C{-qq}: no warnings either).
    """

    verbose: bool = False
    quiet: int = 0

    def shows(self, severity: Severity) -> bool:
        """
        @param severity: a message class.
        @return: whether such messages are printed (C{-q} does not hide
            info, as in mbsync: C{-q -V} still prints it).
        """
        if severity is Severity.INFO:
            return self.verbose
        if severity is Severity.NOTICE:
            return self.quiet < 1
        if severity is Severity.WARNING:
            return self.quiet < 2
        return True


_ERASE_MAX = 120
"""The longest progress line isync 1.5 erases (the rest stays on screen)."""


class ProgressDisplay:
    """
    The state of the progress line: whether one is on screen and unfinished.

    Methods return the text to write to stdout, so the display stays pure.
    mbsync 1.4 ends a visible progress line with a newline before printing
    anything else (on either stream) and at exit, mbsync 1.5 erases it
    then; both redraw it with a leading C{\\r}.

    @ivar enabled: whether progress is drawn at all (L{show_progress}).
    @ivar columns: the width for L{progress_line}.
    @ivar isync15: draw isync 1.5's line (with expunge counters).
    """

    def __init__(
        self, *, enabled: bool, columns: int = DEFAULT_COLUMNS, isync15: bool = False
    ) -> None:
        self.enabled = enabled
        self.columns = columns
        self.isync15 = isync15
        self._pending = False
        self._length = 0

    def update(self, counters: Counters) -> str:
        """
        @param counters: the new counters.
        @return: the redrawn line, or C{""} when disabled.
        """
        if not self.enabled:
            return ""
        self._pending = True
        line = progress_line(counters, self.columns, self.isync15)
        self._length = len(line.lstrip("\r"))
        return line

    def interrupt(self) -> str:
        """
        Call before printing any message.

        @return: C{"\\n"} if a progress line has to be ended first (isync
            1.4), or under isync 1.5 what erases it (C{\\r}, as many spaces
            as it is long, at most 120, C{\\r}: 1.5 assumes a dumb
            terminal); else C{""}.
        """
        if self._pending:
            self._pending = False
            if self.isync15:
                return "\r" + " " * min(self._length, _ERASE_MAX) + "\r"
            return "\n"
        return ""

    def finish(self) -> str:
        """
        Call at exit.

        @return: the final newline if a progress line is showing.
        """
        return self.interrupt()


def box_cannot_be_opened(channel: str, side: Side, box: str) -> str:
    """
    @return: mbsync's error for a missing box that may not be created,
        C{Error: channel c: near side box x cannot be opened.}
    """
    return f"Error: channel {channel}: {side.label} side box {box} cannot be opened."


def describe_notice(notice: Notice) -> tuple[Severity, str]:
    """
    @return: how mbsync 1.4 classes and words a notice of a box pair sync
        (L{msync.sync.notices}).
    """
    match notice:
        case UIDValidityRecovered(channel, side, box):
            where = f"channel {channel}, {side.label} side box {box}"
            return Severity.NOTICE, f"Notice: {where}: Recovered from change of UIDVALIDITY."
        case ConflictingChanges(far, near):
            return Severity.NOTICE, f"Notice: conflicting changes in ({far},{near})"
        case UnsupportedFlags(side, flags):
            return Severity.NOTICE, (
                f"Notice: {side.label} side store does not support flag(s) "
                f"'{flags.letters()}'; not propagating."
            )
        case StrayTuid(far, near):
            return Severity.WARNING, (
                f"Warning: sync record ({far},{near}) has stray TUID. Ignoring."
            )
        case LostCopies(side, count):
            verb = "push" if side is Side.FAR else "pull"
            return Severity.WARNING, f"Warning: lost track of {count} {verb}ed message(s)"


@mutable_record
class RunSummary:
    """
    What isync 1.5's closing summary counts (its C{main_sync.c}
    C{summary}): finished boxes and channels, and per side (the side the
    work was applied to) whether any channel does that kind of work.

    @ivar boxes: box pairs finished.
    @ivar channels: channels finished.
    @ivar ops: per side, some channel propagates messages towards it.
    @ivar trash: per side, some channel may move messages to its trash.
    @ivar expunge: per side, some channel expunges it.
    @ivar expunged: per side, messages expunged.
    """

    boxes: int = 0
    channels: int = 0
    ops: set[Side] = field(default_factory=set)
    trash: set[Side] = field(default_factory=set)
    expunge: set[Side] = field(default_factory=set)
    expunged: dict[Side, int] = field(default_factory=lambda: {Side.FAR: 0, Side.NEAR: 0})


def summary_text(summary: RunSummary, counters: Counters, *, dry_run: bool = False) -> str | None:
    """
    isync 1.5's closing summary, e.g. C{Processed 1 box(es) in 1
    channel(s),\\npulled 0 new message(s) and 0 flag update(s),\\npushed
    ...}: the near side (pulled) first; nothing when no box was finished.

    @param summary: what the run did.
    @param counters: the run's final counters (stored messages, flag
        updates and trashed messages per side; in a dry run the totals,
        what would be done).
    @param dry_run: C{--dry-run} words it as C{would pull ...}.
    @return: the text without the final newline, or C{None}.
    """
    if not summary.boxes:
        return None
    parts = [f"Processed {summary.boxes} box(es) in {summary.channels} channel(s)"]
    for side in (Side.NEAR, Side.FAR):
        done = counters.side(side)
        verb = "pull" if side is Side.NEAR else "push"
        label = f"{side.label} side"
        new, flags, trash = (
            (done.new_total, done.flags_total, done.trash_total)
            if dry_run
            else (done.new_done, done.flags_done, done.trash_done)
        )
        if side in summary.ops:
            parts.append(
                f"would {verb} {new} new message(s) and {flags} flag update(s)"
                if dry_run
                else f"{verb}ed {new} new message(s) and {flags} flag update(s)"
            )
        if side in summary.trash:
            moved = "would move" if dry_run else "moved"
            parts.append(f"{moved} {trash} {label} message(s) to trash")
        if side in summary.expunge:
            expunged = "would expunge" if dry_run else "expunged"
            parts.append(f"{expunged} {summary.expunged[side]} message(s) from {label}")
    return ",\n".join(parts) + "."


_FLAG_NAMES = {
    "D": "draft",
    "F": "flagged",
    "P": "passed",
    "R": "replied",
    "S": "seen",
    "T": "deleted",
}


def _flags_text(letters: str) -> str:
    """
    C{FS} as C{F (flagged), S (seen)}.
    """
    return ", ".join(f"{letter} ({_FLAG_NAMES.get(letter, '?')})" for letter in letters)


def _uids_text(side: str, uids: str) -> str:
    """
    C{far side UID 3} or C{far side UIDs 3,4}.
    """
    return f"{side} side UID{'s' if ',' in uids else ''} {uids}"


def _flag_update(match: re.Match[str]) -> str:
    changes = []
    if match["add"]:
        changes.append(f"add {_flags_text(match['add'])}")
    if match["remove"]:
        changes.append(f"remove {_flags_text(match['remove'])}")
    what = "; ".join(changes) or "none"
    return f"would change the flags of {match['side']} side UID {match['uid']}: {what}."


def _copy(match: re.Match[str]) -> str:
    flags = match["flags"].strip("-")
    with_flags = f"with flags {_flags_text(flags)}" if flags else "with no flags"
    verb = "store a placeholder for" if match["what"] == "placeholder of" else "copy"
    return (
        f"would {verb} {match['source']} side UID {match['uid']} to the "
        f"{match['side']} side, {with_flags}."
    )


_PLANNED: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(
            r"(?P<side>far|near) side: UID (?P<uid>\d+): flags \+(?P<add>\w*) -(?P<remove>\w*)"
        ),
        _flag_update,
    ),
    (
        re.compile(
            r"(?P<side>far|near) side: UID (?P<uid>\d+): trash into (?P<where>far|near) side (?P<box>.*)"
        ),
        lambda m: (
            f"would move {m['side']} side UID {m['uid']} into the {m['where']} side's "
            f"trash box {m['box']}."
        ),
    ),
    (
        re.compile(
            r"(?P<side>far|near) side: store (?P<what>copy of|placeholder of) "
            r"(?P<source>far|near) side UID (?P<uid>\d+) with flags (?P<flags>\S*)"
        ),
        _copy,
    ),
    (
        re.compile(r"(?P<side>far|near) side: expunge UIDs (?P<uids>[\d,]+)"),
        lambda m: f"would expunge {_uids_text(m['side'], m['uids'])}.",
    ),
    (
        re.compile(r"(?P<side>far|near) side: (?P<verb>create|delete) box (?P<box>.*)"),
        lambda m: f"would {m['verb']} {m['side']} side box {m['box']}.",
    ),
)


def planned_sentence(channel: str, far_box: str, near_box: str, planned: str) -> str:
    """
    One operation a C{--dry-run} planned, as a sentence naming the channel
    and the box pair: C{far side: UID 3: flags +T -} in channel C{work}'s
    C{INBOX} becomes C{Channel work, box INBOX: would change the flags of
    far side UID 3: add T (deleted).}

    @param channel: the channel's name.
    @param far_box: the far side box's name.
    @param near_box: the near side box's name.
    @param planned: the synchronizer's description of the operation.
    @return: the sentence (an unknown description is kept as it is, after
        the channel and box).
    """
    if far_box == near_box:
        where = f"Channel {channel}, box {far_box}"
    else:
        where = f"Channel {channel}, boxes {far_box} (far) and {near_box} (near)"
    for pattern, render in _PLANNED:
        match = pattern.fullmatch(planned)
        if match is not None:
            return f"{where}: {render(match)}"
    return f"{where}: {planned}"


def json_event(kind: str, **fields: object) -> str:
    """
    One C{--json} event: a JSON object on one line, C{"event"} first,
    non-ASCII text kept as UTF-8.

    @param kind: the event's kind.
    @param fields: its other members (JSON-serializable).
    @return: the line without newline.
    """
    return json.dumps({"event": kind, **fields}, ensure_ascii=False, separators=(",", ":"))


def summary_fields(status: int, counters: Counters | None) -> dict[str, object]:
    """
    The C{summary} event's members: the exit status and, after a
    synchronization, the progress counters (C{to_far} is what the progress
    line shows after C{F:}, C{to_near} after C{N:}).

    @param status: the exit status.
    @param counters: the last counters, or C{None} (C{-l}).
    """
    fields: dict[str, object] = {"status": status}
    if counters is not None:
        fields["channels"] = {"done": counters.channels_done, "total": counters.channels_total}
        fields["boxes"] = {"done": counters.boxes_done, "total": counters.boxes_total}
        for name, side in (("to_far", counters.far), ("to_near", counters.near)):
            fields[name] = {
                "new": {"done": side.new_done, "total": side.new_total},
                "flags": {"done": side.flags_done, "total": side.flags_total},
                "trash": {"done": side.trash_done, "total": side.trash_total},
            }
    return fields


def note_channel(summary: RunSummary, options: PairOptions) -> None:
    """
    Count a channel's kinds of work for the summary (isync 1.5's
    C{ops_any}, C{trash_any}, C{expunge_any}).
    """
    summary.channels += 1
    for side in Side:
        mine, other = options.side(side), options.side(side.other)
        if mine.ops:
            summary.ops.add(side)
        if options.expunges(side):
            summary.expunge.add(side)
            if mine.trash or (other.trash and other.trash_remote_new):
                summary.trash.add(side)


def ext_exit_bits(summary: RunSummary, counters: Counters) -> int:
    """
    isync 1.5's C{--ext-exit}: 32 when the far side was changed, 64 when
    the near side was.
    """
    bits = 0
    for side in Side:
        done = counters.side(side)
        if done.new_done or done.flags_done or done.trash_done or summary.expunged[side]:
            bits |= 32 << side.value
    return bits
