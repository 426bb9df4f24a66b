# -*- test-case-name: tests.config.test_load,tests.config.test_account -*-
"""
Option groups that several kinds of section share: the account options of
an C{IMAPAccount} section, or of an C{IMAPStore} written without C{Account}
(Host, Port, TLS, authentication and their legacy spellings, resolved into
an L{IMAPAccount} when the section ends); the options valid in every store
section; and the options valid both globally and in Channel sections.

Invariant: pure (no I/O); readability of certificate files is asked of the
parser's C{file_error} callable, notices and warnings are appended to the
parser's lists, never printed. A line with one error raises it; a line with
several (one per bad word, or a bad number then a range check, as mbsync
reports them) hands all but the last to the parser's C{report}. The checks
of the section as a whole raise an unlocated error, as mbsync prints them.

Options are tables (L{OptionTable}: case-folded keyword to L{Option}, the
field it sets and the parser of its value); a section collects values by
field name and builds its frozen dataclass with C{dataclasses.replace}, and
C{tests/config/test_account.py} checks that every field a table names
exists on its dataclass. Keywords whose meaning depends on others (C{Host}'s
URL forms, C{CertificateFile}'s list, the legacy C{UseSSL*}) stay code.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import field, replace
from typing import Any, Protocol

from msync.config.schema import (
    DEFAULT_TLS_VERSIONS,
    ChannelSetting,
    IMAPAccount,
    ShellCommand,
    SSLType,
    SyncOps,
    SyncState,
    TLSVersion,
    parse_side,
    parse_sides,
    parse_sync,
)
from msync.config.syntax import Directive, max_size_limit
from msync.errors import ConfigError
from msync.model import Secret, Side
from msync.records import mutable_record, record

KNOWN_EXTENSIONS = frozenset(
    {
        "LOGINDISABLED",
        "SASL-IR",
        "STARTTLS",
        "UIDPLUS",
        "LITERAL+",
        "MOVE",
        "NAMESPACE",
        "COMPRESS=DEFLATE",
    }
)
"""
The capabilities C{DisableExtensions} accepts: those mbsync 1.4.4 knows
(verified with the installed binary; C{IMAP4rev1}, C{LITERAL-}, C{ID},
C{IDLE}, C{CONDSTORE}, C{UTF8=ACCEPT}, C{AUTH=...} are refused).
"""


class PathExpander(Protocol):
    """
    Expands C{~} in local paths.
    """

    def expand(self, path: str) -> str:
        """
        Expand a leading C{~} or C{~user}.
        """


class AccountContext(Protocol):
    """
    What an account section needs from the parser.
    """

    @property
    def paths(self) -> PathExpander:
        """
        The path expander.
        """

    @property
    def file_error(self) -> Callable[[str], str | None]:
        """
        Why a file cannot be read, or C{None}.
        """

    @property
    def notices(self) -> list[str]:
        """
        Notices collected so far.
        """

    @property
    def isync15(self) -> bool:
        """
        Whether the file is read as isync 1.5 reads it.
        """

    @property
    def warnings(self) -> list[str]:
        """
        Warnings collected so far.
        """

    def report(self, error: ConfigError) -> None:
        """
        Record an error and go on.
        """


Parse = Callable[[Directive, AccountContext], object]
"""Reads one option line into its value; raises, or reports and goes on, as mbsync."""


@record
class Option:
    """
    One row of an option table: the field of the section's dataclass (or
    draft) the keyword sets, and how its value is read.
    """

    field: str
    parse: Parse


OptionTable = Mapping[str, Option]
"""A section's options: case-folded keyword → L{Option}."""


def apply_option(
    table: OptionTable, directive: Directive, context: AccountContext, values: dict[str, Any]
) -> bool:
    """
    Set C{values[field]} from one line if its keyword is in C{table}.

    @return: C{False} if the keyword is not in the table.
    """
    option = table.get(directive.keyword.casefold())
    if option is None:
        return False
    values[option.field] = option.parse(directive, context)
    return True


def text(directive: Directive, context: AccountContext) -> str:
    """
    The one word of a line, as is.
    """
    return directive.value()


