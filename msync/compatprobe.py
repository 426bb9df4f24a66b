# -*- test-case-name: tests.test_compatprobe -*-
"""
What is on disk that tells which mbsync generation a setup belongs to
(L{msync.compat.Evidence}), gathered once per run; and the resulting
choice with the generation's default state directory.

Invariants:
  - Read only: nothing is created, renamed or cached across runs.
  - Bounded: at most L{MAX_ENTRIES} directory entries are looked at per
    store and per state directory, folders at most L{MAX_DEPTH} levels
    deep; the installed C{mbsync} is asked (C{mbsync --version}, with a
    timeout) only when nothing on disk decides.
  - An C{mbsync} that is msync itself (a symlink replacing mbsync) is not
    taken for an installed mbsync.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

from msync.compat import (
    COMPAT_VARIABLE,
    Choice,
    Evidence,
    Generation,
    choose,
    default_state_directory,
    folder_generation,
    new_spellings,
)
from msync.config.schema import Config, SyncStateKind
from msync.migrate import maildir_roots
from msync.records import record

#: Directory entries looked at, per store or state directory.
MAX_ENTRIES = 5000
#: Folder levels looked at below a Maildir store's root.
MAX_DEPTH = 4
_MAILDIR_PARTS = frozenset({"cur", "new", "tmp"})


@record
class Decision:
    """
    The generation of this run and where its state lives by default.

    @ivar choice: the generation and why.
    @ivar state_directory: the default global C{SyncState} directory.
    @ivar error: mbsync 1.5's error when both state directories exist.
    """

    choice: Choice
    state_directory: str
    error: str | None = None


def _folders(root: str) -> Iterator[str]:
    """
    Folder names below C{root}, breadth first, bounded.
    """
    seen = 0
    level = [root]
    for _ in range(MAX_DEPTH):
        below: list[str] = []
        for directory in level:
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > MAX_ENTRIES:
                    return
                if entry.name in _MAILDIR_PARTS or not entry.is_dir(follow_symlinks=False):
                    continue
                yield entry.name
                below.append(entry.path)
        level = below


def folder_evidence(config: Config) -> tuple[str | None, str | None]:
    """
    The first modified UTF-7 and the first UTF-8 folder name in the
    configuration's Maildir stores that channels pair with IMAP stores.

    @return: (modified UTF-7 name or C{None}, UTF-8 name or C{None}).
    """
    utf7: str | None = None
    utf8: str | None = None
    # Only a Maildir paired with an IMAP store gets names from a server.
    for root in maildir_roots(config):
        for name in _folders(root or "/"):
            generation = folder_generation(name)
            if generation is Generation.V14 and utf7 is None:
                utf7 = name
            elif generation is Generation.V15 and utf8 is None:
                utf8 = name
        if utf7 is not None:
            break
    return utf7, utf8


def live_journals(directories: list[str]) -> tuple[tuple[str, str], ...]:
    """
    The versions of the live journals (with their C{.new} marker) in the
    state directories.

    @return: (version, path) pairs.
    """
    found: list[tuple[str, str]] = []
    for directory in dict.fromkeys(directories):
        try:
            names = sorted(os.listdir(directory))[:MAX_ENTRIES]
        except OSError:
            continue
        present = set(names)
        for name in names:
            if not name.endswith(".journal"):
                continue
            if name[: -len(".journal")] + ".new" not in present:
                continue
            path = os.path.join(directory, name)
            try:
                with open(path, "rb") as handle:
                    first = handle.readline(16)
            except OSError:
                continue
            if first.endswith(b"\n"):
                found.append((first[:-1].decode("ascii", "replace"), path))
    return tuple(found)


def installed_mbsync(run: Callable[[list[str]], str | None] | None = None) -> str | None:
    """
    C{mbsync --version}'s output, if an mbsync other than msync answers.
    """
    output = (run or _run)(["mbsync", "--version"])
    if output is None or output.startswith("msync"):
        return None
    return output.strip() or None


def _run(argv: list[str], meanwhile: Callable[[], object] | None = None) -> str | None:
    """
    Run C{argv} (within L{_TIMEOUT} seconds once C{meanwhile} is done) and
    give its standard output if it exits 0, else C{None}.

    @param meanwhile: work done while the command runs, before its
        output is read.
    """
    try:
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            if meanwhile is not None:
                meanwhile()
            try:
                output, _ = process.communicate(timeout=_TIMEOUT)
            except subprocess.TimeoutExpired:
                # As subprocess.run: stop it, and read what is left.
                process.kill()
                process.communicate()
                return None
    except (OSError, subprocess.SubprocessError):
        return None
    return output if process.returncode == 0 else None


#: Seconds C{mbsync --version} is given to answer.
_TIMEOUT = 5


def run_meanwhile(meanwhile: Callable[[], object]) -> Callable[[list[str]], str | None]:
    """
    A command runner for L{decide} that does C{meanwhile} while the command
    runs (the CLI loads what it needs next while C{mbsync --version}
    answers), with the same outcome as the default runner.
    """
    return functools.partial(_run, meanwhile=meanwhile)


def _xdg_state(home: str, environ: Mapping[str, str]) -> str:
    base = environ.get("XDG_STATE_HOME") or home.rstrip("/") + "/.local/state"
    return base.rstrip("/") + "/isync/"


def _xdg_config(home: str, environ: Mapping[str, str]) -> str:
    base = environ.get("XDG_CONFIG_HOME") or home.rstrip("/") + "/.config"
    return base.rstrip("/") + "/isyncrc"


def decide(
    config: Config,
    config_path: str,
    option: str | None,
    environ: Mapping[str, str],
    home: str,
    run: Callable[[list[str]], str | None] | None = None,
) -> Decision:
    """
    Gather the evidence and decide (L{msync.compat.choose}).

    @param config: the configuration read.
    @param config_path: the file it was read from.
    @param option: C{--compat}'s value, or C{None}.
    @param environ: the environment (C{MSYNC_COMPAT}, C{XDG_*}).
    @param home: the home directory.
    @param run: runs a command and returns its output (tests).
    @raise UsageError: an unknown generation was asked for.
    """
    old_state = home.rstrip("/") + "/.mbsync/"
    xdg_state = _xdg_state(home, environ)
    evidence = Evidence(option=option, environment=environ.get(COMPAT_VARIABLE))
    if option is None and not evidence.environment:
        state_dirs = [old_state, xdg_state]
        configured = config.global_options.sync_state
        if configured.kind is SyncStateKind.GLOBAL and "/" in configured.path:
            state_dirs.append(configured.path[: configured.path.rfind("/") + 1])
        utf7, utf8 = folder_evidence(config)
        try:
            with open(config_path, encoding="utf-8", errors="replace") as handle:
                spellings = new_spellings(handle.read())
        except OSError:
            spellings = ()
        evidence = replace(
            evidence,
            journals=live_journals(state_dirs),
            utf7_folder=utf7,
            utf8_folder=utf8,
            xdg_state=xdg_state if os.path.isdir(xdg_state) else None,
            old_state=old_state if os.path.isdir(old_state) else None,
            xdg_config=config_path if config_path == _xdg_config(home, environ) else None,
            spellings=spellings,
        )
    choice = choose(evidence)
    if choice.reason.endswith("no mbsync installed"):
        installed = installed_mbsync(run)
        if installed is not None:
            choice = choose(replace(evidence, installed=installed))
    exists = {path: os.path.isdir(path) for path in (old_state, xdg_state)}
    directory, error = default_state_directory(
        choice.generation, home, environ.get("XDG_STATE_HOME"), exists
    )
    return Decision(choice, directory, error)
