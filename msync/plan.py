# -*- test-case-name: tests.test_plan -*-
"""
What to synchronize: command-line targets × L{Config} → channel jobs, and a
channel × its two box listings → ordered box pairs.

Invariants:
  - everything here is pure (stdlib and L0/L1 only, no I/O) and follows
    mbsync 1.4.4's C{main.c} behaviour, verified against the installed
    binary (C{mbsync -l}) where noted in C{tests/test_plan.py};
  - messages are worded exactly as mbsync prints them;
  - jobs keep the order and the duplicates of the command line (mbsync
    runs C{chan chan} twice); box pairs from Patterns are sorted INBOX
    first, then by code point (= C{strcmp} on UTF-8), while explicit box
    lists keep their order and duplicates.
  - no server box is paired with two different names: names an IMAP store
    spells alike (C{Café} and C{Caf&AOk-}, C{Q&A} and C{Q&-A}, under the
    pluggable L{NameMapping}) are one server box, so only the name that
    is the server's own spelling is synchronized; every other pair of the
    group carries a L{BoxPair.conflict} naming both folders and is never
    synchronized.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import replace

from msync.config.schema import Channel, Config, IMAPStore, SyncOps
from msync.errors import shown_name
from msync.model import Side
from msync.records import record
from msync.stores.imapnames import MBSYNC14_NAMES, NameMapping

__all__ = [
    "NO_CHANNELS_DEFINED",
    "NO_CHANNELS_DEFINED_15",
    "NO_CHANNEL_SPECIFIED",
    "BoxPair",
    "ChannelJob",
    "ListScope",
    "OperationOverrides",
    "Selection",
    "box_pairs",
    "expand_patterns",
    "is_inbox",
    "list_lines",
    "list_scope",
    "matches_pattern",
    "parse_target",
    "select_jobs",
]

INBOX = "INBOX"

NO_CHANNELS_DEFINED = "No channels defined. Try 'man msyncrc'"
"""mbsync's error when the configuration has no C{Channel} at all."""

NO_CHANNELS_DEFINED_15 = "No channels defined. Try 'man msync'"
"""isync 1.5's words for it (pointing at the command's manual)."""

NO_CHANNEL_SPECIFIED = "No channel specified. Try 'msync -h'"
"""mbsync's error when no command-line argument named a usable channel."""


@record
class OperationOverrides:
    """
    The channel options the command line replaces (C{-n}, C{-L}, C{-C}, ...).

    mbsync's rule: an option class given on the command line I{replaces} the
    channel's (and global) setting entirely; a class not given leaves it.

    @ivar sync: the C{Sync} matrix to use, or C{None} to keep the channel's.
    @ivar create: the C{Create} sides, or C{None}.
    @ivar remove: the C{Remove} sides, or C{None}.
    @ivar expunge: the C{Expunge} sides, or C{None}.
    @ivar expunge_solo: the C{ExpungeSolo} sides (isync 1.5 C{-x}), or
        C{None}.
    """

    sync: SyncOps | None = None
    create: frozenset[Side] | None = None
    remove: frozenset[Side] | None = None
    expunge: frozenset[Side] | None = None
    expunge_solo: frozenset[Side] | None = None

    def apply(self, channel: Channel) -> Channel:
        """
        @param channel: a channel as configured.
        @return: the channel with every overridden option replaced.
        """
        return replace(
            channel,
            sync=channel.sync if self.sync is None else self.sync,
            create=channel.create if self.create is None else self.create,
            remove=channel.remove if self.remove is None else self.remove,
            expunge=channel.expunge if self.expunge is None else self.expunge,
            expunge_solo=(channel.expunge_solo if self.expunge_solo is None else self.expunge_solo),
        )


@record
class ChannelJob:
    """
    One channel to process, as selected on the command line.

    @ivar channel: the channel (command-line overrides not yet applied).
    @ivar boxes: the explicit box names (C{chan:a,b} or a Group member's
        list; C{""} already turned into C{INBOX}), relative to the channel's
        far/near prefixes; C{None} to expand the channel's Patterns.
    """

    channel: Channel
    boxes: tuple[str, ...] | None = None