def flag(directive: Directive, context: AccountContext) -> bool:
    """
    A boolean (C{yes}/C{no}/C{true}/C{false}/C{on}/C{off}/a number).
    """
    return directive.bool_value()


def local_path(directive: Directive, context: AccountContext) -> str:
    """
    A local path, C{~} expanded.
    """
    return context.paths.expand(directive.value())


def _command(directive: Directive, context: AccountContext) -> ShellCommand:
    """
    C{UserCmd}/C{PassCmd}: a shell command, interactive with a leading C{+}.
    """
    value = directive.value()
    return ShellCommand(value.removeprefix("+"), value.startswith("+"))


def _password(directive: Directive, context: AccountContext) -> Secret:
    """
    C{Pass}: kept as a L{Secret}, never shown.
    """
    return Secret(directive.value())


def _port(directive: Directive, context: AccountContext) -> int:
    """
    C{Port}: 0 to 65535 (0: the SSL type's default).
    """
    number = directive.int_value()
    if not 0 <= number <= 0xFFFF:
        raise directive.error("Invalid port number")
    return number


def _timeout(directive: Directive, context: AccountContext) -> int:
    """
    C{Timeout}: seconds, 0 for none.
    """
    return directive.int_value()


def _pipeline_depth(directive: Directive, context: AccountContext) -> int:
    """
    C{PipelineDepth}: at least 1; mbsync's parse_int yields 0 after its
    error, which the range check then refuses too.
    """
    try:
        number = directive.int_value()
    except ConfigError as error:
        context.report(error)
        number = 0
    if number < 1:
        raise directive.error("PipelineDepth must be at least 1")
    return number


def _readable_path(directive: Directive, context: AccountContext) -> str:
    """
    A certificate or key path: expanded, and readable as mbsync demands at
    parse time.
    """
    path = context.paths.expand(directive.value())
    problem = context.file_error(path)
    if problem is not None:
        raise directive.error(f"{directive.keyword} '{path}': {problem}")
    return path


def _disabled_extensions(directive: Directive, context: AccountContext) -> tuple[str, ...]:
    """
    C{DisableExtension[s]}: each word must name a capability mbsync 1.4.4
    knows (in any case); an unknown one is reported with mbsync's message
    and the others are kept.
    """
    extensions = []
    for word in directive.at_least_one():
        if word.upper() in KNOWN_EXTENSIONS:
            extensions.append(word.upper())
        else:
            context.report(directive.error(f"Unrecognized IMAP extension '{word}'"))
    return tuple(extensions)


def _auth_mechs(directive: Directive, context: AccountContext) -> tuple[str, ...]:
    """
    C{AuthMech[s]}: mechanism names, upper-cased.
    """
    return tuple(word.upper() for word in directive.at_least_one())


def _ssl_type(directive: Directive, context: AccountContext) -> SSLType:
    """
    C{SSLType}/C{TLSType}: C{None}, C{STARTTLS} or C{IMAPS}.
    """
    word = directive.value()
    if word.casefold() not in _SSL_TYPES:
        raise directive.error("Invalid SSL type")
    return _SSL_TYPES[word.casefold()]


def _ssl_versions(directive: Directive, context: AccountContext) -> frozenset[TLSVersion]:
    """
    C{SSLVersions}; SSLv2 and SSLv3 are dropped with mbsync's warning.
    """
    versions: set[TLSVersion] = set()
    for word in directive.at_least_one():
        if word.casefold() not in _SSL_VERSIONS:
            context.report(directive.error("Unrecognized SSL version"))
            continue
        version = _SSL_VERSIONS[word.casefold()]
        if version is None or version is TLSVersion.SSLV3:
            context.warnings.append(f"Warning: SSLVersion {word} is no longer supported")
        else:
            versions.add(version)
    return frozenset(versions)


