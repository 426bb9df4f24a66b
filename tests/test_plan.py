"""
Tests for L{msync.plan}: target selection and Patterns expansion.

Rows marked "verified" reproduce runs of mbsync 1.4.4 (C{mbsync -l}) on
scratch Maildir↔Maildir channels whose configurations are L{_INSIDE} (INBOX
inside Path) and L{_OUTSIDE} (INBOX outside Path), with the box listings a
Maildir store returns for them.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.trial.unittest import SynchronousTestCase

from msync.config.load import parse_config
from msync.config.schema import ALL_SIDES, SYNC_NONE, Config, SyncOp, SyncOps
from msync.model import Side
from msync.plan import (
    NO_CHANNEL_SPECIFIED,
    NO_CHANNELS_DEFINED,
    BoxPair,
    ChannelJob,
    ListScope,
    OperationOverrides,
    box_pairs,
    expand_patterns,
    is_inbox,
    list_lines,
    list_scope,
    matches_pattern,
    parse_target,
    select_jobs,
)

_STORES = """\
MaildirStore far
Path /m/far/
Inbox {far_inbox}
SubFolders Verbatim

MaildirStore near
Path /m/near/
Inbox {near_inbox}
SubFolders Verbatim
"""

_INSIDE = (
    _STORES.format(far_inbox="/m/far/INBOX", near_inbox="/m/near/INBOX")
    + """
Channel all
Far :far:
Near :near:
Patterns *

Channel pct
Far :far:
Near :near:
Patterns %

Channel neg
Far :far:
Near :near:
Patterns * !a* a/b

Channel single
Far :far:
Near :near:

Channel sub
Far :far:a/
Near :near:
Patterns *
Create Near

Group grp single all

Group all pct

Group boxes all:x,,y sub
"""
)

# Full names a Maildir store lists for _INSIDE (INBOX is a directory in Path).
_INSIDE_FAR = [
    "INBOX",
    "a",
    "a/b",
    "a/b/c",
    "b",
    "Sent",
    "x y",
    "zz",
    "Archive/2020",
    "Archive/2021",
]
_INSIDE_NEAR = ["INBOX", "a", "onlynear", "Sent", "Archive/2021"]

_OUTSIDE = (
    _STORES.format(far_inbox="/m/far-inbox", near_inbox="/m/near-inbox")
    + """
Channel star
Far :far:
Near :near:
Patterns *

Channel pct
Far :far:
Near :near:
Patterns %

Channel I
Far :far:
Near :near:
Patterns I*

Channel INBOX
Far :far:
Near :near:
Patterns INBOX

Channel INBOXs
Far :far:
Near :near:
Patterns INBOX*

Channel order
Far :far:
Near :near:
Patterns !a* *

Channel order2
Far :far:
Near :near:
Patterns * !a*

Channel q
Far :far:
Near :near:
Patterns %?a*

Channel both
Far :far:pp/
Near :near:pp/
Patterns *

Channel same
Far :far:INBOX
Near :near:INBOX