@record
class Selection:
    """
    The outcome of target selection.

    @ivar jobs: the channels to process, in command-line order.
    @ivar errors: messages to print to stderr, in order. When not empty the
        exit status is 1 even if the jobs succeed; when L{jobs} is empty the
        command stops.
    """

    jobs: tuple[ChannelJob, ...]
    errors: tuple[str, ...] = ()


def parse_target(argument: str) -> tuple[str, tuple[str, ...] | None]:
    """
    Split a C{channel[:box[{,|newline}box...]]} argument.

    The channel name ends at the first C{:}; the rest is split at C{,} and
    newlines (mbsync accepts both so scripts can pass lists). An empty box
    name means INBOX, so C{chan:} is C{chan:INBOX}.

    @param argument: one command-line argument or Group member.
    @return: the channel name and the box list, or C{None} without C{:}.
    """
    name, colon, rest = argument.partition(":")
    if not colon:
        return name, None
    boxes = rest.replace("\n", ",").split(",")
    return name, tuple(box or INBOX for box in boxes)


def _resolve(config: Config, name: str, boxes: tuple[str, ...] | None) -> ChannelJob | str:
    """
    One channel reference → a job, or mbsync's error message (command-line
    operands and Group members go through the same checks, as in mbsync).
    """
    channel = config.channel(name)
    if channel is None:
        return f"No channel or group named '{name}' defined."
    if boxes is not None and not channel.patterns:
        return f"Cannot override mailbox in channel '{name}' - no Patterns."
    return ChannelJob(channel, boxes)


def select_jobs(config: Config, targets: Sequence[str], *, all_channels: bool) -> Selection:
    """
    Turn the command-line operands into channel jobs, as mbsync 1.4 does.

    With C{all_channels} (C{-a}) every channel runs once in file order and
    the operands are ignored, even invalid ones. Otherwise each operand is
    first compared, whole, with the group names (so a group hides a channel
    of the same name, while C{name:box} never names a group), then taken as
    a channel reference. Unknown names and box lists on channels without
    Patterns are reported and skipped; the rest still runs.

    @param config: the configuration.
    @param targets: the operands after the options.
    @param all_channels: whether C{-a}/C{--all} was given.
    @return: the jobs and the error messages.
    """
    if not config.channels:
        return Selection((), (NO_CHANNELS_DEFINED,))
    if all_channels:
        return Selection(tuple(ChannelJob(channel) for channel in config.channels))
    jobs: list[ChannelJob] = []
    errors: list[str] = []
    for target in targets:
        group = config.group(target)
        if group is None:
            references: Iterable[tuple[str, tuple[str, ...] | None]] = (parse_target(target),)
        else:
            references = (
                (m.channel, None if m.boxes is None else tuple(b or INBOX for b in m.boxes))
                for m in group.members
            )
        for name, boxes in references:
            resolved = _resolve(config, name, boxes)
            if isinstance(resolved, str):
                errors.append(resolved)
            else:
                jobs.append(resolved)
    if not jobs:
        errors.append(NO_CHANNEL_SPECIFIED)
    return Selection(tuple(jobs), tuple(errors))


class ListScope(enum.Flag):
    """
    Which parts of a store a Patterns channel must list (mbsync 1.4
    C{LIST_INBOX}, C{LIST_PATH}, C{LIST_PATH_MAYBE}).

    INBOX is special in IMAP and Maildir: a pattern only lists it (and its
    children) when it starts with the literal C{INBOX}; C{*} or C{INB*}
    reach it only when the store's INBOX lives inside its Path hierarchy.
    """

    NONE = 0
    INBOX = enum.auto()
    """List INBOX and its children."""
    PATH = enum.auto()
    """List the store's Path hierarchy (or the whole IMAP namespace)."""
    PATH_MAYBE = enum.auto()
    """List Path if the store has one configured."""