_LEGACY_VERSIONS: dict[str, TLSVersion | None] = {
    "usesslv2": None,
    "usesslv3": TLSVersion.SSLV3,
    "usetlsv1": TLSVersion.TLSV1,
    "usetlsv1.1": TLSVersion.TLSV1_1,
    "usetlsv1.2": TLSVersion.TLSV1_2,
    "usetlsv1.3": TLSVersion.TLSV1_3,
}
_SSL_VERSIONS = {"sslv2": None} | {version.value.casefold(): version for version in TLSVersion}
_TLS_VERSIONS_15 = {
    "1.0": TLSVersion.TLSV1,
    "1.1": TLSVersion.TLSV1_1,
    "1.2": TLSVersion.TLSV1_2,
    "1.3": TLSVersion.TLSV1_3,
}
_SSL_TYPES = {ssl_type.value.casefold(): ssl_type for ssl_type in SSLType}

ACCOUNT_OPTIONS: OptionTable = {
    "user": Option("user", text),
    "usercmd": Option("user_cmd", _command),
    "pass": Option("password", _password),
    "passcmd": Option("pass_cmd", _command),
    "tunnel": Option("tunnel", text),
    "cipherstring": Option("cipher_string", text),
    "port": Option("port", _port),
    "timeout": Option("timeout", _timeout),
    "pipelinedepth": Option("pipeline_depth", _pipeline_depth),
    "usekeychain": Option("use_keychain", flag),
    "systemcertificates": Option("system_certificates", flag),
    "clientcertificate": Option("client_certificate", _readable_path),
    "clientkey": Option("client_key", _readable_path),
    "disableextension": Option("disabled_extensions", _disabled_extensions),
    "disableextensions": Option("disabled_extensions", _disabled_extensions),
}
"""Account options that set an L{IMAPAccount} field directly."""

ACCOUNT_SETTINGS: OptionTable = {
    "ssltype": Option("ssl_type", _ssl_type),
    "tlstype": Option("ssl_type", _ssl_type),
    "sslversion": Option("versions", _ssl_versions),
    "sslversions": Option("versions", _ssl_versions),
    "tlsversions": Option(
        "versions", lambda directive, context: _tls_versions(directive, context.report)
    ),
    "authmech": Option("auth_mechs", _auth_mechs),
    "authmechs": Option("auth_mechs", _auth_mechs),
    "requirecram": Option("require_cram", flag),
}
"""
Account options resolved with others when the section ends (L{AccountDraft.result}):
they set a field of the L{AccountDraft}.
"""


