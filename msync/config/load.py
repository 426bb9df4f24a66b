# -*- test-case-name: tests.config.test_load,tests.config.test_account -*-
"""
mbsync 1.4 configuration semantics: directives → a frozen L{Config}.

Invariants:
  - L{parse_config} is pure: the home directory, C{~user} lookup and the
    "is this file readable" check are parameters; only L{load_config} and
    the default lookups it passes in touch the file system;
  - like mbsync 1.4.4, parsing goes on after an error (the bad line, or
    after an unknown keyword outside sections the lines up to the next
    blank one, are dropped; stores and accounts are kept) and one
    L{ConfigError} carrying every error in mbsync's order is raised at the
    end; each is worded as mbsync words it, with mbsync's location or, for
    checks mbsync does at the end of a section or file, none (the
    section's first line is still kept in C{line});
  - notices and warnings are collected into the L{Config}, never printed;
  - stores and accounts must be defined before they are referenced, as in
    mbsync; group members are not checked here (mbsync checks them only for
    the channels named on the command line).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Mapping
from dataclasses import field, replace
from typing import Any, TypeVar

from msync.config.account import (
    BOX_OPS,
    CHANNEL_OPTIONS,
    CHANNEL_VALUE_OPTIONS,
    CHANNEL_VALUE_SETTINGS,
    STORE_OPTIONS,
    AccountContext,
    AccountDraft,
    ChannelOptions,
    Option,
    OptionTable,
    apply_option,
    flag,
    local_path,
    parse_delimiter,
    text,
)
from msync.config.schema import (
    NO_SIDES,
    SYNC_ALL,
    BoxSpec,
    Channel,
    ChannelSetting,
    Config,
    GlobalOptions,
    Group,
    GroupMember,
    IMAPAccount,
    IMAPStore,
    MaildirStore,
    Store,
    SubFolders,
    SyncState,
    SyncStateKind,
)
from msync.config.syntax import Directive, Reader, max_size_limit
from msync.errors import ConfigError
from msync.model import Side
from msync.records import mutable_record, record

__all__ = ["default_config_path", "load_config", "parse_config"]

UserHome = Callable[[str], str | None]
"""Maps a user name to its home directory, or C{None} if there is no such user."""

FileError = Callable[[str], str | None]
"""Returns why a file cannot be read (C{strerror} text), or C{None} if it can."""

MASTER_SLAVE_NOTICE = "Notice: Master/Slave are deprecated; use Far/Near instead."

_SECTIONS = ("IMAPAccount", "IMAPStore", "MaildirStore", "Channel", "Group")


def _no_users(user: str) -> str | None:
    """
    The pure default for C{~user} lookups: nobody is known.
    """
    return None


def _always_readable(path: str) -> str | None:
    """
    The pure default for certificate checks: every file is readable.
    """
    return None


@record
class _Paths:
    """
    How local paths are expanded.

    @ivar home: the home directory for C{~}.
    @ivar user_home: the lookup for C{~user}.
    @ivar base: what a relative path is relative to: C{""} (the current
        directory, mbsync 1.4) or the configuration file's directory with
        a trailing C{/} (isync 1.5's C{expand_strdup}).
    """

    home: str
    user_home: UserHome
    base: str = ""

    def expand(self, path: str) -> str:
        """
        Expand a leading C{~} or C{~user}; unknown users are left alone.
        """
        if not path.startswith("~"):
            if self.base and not path.startswith("/"):
                return self.base + path
            return path
        user, slash, rest = path[1:].partition("/")
        base = self.home if user == "" else self.user_home(user)
        if base is None:
            return path
        return base.rstrip("/") + "/" + rest if slash else base


# --- keyword tables ----------------------------------------------------------


def _buffer_limit(directive: Directive, context: AccountContext) -> int:
    """
    C{BufferLimit}: a size, not zero; mbsync's parse_size yields 0 after
    its error, which is then refused too.
    """
    try:
        limit = directive.size_value()
    except ConfigError as error:
        context.report(error)
        limit = 0
    if limit == 0:
        raise directive.error("BufferLimit cannot be zero")
    return limit


def _path_delimiter(directive: Directive, context: AccountContext) -> str:
    """
    C{PathDelimiter}: one character.
    """
    delimiter = directive.value()
    if len(delimiter) != 1:
        raise directive.error("Path delimiter must be exactly one character long")
    return delimiter


GLOBAL_OPTIONS: OptionTable = {
    "fsync": Option("fsync", flag),
    "fielddelimiter": Option("field_delimiter", lambda d, c: parse_delimiter(d, "Field")),
    "bufferlimit": Option("buffer_limit", _buffer_limit),
}
"""The options valid only outside sections: fields of L{GlobalOptions}."""

IMAP_STORE_OPTIONS: OptionTable = {
    "path": Option("path", text),
    "usenamespace": Option("use_namespace", flag),
    "subscribedonly": Option("subscribed_only", flag),
    "pathdelimiter": Option("path_delimiter", _path_delimiter),
    **STORE_OPTIONS,
}
"""
An IMAPStore section's own options: fields of L{IMAPStore} (C{Account} and
the account options are handled apart).
"""

MAILDIR_STORE_OPTIONS: OptionTable = {
    "path": Option("path", local_path),
    "inbox": Option("inbox", local_path),
    "altmap": Option("alt_map", flag),
    "infodelimiter": Option("info_delimiter", lambda d, c: parse_delimiter(d, "Info")),
    "subfolders": Option("subfolders", lambda d, c: _subfolders(d)),
    **STORE_OPTIONS,
}
"""A MaildirStore section's options: fields of L{MaildirStore}."""

