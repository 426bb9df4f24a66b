# -*- test-case-name: tests.stores.test_maildirnames -*-
"""
Maildir file names, C{.uidvalidity} contents and folder paths, as mbsync 1.4
makes and reads them.

Invariants:
  - L1: pure string logic; no file system access, no clock (times, PIDs and
    host names are parameters).
  - Names are built and parsed exactly as mbsync 1.4 does, so a Maildir
    shared by mbsync and msync keeps one UID per file and one flag syntax:
    C{<time>.<pid>_<n>.<host>,U=<uid><delim>2,<FLAGS>}; the UID is the
    number after the first C{,U=}; flags are the letters C{DFPRST} anywhere
    after the first C{<delim>2,}; other info characters are preserved.
  - Box names coming from the other side never map outside the store:
    L{box_path} rejects C{..}, C{.} and empty components, absolute names,
    NUL, and names that would land inside another box's C{cur}/C{new}/C{tmp}
    or, for Maildir++ and Legacy, collide with the dot-prefixed subfolder
    syntax.
"""

from __future__ import annotations

import enum
import functools
import re

from msync.errors import LayoutError, MailboxError, shown_name
from msync.model import ALL_BITS, Flags
from msync.records import record

_UINT_MASK = 0xFFFFFFFF
_FLAG_ORDER = "DFPRST"
_SPACE = " \t\n\v\f\r"

# The usual C{,U=} value: ASCII digits right after the marker.
_DIGITS = re.compile(r"[0-9]+")
_SUBDIRS = frozenset({"cur", "new", "tmp"})


@record
class MaildirName:
    """
    A parsed Maildir file name.

    @ivar base: the name up to the info part (C{<delim>2,...}), C{,U=}
        included; the whole name if it has no info part.
    @ivar uid: the UID after the first C{,U=}, or C{None} (absent or 0).
    @ivar flags: the C{DFPRST} flags of the info part.
    @ivar extra: the other characters of the info part (e.g. Dovecot
        keyword letters), in order.
    """

    base: str
    uid: int | None
    flags: Flags
    extra: str


def _strtoul(text: str) -> int:
    # strtoul(text, NULL, 10) truncated to a C unsigned int.
    position = 0
    while position < len(text) and text[position] in _SPACE:
        position += 1
    negative = position < len(text) and text[position] == "-"
    if position < len(text) and text[position] in "+-":
        position += 1
    start = position
    while position < len(text) and "0" <= text[position] <= "9":
        position += 1
    if position == start:
        return 0
    value = min(int(text[start:position]), 2**64 - 1)
    if negative:
        value = -value % 2**64
    return value & _UINT_MASK


def parse_uid(name: str) -> int | None:
    """
    The UID mbsync reads from a file name: the number after the first
    C{,U=}; C{None} if there is none or it is 0.
    """
    marker = name.find(",U=")
    if marker < 0:
        return None
    # Digits straight after the marker (every name mbsync or msync wrote):
    # one regular-expression match instead of strtoul's walk.
    digits = _DIGITS.match(name, marker + 3)
    if digits is not None:
        return (min(int(digits.group()), 2**64 - 1) & _UINT_MASK) or None
    return _strtoul(name[marker + 3 :]) or None


def parse_name(name: str, delimiter: str = ":") -> MaildirName:
    """
    Parse a Maildir file name as mbsync 1.4 does.

    @param delimiter: the store's InfoDelimiter.
    """
    prefix = delimiter + "2,"
    info_at = name.find(prefix)
    if info_at < 0:
        return MaildirName(name, parse_uid(name), Flags.NONE, "")
    info = name[info_at + 3 :]
    return MaildirName(
        base=name[:info_at],
        uid=parse_uid(name),
        flags=Flags.from_letters(info),
        extra="".join(c for c in info if c not in _FLAG_ORDER),
    )


def short_hostname(hostname: str) -> str:
    """
    The host part of new file names: the host name up to the first C{.}.
    mbsync 1.4 does not escape C{/} or the delimiter in it.
    """
    return hostname.split(".", 1)[0]


def info_suffix(flags: Flags, delimiter: str = ":") -> str:
    """
    C{<delim>2,<FLAGS>}, flags in C{DFPRST} order.
    """
    bits = int(flags) & ALL_BITS
    letters = _LETTERS_OF.get(bits)
    if letters is None:
        letters = _LETTERS_OF[bits] = Flags(bits).letters()
    return f"{delimiter}2,{letters}"


# Flags' letters by value (64 at most).
_LETTERS_OF: dict[int, str] = {}