@mutable_record
class AccountDraft:
    """
    The account options of an IMAPAccount section or of an IMAPStore
    written without C{Account}.

    @ivar what: C{"IMAP account"} or C{"IMAP store"}, for messages.
    @ivar touched: whether any account option was seen.
    """

    name: str
    what: str
    parser: AccountContext
    values: dict[str, Any] = field(default_factory=dict)
    touched: bool = False
    ssl_type: SSLType | None = None
    url_imaps: bool = False
    versions: frozenset[TLSVersion] | None = None
    legacy: dict[str, bool] = field(default_factory=dict)
    require_cram: bool | None = None
    auth_mechs: tuple[str, ...] | None = None
    certificates: list[str] = field(default_factory=list)

    def feed(self, directive: Directive) -> bool:
        """
        Handle one account option; C{False} if the keyword is none.
        """
        folded = directive.keyword.casefold()
        setting = ACCOUNT_SETTINGS.get(folded)
        if apply_option(ACCOUNT_OPTIONS, directive, self.parser, self.values):
            pass
        elif setting is not None:
            setattr(self, setting.field, setting.parse(directive, self.parser))
        elif folded == "host":
            self._host(directive)
        elif folded == "certificatefile":
            self.certificates.append(_readable_path(directive, self.parser))
        elif folded in _LEGACY_VERSIONS or folded in ("useimaps", "requiressl"):
            self.legacy[folded] = directive.bool_value()
        else:
            return False
        self.touched = True
        return True

    def _host(self, directive: Directive) -> None:
        """
        C{Host}, accepting mbsync's deprecated C{imap:}/C{imaps:} URL forms.
        """
        host = directive.value()
        for scheme in ("imaps:", "imap:"):
            if host.casefold().startswith(scheme):
                self.url_imaps = scheme == "imaps:"
                host = host[len(scheme) :].removeprefix("//")
                self.parser.notices.append(
                    f"{directive.filename}:{directive.line}: Notice: URL notation is deprecated;"
                    " use a plain host name and possibly 'SSLType IMAPS' instead"
                )
                break
        self.values["host"] = host

    def _default_versions(self) -> frozenset[TLSVersion]:
        """
        The versions without C{SSLVersions}/C{TLSVersions}: mbsync 1.4's
        default, or isync 1.5's when the file is read as 1.5's.
        """
        return _default_versions_15() if self.parser.isync15 else DEFAULT_TLS_VERSIONS

    def result(self, header: Directive) -> IMAPAccount:
        """
        Check the section as a whole and resolve defaults.

        @raise ConfigError: the first failed check, in mbsync's order.
        """
        label = f"{self.what} '{self.name}'"
        if "host" not in self.values and "tunnel" not in self.values:
            raise header.section_error(f"{label} has neither Tunnel nor Host")
        for plain, command, keyword in (
            ("user", "user_cmd", "User"),
            ("password", "pass_cmd", "Pass"),
        ):
            if plain in self.values and command in self.values:
                raise header.section_error(f"{label} has both {keyword} and {keyword}Cmd")
        tunnel = "tunnel" in self.values
        ssl_type = self.ssl_type or (
            SSLType.IMAPS if self.url_imaps else SSLType.NONE if tunnel else SSLType.STARTTLS
        )
        versions = self.versions
        if self.legacy:
            if self.ssl_type is not None or self.versions is not None:
                raise header.section_error(
                    f"{label}: The deprecated UseSSL*, UseTLS*, UseIMAPS, and RequireSSL"
                    " options are mutually exclusive with SSLType and SSLVersions."
                )
            self.parser.notices.append(
                f"Notice: {label}: UseSSL*, UseTLS*, UseIMAPS, and RequireSSL are deprecated."
                " Use SSLType and SSLVersions instead."
            )
            wanted = dict.fromkeys(_LEGACY_VERSIONS, False) | {"usetlsv1": True} | self.legacy
            versions = frozenset(
                version
                for key, version in _LEGACY_VERSIONS.items()
                if wanted[key] and version not in (None, TLSVersion.SSLV3)
            )
            require = self.legacy.get("requiressl", True)
            if not versions:
                # mbsync 1.4: no version enabled means no TLS, allowed only
                # with "RequireSSL no".
                if require:
                    raise header.section_error(f"{label} requires SSL but no SSL versions enabled")
                ssl_type = SSLType.NONE
            else:
                if not require:
                    self.parser.notices.append(f"Notice: {label}: 'RequireSSL no' is being ignored")
                if self.legacy.get("useimaps") or self.url_imaps:
                    ssl_type = SSLType.IMAPS
                else:
                    ssl_type = SSLType.NONE if tunnel else SSLType.STARTTLS
        mechs = self.auth_mechs
        if self.require_cram is not None:
            if mechs is not None:
                raise header.section_error(
                    f"{label}: The deprecated RequireCRAM option is mutually exclusive with AuthMech."
                )
            self.parser.notices.append(
                f"Notice: {label}: RequireCRAM is deprecated. Use AuthMech instead."
            )
            mechs = ("CRAM-MD5",) if self.require_cram else None
        values: dict[str, Any] = dict(self.values)
        if not values.get("port"):
            values["port"] = 993 if ssl_type is SSLType.IMAPS else 143
        account = IMAPAccount(
            name=self.name,
            ssl_type=ssl_type,
            ssl_versions=self._default_versions() if versions is None else versions,
            auth_mechs=mechs or ("*",),
            certificate_files=tuple(self.certificates),
        )
        # The values' names are ACCOUNT_OPTIONS' fields, checked against
        # IMAPAccount by tests/config/test_account.py.
        return replace(account, **values)


def _default_versions_15() -> frozenset[TLSVersion]:
    """
    isync 1.5's default: TLS 1.2 and 1.3 (1.0 and 1.1 off).
    """
    return frozenset({TLSVersion.TLSV1_2, TLSVersion.TLSV1_3})


