# -*- test-case-name: tests.config.test_schema -*-
"""
Typed, immutable values for a parsed mbsync 1.4 configuration.

Invariants:
  - every class is a frozen slots dataclass; sequences are tuples, sets are
    frozensets, closed choices are enums;
  - values are already resolved: defaults applied, C{~} expanded in local
    paths, global channel options folded into each L{Channel} (precedence
    channel > global > built-in default); L{Channel.explicit} records which
    options the file set, so the command line can still override them;
  - passwords are only ever held in L{msync.model.Secret}, so C{repr} of any
    value here never shows one;
  - this module is stdlib + L0 only and does no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from msync.model import Secret, Side
from msync.records import record

__all__ = [
    "ALL_SIDES",
    "BoxSpec",
    "Channel",
    "ChannelSetting",
    "DEFAULT_TLS_VERSIONS",
    "Config",
    "GlobalOptions",
    "Group",
    "GroupMember",
    "IMAPAccount",
    "IMAPStore",
    "MaildirStore",
    "NO_SIDES",
    "SSLType",
    "ShellCommand",
    "Store",
    "SubFolders",
    "SYNC_ALL",
    "SYNC_ALL_15",
    "SYNC_NONE",
    "SyncOp",
    "SyncOps",
    "SyncState",
    "SyncStateKind",
    "TLSVersion",
    "merge_sides15",
    "merge_sync15",
    "parse_side",
    "parse_sides",
    "parse_sync",
]

NO_SIDES: frozenset[Side] = frozenset()
"""C{None} for C{Create}, C{Remove}, C{Expunge} and C{ExpungeSolo}."""

ALL_SIDES: frozenset[Side] = frozenset({Side.FAR, Side.NEAR})
"""C{Both} for C{Create}, C{Remove}, C{Expunge} and C{ExpungeSolo}."""


class SSLType(enum.Enum):
    """
    Transport security of an IMAP account (C{SSLType}, 1.5 C{TLSType}).
    """

    NONE = "None"
    STARTTLS = "STARTTLS"
    IMAPS = "IMAPS"


class TLSVersion(enum.Enum):
    """
    One protocol version accepted by C{SSLVersions} / 1.5 C{TLSVersions}.
    """

    SSLV3 = "SSLv3"
    TLSV1 = "TLSv1"
    TLSV1_1 = "TLSv1.1"
    TLSV1_2 = "TLSv1.2"
    TLSV1_3 = "TLSv1.3"


DEFAULT_TLS_VERSIONS: frozenset[TLSVersion] = frozenset(
    {TLSVersion.TLSV1, TLSVersion.TLSV1_1, TLSVersion.TLSV1_2, TLSVersion.TLSV1_3}
)
"""mbsync 1.4's default C{SSLVersions TLSv1 TLSv1.1 TLSv1.2 TLSv1.3}."""


class SubFolders(enum.Enum):
    """
    On-disk naming of hierarchical Maildir boxes (C{SubFolders}).
    """

    VERBATIM = "Verbatim"
    MAILDIRPP = "Maildir++"
    LEGACY = "Legacy"


class SyncOp(enum.Flag):
    """
    The type flags of the C{Sync} matrix (one column each).

    C{OLD} exists only in isync 1.5 and is never part of L{SyncOp.ALL}.
    """

    NONE = 0
    NEW = enum.auto()
    RENEW = enum.auto()
    DELETE = enum.auto()
    FLAGS = enum.auto()
    OLD = enum.auto()
    ALL = NEW | RENEW | DELETE | FLAGS


@record
class SyncOps:
    """
    The C{Sync} operation matrix: which operation types propagate in which
    direction.

    @ivar pull: operations applied to the near side (far → near).
    @ivar push: operations applied to the far side (near → far).
    """

    pull: SyncOp = SyncOp.ALL
    push: SyncOp = SyncOp.ALL

    def towards(self, side: Side) -> SyncOp:
        """
        The operations whose target is C{side}.

        @param side: the side being written to.
        @return: L{push} for the far side, L{pull} for the near side.
        """
        return self.push if side is Side.FAR else self.pull


