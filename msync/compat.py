# -*- test-case-name: tests.test_compat -*-
"""
Which mbsync generation msync follows (1.4 or 1.5) where they differ, and
why: the rule of C{docs/compat.md} as a pure function of what was seen.

Invariants:
  - L1: pure. The observations (L{Evidence}) are gathered elsewhere
    (L{msync.compatprobe}); here they only decide.
  - An explicit choice (C{--compat}, then C{MSYNC_COMPAT}) wins. Then the
    files an existing setup has on disk, strongest first: a live journal's
    version (it can only be replayed by its generation's format), folder
    names in the Maildir stores (modified UTF-7 C{&...-} is 1.4, UTF-8
    is 1.5: following the other generation would download every such
    folder a second time), the sync state directory (only 1.5 uses
    C{$XDG_STATE_HOME/isync/}), the configuration file (only 1.5 reads
    C{$XDG_CONFIG_HOME/isyncrc} or knows 1.5-only spellings). Then the
    installed C{mbsync}; with none, C{~/.mbsync/} (which only 1.4 and
    older create) means 1.4, and a fresh setup gets 1.5.
  - The decision always has a one-line reason (C{msync -V} prints it).
"""

from __future__ import annotations

import enum
import re

from msync.errors import MailboxNameError, UsageError
from msync.imap.utf7 import decode_mailbox_name
from msync.records import record

#: The environment variable that chooses the generation.
COMPAT_VARIABLE = "MSYNC_COMPAT"


class Generation(enum.Enum):
    """
    An mbsync generation msync can follow.
    """

    V14 = "1.4"
    V15 = "1.5"

    @property
    def journal_version(self) -> str:
        """
        The journal version this generation writes.
        """
        return "4" if self is Generation.V14 else "5"


def parse_generation(text: str, where: str) -> Generation:
    """
    Read C{1.4} or C{1.5} (also C{1.4.4}, C{1.5.1}...).

    @param where: what gave the value, for the error (C{--compat}).
    @raise UsageError: anything else.
    """
    for generation in Generation:
        if text == generation.value or text.startswith(generation.value + "."):
            return generation
    raise UsageError(f"{where}: unknown mbsync generation '{text}' (use 1.4 or 1.5)")


_VERSION = re.compile(r"\b(\d+)\.(\d+)(?:\.\d+)?\b")


def installed_generation(version_output: str) -> Generation | None:
    """
    The generation of an installed mbsync from its C{--version} output
    (C{isync 1.4.4}, C{isync 1.5.0}).

    @return: the generation, or C{None} when the text names no version.
        Releases before 1.4 behave as 1.4 here, later ones as 1.5.
    """
    match = _VERSION.search(version_output)
    if match is None:
        return None
    version = (int(match.group(1)), int(match.group(2)))
    return Generation.V14 if version < (1, 5) else Generation.V15


def folder_generation(name: str) -> Generation | None:
    """
    What a Maildir folder's name says about the mbsync that made it.

    @param name: one path component of a folder.
    @return: L{Generation.V14} for a canonical modified UTF-7 name that
        decodes to other text (C{Entw&APw-rfe}, C{Q&-A} for the server's
        C{Q&A}), L{Generation.V15} for a name with non-ASCII characters
        (C{Entwürfe}), C{None} otherwise (plain ASCII says nothing).
    """
    if not name.isascii():
        return Generation.V15
    if "&" not in name:
        return None
    try:
        decoded = decode_mailbox_name(name.encode("ascii"))
    except MailboxNameError:
        return None
    return None if decoded == name else Generation.V14


# Keywords and words mbsync 1.4 does not know (it rejects the file).
_NEW_KEYWORDS = ("tlstype", "tlsversions", "expireside", "upgrade", "gone")
_NEW_WORDS = re.compile(r"(?i)^\s*(Sync|Create|Remove|Expunge)\b.*\b(Upgrade|Gone|Old)\b")


def new_spellings(config_text: str) -> tuple[str, ...]:
    """
    The 1.5-only spellings in a configuration file's text, in order.

    @param config_text: the whole file.
    @return: the keywords found (C{TLSType}, C{ExpireSide}...), at most
        one of each, as spelled in the file.
    """
    found: dict[str, str] = {}
    for line in config_text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        keyword = words[0].casefold()
        if keyword in _NEW_KEYWORDS:
            found.setdefault(keyword, words[0])
        match = _NEW_WORDS.match(line)
        if match is not None:
            found.setdefault(match.group(2).casefold(), f"{match.group(1)} {match.group(2)}")
    return tuple(found.values())


@record
class Evidence:
    """
    What was seen before deciding (see L{msync.compatprobe.gather}).

    @ivar option: C{--compat}'s value, or C{None}.
    @ivar environment: C{MSYNC_COMPAT}'s value, or C{None} (or empty).
    @ivar journals: the versions of live journals in the default state
        directories, with one journal's path each.
    @ivar utf7_folder: a folder named in modified UTF-7, or C{None}.
    @ivar utf8_folder: a folder named in UTF-8, or C{None}.
    @ivar xdg_state: the 1.5 state directory, if it exists.
    @ivar xdg_config: the configuration file read, if it is 1.5's
        C{isyncrc}.
    @ivar spellings: 1.5-only spellings in the configuration.
    @ivar installed: C{mbsync --version}'s output, or C{None}.
    @ivar old_state: mbsync 1.4's state directory, if it exists (only 1.4
        and older create it; 1.5 goes on using one it finds).
    """

    option: str | None = None
    environment: str | None = None
    journals: tuple[tuple[str, str], ...] = ()
    utf7_folder: str | None = None
    utf8_folder: str | None = None
    xdg_state: str | None = None
    xdg_config: str | None = None
    spellings: tuple[str, ...] = ()
    installed: str | None = None
    old_state: str | None = None


