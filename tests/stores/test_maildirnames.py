"""
Tests for L{msync.stores.maildirnames}, with names and layouts observed in
real mbsync 1.4.4 runs.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from msync.errors import LayoutError, MailboxError, shown_name
from msync.model import Flags
from msync.stores import maildirnames
from msync.stores.maildirnames import (
    MaildirLayout,
    MaildirName,
    SubFolderStyle,
    box_name_for_entry,
    box_path,
    compare_unnumbered,
    format_uidvalidity,
    new_name,
    new_subdir,
    parse_name,
    parse_uidvalidity,
    set_flags_name,
    store_box_name,
    trash_name,
    unnumbered_sort_key,
    with_uid,
)

FS = Flags.FLAGGED | Flags.SEEN


class ParseTests(SynchronousTestCase):
    """
    File names parse as mbsync reads them.
    """

    rows = [
        ("1795402014.7647_2.vm,U=2:2,FS", ":", MaildirName("1795402014.7647_2.vm,U=2", 2, FS, "")),
        ("1001.1_1.host,U=1", ":", MaildirName("1001.1_1.host,U=1", 1, Flags.NONE, "")),
        ("1.2_3.h,U=7:2,Sab", ":", MaildirName("1.2_3.h,U=7", 7, Flags.SEEN, "ab")),
        ("1.2_3.h,U=7:2,aSFb", ":", MaildirName("1.2_3.h,U=7", 7, FS, "ab")),
        ("1.2_3.h,U=0:2,", ":", MaildirName("1.2_3.h,U=0", None, Flags.NONE, "")),
        ("1.2_3.h,U=x,U=5:2,", ":", MaildirName("1.2_3.h,U=x,U=5", None, Flags.NONE, "")),
        ("1.2_3.h,S=12,U=11:2,S", ":", MaildirName("1.2_3.h,S=12,U=11", 11, Flags.SEEN, "")),
        ("1.2_3.h,U=4;2,T", ";", MaildirName("1.2_3.h,U=4", 4, Flags.DELETED, "")),
        ("1.2_3.h,U=4:2,T", ";", MaildirName("1.2_3.h,U=4:2,T", 4, Flags.NONE, "")),
        ("plain", ":", MaildirName("plain", None, Flags.NONE, "")),
    ]

    def test_rows(self) -> None:
        """
        UID after the first C{,U=}; flags anywhere after C{<delim>2,}.
        """
        for name, delimiter, expected in self.rows:
            self.assertEqual(parse_name(name, delimiter), expected, name)


class BuildTests(SynchronousTestCase):
    """
    Names mbsync creates, renames and moves.
    """

    def test_new_name(self) -> None:
        """
        Matches mbsync's C{1795402014.7647_2.vm,U=2:2,FS}; host up to the
        first dot; no C{,U=} without a UID.
        """
        self.assertEqual(
            new_name(1795402014, 7647, 2, "vm.example.org", 2, FS),
            "1795402014.7647_2.vm,U=2:2,FS",
        )
        self.assertEqual(new_name(1, 2, 3, "vm", 1, Flags.NONE), "1.2_3.vm,U=1:2,")
        self.assertEqual(new_name(1, 2, 3, "vm", None, Flags.DRAFT, ";"), "1.2_3.vm;2,D")

    def test_subdir(self) -> None:
        """
        Seen messages go to cur/, others to new/.
        """
        self.assertEqual(new_subdir(Flags.SEEN | Flags.DRAFT), "cur")
        self.assertEqual(new_subdir(Flags.FLAGGED), "new")

    def test_set_flags(self) -> None:
        """
        Flag changes keep other info characters where mbsync puts them
        (verified: C{:2,Sa} plus R became C{:2,RSa}).
        """
        rows = [
            ("a,U=3:2,Sa", Flags.ANSWERED, Flags.NONE, "a,U=3:2,RSa"),
            ("a,U=3:2,Sa", Flags.DELETED, Flags.NONE, "a,U=3:2,STa"),
            ("a,U=3:2,FSa", Flags.NONE, Flags.FLAGGED, "a,U=3:2,Sa"),
            ("a,U=3:2,", FS, Flags.NONE, "a,U=3:2,FS"),
            ("a,U=3", FS | Flags.DRAFT, Flags.NONE, "a,U=3:2,DFS"),
            ("a,U=3:2,S", Flags.SEEN, Flags.SEEN, "a,U=3:2,"),
        ]
        for name, add, remove, expected in rows:
            self.assertEqual(set_flags_name(name, add, remove), expected, name)

    @given(st.text("DFPRSTab", max_size=8), st.integers(0, 63), st.integers(0, 63))
    def test_set_flags_letters(self, info: str, add: int, remove: int) -> None:
        """
        Any info part (repeated letters, keywords) changes as mbsync's
        C{maildir_set_msg_flags} changes it, whether the change was worked
        out before (for another name) or not, and with L{Flags} or ints.
        """
        add &= ~remove
        letters = list(info)
        for bit, letter in enumerate("DFPRST"):
            if letter in letters:
                if remove & (1 << bit):
                    letters.remove(letter)
            elif add & (1 << bit):
                position = 0
                while position < len(letters) and letter > letters[position]:
                    position += 1
                letters.insert(position, letter)
        expected = "".join(letters)
        first = set_flags_name(f"a,U=1:2,{info}", add, remove)
        again = set_flags_name(f"b,U=2:2,{info}", Flags(add), Flags(remove))
        self.assertEqual((first, again), (f"a,U=1:2,{expected}", f"b,U=2:2,{expected}"))

    def test_set_flags_cache_bounded(self) -> None:
        """
        The info parts worked out are kept up to a bound, then forgotten.
        """
        cache = maildirnames._changed_info
        bound = cache.cache_info().maxsize
        assert bound is not None
        cache.cache_clear()
        self.addCleanup(cache.cache_clear)
        for n in range(bound + 2):
            self.assertEqual(set_flags_name(f"x:2,{n}", Flags.SEEN, 0), f"x:2,{n}S")
            self.assertLessEqual(cache.cache_info().currsize, bound)
        self.assertEqual(set_flags_name("x:2,1", Flags.SEEN, 0), "x:2,1S")

    def test_with_uid(self) -> None:
        """
        UIDs go before the delimiter or at the end (verified:
        C{5000.2_9.host,S=12:2,S} became C{5000.2_9.host,S=12,U=11:2,S};
        C{1004.1_4.host} became C{1004.1_4.host,U=4}).
        """
        self.assertEqual(with_uid("5000.2_9.host,S=12:2,S", 11), "5000.2_9.host,S=12,U=11:2,S")
        self.assertEqual(with_uid("1004.1_4.host", 4), "1004.1_4.host,U=4")
        self.assertEqual(with_uid("a,U=0:2,S", 5), "a,U=5:2,S")
        self.assertEqual(with_uid("a;2,S", 5, ";"), "a,U=5;2,S")

    def test_trash_name(self) -> None:
        """
        Trash copies get a fresh base without C{,U=} and keep the info.
        """
        self.assertEqual(trash_name("1.1_1.h,U=5:2,ST", 9, 8, 7, "vm.x"), "9.8_7.vm:2,ST")
        self.assertEqual(trash_name("1.1_1.h,U=5", 9, 8, 7, "vm"), "9.8_7.vm")

    @given(
        st.integers(0, 2**32 - 1),
        st.integers(1, 2**32 - 1),
        st.integers(0, 63),
        st.integers(0, 63),
    )
    def test_round_trip(self, time: int, uid: int, flags: int, add: int) -> None:
        """
        Built names parse back; flag changes parse as the new flags.
        """
        name = new_name(time, 42, 1, "vm", uid, Flags(flags))
        parsed = parse_name(name)
        self.assertEqual((parsed.uid, parsed.flags, parsed.extra), (uid, Flags(flags), ""))
        renamed = parse_name(set_flags_name(name, Flags(add), Flags(flags & ~add)))
        self.assertEqual(renamed.flags, Flags(add))
        self.assertEqual(renamed.uid, uid)


class OrderTests(SynchronousTestCase):
    """
    Unnumbered files are ordered as mbsync orders them.
    """

    def test_order(self) -> None:
        """
        Seconds (shorter first), PID, counter, then the Q/M/# fields, then
        plain byte order.
        """
        names = [
            "1001.1_10.host",
            "999.5_1.host",
            "1001.1_2.host",
            "1001.2_1.host",
            "1001.M20P5.host",
            "1001.M3P9.host",
            "1000.P7Q2.host",
            "1000.P7Q1.host",
            "abc",
        ]
        self.assertEqual(
            sorted(names, key=unnumbered_sort_key),
            [
                "999.5_1.host",
                "1000.P7Q1.host",
                "1000.P7Q2.host",
                "1001.1_2.host",
                "1001.1_10.host",
                "1001.2_1.host",
                "1001.M3P9.host",
                "1001.M20P5.host",
                "abc",
            ],
        )

    def test_pid_wraparound(self) -> None:
        """
        A PID difference beyond 20000 counts as a wraparound.
        """
        self.assertGreater(compare_unnumbered("5.1_1.h", "5.30000_1.h"), 0)
        self.assertLess(compare_unnumbered("5.1_1.h", "5.300_1.h"), 0)


class UidValidityTests(SynchronousTestCase):
    """
    C{.uidvalidity} contents.
    """

    def test_rows(self) -> None:
        """
        Two numbers separated by white space; empty means create new.
        """
        self.assertEqual(parse_uidvalidity(b"1795402013\n5\n", "u"), (1795402013, 5))
        self.assertEqual(parse_uidvalidity(b"7 8", "u"), (7, 8))
        self.assertIsNone(parse_uidvalidity(b"", "u"))
        self.assertEqual(format_uidvalidity(1795402013, 5), b"1795402013\n5\n")

    def test_garbage(self) -> None:
        """
        Anything else is an error naming the file, as mbsync refuses it.
        """
        for data in (b"x\n", b"12\n", b"1234", b"\n\n"):
            error = self.assertRaises(MailboxError, parse_uidvalidity, data, "/m/.uidvalidity")
            self.assertEqual(str(error), "cannot read UIDVALIDITY in /m/.uidvalidity")


def layout(
    style: SubFolderStyle, flatten: str | None = None, map_inbox: str | None = None
) -> MaildirLayout:
    """
    A layout with Path C{/p/} and Inbox C{/i}.
    """
    path = None if style is SubFolderStyle.MAILDIRPP else "/p/"
    return MaildirLayout("st", path, "/i", style, flatten, map_inbox)


class BoxPathTests(SynchronousTestCase):
    """
    Box names map to directories as in mbsync's man page and real runs.
    """

    rows = [
        (SubFolderStyle.VERBATIM, "top/sub/subsub", "/p/top/sub/subsub"),
        (SubFolderStyle.VERBATIM, "INBOX/sub/subsub", "/i/sub/subsub"),
        (SubFolderStyle.VERBATIM, "INBOX", "/i"),
        (SubFolderStyle.VERBATIM, ".dot", "/p/.dot"),
        (SubFolderStyle.VERBATIM, "INBOXx", "/p/INBOXx"),
        (SubFolderStyle.MAILDIRPP, "top/sub/subsub", "/i/.top.sub.subsub"),
        (SubFolderStyle.MAILDIRPP, "INBOX/sub/subsub", "/i/..sub.subsub"),
        (SubFolderStyle.LEGACY, "top/sub/subsub", "/p/top/.sub/.subsub"),
        (SubFolderStyle.LEGACY, "INBOX/sub/subsub", "/i/.sub/.subsub"),
        (SubFolderStyle.UNSET, "top", "/p/top"),
    ]

    def test_rows(self) -> None:
        """
        Each style places boxes as documented.
        """
        for style, box, expected in self.rows:
            self.assertEqual(box_path(layout(style), box), expected, (style, box))

    def test_flatten_and_map_inbox(self) -> None:
        """
        Flatten joins levels with its delimiter (INBOX children end up
        under Path); MapInbox aliases INBOX.
        """
        flat = layout(SubFolderStyle.VERBATIM, flatten=".", map_inbox="Inbox")
        self.assertEqual(box_path(flat, "a/b"), "/p/a.b")
        self.assertEqual(box_path(flat, "INBOX/x"), "/p/INBOX.x")
        self.assertEqual(box_path(flat, "Inbox"), "/i")
        self.assertEqual(store_box_name(flat, "a/b"), "a.b")
        error = self.assertRaises(MailboxError, box_path, flat, "a.b")
        self.assertIn("contains flattened hierarchy delimiter", str(error))

    def test_unsafe_names(self) -> None:
        """
        Names that would escape the store or hit another box's subdirs
        are refused, naming the mailbox.
        """
        rows = [
            (SubFolderStyle.VERBATIM, "../etc"),
            (SubFolderStyle.VERBATIM, "a/../../x"),
            (SubFolderStyle.VERBATIM, "/abs"),
            (SubFolderStyle.VERBATIM, "a//b"),
            (SubFolderStyle.VERBATIM, "a/"),
            (SubFolderStyle.VERBATIM, ""),
            (SubFolderStyle.VERBATIM, "a\0b"),
            (SubFolderStyle.VERBATIM, "a/./b"),
            (SubFolderStyle.VERBATIM, "a/new"),
            (SubFolderStyle.VERBATIM, "INBOX/cur"),
            (SubFolderStyle.LEGACY, "a/.b"),
            (SubFolderStyle.LEGACY, ".."),
            (SubFolderStyle.MAILDIRPP, "INBOX/.."),
        ]
        for style, box in rows:
            error = self.assertRaises(MailboxError, box_path, layout(style), box)
            self.assertIn(f"mailbox '{shown_name(box)}'", str(error), (style, box))

    def test_mbsync_errors(self) -> None:
        """
        mbsync's own refusals: subfolders without a style, dots with
        Maildir++, no Path.
        """
        error = self.assertRaises(LayoutError, box_path, layout(SubFolderStyle.UNSET), "a/b")
        self.assertEqual(
            str(error),
            "Maildir error: accessing subfolder 'a/b', but store 'st' does not specify"
            " SubFolders style",
        )
        # mbsync: a bad store (the channel stops) outside INBOX, a bad box below it.
        self.assertEqual((error.label, error.ends_channel), ("", True))
        error = self.assertRaises(LayoutError, box_path, layout(SubFolderStyle.UNSET), "INBOX/a/b")
        self.assertFalse(error.ends_channel)
        error = self.assertRaises(LayoutError, box_path, layout(SubFolderStyle.MAILDIRPP), "a.b")
        self.assertIn("Maildir error: store 'st', folder 'a.b': SubFolders style", str(error))
        self.assertIn("Maildir++ does not support dots", str(error))
        no_path = MaildirLayout("st", None, "/i", SubFolderStyle.VERBATIM)
        error = self.assertRaises(MailboxError, box_path, no_path, "a")
        self.assertEqual(str(error), "store 'st' has no Path")


class ListingTests(SynchronousTestCase):
    """
    Directory entries map back to names as C{mbsync -l} listed them.
    """

    def test_rows(self) -> None:
        """
        Verified with mbsync -l: Maildir++ C{..isub} is INBOX/isub,
        C{.INBOX.x} is ignored; Legacy skips top-level dot entries and
        nested entries without a dot; a folder INBOX under Path is ignored.
        """
        rows = [
            (SubFolderStyle.MAILDIRPP, ".top.sub", False, "top/sub"),
            (SubFolderStyle.MAILDIRPP, "..isub", False, "INBOX/isub"),
            (SubFolderStyle.MAILDIRPP, ".INBOX.x", False, None),
            (SubFolderStyle.MAILDIRPP, "cur", False, None),
            (SubFolderStyle.LEGACY, "top/.sub", False, "top/sub"),
            (SubFolderStyle.LEGACY, "top/sub2", False, None),
            (SubFolderStyle.LEGACY, ".hidden", False, None),
            (SubFolderStyle.LEGACY, "INBOX", False, None),
            (SubFolderStyle.LEGACY, ".isub", True, "INBOX/isub"),
            (SubFolderStyle.VERBATIM, ".dot", False, ".dot"),
            (SubFolderStyle.VERBATIM, "top/sub", False, "top/sub"),
            (SubFolderStyle.VERBATIM, "isub", True, "INBOX/isub"),
        ]
        for style, entry, in_inbox, expected in rows:
            self.assertEqual(
                box_name_for_entry(layout(style), entry, in_inbox), expected, (style, entry)
            )