# Keywords that read all their words (mbsync loops get_arg over them), by
# section (None = outside sections); every other keyword reads one word and
# mbsync reports the next as an excess token.
_ACCOUNT_LISTS = frozenset(
    {
        "authmech",
        "authmechs",
        "disableextension",
        "disableextensions",
        "sslversion",
        "sslversions",
        "tlsversions",
    }
)
_LISTS: dict[str | None, frozenset[str]] = {
    None: frozenset({"sync"} | BOX_OPS.keys()),
    "imapaccount": _ACCOUNT_LISTS,
    "imapstore": _ACCOUNT_LISTS,
    "maildirstore": frozenset(),
    "channel": frozenset({"sync", "pattern", "patterns"} | BOX_OPS.keys()),
    "group": frozenset({"channel", "channels"}),
}


# --- the parser --------------------------------------------------------------


@mutable_record
class _ChannelDraft:
    """
    A Channel section awaiting the final store objects.
    """

    name: str
    header: Directive
    far: tuple[str, str | None] | None = None
    near: tuple[str, str | None] | None = None
    patterns: list[str] = field(default_factory=list)
    options: ChannelOptions = field(default_factory=ChannelOptions)
    max_size: int | None = None


class _Parser:
    """
    Walks the lines once, building each section as it ends. Like mbsync, it
    goes on after an error (dropping the bad line, or the lines up to the
    next blank one after an unknown keyword outside sections) and fails at
    the end with every error.
    """

    def __init__(
        self,
        filename: str,
        paths: _Paths,
        file_error: FileError,
        isync15: bool = False,
        isync14: bool = False,
    ) -> None:
        self.filename = filename
        self.isync15 = isync15
        self.isync14 = isync14
        self.paths = paths
        self.file_error = file_error
        self.reader: Reader | None = None
        self.notices: list[str] = []
        self.warnings: list[str] = []
        self.globals = GlobalOptions(sync_state=SyncState(SyncStateKind.GLOBAL, ""))
        self.global_channel = ChannelOptions()
        self.accounts: dict[str, IMAPAccount] = {}
        self.stores: dict[str, Store] = {}
        self.channels: list[_ChannelDraft] = []
        self.groups: list[Group] = []
        self.in_sections = False
        self.legacy_noticed = False

    def report(self, error: ConfigError) -> None:
        """
        Record an error and go on.
        """
        assert self.reader is not None
        self.reader.report(error)

    def legacy(self) -> None:
        """
        Note one Master/Slave spelling; mbsync says so once per file.
        """
        if not self.legacy_noticed:
            self.legacy_noticed = True
            self.notices.append(MASTER_SLAVE_NOTICE)

    def run(self, text: str) -> Config:
        """
        Parse the whole text.

        @raise ConfigError: carrying every error, in mbsync's order.
        """
        self.globals = replace(
            self.globals,
            sync_state=SyncState(SyncStateKind.GLOBAL, self.paths.expand("~/.mbsync/")),
        )
        reader = self.reader = Reader(text, self.filename)
        for directive in reader.statements():
            folded = directive.keyword.casefold()
            if directive.is_keyword(*_SECTIONS):
                self._section(directive)
                self.in_sections = True
            elif (folded in GLOBAL_OPTIONS or folded in CHANNEL_OPTIONS) and not self._unknown14(
                folded
            ):
                reader.apply(directive, self._global, folded in _LISTS[None])
            else:
                self.report(
                    directive.error(
                        f"'{directive.keyword}' is not a recognized section-starting"
                        " or global keyword"
                    )
                )
                reader.finish(directive, 2)
                reader.skip_section()
        # mbsync merges the global Sync/Create/... words at the end of the file.
        conflict = self.global_channel.merge(self.isync15, "in global config section")
        if conflict is not None:
            self.report(conflict)
        if reader.errors:
            raise ConfigError.collect(reader.errors)
        self._finish_globals()
        return self._finish()

    def _unknown14(self, folded: str) -> bool:
        """
        Whether C{folded} is an isync 1.5 keyword that mbsync 1.4.4, which
        this parse follows, does not know.
        """
        return self.isync14 and folded in _ISYNC15_KEYWORDS

    def _global(self, directive: Directive) -> None:
        """
        Handle a global option; mbsync applies it even after sections, but
        then reports that too.
        """
        try:
            self._global_value(directive)
        except ConfigError as error:
            self.report(error)
        if self.in_sections:
            raise directive.error("global options may not follow sections")

    def _global_value(self, directive: Directive) -> None:
        """
        Apply one global option.
        """
        values: dict[str, Any] = {}
        if apply_option(GLOBAL_OPTIONS, directive, self, values):
            self.globals = replace(self.globals, **values)
        else:
            self._channel_option(directive, self.global_channel, is_global=True)

    def _finish_globals(self) -> None:
        """
        Fold the merged global Sync/Create/... into the global options.
        """
        options = self.global_channel
        self.globals = replace(
            self.globals,
            sync=options.sync(),
            create=options.sides(ChannelSetting.CREATE),
            remove=options.sides(ChannelSetting.REMOVE),
            expunge=options.sides(ChannelSetting.EXPUNGE),
            expunge_solo=options.sides(ChannelSetting.EXPUNGE_SOLO),
            sync_state=options.sync_state or self.globals.sync_state,
            copy_arrival_date=options.copy_arrival_date,
            max_messages=options.max_messages,
            expire_unread=options.expire_unread,
            expire_side=options.expire_side,
        )

    def _channel_option(
        self, directive: Directive, options: ChannelOptions, *, is_global: bool
    ) -> bool:
        """
        Handle an option valid globally and per channel; C{False} if the
        keyword is none.
        """
        folded = directive.keyword.casefold()
        setting: ChannelSetting
        if self._unknown14(folded):
            return False
        if folded == "sync":
            setting = ChannelSetting.SYNC
            unknown = _ISYNC15_SYNC_WORDS if self.isync14 else ()
            options.add_words(setting, directive, self.report, unknown, self.isync15)
        elif folded in BOX_OPS:
            setting = BOX_OPS[folded]
            options.add_words(setting, directive, self.report)
            if any(word.casefold() in ("master", "slave") for word in directive.args):
                self.legacy()
        elif folded == "syncstate":
            setting = ChannelSetting.SYNC_STATE
            value = directive.value()
            kind = SyncStateKind.GLOBAL if is_global else SyncStateKind.PREFIX
            options.sync_state = (
                SyncState(SyncStateKind.IN_BOX)
                if value == "*"
                else SyncState(kind, self.paths.expand(value))
            )
        elif folded in CHANNEL_VALUE_OPTIONS:
            option = CHANNEL_VALUE_OPTIONS[folded]
            setting = CHANNEL_VALUE_SETTINGS[folded]
            setattr(options, option.field, option.parse(directive, self))
        else:
            return False
        options.explicit.add(setting)
        return True

    def _lines(self, header: Directive, handle: Callable[[Directive], None]) -> None:
        """
        Feed each readable line of the section that C{header} starts to
        C{handle}, reporting errors and going on.
        """
        assert self.reader is not None
        lists = _LISTS[header.keyword.casefold()]
        for directive in self.reader.section():
            self.reader.apply(directive, handle, directive.keyword.casefold() in lists)

    def _section(self, header: Directive) -> None:
        """
        Dispatch one section. Stores and accounts are registered even when
        their section has errors, as mbsync does, so that later references
        to them are not reported as unknown too.
        """
        assert self.reader is not None
        is_group = header.is_keyword("Group")
        self.reader.finish(header, len(header.words) if is_group else 2)
        name = header.args[0]
        if is_group:
            self.groups.append(self._group(header))
        elif header.is_keyword("IMAPAccount"):
            self.accounts.setdefault(name, self._account(header, name))
        elif header.is_keyword("IMAPStore"):
            self.stores.setdefault(name, self._imap_store(header, name))
        elif header.is_keyword("MaildirStore"):
            self.stores.setdefault(name, self._maildir_store(header, name))
        else:
            draft = self._channel(header, name)
            if draft is not None:
                self.channels.append(draft)

    def _account_result(self, draft: AccountDraft, header: Directive) -> IMAPAccount:
        """
        Check the account options as a whole; after an error, a placeholder.
        """
        try:
            return draft.result(header)
        except ConfigError as error:
            self.report(error)
            return IMAPAccount(name=draft.name)

    def _account(self, header: Directive, name: str) -> IMAPAccount:
        """
        Parse an IMAPAccount section.
        """
        draft = AccountDraft(name, "IMAP account", self)

        def handle(directive: Directive) -> None:
            if not draft.feed(directive):
                raise _unknown(directive, header)

        self._lines(header, handle)
        return self._account_result(draft, header)

    def _imap_store(self, header: Directive, name: str) -> IMAPStore:
        """
        Parse an IMAPStore section, with C{Account} or inline account options.
        """
        draft = AccountDraft(name, "IMAP store", self)
        values: dict[str, Any] = {}
        accounts: list[IMAPAccount] = []

        def handle(directive: Directive) -> None:
            if directive.is_keyword("Account"):
                wanted = directive.value()
                if wanted not in self.accounts:
                    raise directive.error(f"unknown IMAP account '{wanted}'")
                accounts.append(self.accounts[wanted])
            elif not apply_option(IMAP_STORE_OPTIONS, directive, self, values):
                if not draft.feed(directive):
                    raise _unknown(directive, header)

        self._lines(header, handle)
        if not accounts:
            account = self._account_result(draft, header)
        else:
            account = accounts[-1]
            if draft.touched:
                self.report(
                    header.section_error(
                        f"IMAP store '{name}' has both Account and account-specific options"
                    )
                )
        # The values' names are IMAP_STORE_OPTIONS' fields, checked against
        # IMAPStore by tests/config/test_account.py.
        return replace(IMAPStore(name=name, account=account), **values)

    def _maildir_store(self, header: Directive, name: str) -> MaildirStore:
        """
        Parse a MaildirStore section.
        """
        values: dict[str, Any] = {}

        def handle(directive: Directive) -> None:
            if not apply_option(MAILDIR_STORE_OPTIONS, directive, self, values):
                raise _unknown(directive, header)

        self._lines(header, handle)
        if values.get("subfolders") is SubFolders.MAILDIRPP and values.get("path") is not None:
            self.report(
                header.section_error(
                    f"Maildir store '{name}': Setting Path is incompatible with"
                    " 'SubFolders Maildir++'"
                )
            )
        store = MaildirStore(
            name=name,
            inbox=self.paths.expand("~/Maildir"),
            info_delimiter=self.globals.field_delimiter,
        )
        # The values' names are MAILDIR_STORE_OPTIONS' fields, checked
        # against MaildirStore by tests/config/test_account.py.
        return replace(store, **values)

    def _channel(self, header: Directive, name: str) -> _ChannelDraft | None:
        """
        Parse a Channel section (stores are resolved later, see L{_finish}).

        @return: the draft, or C{None} after an error found at its end.
        """
        draft = _ChannelDraft(name, header)
        # The sides named by a Far/Near line, even one naming an unknown
        # store (isync 1.5 then reports only that line).
        named: set[Side] = set()

        def handle(directive: Directive) -> None:
            folded = directive.keyword.casefold()
            if folded in ("far", "near", "master", "slave"):
                if folded in ("master", "slave"):
                    self.legacy()
                named.add(Side.FAR if folded in ("far", "master") else Side.NEAR)
                spec = self._box_spec(directive)
                if folded in ("far", "master"):
                    draft.far = spec
                else:
                    draft.near = spec
            elif folded in ("pattern", "patterns"):
                draft.patterns.extend(directive.at_least_one())
            elif folded == "maxsize":
                draft.max_size = max_size_limit(directive.size_value())
            elif not self._channel_option(directive, draft.options, is_global=False):
                raise _unknown(directive, header)

        self._lines(header, handle)
        # mbsync checks the far side, then the near side, then merges the
        # options; 1.4.4 reports only the first problem, isync 1.5 each.
        missing = False
        for side, given in ((Side.FAR, draft.far), (Side.NEAR, draft.near)):
            if given is None:
                missing = True
                if not (self.isync15 and side in named):
                    self.report(
                        header.section_error(
                            f"channel '{name}' refers to no {side.label} side store"
                        )
                    )
                if not self.isync15:
                    return None
        conflict = draft.options.merge(self.isync15, f"in Channel '{name}'")
        if conflict is not None:
            self.report(conflict)
        return None if missing or conflict is not None else draft

    def _box_spec(self, directive: Directive) -> tuple[str, str | None]:
        """
        Parse C{:store:box}; the store must already be defined.
        """
        spec = directive.value()
        store, colon, box = spec[1:].partition(":")
        if not spec.startswith(":") or not colon:
            raise directive.error("malformed mailbox spec")
        if store not in self.stores:
            raise directive.error(f"unknown store '{store}'")
        return store, box or None

    def _group(self, header: Directive) -> Group:
        """
        Parse a Group section: members on the header line and C{Channel[s]}
        lines.
        """
        name, *members = header.args

        def handle(directive: Directive) -> None:
            if not directive.is_keyword("Channel", "Channels"):
                raise _unknown(directive, header)
            members.extend(directive.at_least_one())

        self._lines(header, handle)
        return Group(name, tuple(_member(word) for word in members))

    def _finish(self) -> Config:
        """
        Apply channel C{MaxSize} to stores and resolve channel options.
        """
        stores = dict(self.stores)
        for draft in self.channels:
            if draft.max_size is not None:
                for spec in (draft.far, draft.near):
                    assert spec is not None
                    stores[spec[0]] = replace(stores[spec[0]], max_size=draft.max_size)
        channels = tuple(self._resolve(draft, stores) for draft in self.channels)
        return Config(
            filename=self.filename,
            global_options=self.globals,
            accounts=tuple(self.accounts.values()),
            stores=tuple(stores.values()),
            channels=channels,
            groups=tuple(self.groups),
            notices=tuple(self.notices),
            warnings=tuple(self.warnings),
        )

    def _resolve(self, draft: _ChannelDraft, stores: Mapping[str, Store]) -> Channel:
        """
        Fold global options and defaults into one channel.
        """
        own, glob = draft.options, self.globals

        def pick_sides(
            setting: ChannelSetting, global_value: frozenset[Side] | None
        ) -> frozenset[Side]:
            """
            Channel sides, else global sides, else none.
            """
            return _first(own.sides(setting), global_value, NO_SIDES)

        assert draft.far is not None and draft.near is not None
        return Channel(
            name=draft.name,
            far=_spec(draft.far),
            near=_spec(draft.near),
            far_store=stores[draft.far[0]],
            near_store=stores[draft.near[0]],
            patterns=tuple(draft.patterns),
            sync=_first(own.sync(), glob.sync, SYNC_ALL),
            create=pick_sides(ChannelSetting.CREATE, glob.create),
            remove=pick_sides(ChannelSetting.REMOVE, glob.remove),
            expunge=pick_sides(ChannelSetting.EXPUNGE, glob.expunge),
            expunge_solo=pick_sides(ChannelSetting.EXPUNGE_SOLO, glob.expunge_solo),
            sync_state=own.sync_state or glob.sync_state,
            copy_arrival_date=_first(own.copy_arrival_date, glob.copy_arrival_date, False),
            max_messages=_first(own.max_messages, glob.max_messages, 0),
            expire_unread=_first(own.expire_unread, glob.expire_unread, None),
            expire_side=_first(own.expire_side, glob.expire_side, Side.NEAR),
            max_size=draft.max_size,
            explicit=frozenset(own.explicit | self.global_channel.explicit),
        )