def new_name(
    time: int,
    pid: int,
    counter: int,
    hostname: str,
    uid: int | None,
    flags: Flags,
    delimiter: str = ":",
) -> str:
    """
    The name mbsync gives a message it stores:
    C{<time>.<pid>_<n>.<host>,U=<uid><delim>2,<FLAGS>}; without C{,U=} when
    C{uid} is C{None} (messages stored into Trash). The info part is there
    even in C{new/}, as in mbsync.
    """
    base = f"{time}.{pid}_{counter}.{short_hostname(hostname)}"
    if uid is not None:
        base += f",U={uid}"
    return base + info_suffix(flags, delimiter)


def new_subdir(flags: Flags) -> str:
    """
    Where mbsync puts a message it stores: C{cur} if seen, else C{new}.
    """
    return "cur" if flags & Flags.SEEN else "new"


def set_flags_name(name: str, add: int, remove: int, delimiter: str = ":") -> str:
    """
    The new name after a flag change, as mbsync's C{maildir_set_msg_flags}:
    a removed flag loses its first occurrence, an added one is inserted
    before the first info character not smaller than it, other characters
    stay; without an info part, C{<delim>2,<added>} is appended. The file
    always moves to C{cur/}.

    @param add: the flags to add (L{Flags} or their int bits).
    @param remove: the flags to remove.
    """
    prefix = delimiter + "2,"
    info_at = name.find(prefix)
    add, remove = add & ALL_BITS, remove & ALL_BITS
    if info_at < 0:
        return name + info_suffix(Flags(add), delimiter)
    return name[: info_at + 3] + _changed_info(name[info_at + 3 :], add, remove)


# A box holds few distinct info parts: each change of one is worked out
# once per run (a bounded cache).
@functools.lru_cache(maxsize=4096)
def _changed_info(info: str, add: int, remove: int) -> str:
    # set_flags_name's work on the letters after "2,".
    letters = list(info)
    for bit, letter in enumerate(_FLAG_ORDER):
        flag = 1 << bit
        if letter in letters:
            if remove & flag:
                letters.remove(letter)
        elif add & flag:
            position = 0
            while position < len(letters) and letter > letters[position]:
                position += 1
            letters.insert(position, letter)
    return "".join(letters)


def with_uid(name: str, uid: int, delimiter: str = ":") -> str:
    """
    The name mbsync gives a foreign file when it assigns C{uid}: a present
    C{,U=<digits>} is replaced, else C{,U=<uid>} goes before the first
    delimiter character or at the end. The file stays in its subdirectory.
    """
    marker = name.find(",U=")
    if marker >= 0:
        end = marker + 3
        while end < len(name) and "0" <= name[end] <= "9":
            end += 1
    else:
        marker = end = name.find(delimiter)
        if marker < 0:
            return f"{name},U={uid}"
    return f"{name[:marker]},U={uid}{name[end:]}"


def trash_name(
    name: str, time: int, pid: int, counter: int, hostname: str, delimiter: str = ":"
) -> str:
    """
    The name of a message moved into a Maildir Trash: a fresh
    C{<time>.<pid>_<n>.<host>} (so no C{,U=}) plus the original info part.
    """
    info_at = name.find(delimiter + "2,")
    info = name[info_at:] if info_at >= 0 else ""
    return f"{time}.{pid}_{counter}.{short_hostname(hostname)}{info}"


# Ordering unnumbered files (mbsync's maildir_compare for equal UIDs).


def _atoi(text: str) -> int:
    position = 0
    while position < len(text) and text[position] in _SPACE:
        position += 1
    sign = 1
    if position < len(text) and text[position] in "+-":
        sign = -1 if text[position] == "-" else 1
        position += 1
    start = position
    while position < len(text) and "0" <= text[position] <= "9":
        position += 1
    return sign * int(text[start:position]) if position > start else 0


def _leading_uint(text: str) -> tuple[int, str]:
    # strtoul without white space skipping subtleties: (value, rest).
    end = 0
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return (_strtoul(text[:end]) if end else 0), text[end:]


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _pid_difference(difference: int) -> int:
    # mbsync: treat a big PID jump as a wraparound.
    return -difference if difference > 20000 or difference < -20000 else difference


def _compare_fields(left: str, right: str) -> int | None:
    left_number, left_rest = _leading_uint(left)
    if left_number:
        right_number, right_rest = _leading_uint(right)
        if not right_number:
            return None
        difference = left_number - right_number
        if difference:
            return _pid_difference(difference)
        left_seq = _atoi(left_rest[1:]) if left_rest[:1] == "_" else 0
        right_seq = _atoi(right_rest[1:]) if right_rest[:1] == "_" else 0
        return left_seq - right_seq
    left_end, right_end = left.find("."), right.find(".")
    if left_end < 0 or right_end < 0:
        return None
    left_field, right_field = left[:left_end], right[:right_end]
    for marker in "#M":
        if marker in left_field and marker in right_field:
            return _atoi(left_field[left_field.index(marker) + 1 :]) - _atoi(
                right_field[right_field.index(marker) + 1 :]
            )
    if "P" in left_field and "P" in right_field:
        difference = _atoi(left_field[left_field.index("P") + 1 :]) - _atoi(
            right_field[right_field.index("P") + 1 :]
        )
        if difference:
            return _pid_difference(difference)
        if "Q" in left_field and "Q" in right_field:
            return _atoi(left_field[left_field.index("Q") + 1 :]) - _atoi(
                right_field[right_field.index("Q") + 1 :]
            )
    return None