def list_scope(channel: Channel, side: Side) -> ListScope:
    """
    What to list on one side of a Patterns channel.

    Each positive pattern, prefixed with the side's box prefix, is looked at:
    exactly C{INBOX} → INBOX; C{INBOX/...} → INBOX (Path when the store
    flattens, since flattened INBOX children live in Path); C{INBOX*} or
    C{INBOX%} → INBOX and maybe Path; anything else → Path.

    @param channel: the channel.
    @param side: the side whose store is listed.
    @return: the union over the patterns; L{ListScope.NONE} without Patterns.
    """
    prefix = channel.spec(side).box or ""
    flattened = channel.store(side).flatten is not None
    scope = ListScope.NONE
    for pattern in channel.patterns:
        if pattern.startswith("!"):
            continue
        full = prefix + pattern
        if not full.startswith(INBOX):
            scope |= ListScope.PATH
            continue
        after = full[len(INBOX) : len(INBOX) + 1]
        if after == "":
            scope |= ListScope.INBOX
        elif after == "/":
            scope |= ListScope.PATH if flattened else ListScope.INBOX
        elif after in ("*", "%"):
            scope |= ListScope.INBOX | ListScope.PATH_MAYBE
        else:
            scope |= ListScope.PATH
    return scope


def matches_pattern(name: str, pattern: str) -> bool:
    """
    IMAP-style glob: C{*} matches anything including the hierarchy delimiter
    C{/}, C{%} anything but C{/}; every other character (C{?} too) matches
    itself, case-sensitively.

    @param name: a box name relative to the channel's prefix.
    @param pattern: one pattern without its C{!}.
    @return: whether the whole name matches.
    """
    # Positions in name reachable after each pattern prefix; linear-ish and
    # free of the exponential backtracking a naive recursion has on "*a*a*".
    reachable = {0}
    for char in pattern:
        if char == "*":
            start = min(reachable)
            reachable = set(range(start, len(name) + 1))
        elif char == "%":
            grown: set[int] = set()
            for position in reachable:
                grown.add(position)
                while position < len(name) and name[position] != "/":
                    position += 1
                    grown.add(position)
            reachable = grown
        else:
            reachable = {p + 1 for p in reachable if p < len(name) and name[p] == char}
        if not reachable:
            return False
    return len(name) in reachable


def _selected(name: str, patterns: Sequence[str]) -> bool:
    """
    mbsync 1.4: the last pattern that matches decides; C{!} excludes.
    """
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if matches_pattern(name, pattern[1:] if negated else pattern):
            verdict = not negated
    return verdict


def is_inbox(name: str) -> bool:
    """
    @param name: a relative box name.
    @return: whether it is INBOX or below it (sorted first by mbsync).
    """
    return name == INBOX or name.startswith(INBOX + "/")


def expand_patterns(
    channel: Channel, far_boxes: Iterable[str], near_boxes: Iterable[str]
) -> tuple[str, ...]:
    """
    The relative box names a Patterns channel synchronizes.

    On each side, names outside the side's prefix are ignored and the prefix
    is stripped; a name is kept when the last pattern matching it is not a
    C{!} pattern. Names found on only one side are kept (C{Create} and
    C{Remove} decide later). The result is sorted with INBOX and its
    children first, then by code point. A box equal to the prefix itself
    has the empty relative name and is kept, as mbsync 1.4.4 does.

    @param channel: a channel with Patterns.
    @param far_boxes: the far store's listing (full names, C{/}-separated),
        obtained with L{list_scope}.
    @param near_boxes: the near store's listing.
    @return: the sorted relative names.
    """
    names: set[str] = set()
    for side, listing in ((Side.FAR, far_boxes), (Side.NEAR, near_boxes)):
        prefix = channel.spec(side).box or ""
        for box in listing:
            if not box.startswith(prefix):
                continue
            name = box[len(prefix) :]
            if _selected(name, channel.patterns):
                names.add(name)
    return tuple(sorted(names, key=lambda name: (not is_inbox(name), name)))