# --- small pieces ------------------------------------------------------------

_T = TypeVar("_T")


_ISYNC15_KEYWORDS = frozenset({"expungesolo", "expireside"})
"""Channel options of isync 1.5 that mbsync 1.4.4 does not recognize."""

_ISYNC15_SYNC_WORDS = frozenset({"old", "pullold", "pushold", "pullfull", "pushfull"})
"""C{Sync} words of isync 1.5 that mbsync 1.4.4 calls invalid."""


def _first(own: _T | None, glob: _T | None, default: _T) -> _T:
    """
    Channel value, else global value, else the built-in default.
    """
    if own is not None:
        return own
    return glob if glob is not None else default


def _spec(spec: tuple[str, str | None]) -> BoxSpec:
    """
    A draft C{(store, box)} pair as a L{BoxSpec}.
    """
    return BoxSpec(store=spec[0], box=spec[1])


def _unknown(directive: Directive, header: Directive) -> ConfigError:
    """
    mbsync's error for a keyword a section does not know.
    """
    section = next(name for name in _SECTIONS if header.is_keyword(name))
    return directive.error(f"keyword '{directive.keyword}' is not recognized in {section} sections")


def _subfolders(directive: Directive) -> SubFolders:
    """
    C{SubFolders Verbatim|Maildir++|Legacy}, ignoring case.
    """
    word = directive.value().casefold()
    for style in SubFolders:
        if style.value.casefold() == word:
            return style
    raise directive.error("Unrecognized SubFolders style")