SYNC_NONE = SyncOps(SyncOp.NONE, SyncOp.NONE)
"""C{Sync None}."""


_TYPE_WORDS: dict[str, SyncOp] = {
    "new": SyncOp.NEW,
    "renew": SyncOp.RENEW,
    "upgrade": SyncOp.RENEW,
    "delete": SyncOp.DELETE,
    "gone": SyncOp.DELETE,
    "flags": SyncOp.FLAGS,
    "old": SyncOp.OLD,
}


_TYPE_WORDS_15 = _TYPE_WORDS | {
    "all": SyncOp.ALL | SyncOp.OLD,
    "full": SyncOp.ALL | SyncOp.OLD,
}


def parse_sync(words: Sequence[str], *, isync15: bool = False, where: str = "") -> SyncOps:
    """
    Merge every C{Sync} word of one section (or of the global options) into
    the matrix, as mbsync 1.4 does (C{getopt_helper} + C{merge_ops}).

    Style 1: C{Pull}/C{Push} select rows and C{New}/C{ReNew}/C{Delete}/
    C{Flags} columns; a class left out means all of it; the selected cells
    are the intersection. Style 2: compounds such as C{PullNew} assert one
    cell each; then a plain type word asserts its whole column and a plain
    direction its whole row, and asserting a cell twice is a conflict.
    C{All}/C{Full} = C{Pull Push}; C{None}/C{Noop} add nothing. 1.5 words
    C{Upgrade}, C{Gone} (= C{ReNew}, C{Delete}), C{Old} and
    C{PullFull}/C{PushFull} are accepted (the configuration is read again
    as 1.4.4 reads it once the generation is known). With C{isync15},
    the words are read and merged as isync 1.5 does (L{merge_sync15}:
    C{All}/C{Full} are every type I{including} C{Old}, not both
    directions).

    @param words: the arguments of all C{Sync} lines, in order.
    @param isync15: read and merge the words as isync 1.5 does
        (L{merge_sync15}, with its words for a conflict).
    @param where: for isync 1.5's messages (C{in Channel 'c'}).
    @return: the matrix.
    @raise ValueError: with mbsync's message, C{invalid Sync arg 'x'} or
        C{Conflicting Sync args specified.} (1.5: see L{merge_sync15})
    """
    if isync15:
        return _parse_sync15(words, where)
    types = SyncOp.NONE
    pull = push = False
    cells = {Side.NEAR: SyncOp.NONE, Side.FAR: SyncOp.NONE}
    type_words = _TYPE_WORDS
    for word in words:
        folded = word.casefold()
        direction = {"pull": Side.NEAR, "push": Side.FAR}.get(folded[:4])
        if direction is not None and folded[4:] in type_words:
            cells[direction] |= type_words[folded[4:]]
        elif direction is not None and folded[4:] == "full":
            # isync 1.5's PullFull/PushFull (1.4.4 refuses them: the
            # configuration is read again as it reads it).
            cells[direction] |= SyncOp.ALL
        elif folded in type_words:
            types |= type_words[folded]
        elif folded in ("pull", "push", "all", "full"):
            pull = pull or folded != "push"
            push = push or folded != "pull"
        elif folded not in ("none", "noop"):
            raise ValueError(f"invalid Sync arg '{word}'")
    near, far = cells[Side.NEAR], cells[Side.FAR]
    if not (near or far):
        if not (types or pull or push):
            return SYNC_NONE
        types = types or SyncOp.ALL
        both = not (pull or push)
        return SyncOps(
            pull=types if pull or both else SyncOp.NONE,
            push=types if push or both else SyncOp.NONE,
        )
    if types & (near | far):
        raise ValueError("Conflicting Sync args specified.")
    near, far = near | types, far | types
    if (pull and near) or (push and far):
        raise ValueError("Conflicting Sync args specified.")
    return SyncOps(pull=SyncOp.ALL if pull else near, push=SyncOp.ALL if push else far)


SYNC_ALL_15 = SyncOp.ALL | SyncOp.OLD
"""isync 1.5's C{All}/C{Full}/C{PullFull}: every type, C{Old} included."""