def compare_unnumbered(left: str, right: str) -> int:
    """
    Order two file names without UIDs as mbsync does before numbering them:
    the seconds field (shorter is smaller, then textually), then the
    C{<pid>_<n>} or C{#}/C{M}/C{P}/C{Q} fields, then plain byte order.

    @return: negative, zero or positive, like C{strcmp}.
    """
    left_dot, right_dot = left.find("."), right.find(".")
    if left_dot >= 0 and right_dot >= 0:
        if left_dot != right_dot:
            return _sign(left_dot - right_dot)
        if left[:left_dot] != right[:right_dot]:
            return -1 if left[:left_dot] < right[:right_dot] else 1
        result = _compare_fields(left[left_dot + 1 :], right[right_dot + 1 :])
        if result is not None:
            return _sign(result)
    left_bytes = left.encode("utf-8", "surrogateescape")
    right_bytes = right.encode("utf-8", "surrogateescape")
    return (left_bytes > right_bytes) - (left_bytes < right_bytes)


#: Sort key for unnumbered file names (mbsync's order).
unnumbered_sort_key = functools.cmp_to_key(compare_unnumbered)


# .uidvalidity


def parse_uidvalidity(data: bytes, filename: str) -> tuple[int, int] | None:
    """
    Parse a C{.uidvalidity} file (C{"<UIDVALIDITY>\\n<last UID>\\n"}), of
    which mbsync reads the first 127 bytes.

    @return: (UIDVALIDITY, last assigned UID), or C{None} for an empty file
        (mbsync then creates a new UIDVALIDITY).
    @raise MailboxError: the contents are not two numbers (mbsync refuses
        to reset them, to protect the sync state).
    """
    head = data[:127]
    if not head:
        return None
    text = head.split(b"\0", 1)[0].decode("ascii", "replace")
    values = _scan_two(text)
    if values is None:
        raise MailboxError(f"cannot read UIDVALIDITY in {shown_name(filename)}")
    return values


def _scan_two(text: str) -> tuple[int, int] | None:
    # sscanf("%u\n%u"): the "\n" matches any white space, even none.
    first = _scan_number(text, 0)
    if first is None:
        return None
    position = first[1]
    while position < len(text) and text[position] in _SPACE:
        position += 1
    second = _scan_number(text, position)
    if second is None:
        return None
    return first[0], second[0]


def _scan_number(text: str, position: int) -> tuple[int, int] | None:
    while position < len(text) and text[position] in _SPACE:
        position += 1
    start = position
    if position < len(text) and text[position] in "+-":
        position += 1
    digits = position
    while position < len(text) and "0" <= text[position] <= "9":
        position += 1
    if position == digits:
        return None
    return _strtoul(text[start:position]), position


def format_uidvalidity(uid_validity: int, last_uid: int) -> bytes:
    """
    The C{.uidvalidity} contents mbsync writes.
    """
    return f"{uid_validity}\n{last_uid}\n".encode("ascii")


# Folder layout.


class SubFolderStyle(enum.Enum):
    """
    The C{SubFolders} setting of a Maildir store.
    """

    UNSET = "unset"
    VERBATIM = "Verbatim"
    MAILDIRPP = "Maildir++"
    LEGACY = "Legacy"


@record
class MaildirLayout:
    """
    What decides where a box lives in a Maildir store.

    @ivar store: the store's name, for messages.
    @ivar path: C{Path} as configured (mbsync concatenates it with the box
        name, so it normally ends in C{/}), or C{None}.
    @ivar inbox: C{Inbox}, without trailing C{/}.
    @ivar style: C{SubFolders}.
    @ivar flatten: C{Flatten} delimiter, or C{None}.
    @ivar map_inbox: C{MapInbox} box name, or C{None}.
    """

    store: str
    path: str | None
    inbox: str
    style: SubFolderStyle = SubFolderStyle.UNSET
    flatten: str | None = None
    map_inbox: str | None = None


def store_box_name(layout: MaildirLayout, box: str) -> str:
    """
    The store-side name of canonical box C{box}: C{MapInbox} aliases
    C{INBOX}, and C{Flatten} turns C{/} into its delimiter.

    @raise MailboxError: the canonical name already contains the Flatten
        delimiter (mbsync refuses it too).
    """
    if layout.map_inbox is not None and box == layout.map_inbox:
        return "INBOX"
    if layout.flatten is None:
        return box
    if layout.flatten in box:
        raise MailboxError(
            f"canonical mailbox name '{shown_name(box)}' contains flattened hierarchy delimiter"
        )
    return box.replace("/", layout.flatten)