def _member(word: str) -> GroupMember:
    """
    C{chan} or C{chan:box1,box2} (an empty box name means INBOX).
    """
    channel, colon, boxes = word.partition(":")
    return GroupMember(channel, tuple(boxes.split(",")) if colon else None)


# --- public API --------------------------------------------------------------


def parse_config(
    text: str,
    filename: str,
    *,
    home: str,
    user_home: UserHome = _no_users,
    file_error: FileError = _always_readable,
    isync15: bool = False,
    isync14: bool = False,
) -> Config:
    """
    Parse the text of an mbsyncrc.

    @param text: the whole file.
    @param filename: the name used in errors and L{Config.filename}.
    @param home: the directory C{~} stands for.
    @param user_home: the lookup for C{~user}; by default nobody is known
        and such paths stay unexpanded.
    @param file_error: why a certificate/key file cannot be read, or
        C{None}; by default every file is fine.
    @param isync15: read the file as isync 1.5 does: relative local
        paths from the file's directory, not the current one; TLS 1.2 and
        1.3 only by default.
    @param isync14: read the file as mbsync 1.4.4 does: isync 1.5's
        C{ExpungeSolo}, C{ExpireSide} and C{Sync Old} are errors (without
        either flag, they are accepted and the paths are 1.4's).
    @return: the configuration.
    @raise ConfigError: carrying every error in the file (see
        L{ConfigError.errors}), when there is any.
    """
    base = ""
    if isync15:
        slash = filename.rfind("/")
        base = filename[: slash + 1] if slash >= 0 else "./"
    paths = _Paths(home, user_home, base)
    return _Parser(filename, paths, file_error, isync15, isync14).run(text)