def merge_sync15(
    *,
    types: SyncOp,
    pull: bool,
    push: bool,
    near: SyncOp,
    far: SyncOp,
    noop: bool,
    where: str,
) -> SyncOps:
    """
    isync 1.5's merge of the C{Sync} options of one place (a section, the
    global options or the command line), with its words for a conflict.

    Directed cells (C{PullNew}, C{-Ln}) come first: an undirected type
    adds its column, a bare direction (only with no type and not both)
    its row's default types, which must not be asserted yet. Without
    cells, a missing direction means both and a missing type means the
    default types (all but C{Old}). C{None} (C{-0}) with anything else is
    a conflict.

    @param types: the undirected types (C{New}, C{-n}, C{All}...).
    @param pull: C{Pull}/C{-L} alone.
    @param push: C{Push}/C{-H} alone.
    @param near: the directed cells towards the near side (C{PullNew}).
    @param far: the directed cells towards the far side (C{PushNew}).
    @param noop: C{None}/C{Noop}/C{-0} given.
    @param where: C{in Channel 'c'}, C{in global config section} or
        C{on the command line}.
    @return: the matrix.
    @raise ValueError: C{Conflicting Sync options specified ...},
        C{Redundant ...} or C{Invalid combination of simple and compound
        Sync options ...}.
    """
    conflicting = ValueError(f"Conflicting Sync options specified {where}.")
    redundant = ValueError(f"Redundant Sync options specified {where}.")
    invalid = ValueError(f"Invalid combination of simple and compound Sync options {where}.")
    if near or far:
        if noop:
            raise conflicting
        if types & (near | far):
            raise redundant
        if pull:
            if push or types:
                raise invalid
            if near & SyncOp.ALL:
                raise redundant
            near |= SyncOp.ALL
        elif push:
            if types:
                raise invalid
            if far & SyncOp.ALL:
                raise redundant
            far |= SyncOp.ALL
        else:
            near, far = near | types, far | types
        return SyncOps(pull=near, push=far)
    if not (types or pull or push):
        return SYNC_NONE
    if noop:
        raise conflicting
    types = types or SyncOp.ALL
    both = not (pull or push)
    return SyncOps(
        pull=types if pull or both else SyncOp.NONE,
        push=types if push or both else SyncOp.NONE,
    )


def merge_sides15(
    keyword: str, *, both: bool, sides: frozenset[Side], none: bool, where: str
) -> frozenset[Side]:
    """
    isync 1.5's merge of one of C{Create}, C{Remove}, C{Expunge},
    C{ExpungeSolo} (or C{-C}, ...) in one place: C{None} (C{--no-create})
    with a side is a conflict, C{Both} (C{-C}) with a side redundant.

    @param keyword: the option name, for messages (C{"Create"}).
    @param both: C{Both} given.
    @param sides: the sides given one by one.
    @param none: C{None} given.
    @param where: as for L{merge_sync15}.
    @raise ValueError: C{Conflicting Create options specified ...} or
        C{Redundant Create options specified ...}.
    """
    if none and (both or sides):
        raise ValueError(f"Conflicting {keyword} options specified {where}.")
    if both and sides:
        raise ValueError(f"Redundant {keyword} options specified {where}.")
    return ALL_SIDES if both else sides


def _parse_sync15(words: Sequence[str], where: str) -> SyncOps:
    """
    C{Sync} words as isync 1.5 reads them, merged by L{merge_sync15}.
    """
    types = near = far = SyncOp.NONE
    pull = push = noop = False
    for word in words:
        folded = word.casefold()
        direction, rest = folded[:4], folded[4:]
        if direction in ("pull", "push") and (rest in _TYPE_WORDS or rest == "full"):
            op = SYNC_ALL_15 if rest == "full" else _TYPE_WORDS[rest]
            if direction == "pull":
                near |= op
            else:
                far |= op
        elif folded in ("pull", "push"):
            pull = pull or folded == "pull"
            push = push or folded == "push"
        elif folded in _TYPE_WORDS_15:
            types |= _TYPE_WORDS_15[folded]
        elif folded in ("none", "noop"):
            noop = True
        else:
            raise ValueError(f"invalid Sync arg '{word}'")
    return merge_sync15(
        types=types, pull=pull, push=push, near=near, far=far, noop=noop, where=where
    )


