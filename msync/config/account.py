# -*- test-case-name: tests.config.test_load -*-
"""
The account options of an C{IMAPAccount} section, or of an C{IMAPStore}
written without C{Account}: Host, Port, TLS, authentication and their legacy
spellings, resolved into an L{IMAPAccount} when the section ends.

Invariant: pure (no I/O); readability of certificate files is asked of the
parser's C{file_error} callable, notices and warnings are appended to the
parser's lists, never printed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from msync.config.schema import (
    DEFAULT_TLS_VERSIONS,
    IMAPAccount,
    ShellCommand,
    SSLType,
    TLSVersion,
)
from msync.config.syntax import Directive
from msync.model import Secret


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
    def warnings(self) -> list[str]:
        """
        Warnings collected so far.
        """


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
_PLAIN_ACCOUNT_OPTIONS = {
    "user": "user",
    "tunnel": "tunnel",
    "cipherstring": "cipher_string",
}


@dataclass
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
    values: dict[str, object] = field(default_factory=dict)
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
        if folded in _PLAIN_ACCOUNT_OPTIONS:
            self.values[_PLAIN_ACCOUNT_OPTIONS[folded]] = directive.value()
        elif folded == "host":
            self._host(directive)
        elif folded in ("port", "timeout", "pipelinedepth"):
            self._number(directive, folded)
        elif folded in ("pass", "usercmd", "passcmd"):
            value = directive.value()
            if folded == "pass":
                self.values["password"] = Secret(value)
            else:
                command = ShellCommand(value.removeprefix("+"), value.startswith("+"))
                self.values[folded.replace("cmd", "_cmd")] = command
        elif folded in ("usekeychain", "systemcertificates"):
            key = {"usekeychain": "use_keychain"}.get(folded, "system_certificates")
            self.values[key] = directive.bool_value()
        elif folded in ("certificatefile", "clientcertificate", "clientkey"):
            self._certificate(directive, folded)
        elif folded in ("authmech", "authmechs"):
            self.auth_mechs = tuple(word.upper() for word in directive.at_least_one())
        elif folded in ("disableextension", "disableextensions"):
            extensions = tuple(word.upper() for word in directive.at_least_one())
            self.values["disabled_extensions"] = extensions
        elif folded in ("ssltype", "tlstype"):
            word = directive.value()
            if word.casefold() not in _SSL_TYPES:
                raise directive.error("Invalid SSL type")
            self.ssl_type = _SSL_TYPES[word.casefold()]
        elif folded in ("sslversion", "sslversions"):
            self.versions = self._ssl_versions(directive)
        elif folded == "tlsversions":
            self.versions = _tls_versions(directive)
        elif folded in _LEGACY_VERSIONS or folded in ("useimaps", "requiressl"):
            self.legacy[folded] = directive.bool_value()
        elif folded == "requirecram":
            self.require_cram = directive.bool_value()
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

    def _number(self, directive: Directive, folded: str) -> None:
        """
        C{Port}, C{Timeout} and C{PipelineDepth}, with mbsync's range checks.
        """
        number = directive.int_value()
        if folded == "port":
            if not 0 <= number <= 0xFFFF:
                raise directive.error("Invalid port number")
            self.values["port"] = number
        elif folded == "timeout":
            self.values["timeout"] = number
        else:
            if number < 1:
                raise directive.error("PipelineDepth must be at least 1")
            self.values["pipeline_depth"] = number

    def _certificate(self, directive: Directive, folded: str) -> None:
        """
        A certificate or key path: expanded, and readable as mbsync demands
        at parse time.
        """
        path = self.parser.paths.expand(directive.value())
        problem = self.parser.file_error(path)
        if problem is not None:
            raise directive.error(f"{directive.keyword} '{path}': {problem}")
        if folded == "certificatefile":
            self.certificates.append(path)
        else:
            key = "client_key" if folded == "clientkey" else "client_certificate"
            self.values[key] = path

    def _ssl_versions(self, directive: Directive) -> frozenset[TLSVersion]:
        """
        C{SSLVersions}; SSLv2 and SSLv3 are dropped with mbsync's warning.
        """
        versions: set[TLSVersion] = set()
        for word in directive.at_least_one():
            if word.casefold() not in _SSL_VERSIONS:
                raise directive.error("Unrecognized SSL version")
            version = _SSL_VERSIONS[word.casefold()]
            if version is None or version is TLSVersion.SSLV3:
                self.parser.warnings.append(f"Warning: SSLVersion {word} is no longer supported")
            else:
                versions.add(version)
        return frozenset(versions)

    def result(self, header: Directive) -> IMAPAccount:
        """
        Check the section as a whole and resolve defaults.
        """
        label = f"{self.what} '{self.name}'"
        if "host" not in self.values and "tunnel" not in self.values:
            raise header.error(f"{label} has neither Tunnel nor Host")
        tunnel = "tunnel" in self.values
        ssl_type = self.ssl_type or (
            SSLType.IMAPS if self.url_imaps else SSLType.NONE if tunnel else SSLType.STARTTLS
        )
        versions = self.versions
        if self.legacy:
            if self.ssl_type is not None or self.versions is not None:
                raise header.error(
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
                    raise header.error(f"{label} requires SSL but no SSL versions enabled")
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
                raise header.error(
                    f"{label}: The deprecated RequireCRAM option is mutually exclusive with AuthMech."
                )
            self.parser.notices.append(
                f"Notice: {label}: RequireCRAM is deprecated. Use AuthMech instead."
            )
            mechs = ("CRAM-MD5",) if self.require_cram else None
        port = self.values.pop("port", 0) or (993 if ssl_type is SSLType.IMAPS else 143)
        return IMAPAccount(
            name=self.name,
            port=port,  # type: ignore[arg-type]
            ssl_type=ssl_type,
            ssl_versions=DEFAULT_TLS_VERSIONS if versions is None else versions,
            auth_mechs=mechs or ("*",),
            certificate_files=tuple(self.certificates),
            **self.values,  # type: ignore[arg-type]
        )


def _tls_versions(directive: Directive) -> frozenset[TLSVersion]:
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
            raise directive.error(f"Unrecognized TLS version '{word}'")
        if sign == "-":
            versions.discard(version)
        else:
            versions.add(version)
    return frozenset(versions)