@record
class Choice:
    """
    The generation msync follows in this run, and why.
    """

    generation: Generation
    reason: str

    def describe(self) -> str:
        """
        The C{-V} line.
        """
        return f"Following mbsync {self.generation.value}: {self.reason}"


def _journal_choice(journals: tuple[tuple[str, str], ...]) -> Choice | None:
    for version, path in journals:
        if version in ("4", "5"):
            generation = Generation.V14 if version == "4" else Generation.V15
            return Choice(generation, f"interrupted run's journal version {version} ({path})")
    return None


def choose(evidence: Evidence) -> Choice:
    """
    Decide the generation (see the module docstring for the order).

    @raise UsageError: C{--compat} or C{MSYNC_COMPAT} is not a generation.
    """
    if evidence.option is not None:
        generation = parse_generation(evidence.option, "--compat")
        return Choice(generation, f"--compat {evidence.option}")
    if evidence.environment:
        generation = parse_generation(evidence.environment, COMPAT_VARIABLE)
        return Choice(generation, f"{COMPAT_VARIABLE}={evidence.environment}")
    journal = _journal_choice(evidence.journals)
    if journal is not None:
        return journal
    if evidence.utf7_folder is not None:
        return Choice(Generation.V14, f"folder names in modified UTF-7 ({evidence.utf7_folder})")
    if evidence.utf8_folder is not None:
        return Choice(Generation.V15, f"folder names in UTF-8 ({evidence.utf8_folder})")
    if evidence.xdg_state is not None:
        return Choice(Generation.V15, f"sync state in {evidence.xdg_state}")
    if evidence.xdg_config is not None:
        return Choice(Generation.V15, f"configuration file {evidence.xdg_config}")
    if evidence.spellings:
        return Choice(
            Generation.V15,
            "1.5-only configuration keywords (" + ", ".join(evidence.spellings) + ")",
        )
    if evidence.installed is not None:
        installed = installed_generation(evidence.installed)
        if installed is not None:
            return Choice(installed, f"installed mbsync is {evidence.installed.strip()}")
    if evidence.old_state is not None:
        return Choice(Generation.V14, f"sync state in {evidence.old_state}, no mbsync installed")
    return Choice(Generation.V15, "fresh setup, no mbsync installed")


def default_state_directory(
    generation: Generation, home: str, xdg_state_home: str | None, exists: dict[str, bool]
) -> tuple[str, str | None]:
    """
    The default global C{SyncState} of a generation: 1.4's C{~/.mbsync/};
    1.5's C{$XDG_STATE_HOME/isync/} (default C{~/.local/state/isync/})
    unless only C{~/.mbsync/} exists.

    @param exists: whether each of the two candidate paths exists.
    @return: the directory (with trailing C{/}) and, when 1.5 finds both,
        its error.
    """
    old = home.rstrip("/") + "/.mbsync/"
    if generation is Generation.V14:
        return old, None
    base = xdg_state_home or home.rstrip("/") + "/.local/state"
    new = base.rstrip("/") + "/isync/"
    if exists.get(old) and not exists.get(new):
        return old, None
    if exists.get(old) and exists.get(new):
        return new, (f"both {new} and {old} exist; delete one or set SyncState globally.")
    return new, None


_SYNC_RENEW = frozenset({"renew", "pullrenew", "pushrenew"})
_SYNC_DELETE = frozenset({"delete", "pulldelete", "pushdelete"})


def config_notices_15(config_text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """
    mbsync 1.5's notices for the old spellings in a configuration file,
    each once: C{SSLType}/C{SSLVersions} while reading (file order), then
    C{ReNew}/C{Delete} in C{Sync} lines at the end (after the
    Master/Slave notice).

    @return: (notices while reading, notices at the end).
    """
    early: dict[str, str] = {}
    renew = delete = False
    for line in config_text.splitlines():
        words = line.split()
        if not words:
            continue
        keyword = words[0].casefold()
        if keyword == "ssltype":
            early.setdefault(keyword, "Notice: SSLType is deprecated. Use TLSType instead.")
        elif keyword in ("sslversion", "sslversions"):
            early.setdefault(
                "sslversions", "Notice: SSLVersions is deprecated. Use TLSVersions instead."
            )
        elif keyword == "sync":
            folded = {word.casefold() for word in words[1:]}
            renew |= bool(folded & _SYNC_RENEW)
            delete |= bool(folded & _SYNC_DELETE)
    late = []
    if renew:
        late.append("Notice: ReNew is deprecated; use Upgrade instead.")
    if delete:
        late.append("Notice: Delete is deprecated; use Gone instead.")
    return tuple(early.values()), tuple(late)