def _parse_sides15(keyword: str, words: Sequence[str], where: str) -> frozenset[Side]:
    """
    C{Create}/... words as isync 1.5 reads them, merged by L{merge_sides15}.
    """
    both = none = False
    sides: frozenset[Side] = frozenset()
    for word in words:
        folded = word.casefold()
        if folded == "both":
            both = True
        elif folded == "none":
            none = True
        elif folded in _SIDE_WORDS:
            sides |= _SIDE_WORDS[folded]
        else:
            raise ValueError(f"invalid {keyword} arg '{word}'")
    return merge_sides15(keyword, both=both, sides=sides, none=none, where=where)


_SIDE_WORDS: dict[str, frozenset[Side]] = {
    "far": frozenset({Side.FAR}),
    "master": frozenset({Side.FAR}),
    "near": frozenset({Side.NEAR}),
    "slave": frozenset({Side.NEAR}),
    "none": frozenset(),
}


def parse_sides(
    keyword: str, words: Sequence[str], *, isync15: bool = False, where: str = ""
) -> frozenset[Side]:
    """
    Merge every word of one section's C{Create}, C{Remove}, C{Expunge} or
    C{ExpungeSolo} lines: C{None}, C{Far}, C{Near}, C{Both} (legacy
    C{Master} = far, C{Slave} = near), case-insensitive. Like mbsync,
    C{Both} together with an explicit side is a conflict; anything else
    accumulates.

    @param keyword: the option name, for messages (C{"Create"}).
    @param words: the arguments of all its lines, in order.
    @param isync15: merge as isync 1.5 does (L{merge_sides15}).
    @param where: for isync 1.5's messages (C{in Channel 'c'}).
    @return: the sides.
    @raise ValueError: C{invalid Create arg 'x'} or C{Conflicting Create
        args specified.} (1.5: see L{merge_sides15})
    """
    if isync15:
        return _parse_sides15(keyword, words, where)
    both = False
    sides: frozenset[Side] = frozenset()
    for word in words:
        folded = word.casefold()
        if folded == "both":
            both = True
        elif folded in _SIDE_WORDS:
            sides |= _SIDE_WORDS[folded]
        else:
            raise ValueError(f"invalid {keyword} arg '{word}'")
    if both and sides:
        raise ValueError(f"Conflicting {keyword} args specified.")
    return ALL_SIDES if both else sides


def parse_side(keyword: str, word: str) -> Side:
    """
    One side word, C{Far} or C{Near} (legacy C{Master}/C{Slave}), as for
    isync 1.5 C{ExpireSide}.

    @raise ValueError: C{invalid ExpireSide arg 'x'}.
    """
    sides = _SIDE_WORDS.get(word.casefold())
    if not sides:
        raise ValueError(f"invalid {keyword} arg '{word}'")
    return next(iter(sides))


SYNC_ALL = SyncOps(SyncOp.ALL, SyncOp.ALL)
"""C{Sync All}, the built-in default."""


class SyncStateKind(enum.Enum):
    """
    How a channel's sync state file name is formed (mbsync C{prepare_state}).
    """

    IN_BOX = "in-box"
    """C{SyncState *}: C{.mbsyncstate} inside the near Maildir box."""
    PREFIX = "prefix"
    """Channel C{SyncState P}: C{P} + near box name, C{/} replaced by C{!}."""
    GLOBAL = "global"
    """Global C{SyncState D} (or the default C{~/.mbsync/}): C{D} +
    C{:farstore:farbox_:nearstore:nearbox} using C{FieldDelimiter}."""


@record
class SyncState:
    """
    Where a channel keeps its sync state.

    @ivar kind: how the file name is formed.
    @ivar path: the (tilde-expanded) prefix; C{""} for L{SyncStateKind.IN_BOX}.
    """

    kind: SyncStateKind
    path: str = ""