def _tls_versions(
    directive: Directive, report: Callable[[ConfigError], None]
) -> frozenset[TLSVersion]:
    """
    isync 1.5 C{TLSVersions [+|-]1.x ...}: signed words adjust 1.5's default
    (1.2 and 1.3); an unsigned first word starts from nothing.
    """
    args = directive.at_least_one()
    signed = args[0][:1] in ("+", "-")
    versions = {TLSVersion.TLSV1_2, TLSVersion.TLSV1_3} if signed else set()
    for word in args:
        sign = word[:1] if word[:1] in ("+", "-") else ""
        version = _TLS_VERSIONS_15.get(word[len(sign) :])
        if version is None:
            report(directive.error(f"Unrecognized TLS version '{word}'"))
            continue
        if sign == "-":
            versions.discard(version)
        else:
            versions.add(version)
    return frozenset(versions)


# --- options of channels and of every store ------------------------------------

BOX_OPS = {
    "create": ChannelSetting.CREATE,
    "remove": ChannelSetting.REMOVE,
    "expunge": ChannelSetting.EXPUNGE,
    "expungesolo": ChannelSetting.EXPUNGE_SOLO,
}
"""The C{Create}/C{Remove}/C{Expunge}/C{ExpungeSolo} keywords, case-folded."""

# mbsync's merge_ops checks Sync first, then its boxOps table (Expunge,
# Create, Remove), and reports only the first conflict; ExpungeSolo is 1.5's.
_MERGE_ORDER = (
    ChannelSetting.SYNC,
    ChannelSetting.EXPUNGE,
    ChannelSetting.CREATE,
    ChannelSetting.REMOVE,
    ChannelSetting.EXPUNGE_SOLO,
)
_MERGE_ORDER_15 = (
    ChannelSetting.SYNC,
    ChannelSetting.EXPUNGE,
    ChannelSetting.EXPUNGE_SOLO,
    ChannelSetting.CREATE,
    ChannelSetting.REMOVE,
)


def _integer(directive: Directive, context: AccountContext) -> int:
    """
    A whole number.
    """
    return directive.int_value()


def _expire_side(directive: Directive, context: AccountContext) -> Side:
    """
    C{ExpireSide}: C{Far} or C{Near}.
    """
    try:
        return parse_side("ExpireSide", directive.value())
    except ValueError as error:
        raise directive.error(str(error)) from None


CHANNEL_VALUE_OPTIONS: OptionTable = {
    "copyarrivaldate": Option("copy_arrival_date", flag),
    "maxmessages": Option("max_messages", _integer),
    "expireunread": Option("expire_unread", flag),
    "expireside": Option("expire_side", _expire_side),
}
"""Channel options (also global) that set one L{ChannelOptions} field."""

CHANNEL_VALUE_SETTINGS = {
    "copyarrivaldate": ChannelSetting.COPY_ARRIVAL_DATE,
    "maxmessages": ChannelSetting.MAX_MESSAGES,
    "expireunread": ChannelSetting.EXPIRE_UNREAD,
    "expireside": ChannelSetting.EXPIRE_SIDE,
}
"""Which setting each of L{CHANNEL_VALUE_OPTIONS} makes explicit."""

CHANNEL_OPTIONS = frozenset({"sync", "syncstate"} | BOX_OPS.keys() | CHANNEL_VALUE_OPTIONS.keys())
"""Keywords, case-folded, of the options valid globally and in Channel sections."""