def default_config_path(
    home: str, environ: Mapping[str, str], exists: Callable[[str], bool]
) -> str:
    """
    The configuration file used without C{-c}: isync 1.5's
    C{$XDG_CONFIG_HOME/isyncrc} (default C{~/.config/isyncrc}) if it exists,
    else mbsync 1.4's C{~/.mbsyncrc}.

    @param home: the home directory.
    @param environ: the environment.
    @param exists: whether a path exists.
    @return: the path to read.
    """
    config_home = environ.get("XDG_CONFIG_HOME") or home.rstrip("/") + "/.config"
    xdg = config_home.rstrip("/") + "/isyncrc"
    return xdg if exists(xdg) else home.rstrip("/") + "/.mbsyncrc"


def config_path_15(
    given: str | None, home: str, environ: Mapping[str, str], exists: Callable[[str], bool]
) -> tuple[str, str | None]:
    """
    The configuration file as isync 1.5 names it: without C{-c},
    C{$XDG_CONFIG_HOME/isyncrc} unless only C{~/.mbsyncrc} exists (so a
    missing file is reported under the XDG name), with a warning when both
    exist; a C{-c} name without C{/} is read from C{./} and so named in
    its messages.

    @param given: C{-c}'s file, or C{None}.
    @param home: the home directory.
    @param environ: the environment.
    @param exists: whether a path exists.
    @return: the path and 1.5's warning, if any.
    """
    if given is not None:
        return (given if "/" in given else "./" + given), None
    config_home = environ.get("XDG_CONFIG_HOME") or home.rstrip("/") + "/.config"
    xdg = config_home.rstrip("/") + "/isyncrc"
    old = home.rstrip("/") + "/.mbsyncrc"
    if exists(old) and not exists(xdg):
        return old, None
    if exists(old):
        return xdg, f"Both {xdg} and {old} exist; using the former."
    return xdg, None