class ChannelSetting(enum.Enum):
    """
    A channel option that may be set in a Channel section or globally; used
    in L{Channel.explicit} so command-line overrides know what the file said.
    """

    SYNC = "Sync"
    CREATE = "Create"
    REMOVE = "Remove"
    EXPUNGE = "Expunge"
    EXPUNGE_SOLO = "ExpungeSolo"
    SYNC_STATE = "SyncState"
    COPY_ARRIVAL_DATE = "CopyArrivalDate"
    MAX_MESSAGES = "MaxMessages"
    EXPIRE_UNREAD = "ExpireUnread"
    EXPIRE_SIDE = "ExpireSide"


@record
class ShellCommand:
    """
    A C{UserCmd} / C{PassCmd} value; running it is not the parser's job.

    @ivar command: the shell command line, without the C{+} prefix.
    @ivar interactive: C{True} when written with a leading C{+} (the command
        uses the terminal, e.g. prompts).
    """

    command: str
    interactive: bool = False


@record
class IMAPAccount:
    """
    Connection settings of an C{IMAPAccount} section, or of the account
    options written inline in an C{IMAPStore} (then C{name} is the store's).

    @ivar name: the account name.
    @ivar host: C{Host} (an C{imaps:} prefix already stripped), or C{None}.
    @ivar port: C{Port}, resolved: 993 for IMAPS, else 143.
    @ivar timeout: C{Timeout} in seconds, 0 = none.
    @ivar user: C{User}.
    @ivar user_cmd: C{UserCmd}.
    @ivar password: C{Pass}.
    @ivar pass_cmd: C{PassCmd}.
    @ivar use_keychain: C{UseKeychain}.
    @ivar tunnel: C{Tunnel} shell command.
    @ivar auth_mechs: C{AuthMechs}, upper-cased; C{("*",)} by default.
    @ivar ssl_type: C{SSLType}, resolved (C{NONE} with a tunnel, else
        C{STARTTLS}, unless set).
    @ivar ssl_versions: C{SSLVersions}.
    @ivar system_certificates: C{SystemCertificates}.
    @ivar certificate_files: every C{CertificateFile}, tilde-expanded.
    @ivar client_certificate: C{ClientCertificate}, tilde-expanded.
    @ivar client_key: C{ClientKey}, tilde-expanded.
    @ivar cipher_string: C{CipherString}.
    @ivar pipeline_depth: C{PipelineDepth}; C{None} = unlimited.
    @ivar disabled_extensions: C{DisableExtension[s]}, upper-cased.
    """

    name: str
    host: str | None = None
    port: int = 143
    timeout: int = 20
    user: str | None = None
    user_cmd: ShellCommand | None = None
    password: Secret | None = None
    pass_cmd: ShellCommand | None = None
    use_keychain: bool = False
    tunnel: str | None = None
    auth_mechs: tuple[str, ...] = ("*",)
    ssl_type: SSLType = SSLType.STARTTLS
    ssl_versions: frozenset[TLSVersion] = DEFAULT_TLS_VERSIONS
    system_certificates: bool = True
    certificate_files: tuple[str, ...] = ()
    client_certificate: str | None = None
    client_key: str | None = None
    cipher_string: str | None = None
    pipeline_depth: int | None = None
    disabled_extensions: tuple[str, ...] = ()


@record
class IMAPStore:
    """
    An C{IMAPStore} section.

    @ivar name: the store name.
    @ivar account: the referenced C{Account} or the inline account options.
    @ivar path: C{Path}, the server-side prefix (disables NAMESPACE use).
    @ivar use_namespace: C{UseNamespace}.
    @ivar path_delimiter: C{PathDelimiter}, or C{None} (from the server).
    @ivar subscribed_only: C{SubscribedOnly}.
    @ivar trash: C{Trash} box.
    @ivar trash_new_only: C{TrashNewOnly}.
    @ivar trash_remote_new: C{TrashRemoteNew}.
    @ivar max_size: C{MaxSize} in bytes, 0 = unlimited (a channel's
        C{MaxSize} is already applied here).
    @ivar map_inbox: C{MapInbox} box.
    @ivar flatten: C{Flatten} delimiter.
    """

    name: str
    account: IMAPAccount
    path: str | None = None
    use_namespace: bool = True
    path_delimiter: str | None = None
    subscribed_only: bool = False
    trash: str | None = None
    trash_new_only: bool = False
    trash_remote_new: bool = False
    max_size: int = 0
    map_inbox: str | None = None
    flatten: str | None = None