def canonical_box_name(layout: MaildirLayout, name: str) -> str:
    """
    The canonical name of store-side box C{name} (inverse of
    L{store_box_name} for names that are not C{MapInbox}).
    """
    if layout.flatten is not None:
        return name.replace(layout.flatten, "/")
    return name


def _check_safe(layout: MaildirLayout, box: str) -> None:
    def refuse(why: str) -> MailboxError:
        return MailboxError(f"store '{layout.store}': refusing mailbox '{shown_name(box)}': {why}")

    if not box:
        raise refuse("empty name")
    if "\0" in box:
        raise refuse("NUL in name")
    if box.startswith("/"):
        raise refuse("absolute name")
    components = box.split("/")
    for index, component in enumerate(components):
        if component in ("", ".", ".."):
            raise refuse(f"invalid path component '{component}'")
        if layout.style is SubFolderStyle.LEGACY and component.startswith("."):
            raise refuse("component starts with '.' (Legacy subfolder marker)")
        nested = index > 0 or components[0] == "INBOX"
        if layout.style is SubFolderStyle.VERBATIM and nested and component in _SUBDIRS:
            raise refuse(f"component '{component}' is a Maildir subdirectory")


def box_path(layout: MaildirLayout, box: str) -> str:
    """
    The directory of canonical box C{box}, as mbsync 1.4 computes it
    (C{maildir_select_box}, C{maildir_join_path}):

      - C{INBOX} is C{Inbox}; C{INBOX/x} is below C{Inbox}, other boxes
        below C{Path} (concatenated as is);
      - Verbatim: C{top/sub}; Legacy: C{top/.sub}; Maildir++: everything in
        C{Inbox} as C{.top.sub} (children of INBOX as C{..sub}).

    @raise MailboxError: unsafe names (see module invariants) or no
        C{Path} for a box that needs one; L{LayoutError} for subfolders
        without a C{SubFolders} style or dots with Maildir++ (mbsync's
        messages).
    """
    name = store_box_name(layout, box)
    if name == "INBOX":
        return layout.inbox
    _check_safe(layout, name)
    in_inbox = name.startswith("INBOX/")
    rest = name[5:] if in_inbox else name
    style = layout.style
    if "/" in rest and style is SubFolderStyle.UNSET:
        raise LayoutError(
            f"Maildir error: accessing subfolder '{rest}', but store '{layout.store}' "
            "does not specify SubFolders style",
            ends_channel=not in_inbox,
        )
    if style is SubFolderStyle.MAILDIRPP:
        if "." in rest:
            raise LayoutError(
                f"Maildir error: store '{layout.store}', folder '{rest}': SubFolders style "
                "Maildir++ does not support dots in mailbox names",
                ends_channel=not in_inbox,
            )
        return layout.inbox + "/." + rest.replace("/", ".")
    if in_inbox:
        prefix = layout.inbox
    elif layout.path is None:
        raise MailboxError(f"store '{layout.store}' has no Path")
    else:
        prefix = layout.path
    if style is SubFolderStyle.VERBATIM:
        return prefix + rest
    return prefix + rest.replace("/", "/.")


def box_name_for_entry(layout: MaildirLayout, relative: str, in_inbox: bool) -> str | None:
    """
    The canonical box name mbsync lists for a Maildir directory (one with
    C{cur/}), given its path relative to C{Path} or, with C{in_inbox},
    relative to C{Inbox} (for Maildir++ always C{Inbox}, one entry).

    @return: the name, or C{None} where mbsync's listing skips the entry
        (a folder named C{INBOX} where it would be ambiguous, Legacy entries
        with the wrong dot prefix, Maildir++ entries without a dot).
    """
    if layout.style is SubFolderStyle.MAILDIRPP:
        if not relative.startswith(".") or len(relative) == 1:
            return None
        entry = relative[1:]
        if entry.startswith("."):
            if len(entry) == 1:
                return None
            name = "INBOX/" + entry[1:].replace(".", "/")
        else:
            if entry == "INBOX" or entry.startswith("INBOX."):
                return None
            name = entry.replace(".", "/")
        return canonical_box_name(layout, name)
    components = relative.split("/")
    if layout.style is SubFolderStyle.LEGACY:
        stripped = []
        for index, component in enumerate(components):
            needs_dot = in_inbox or index > 0
            if component.startswith(".") != needs_dot:
                return None
            stripped.append(component[1:] if needs_dot else component)
        components = stripped
    if not in_inbox and components[0] == "INBOX":
        return None
    name = "/".join(components)
    return canonical_box_name(layout, "INBOX/" + name if in_inbox else name)