@record
class BoxPair:
    """
    One far box and its near counterpart.

    @ivar far: the far box's full name.
    @ivar near: the near box's full name.
    @ivar conflict: why this pair must not be synchronized (another pair
        reaches the same server box), or C{None}.
    """

    far: str
    near: str
    conflict: str | None = None

    def box(self, side: Side) -> str:
        """
        @param side: which side.
        @return: L{far} or L{near}.
        """
        return self.far if side is Side.FAR else self.near


def box_pairs(
    job: ChannelJob,
    far_boxes: Iterable[str] = (),
    near_boxes: Iterable[str] = (),
    names: NameMapping = MBSYNC14_NAMES,
) -> tuple[BoxPair, ...]:
    """
    The box pairs one job synchronizes.

    Without Patterns: the single pair named by C{Far}/C{Near} (INBOX when
    the box is omitted). With an explicit box list: each name prefixed on
    each side, in the given order. Otherwise L{expand_patterns} over the
    listings, prefixed again.

    @param job: the job.
    @param far_boxes: the far listing (only used for Patterns expansion).
    @param near_boxes: the near listing.
    @param names: how IMAP stores spell names on the server.
    @return: the pairs in processing order, those that would reach a server
        box another pair reaches marked with a L{BoxPair.conflict}.
    """
    channel = job.channel
    if not channel.patterns:
        return (BoxPair(channel.far.box or INBOX, channel.near.box or INBOX),)
    if job.boxes is not None:
        relative: Sequence[str] = job.boxes
    else:
        relative = expand_patterns(channel, far_boxes, near_boxes)
    far_prefix = channel.far.box or ""
    near_prefix = channel.near.box or ""
    pairs = [BoxPair(far_prefix + name, near_prefix + name) for name in relative]
    for side in Side:
        if isinstance(channel.store(side), IMAPStore):
            pairs = _refuse_aliases(channel, side, pairs, names)
    return tuple(pairs)


def _refuse_aliases(
    channel: Channel, side: Side, pairs: list[BoxPair], names: NameMapping
) -> list[BoxPair]:
    """
    Mark the pairs whose C{side} box the server spells like another pair's
    (issue 8: C{Café} next to C{Caf&AOk-} synchronized one server box into
    two folders). The name that is the server's own spelling keeps its
    pair; the others get a conflict naming both folders.
    """
    spelled: dict[str, set[str]] = {}
    for pair in pairs:
        box = pair.box(side)
        spelled.setdefault(names.spelling(box), set()).add(box)
    result = []
    for pair in pairs:
        box = pair.box(side)
        spelling = names.spelling(box)
        aliases = spelled[spelling] - {box}
        if pair.conflict is None and aliases and box != spelling:
            other = spelling if spelling in aliases else min(aliases)
            other_pair = next(p for p in pairs if p.box(side) == other)
            pair = replace(pair, conflict=_conflict(channel, side, pair, other_pair, spelling))
        result.append(pair)
    return result


def _conflict(channel: Channel, side: Side, pair: BoxPair, other: BoxPair, spelling: str) -> str:
    """
    The error refusing C{pair}, which reaches the same server box as
    C{other}.
    """
    mine, theirs = shown_name(pair.box(side.other)), shown_name(other.box(side.other))
    return (
        f"channel {channel.name}: {side.other.label} side boxes {mine} and {theirs} both "
        f"map to {side.label} side box {shown_name(spelling)}; not synchronizing {mine} "
        f"(that box is {theirs} in mbsync 1.4 naming)"
    )


def list_lines(channel: Channel, pairs: Iterable[BoxPair]) -> list[str]:
    """
    The C{mbsync -l} lines for one channel (without the C{chan:} header).

    mbsync prints bare names when neither side has a box prefix, and
    C{far <=> near} otherwise; a channel without Patterns always has one
    (C{INBOX} by default), so it prints C{INBOX <=> INBOX}.

    @param channel: the channel.
    @param pairs: its box pairs, from L{box_pairs}.
    @return: the lines, without newlines.
    """
    if channel.patterns and not channel.far.box and not channel.near.box:
        return [pair.far for pair in pairs]
    return [f"{pair.far} <=> {pair.near}" for pair in pairs]