@record
class MaildirStore:
    """
    A C{MaildirStore} section.

    @ivar name: the store name.
    @ivar path: C{Path}, tilde-expanded, trailing C{/} kept (it is a prefix:
        C{~/Mail/} means "inside the directory", C{~/Mail/x-} a name prefix).
    @ivar inbox: C{Inbox}, tilde-expanded; default C{~/Maildir}.
    @ivar subfolders: C{SubFolders}, or C{None} when unset (mbsync then
        fails on the first subfolder it meets).
    @ivar alt_map: C{AltMap}.
    @ivar info_delimiter: C{InfoDelimiter}, default the global
        C{FieldDelimiter}.
    @ivar trash: C{Trash} box.
    @ivar trash_new_only: C{TrashNewOnly}.
    @ivar trash_remote_new: C{TrashRemoteNew}.
    @ivar max_size: C{MaxSize} in bytes, 0 = unlimited.
    @ivar map_inbox: C{MapInbox} box.
    @ivar flatten: C{Flatten} delimiter.
    """

    name: str
    inbox: str
    path: str | None = None
    subfolders: SubFolders | None = None
    alt_map: bool = False
    info_delimiter: str = ":"
    trash: str | None = None
    trash_new_only: bool = False
    trash_remote_new: bool = False
    max_size: int = 0
    map_inbox: str | None = None
    flatten: str | None = None


Store = IMAPStore | MaildirStore
"""Any store section."""


@record
class BoxSpec:
    """
    A channel side, C{:store:box}.

    @ivar store: the store name.
    @ivar box: the box (a prefix when the channel has Patterns), or C{None}
        when omitted (C{:store:}); without Patterns that means INBOX.
    """

    store: str
    box: str | None = None


@record
class Channel:
    """
    A C{Channel} section with global options and defaults folded in.

    @ivar name: the channel name.
    @ivar far: the C{Far} (legacy C{Master}) spec.
    @ivar near: the C{Near} (legacy C{Slave}) spec.
    @ivar far_store: the store named by L{far}.
    @ivar near_store: the store named by L{near}.
    @ivar patterns: C{Patterns} in file order, C{!} kept; empty = one box.
    @ivar sync: the C{Sync} matrix.
    @ivar create: sides on which missing boxes are created.
    @ivar remove: sides to which box deletions propagate.
    @ivar expunge: sides expunged.
    @ivar expunge_solo: 1.5 C{ExpungeSolo} sides.
    @ivar sync_state: where the state lives.
    @ivar copy_arrival_date: C{CopyArrivalDate}.
    @ivar max_messages: C{MaxMessages}, 0 = unlimited.
    @ivar expire_unread: C{ExpireUnread}; C{None} when unset.
    @ivar expire_side: 1.5 C{ExpireSide}; the near side by default.
    @ivar max_size: the channel's own C{MaxSize} (already applied to both
        stores), or C{None}.
    @ivar explicit: options set in this section or globally; the others
        carry built-in defaults.
    """

    name: str
    far: BoxSpec
    near: BoxSpec
    far_store: Store
    near_store: Store
    patterns: tuple[str, ...] = ()
    sync: SyncOps = SYNC_ALL
    create: frozenset[Side] = NO_SIDES
    remove: frozenset[Side] = NO_SIDES
    expunge: frozenset[Side] = NO_SIDES
    expunge_solo: frozenset[Side] = NO_SIDES
    sync_state: SyncState = SyncState(SyncStateKind.GLOBAL, "~/.mbsync/")
    copy_arrival_date: bool = False
    max_messages: int = 0
    expire_unread: bool | None = None
    expire_side: Side = Side.NEAR
    max_size: int | None = None
    explicit: frozenset[ChannelSetting] = frozenset()

    def spec(self, side: Side) -> BoxSpec:
        """
        @param side: which side.
        @return: L{far} or L{near}.
        """
        return self.far if side is Side.FAR else self.near

    def store(self, side: Side) -> Store:
        """
        @param side: which side.
        @return: L{far_store} or L{near_store}.
        """
        return self.far_store if side is Side.FAR else self.near_store