@mutable_record
class ChannelOptions:
    """
    Options allowed both globally and in Channel sections. C{Sync},
    C{Create}, ... words are checked one by one on their line, as mbsync
    does, and merged when the section (or, globally, the file) ends; a
    conflict is then reported without a location (this keeps the option's
    last line).
    """

    words: dict[ChannelSetting, tuple[Directive, list[str]]] = field(default_factory=dict)
    merged: dict[ChannelSetting, object] = field(default_factory=dict)
    sync_state: SyncState | None = None
    copy_arrival_date: bool | None = None
    max_messages: int | None = None
    expire_unread: bool | None = None
    expire_side: Side | None = None
    explicit: set[ChannelSetting] = field(default_factory=set)

    def add_words(
        self,
        setting: ChannelSetting,
        directive: Directive,
        report: Callable[[ConfigError], None],
        unknown: Collection[str] = (),
        isync15: bool = False,
    ) -> None:
        """
        Remember the valid words of one C{Sync}/C{Create}/... line and report
        each invalid one.

        @param unknown: words (case-folded) to report as invalid although
            the grammar knows them (isync 1.5's, read as 1.4.4 does).
        @param isync15: check C{Sync} words as isync 1.5 does.
        """
        _, words = self.words.get(setting, (directive, []))
        for word in directive.at_least_one():
            try:
                if word.casefold() in unknown:
                    raise ValueError(f"invalid {setting.value} arg '{word}'")
                _merge(setting, [word], isync15)
            except ValueError as error:
                report(directive.error(str(error)))
            else:
                words.append(word)
        self.words[setting] = (directive, words)

    def merge(self, isync15: bool = False, where: str = "") -> ConfigError | None:
        """
        Merge each setting's words, in mbsync's order.

        @param isync15: as isync 1.5 merges them (C{All}/C{Full} include
            C{Old}; its order and words for a conflict).
        @param where: for isync 1.5's messages: C{in Channel 'c'} or
            C{in global config section}.
        @return: the first conflict, or C{None}.
        """
        for setting in _MERGE_ORDER_15 if isync15 else _MERGE_ORDER:
            if setting in self.words:
                directive, words = self.words[setting]
                try:
                    self.merged[setting] = _merge(setting, words, isync15, where)
                except ValueError as error:
                    return directive.section_error(str(error))
        return None

    def sync(self) -> SyncOps | None:
        """
        @return: the merged C{Sync} matrix, or C{None} if never given.
        """
        value = self.merged.get(ChannelSetting.SYNC)
        assert value is None or isinstance(value, SyncOps)
        return value

    def sides(self, setting: ChannelSetting) -> frozenset[Side] | None:
        """
        @return: the merged C{Create}/... sides, or C{None} if never given.
        """
        value = self.merged.get(setting)
        assert value is None or isinstance(value, frozenset)
        return value


def _merge(
    setting: ChannelSetting, words: list[str], isync15: bool = False, where: str = ""
) -> SyncOps | frozenset[Side]:
    """
    Merge C{Sync} or C{Create}/... words.

    @raise ValueError: with mbsync's message.
    """
    if setting is ChannelSetting.SYNC:
        return parse_sync(words, isync15=isync15, where=where)
    return parse_sides(setting.value, words, isync15=isync15, where=where)


def parse_delimiter(directive: Directive, what: str) -> str:
    """
    C{FieldDelimiter} / C{InfoDelimiter}: one punctuation character.
    """
    value = directive.value()
    if len(value) != 1:
        raise directive.error(f"{what} delimiter must be exactly one character long")
    if not (value.isascii() and value.isprintable() and not value.isalnum() and value != " "):
        raise directive.error(f"{what} delimiter must be a punctuation character")
    return value


def _max_size(directive: Directive, context: AccountContext) -> int:
    """
    C{MaxSize}: a size (C{k}/C{m} suffixes), within mbsync's limit.
    """
    return max_size_limit(directive.size_value())


def _flatten(directive: Directive, context: AccountContext) -> str:
    """
    C{Flatten}: the delimiter that stands for C{/} in flattened names.
    """
    delimiter = directive.value()
    if "/" in delimiter:
        raise directive.error(
            "flattened hierarchy delimiter cannot contain the canonical delimiter '/'"
        )
    return delimiter


STORE_OPTIONS: OptionTable = {
    "trash": Option("trash", text),
    "trashnewonly": Option("trash_new_only", flag),
    "trashremotenew": Option("trash_remote_new", flag),
    "maxsize": Option("max_size", _max_size),
    "mapinbox": Option("map_inbox", text),
    "flatten": Option("flatten", _flatten),
}
"""The options valid in every store section (fields of both store dataclasses)."""