Channel far
Far :far:x
Near :near:
"""
)

# _OUTSIDE's Maildirs: what listing Path and listing INBOX return per side.
_OUTSIDE_PATH = {
    Side.FAR: ["a", "a.b", "x.y", "b c", "Ab", "INBOXfoo", "pp/z"],
    Side.NEAR: ["q", "pp/y"],
}
_OUTSIDE_INBOX = {Side.FAR: ["INBOX", "INBOX/sub"], Side.NEAR: ["INBOX"]}


def _config(text: str) -> Config:
    """
    Parse a test configuration.
    """
    return parse_config(text, "rc", home="/home/u")


def _outside_listing(config: Config, channel: str, side: Side) -> list[str]:
    """
    What a Maildir store with INBOX outside Path lists for L{list_scope}.
    """
    found = config.channel(channel)
    assert found is not None
    scope = list_scope(found, side)
    listing: list[str] = []
    if scope & ListScope.INBOX:
        listing += _OUTSIDE_INBOX[side]
    if scope & (ListScope.PATH | ListScope.PATH_MAYBE):
        listing += _OUTSIDE_PATH[side]
    return listing


def _names(config: Config, job: ChannelJob, far: Sequence[str], near: Sequence[str]) -> list[str]:
    """
    The C{mbsync -l} lines for one job.
    """
    return list_lines(job.channel, box_pairs(job, far, near))


class ParseTargetTests(SynchronousTestCase):
    """
    L{parse_target}.
    """

    def test_rows(self) -> None:
        """
        The name ends at the first colon; boxes split at commas and
        newlines; empty boxes are INBOX (verified: C{star:a,,b} lists
        C{a INBOX b}, C{star:} lists C{INBOX}, C{star:a:b} lists C{a:b},
        C{star:a\\nb,c} lists C{a b c}).
        """
        rows: list[tuple[str, tuple[str, tuple[str, ...] | None]]] = [
            ("chan", ("chan", None)),
            ("chan:", ("chan", ("INBOX",))),
            ("chan:a,,b", ("chan", ("a", "INBOX", "b"))),
            ("chan:x,", ("chan", ("x", "INBOX"))),
            ("chan:a:b", ("chan", ("a:b",))),
            ("chan:a\nb,c", ("chan", ("a", "b", "c"))),
            ("chan:b,a,a", ("chan", ("b", "a", "a"))),
            (":x", ("", ("x",))),
            ("", ("", None)),
        ]
        for argument, expected in rows:
            with self.subTest(argument=argument):
                self.assertEqual(parse_target(argument), expected)


class SelectJobsTests(SynchronousTestCase):
    """
    L{select_jobs}, verified row by row against mbsync 1.4.4.
    """

    def setUp(self) -> None:
        self.config = _config(_INSIDE)

    def jobs(
        self, *targets: str, all_channels: bool = False
    ) -> tuple[list[tuple[str, object]], list[str]]:
        selection = select_jobs(self.config, targets, all_channels=all_channels)
        return [(j.channel.name, j.boxes) for j in selection.jobs], list(selection.errors)

    def test_channel(self) -> None:
        """
        A channel name selects it without boxes.
        """
        self.assertEqual(self.jobs("single"), ([("single", None)], []))

    def test_group_shadows_channel(self) -> None:
        """
        The group C{all} hides the channel C{all} (verified: C{-l all} lists
        channel pct's boxes).
        """
        self.assertEqual(self.jobs("all"), ([("pct", None)], []))

    def test_box_list_never_names_group(self) -> None:
        """
        C{all:x,y} names the channel C{all} (verified).
        """
        self.assertEqual(
            self.jobs("single", "all:x,y"), ([("single", None), ("all", ("x", "y"))], [])
        )

    def test_group_members(self) -> None:
        """
        A group expands to its members in order, with their box lists
        (empty names = INBOX).
        """
        self.assertEqual(self.jobs("grp"), ([("single", None), ("all", None)], []))
        self.assertEqual(self.jobs("boxes"), ([("all", ("x", "INBOX", "y")), ("sub", None)], []))

    def test_duplicates_kept(self) -> None:
        """
        Naming a channel twice runs it twice (verified: C{nopat nopat} and
        C{star:x star:y} are listed twice, with headers).
        """
        self.assertEqual(self.jobs("single", "single"), ([("single", None), ("single", None)], []))

    def test_all(self) -> None:
        """
        C{-a} takes every channel in file order and ignores the operands,
        even unknown ones (verified: C{-l -a nosuch} exits 0).
        """
        self.assertEqual(
            self.jobs("nosuch", all_channels=True),
            ([(name, None) for name in ("all", "pct", "neg", "single", "sub")], []),
        )

    def test_unknown_continues(self) -> None:
        """
        Unknown names are reported and skipped; the rest still runs
        (verified: C{star nosuch nopat} lists two channels and exits 1).
        """
        self.assertEqual(
            self.jobs("single", "nosuch", "sub"),
            ([("single", None), ("sub", None)], ["No channel or group named 'nosuch' defined."]),
        )

    def test_unknown_with_boxes(self) -> None:
        """
        The message names only the channel part (verified: C{nosuch:x}).
        """
        self.assertEqual(
            self.jobs("nosuch:x"),
            ([], ["No channel or group named 'nosuch' defined.", NO_CHANNEL_SPECIFIED]),
        )

    def test_empty_name(self) -> None:
        """
        C{""} and C{:x} name the channel C{''} (verified).
        """
        for target in ("", ":x"):
            with self.subTest(target=target):
                self.assertEqual(
                    self.jobs(target),
                    ([], ["No channel or group named '' defined.", NO_CHANNEL_SPECIFIED]),
                )

    def test_no_patterns(self) -> None:
        """
        A box list on a channel without Patterns is refused, C{chan:} too
        (verified: C{nopat:x}, C{nopat:}).
        """
        for target in ("single:x", "single:"):
            with self.subTest(target=target):
                self.assertEqual(
                    self.jobs(target),
                    (
                        [],
                        [
                            "Cannot override mailbox in channel 'single' - no Patterns.",
                            NO_CHANNEL_SPECIFIED,
                        ],
                    ),
                )

    def test_nothing(self) -> None:
        """
        No operand and no C{-a} (verified: C{No channel specified. Try 'msync -h'}).
        """
        self.assertEqual(self.jobs(), ([], [NO_CHANNEL_SPECIFIED]))

    def test_no_channels_defined(self) -> None:
        """
        A configuration without channels fails even with C{-a} (verified).
        """
        config = _config("MaildirStore x\nPath /tmp/\n")
        for all_channels in (False, True):
            selection = select_jobs(config, ["x"], all_channels=all_channels)
            self.assertEqual((selection.jobs, selection.errors), ((), (NO_CHANNELS_DEFINED,)))


class OverrideTests(SynchronousTestCase):
    """
    L{OperationOverrides.apply}.
    """

    def test_replaces_given(self) -> None:
        """
        Given classes replace the channel's value; the others stay
        (verified: C{Create Both} + C{-Cf} creates only on far; C{Sync Pull}
        + C{-H} only pushes).
        """
        channel = _config(_INSIDE).channel("sub")
        assert channel is not None
        self.assertEqual(channel.create, frozenset({Side.NEAR}))
        changed = OperationOverrides(sync=SYNC_NONE, expunge=ALL_SIDES).apply(channel)
        self.assertEqual(changed.sync, SYNC_NONE)
        self.assertEqual(changed.expunge, ALL_SIDES)
        self.assertEqual(changed.create, frozenset({Side.NEAR}))
        forced = OperationOverrides(create=frozenset(), sync=SyncOps(SyncOp.NEW, SyncOp.NONE))
        self.assertEqual(forced.apply(channel).create, frozenset())
        self.assertEqual(forced.apply(channel).sync.pull, SyncOp.NEW)

    def test_nothing_given(self) -> None:
        """
        Empty overrides leave the channel equal.
        """
        channel = _config(_INSIDE).channel("all")
        assert channel is not None
        self.assertEqual(OperationOverrides().apply(channel), channel)


class MatchTests(SynchronousTestCase):
    """
    L{matches_pattern}.
    """

    def test_rows(self) -> None:
        """
        C{*} crosses C{/}, C{%} does not (but does cross C{.}, verified with
        C{a.b}); C{?} is literal; matching is case-sensitive and whole.
        """
        rows = [
            ("a", "*", True),
            ("a/b/c", "*", True),
            ("", "*", True),
            ("a/b", "%", False),
            ("a.b", "%", True),
            ("a/b", "a/%", True),
            ("a/b/c", "a/%", False),
            ("a/b/c", "a/%/c", True),
            ("a/b/c", "%/c", False),
            ("INBOXfoo", "I*", True),
            ("INBOXfoo", "i*", False),
            ("xa", "%?a*", False),
            ("x?a", "%?a*", True),
            ("Sent", "Sent", True),
            ("Sent", "Sen", False),
            ("Sent/x", "Sent*", True),
            ("aXbXc", "a*b*c", True),
            ("ab", "a*b*c", False),
            ("a" * 40, "*a" * 20 + "b", False),
            ("%", "%", True),
        ]
        for name, pattern, expected in rows:
            with self.subTest(name=name, pattern=pattern):
                self.assertEqual(matches_pattern(name, pattern), expected)

    def test_is_inbox(self) -> None:
        """
        INBOX and its children sort first; look-alikes do not.
        """
        self.assertTrue(is_inbox("INBOX"))
        self.assertTrue(is_inbox("INBOX/sub"))
        self.assertFalse(is_inbox("INBOXfoo"))
        self.assertFalse(is_inbox("Inbox"))


class ListScopeTests(SynchronousTestCase):
    """
    L{list_scope}: which listings each pattern needs.
    """

    def test_rows(self) -> None:
        """
        Only patterns starting with a literal C{INBOX} list INBOX; C{!}
        patterns need nothing.
        """
        config = _config(_OUTSIDE)
        rows = [
            ("star", ListScope.PATH),
            ("I", ListScope.PATH),
            ("INBOX", ListScope.INBOX),
            ("INBOXs", ListScope.INBOX | ListScope.PATH_MAYBE),
            ("order", ListScope.PATH),
            ("both", ListScope.PATH),
            ("same", ListScope.NONE),
        ]
        for name, expected in rows:
            channel = config.channel(name)
            assert channel is not None
            with self.subTest(channel=name):
                self.assertEqual(list_scope(channel, Side.FAR), expected)

    def test_prefix(self) -> None:
        """
        The prefix counts: C{INBOX/} + C{*} lists INBOX's children, or Path
        when the store flattens; C{INBOX} + C{*} is C{INBOX*}.
        """
        text = _STORES.format(far_inbox="/fi", near_inbox="/ni") + (
            "Flatten .\n\nChannel c\nFar :far:INBOX/\nNear :near:INBOX\nPatterns * !x\n"
        )
        channel = _config(text).channel("c")
        assert channel is not None
        self.assertEqual(list_scope(channel, Side.FAR), ListScope.INBOX)
        self.assertEqual(list_scope(channel, Side.NEAR), ListScope.INBOX | ListScope.PATH_MAYBE)
        text = text.replace("Far :far:INBOX/", "Far :near:INBOX/")
        channel = _config(text).channel("c")
        assert channel is not None
        self.assertEqual(list_scope(channel, Side.FAR), ListScope.PATH)


class ExpandTests(SynchronousTestCase):
    """
    L{expand_patterns}, L{box_pairs} and L{list_lines} reproduce
    C{mbsync -l} (all rows verified).
    """

    def test_inbox_inside_path(self) -> None:
        """
        With INBOX under Path, C{*} and C{%} reach it; later patterns win;
        boxes on one side only are kept; INBOX sorts first, then C{strcmp}.
        """
        config = _config(_INSIDE)
        rows = {
            "all": [
                "INBOX", "Archive/2020", "Archive/2021", "Sent", "a", "a/b", "a/b/c",
                "b", "onlynear", "x y", "zz",
            ],
            "pct": ["INBOX", "Sent", "a", "b", "onlynear", "x y", "zz"],
            "neg": [
                "INBOX", "Archive/2020", "Archive/2021", "Sent", "a/b", "b", "onlynear",
                "x y", "zz",
            ],
            "single": ["INBOX <=> INBOX"],
            "sub": [
                "a/INBOX <=> INBOX",
                "a/Archive/2021 <=> Archive/2021",
                "a/Sent <=> Sent",
                "a/a <=> a",
                "a/b <=> b",
                "a/b/c <=> b/c",
                "a/onlynear <=> onlynear",
            ],
        }  # fmt: skip
        for name, expected in rows.items():
            channel = config.channel(name)
            assert channel is not None
            with self.subTest(channel=name):
                lines = _names(config, ChannelJob(channel), _INSIDE_FAR, _INSIDE_NEAR)
                self.assertEqual(lines, expected)

    def test_inbox_outside_path(self) -> None:
        """
        With INBOX outside Path, only patterns starting with C{INBOX} reach
        it; C{INBOX*} also takes C{INBOX/sub} and Path's C{INBOXfoo}.
        """
        config = _config(_OUTSIDE)
        rows = {
            "star": ["Ab", "INBOXfoo", "a", "a.b", "b c", "pp/y", "pp/z", "q", "x.y"],
            "pct": ["Ab", "INBOXfoo", "a", "a.b", "b c", "q", "x.y"],
            "I": ["INBOXfoo"],
            "INBOX": ["INBOX"],
            "INBOXs": ["INBOX", "INBOX/sub", "INBOXfoo"],
            "order": ["Ab", "INBOXfoo", "a", "a.b", "b c", "pp/y", "pp/z", "q", "x.y"],
            "order2": ["Ab", "INBOXfoo", "b c", "pp/y", "pp/z", "q", "x.y"],
            "q": [],
            "both": ["pp/y <=> pp/y", "pp/z <=> pp/z"],
            "same": ["INBOX <=> INBOX"],
            "far": ["x <=> INBOX"],
        }
        for name, expected in rows.items():
            channel = config.channel(name)
            assert channel is not None
            with self.subTest(channel=name):
                far = _outside_listing(config, name, Side.FAR)
                near = _outside_listing(config, name, Side.NEAR)
                self.assertEqual(_names(config, ChannelJob(channel), far, near), expected)

    def test_explicit_boxes(self) -> None:
        """
        Explicit boxes keep their order and duplicates and get the prefixes
        (verified: C{star:b,a} lists C{b a}; C{sub:x,y} lists
        C{a/x <=> x}, C{a/y <=> y}; C{sub:} lists C{a/INBOX <=> INBOX}).
        """
        config = _config(_INSIDE)
        sub, star = config.channel("sub"), config.channel("all")
        assert sub is not None and star is not None
        self.assertEqual(_names(config, ChannelJob(star, ("b", "a", "a")), [], []), ["b", "a", "a"])
        self.assertEqual(
            _names(config, ChannelJob(sub, ("x", "y")), ["ignored"], []), ["a/x <=> x", "a/y <=> y"]
        )
        self.assertEqual(box_pairs(ChannelJob(sub, ("INBOX",))), (BoxPair("a/INBOX", "INBOX"),))

    def test_empty_relative_name_kept(self) -> None:
        """
        A box equal to the prefix itself has the empty relative name and is
        kept, as mbsync 1.4.4 C{-l} shows (C{Far :f:a} lists C{a <=> }).
        """
        channel = _config(_INSIDE).channel("sub")
        assert channel is not None
        self.assertEqual(expand_patterns(channel, ["a/", "a/x"], []), ("", "x"))

    def test_pair_box(self) -> None:
        """
        L{BoxPair.box} indexes by side.
        """
        pair = BoxPair("f", "n")
        self.assertEqual((pair.box(Side.FAR), pair.box(Side.NEAR)), ("f", "n"))


_IMAP_FAR = """\
IMAPAccount acc
Host imap.example
User u
Pass p

IMAPStore far
Account acc

MaildirStore near
Path /m/
Inbox /m/INBOX

MaildirStore other
Path /o/
Inbox /o/INBOX

Channel imap
Far :far:
Near :near:
Patterns *

Channel local
Far :other:
Near :near:
Patterns *
"""


class AliasTests(SynchronousTestCase):
    """
    Issue 8: no server box is paired with two differently named boxes.
    """

    def job(self, name: str) -> ChannelJob:
        """
        The job of a channel of L{_IMAP_FAR}.
        """
        channel = _config(_IMAP_FAR).channel(name)
        assert channel is not None
        return ChannelJob(channel)

    def test_utf8_folder_next_to_raw_one(self) -> None:
        """
        A local C{Café} next to the C{Caf&AOk-} pulled from the server (and
        C{Ärger} next to C{&AMQ-rger}) is refused with an error naming both
        folders; the server's own spelling keeps its pair.
        """
        pairs = box_pairs(
            self.job("imap"),
            ["INBOX", "Caf&AOk-", "&AMQ-rger"],
            ["INBOX", "Café", "Caf&AOk-", "Ärger", "&AMQ-rger", "Plain"],
        )
        refused = {pair.near: pair.conflict for pair in pairs if pair.conflict is not None}
        self.assertEqual(
            [pair.near for pair in pairs],
            ["INBOX", "&AMQ-rger", "Caf&AOk-", "Café", "Plain", "Ärger"],
        )
        self.assertEqual(sorted(refused), ["Café", "Ärger"])
        self.assertEqual(
            refused["Café"],
            "channel imap: near side boxes Café and Caf&AOk- both map to far side box "
            "Caf&AOk-; not synchronizing Café (that box is Caf&AOk- in mbsync 1.4 naming)",
        )
        self.assertIn("near side boxes Ärger and &AMQ-rger", refused["Ärger"])

    def test_ampersand(self) -> None:
        """
        C{Q&A} and C{Q&-A} are one server box; only C{Q&-A} is synchronized.
        """
        pairs = box_pairs(self.job("imap"), ["Q&-A"], ["Q&A", "Q&-A"])
        self.assertEqual(
            [(p.near, p.conflict is None) for p in pairs], [("Q&-A", True), ("Q&A", False)]
        )

    def test_alone_not_refused_here(self) -> None:
        """
        A lone non-canonical name has no alias: the pairing lets it through
        (the IMAP store then refuses to send it, see L{wire_argument}).
        """
        pairs = box_pairs(self.job("imap"), [], ["Café"])
        self.assertEqual(pairs, (BoxPair("Café", "Café"),))

    def test_maildir_channel_unaffected(self) -> None:
        """
        Between two Maildir stores C{Café} and C{Caf&AOk-} are two boxes.
        """
        pairs = box_pairs(self.job("local"), ["Café"], ["Caf&AOk-"])
        self.assertEqual([p.conflict for p in pairs], [None, None])

    def test_explicit_boxes(self) -> None:
        """
        Explicit box lists are checked too.
        """
        pairs = box_pairs(ChannelJob(self.job("imap").channel, ("Ärger", "&AMQ-rger")))
        self.assertEqual([p.conflict is None for p in pairs], [False, True])

    def test_escapes_shown_escaped(self) -> None:
        """
        A name with a terminal escape sequence is shown escaped.
        """
        pairs = box_pairs(self.job("imap"), ["a&ABs-b"], ["a\x1bb"])
        conflict = next(p.conflict for p in pairs if p.conflict is not None)
        self.assertIn("a\\x1bb", conflict)
        self.assertNotIn("\x1b", conflict)