@record
class GroupMember:
    """
    One channel reference in a Group, C{chan} or C{chan:box1,box2}.

    @ivar channel: the channel name.
    @ivar boxes: the box list overriding the channel's Patterns, or C{None}.
        An empty name in the list means INBOX.
    """

    channel: str
    boxes: tuple[str, ...] | None = None


@record
class Group:
    """
    A C{Group} section.

    @ivar name: the group name (groups hide channels of the same name on
        the command line).
    @ivar members: the channel references in file order.
    """

    name: str
    members: tuple[GroupMember, ...] = ()


@record
class GlobalOptions:
    """
    Options outside any section.

    @ivar fsync: C{FSync}.
    @ivar field_delimiter: C{FieldDelimiter}.
    @ivar buffer_limit: C{BufferLimit} in bytes.
    @ivar sync: global C{Sync}, or C{None} when not given.
    @ivar create: global C{Create}, or C{None}.
    @ivar remove: global C{Remove}, or C{None}.
    @ivar expunge: global C{Expunge}, or C{None}.
    @ivar expunge_solo: global C{ExpungeSolo}, or C{None}.
    @ivar sync_state: global C{SyncState} (default C{~/.mbsync/} expanded).
    @ivar copy_arrival_date: global C{CopyArrivalDate}, or C{None}.
    @ivar max_messages: global C{MaxMessages}, or C{None}.
    @ivar expire_unread: global C{ExpireUnread}, or C{None}.
    @ivar expire_side: global C{ExpireSide}, or C{None}.
    """

    fsync: bool = True
    field_delimiter: str = ":"
    buffer_limit: int = 10 * 1024 * 1024
    sync: SyncOps | None = None
    create: frozenset[Side] | None = None
    remove: frozenset[Side] | None = None
    expunge: frozenset[Side] | None = None
    expunge_solo: frozenset[Side] | None = None
    sync_state: SyncState = SyncState(SyncStateKind.GLOBAL, "~/.mbsync/")
    copy_arrival_date: bool | None = None
    max_messages: int | None = None
    expire_unread: bool | None = None
    expire_side: Side | None = None


@record
class Config:
    """
    A whole parsed configuration file.

    @ivar filename: the name used in error messages.
    @ivar global_options: the options outside sections.
    @ivar accounts: C{IMAPAccount} sections in file order.
    @ivar stores: store sections in file order (channel C{MaxSize} applied).
    @ivar channels: channels in file order.
    @ivar groups: groups in file order.
    @ivar notices: notices for the CLI to print to stderr unless C{-qq},
        in order, each exactly as mbsync prints it (C{"Notice: ..."}).
    @ivar warnings: warnings for the CLI to print to stderr unless C{-qq},
        each exactly as mbsync prints it (C{"Warning: ..."}).
    """

    filename: str
    global_options: GlobalOptions
    accounts: tuple[IMAPAccount, ...] = ()
    stores: tuple[Store, ...] = ()
    channels: tuple[Channel, ...] = ()
    groups: tuple[Group, ...] = ()
    notices: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def channel(self, name: str) -> Channel | None:
        """
        @param name: a channel name (case-sensitive).
        @return: that channel, or C{None}.
        """
        return next((c for c in self.channels if c.name == name), None)

    def group(self, name: str) -> Group | None:
        """
        @param name: a group name (case-sensitive).
        @return: that group, or C{None}.
        """
        return next((g for g in self.groups if g.name == name), None)

    def store(self, name: str) -> Store | None:
        """
        @param name: a store name (case-sensitive).
        @return: that store, or C{None}.
        """
        return next((s for s in self.stores if s.name == name), None)