def _readable(path: str) -> str | None:
    """
    Why C{path} cannot be opened for reading, as C{strerror} text.
    """
    try:
        with open(path, "rb"):
            return None
    except OSError as error:
        return error.strerror or str(error)


def _user_home(user: str) -> str | None:
    """
    C{~user} from the password database.
    """
    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        return None


def load_config(
    path: str | None = None,
    environ: Mapping[str, str] | None = None,
    isync15: bool = False,
    isync14: bool = False,
) -> Config:
    """
    Read and parse a configuration file.

    @param path: the file (C{-c}); C{None} for L{default_config_path}.
    @param environ: the environment (default C{os.environ}); C{HOME} gives C{~}.
    @param isync15: see L{parse_config}.
    @param isync14: see L{parse_config}.
    @return: the configuration.
    @raise ConfigError: when the file cannot be read or is invalid.
    """
    env = os.environ if environ is None else environ
    home = env.get("HOME") or os.path.expanduser("~")
    if path is None:
        path = default_config_path(home, env, os.path.exists)
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise ConfigError(path, None, f"Cannot read config file: {error.strerror}") from error
    text = data.decode("utf-8", "surrogateescape")
    return parse_config(
        text,
        path,
        home=home,
        user_home=_user_home,
        file_error=_readable,
        isync15=isync15,
        isync14=isync14,
    )
