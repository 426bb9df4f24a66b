# -*- test-case-name: tests.test_cmdline,tests.test_cli -*-
"""
The C{msync} option grammar: mbsync 1.4.4's command line parsed into a
L{CommandLine}, and the C{-h}/C{-v} texts.

Invariants:
  - L1: pure. No Twisted, no I/O; words in, a frozen L{CommandLine} or a
    L{UsageError} out.
  - L{parse_arguments} reproduces mbsync 1.4.4's hand-written option
    grammar (not getopt): options end at the first operand or C{--}; short
    options cluster (C{-lqV}); C{-C}/C{-R}/C{-X} take at most one suffix
    letter, C{-L}/C{-H} any number of type letters, C{-D}/C{-T} the rest
    of their word; C{-c} takes the I{next} word;
  - every message matches mbsync's (checked against the installed
    C{mbsync 1.4.4}, see C{tests/test_cli.py} and msync(1)).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import field, replace

from msync import __version__
from msync.compat import Generation, parse_generation
from msync.config.schema import (
    ALL_SIDES,
    SYNC_ALL_15,
    SyncOp,
    SyncOps,
    merge_sides15,
    merge_sync15,
)
from msync.errors import UsageError
from msync.model import Side
from msync.plan import OperationOverrides
from msync.records import mutable_record, record

__all__ = [
    "DEBUG_ALL",
    "MBSYNC_COMPATIBILITY",
    "SUFFIX_NOTICE",
    "Action",
    "CommandLine",
    "MAX_PARALLEL",
    "DebugCategory",
    "TestingOptions",
    "parse_arguments",
    "usage_text",
    "version_text",
]

MBSYNC_COMPATIBILITY = "isync 1.4.4"
"""The mbsync release whose behaviour msync reproduces (C{mbsync -v} prints it)."""

_RELEASES = {Generation.V14: MBSYNC_COMPATIBILITY, Generation.V15: "isync 1.5.0"}

SUFFIX_NOTICE = "Notice: -master/-slave/m/s suffixes are deprecated; use -far/-near/f/n instead."


class Action(enum.Enum):
    """
    What the command was asked to do.
    """

    SYNC = "sync"
    LIST = "list"
    LIST_STORES = "list-stores"
    HELP = "help"
    VERSION = "version"


class DebugCategory(enum.Enum):
    """
    One C{-D} category (letter in C{-D}, suffix of C{--debug-}).
    """

    CRASH = "crash"
    DRIVER = "driver"
    DRIVER_ALL = "driver-all"
    MAILDIR = "maildir"
    MAIN = "main"
    NET = "net"
    NET_ALL = "net-all"
    SYNC = "sync"


_DEBUG_LETTERS: dict[str, frozenset[DebugCategory]] = {
    "C": frozenset({DebugCategory.CRASH}),
    "d": frozenset({DebugCategory.DRIVER}),
    "D": frozenset({DebugCategory.DRIVER, DebugCategory.DRIVER_ALL}),
    "m": frozenset({DebugCategory.MAILDIR}),
    "M": frozenset({DebugCategory.MAIN}),
    "n": frozenset({DebugCategory.NET}),
    "N": frozenset({DebugCategory.NET, DebugCategory.NET_ALL}),
    "s": frozenset({DebugCategory.SYNC}),
}

_DEBUG_WORDS: dict[str, frozenset[DebugCategory]] = {
    "-crash": _DEBUG_LETTERS["C"],
    "-driver": _DEBUG_LETTERS["d"],
    "-driver-all": _DEBUG_LETTERS["D"],
    "-maildir": _DEBUG_LETTERS["m"],
    "-main": _DEBUG_LETTERS["M"],
    "-net": _DEBUG_LETTERS["n"],
    "-net-all": _DEBUG_LETTERS["N"],
    "-sync": _DEBUG_LETTERS["s"],
}

DEBUG_ALL: frozenset[DebugCategory] = frozenset(
    {
        DebugCategory.MAIN,
        DebugCategory.SYNC,
        DebugCategory.MAILDIR,
        DebugCategory.NET,
        DebugCategory.DRIVER,
    }
)
"""Bare C{-D}/C{--debug}: everything but the C{-all} variants and C{C}."""

# -u/--upgrade and -g/--gone are isync 1.5's names for -N/--renew and
# -d/--delete (which 1.5 calls deprecated, see LEGACY_TYPE_NOTICES).
_TYPE_LETTERS = {
    "n": SyncOp.NEW,
    "N": SyncOp.RENEW,
    "u": SyncOp.RENEW,
    "d": SyncOp.DELETE,
    "g": SyncOp.DELETE,
    "f": SyncOp.FLAGS,
    "o": SyncOp.OLD,
}
_TYPE_WORDS = {
    "new": SyncOp.NEW,
    "renew": SyncOp.RENEW,
    "upgrade": SyncOp.RENEW,
    "delete": SyncOp.DELETE,
    "gone": SyncOp.DELETE,
    "flags": SyncOp.FLAGS,
    "old": SyncOp.OLD,
}
LEGACY_TYPE_NOTICES = {
    "renew": "Notice: --renew/-N are deprecated; use --upgrade/-u instead.",
    "delete": "Notice: --delete/-d are deprecated; use --gone/-g instead.",
}
"""isync 1.5's notices for the old spellings, printed when following 1.5."""
_LEGACY_TYPES = {"N": "renew", "renew": "renew", "d": "delete", "delete": "delete"}
_SIDE_LETTERS = {"f": Side.FAR, "m": Side.FAR, "n": Side.NEAR, "s": Side.NEAR}
_SIDE_WORDS = {"-far": Side.FAR, "-master": Side.FAR, "-near": Side.NEAR, "-slave": Side.NEAR}
# -x/--expunge-solo is isync 1.5's (1.4.4 rejects it: see ISYNC15_ONLY).
_BOX_OPS = {"C": "Create", "R": "Remove", "X": "Expunge", "x": "ExpungeSolo"}
_BOX_OP_WORDS = {"expunge-solo": "x", "create": "C", "remove": "R", "expunge": "X"}


@record
class TestingOptions:
    """
    mbsync's undocumented C{-T} test switches, as isync 1.4.4 defines them
    (its own test suite uses them; see L{msync.sync.statefile.JournalTesting}).

    @ivar async_driver: C{a}, force the asynchronous proxy driver.
    @ivar keep_journal: C{j}, keep the journal instead of committing.
    @ivar journal_limit: the C{N} of C{jN}: exit after N journal writes.
    @ivar no_mtime_wait: C{z}, skip the Maildir one-second mtime wait.
    """

    async_driver: bool = False
    keep_journal: bool = False
    journal_limit: int | None = None
    no_mtime_wait: bool = False


@record
class CommandLine:
    """
    A parsed C{msync} command line.

    @ivar action: what to do.
    @ivar config: C{-c}'s file, or C{None} for the default.
    @ivar all_channels: C{-a}.
    @ivar targets: the operands (channels, C{chan:box,...}, groups).
    @ivar overrides: the channel options the command line replaces.
    @ivar verbose: C{-V}, or any C{-D} category but C{crash}.
    @ivar debug: the C{-D} categories.
    @ivar quiet: the number of C{-q}, at most 2.
    @ivar dry_run: C{-y}/C{--dry-run} (isync 1.5).
    @ivar testing: the C{-T} switches.
    @ivar notices: deprecation notices to print (as warnings) after parsing.
    @ivar compat: C{--compat}'s generation (C{1.4}/C{1.5}), unchecked here.
    @ivar migrate_names: C{--migrate-names}: rename a 1.4 tree's folders
        and state files to mbsync 1.5's names, then stop.
    @ivar ext_exit: C{-e}/C{--ext-exit} (isync 1.5): exit status bits for
        changes (32: far side changed, 64: near side).
    @ivar legacy_types: the old spellings used (C{renew}, C{delete}), in
        1.5's notice order, for L{LEGACY_TYPE_NOTICES}.
    @ivar json: C{--json} (msync's own): events as JSON lines on stdout.
    @ivar isync15_only: the options given that mbsync 1.4.4 does not
        know (C{-x}, ...), as written; following 1.4 they are refused
        with 1.4.4's C{Unknown option} once the generation is known.
    @ivar parallel: C{--parallel N} (msync's own): box pairs of a channel
        synced at once, each with connections of its own.
    """

    action: Action = Action.SYNC
    config: str | None = None
    all_channels: bool = False
    targets: tuple[str, ...] = ()
    overrides: OperationOverrides = OperationOverrides()
    verbose: bool = False
    debug: frozenset[DebugCategory] = frozenset()
    quiet: int = 0
    dry_run: bool = False
    testing: TestingOptions = TestingOptions()
    notices: tuple[str, ...] = ()
    compat: str | None = None
    migrate_names: bool = False
    legacy_types: tuple[str, ...] = ()
    ext_exit: bool = False
    json: bool = False
    isync15_only: tuple[str, ...] = ()
    parallel: int = 1


#: The most box pairs C{--parallel} syncs at once (each lane opens its own
#: connections).
MAX_PARALLEL = 16


def _parallel(word: str) -> int:
    """
    C{--parallel}'s argument: a number of lanes, 1 to L{MAX_PARALLEL}.
    """
    if not word.isdigit() or not 1 <= int(word) <= MAX_PARALLEL:
        raise UsageError(f"--parallel needs a number from 1 to {MAX_PARALLEL}, not '{word}'.")
    return int(word)


_ON_COMMAND_LINE = "on the command line"
"""Where isync 1.5 says a conflict between operation options is."""


@mutable_record
class _BoxOpRequest:
    """
    C{-C}/C{-R}/C{-X} as given: C{general} for the bare option, C{sides}
    for the suffixed ones, C{given} for any (C{-C-} and C{--no-create} too).
    """

    given: bool = False
    general: bool = False
    sides: set[Side] = field(default_factory=set)
    none: bool = False

    def result(self, keyword: str, isync15: bool = False) -> frozenset[Side] | None:
        if not self.given:
            return None
        if isync15:
            try:
                return merge_sides15(
                    keyword,
                    both=self.general,
                    sides=frozenset(self.sides),
                    none=self.none,
                    where=_ON_COMMAND_LINE,
                )
            except ValueError as error:
                raise UsageError(str(error)) from None
        if self.general and self.sides:
            raise UsageError(f"Conflicting {keyword} args specified.")
        return ALL_SIDES if self.general else frozenset(self.sides)


@mutable_record
class _SyncRequest:
    """
    The C{Sync}-replacing options as given: C{types} and C{pull}/C{push}
    from the undirected options (C{-n}, C{-L}, C{-F}...), C{cells} from
    the directed ones (C{-Ln}, C{--push-flags}...).
    """

    given: bool = False
    types: SyncOp = SyncOp.NONE
    pull: bool = False
    push: bool = False
    cells: dict[Side, SyncOp] = field(
        default_factory=lambda: {Side.FAR: SyncOp.NONE, Side.NEAR: SyncOp.NONE}
    )
    noop: bool = False
    full: bool = False

    def result(self, isync15: bool = False) -> SyncOps | None:
        """
        mbsync's C{merge_ops}: directed cells plus undirected types; a bare
        direction then claims its whole row, which must still be empty; a
        type asserted both ways is a conflict. Without cells, a missing
        direction means both and a missing type means all. Following
        isync 1.5, its merge and words (L{merge_sync15}); its C{--full}
        is every type, C{Old} included.
        """
        if not self.given:
            return None
        if isync15:
            try:
                return merge_sync15(
                    types=self.types | (SYNC_ALL_15 if self.full else SyncOp.NONE),
                    pull=self.pull,
                    push=self.push,
                    near=self.cells[Side.NEAR],
                    far=self.cells[Side.FAR],
                    noop=self.noop,
                    where=_ON_COMMAND_LINE,
                )
            except ValueError as error:
                raise UsageError(str(error)) from None
        if self.full:
            self.pull = self.push = True
        far, near = self.cells[Side.FAR], self.cells[Side.NEAR]
        if far or near:
            if self.types & (far | near):
                raise UsageError("Conflicting Sync args specified.")
            far, near = far | self.types, near | self.types
            if (self.pull and near) or (self.push and far):
                raise UsageError("Conflicting Sync args specified.")
            return SyncOps(
                pull=SyncOp.ALL if self.pull else near,
                push=SyncOp.ALL if self.push else far,
            )
        if not (self.types or self.pull or self.push):
            return SyncOps(SyncOp.NONE, SyncOp.NONE)
        types = self.types or SyncOp.ALL
        both = not (self.pull or self.push)
        return SyncOps(
            pull=types if self.pull or both else SyncOp.NONE,
            push=types if self.push or both else SyncOp.NONE,
        )


class _Stop(Exception):
    """
    C{-h}/C{-v}: mbsync acts on them at once, ignoring the rest.
    """

    def __init__(self, action: Action, compat: str | None) -> None:
        self.action = action
        self.compat = compat


class _Parser:
    """
    The mutable state of one L{parse_arguments} call.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = argv
        self.index = 0
        self.config: str | None = None
        self.compat: str | None = None
        self.migrate_names = False
        self.legacy_types: set[str] = set()
        self.ext_exit = False
        self.list_stores = False
        self.all_channels = False
        self.listing = False
        self.verbose = False
        self.debug: set[DebugCategory] = set()
        self.quiet = 0
        self.dry_run = False
        self.json = False
        self.parallel = 1
        self.testing = TestingOptions()
        self.legacy_suffix = False
        self.sync = _SyncRequest()
        self.box_ops = {letter: _BoxOpRequest() for letter in _BOX_OPS}
        self.isync15_only: list[str] = []

    def next_word(self, option: str) -> str:
        if self.index >= len(self.argv):
            raise UsageError(f"{option} requires an argument.")
        word = self.argv[self.index]
        self.index += 1
        return word

    def run(self) -> int:
        """
        Consume the options; return the index of the first operand.
        """
        while self.index < len(self.argv):
            word = self.argv[self.index]
            if not word.startswith("-"):
                break
            self.index += 1
            if word == "--":
                break
            if word.startswith("--"):
                self.long_option(word)
            elif word == "-":
                raise UsageError("Invalid option '-'")
            else:
                self.short_cluster(word[1:])
        return self.index

    # Long options.

    def long_option(self, word: str) -> None:
        name = word[2:]
        if name == "config":
            self.config = self.next_word("--config")
        elif name.startswith("config="):
            self.config = name[len("config=") :]
        elif name == "compat":
            # msync's own: which mbsync generation to follow (docs/compat.md).
            self.compat = self.next_word("--compat")
        elif name.startswith("compat="):
            self.compat = name[len("compat=") :]
        elif name == "migrate-names":
            self.migrate_names = True
        elif name == "parallel":
            # msync's own: box pairs of a channel synced at once.
            self.parallel = _parallel(self.next_word("--parallel"))
        elif name.startswith("parallel="):
            self.parallel = _parallel(name[len("parallel=") :])
        elif name in _LONG_SWITCHES:
            setattr(self, _LONG_SWITCHES[name], True)
        elif name in _SIMPLE_LONG:
            _SIMPLE_LONG[name](self)
        elif name.startswith("debug") and (name[5:] == "" or name[5:] in _DEBUG_WORDS):
            self.add_debug(_DEBUG_WORDS[name[5:]] if name[5:] else DEBUG_ALL)
        elif not (self.long_box_op(name) or self.long_sync(name)):
            raise UsageError(f"Unknown option '{word}'")

    def long_box_op(self, name: str) -> bool:
        # Longest stem first: --expunge-solo-far is not --expunge + "-solo-far".
        stem = next((word for word in _BOX_OP_WORDS if name.startswith(word)), None)
        if stem is None:
            return False
        suffix = name[len(stem) :]
        if suffix not in _SIDE_WORDS and suffix != "":
            return False
        letter = _BOX_OP_WORDS[stem]
        request = self.box_ops[letter]
        if letter == "x":
            self.isync15_only.append(f"--{name}")
        if suffix == "":
            request.general = True
        elif suffix in _SIDE_WORDS:
            request.sides.add(_SIDE_WORDS[suffix])
            self.legacy_suffix |= suffix in ("-master", "-slave")
        request.given = True
        return True

    def long_sync(self, name: str) -> bool:
        direction, dash, rest = name.partition("-")
        if direction in ("pull", "push") and dash and rest in _TYPE_WORDS:
            side = Side.NEAR if direction == "pull" else Side.FAR
            self.sync.cells[side] |= _TYPE_WORDS[rest]
            self.note_legacy(rest)
        elif name in _TYPE_WORDS:
            self.sync.types |= _TYPE_WORDS[name]
            self.note_legacy(name)
        else:
            return False
        if _TYPE_WORDS[rest if dash and rest in _TYPE_WORDS else name] is SyncOp.OLD:
            self.isync15_only.append(f"--{name}")
        self.sync.given = True
        return True

    # Short options.

    def short_cluster(self, letters: str) -> None:
        position = 0
        while position < len(letters):
            letter = letters[position]
            position += 1
            if letter == "l" and letters[position : position + 1] == "s":
                # isync 1.5's -ls: raw listing of stores' mailboxes.
                self.list_stores = True
                position += 1
            elif letter in _SWITCHES:
                setattr(self, _SWITCHES[letter], True)
            elif letter in _SIMPLE_SHORT:
                _SIMPLE_SHORT[letter](self)
            elif letter in _TYPE_LETTERS:
                self.add_type(_TYPE_LETTERS[letter])
                self.note_legacy(letter)
                self.note_old(letter)
            elif letter == "c":
                self.config = self.next_word("-c")
            elif letter in _BOX_OPS:
                position = self.short_box_op(letter, letters, position)
            elif letter in ("L", "H"):
                position = self.short_direction(letter, letters, position)
            elif letter == "D":
                self.short_debug(letters[position:])
                position = len(letters)
            elif letter == "T":
                self.short_testing(letters[position:])
                position = len(letters)
            else:
                raise UsageError(f"Unknown option '-{letter}'")

    def short_box_op(self, letter: str, letters: str, position: int) -> int:
        if letter == "x":
            self.isync15_only.append("-x")
        request = self.box_ops[letter]
        request.given = True
        suffix = letters[position : position + 1]
        if suffix in _SIDE_LETTERS:
            request.sides.add(_SIDE_LETTERS[suffix])
            self.legacy_suffix |= suffix in ("m", "s")
            return position + 1
        if suffix == "-":
            return position + 1
        request.general = True
        return position

    def short_direction(self, letter: str, letters: str, position: int) -> int:
        types = SyncOp.NONE
        while position < len(letters) and letters[position] in _TYPE_LETTERS:
            types |= _TYPE_LETTERS[letters[position]]
            self.note_legacy(letters[position])
            self.note_old(letters[position])
            position += 1
        side = Side.NEAR if letter == "L" else Side.FAR
        if types:
            self.sync.cells[side] |= types
        elif side is Side.NEAR:
            self.sync.pull = True
        else:
            self.sync.push = True
        self.sync.given = True
        return position

    def short_debug(self, letters: str) -> None:
        categories: set[DebugCategory] = set()
        for letter in letters:
            if letter not in _DEBUG_LETTERS:
                raise UsageError(f"Unknown -D flag '{letter}'")
            categories |= _DEBUG_LETTERS[letter]
        self.add_debug(frozenset(categories) or DEBUG_ALL)

    def add_debug(self, categories: frozenset[DebugCategory]) -> None:
        self.debug |= categories
        self.verbose |= bool(categories - {DebugCategory.CRASH})

    def short_testing(self, letters: str) -> None:
        testing = self.testing
        position = 0
        while position < len(letters):
            letter = letters[position]
            position += 1
            if letter == "a":
                testing = replace(testing, async_driver=True)
            elif letter == "z":
                testing = replace(testing, no_mtime_wait=True)
            elif letter == "j":
                digits = ""
                while position < len(letters) and letters[position] in "0123456789":
                    digits += letters[position]
                    position += 1
                limit = int(digits) if digits else testing.journal_limit
                testing = replace(testing, keep_journal=True, journal_limit=limit)
            else:
                raise UsageError(f"Unknown -T flag '{letter}'")
        self.testing = testing

    # Simple flags.

    def note_legacy(self, spelling: str) -> None:
        if spelling in _LEGACY_TYPES:
            self.legacy_types.add(_LEGACY_TYPES[spelling])

    def note_old(self, letter: str) -> None:
        # isync 1.5's -o (Old); mbsync 1.4.4 does not know it.
        if letter == "o":
            self.isync15_only.append("-o")

    def set_ext_exit(self) -> None:
        self.ext_exit = True

    def add_quiet(self) -> None:
        self.quiet = min(self.quiet + 1, 2)

    def set_noop(self) -> None:
        self.sync.given = self.sync.noop = True

    def set_full(self) -> None:
        self.sync.given = self.sync.pull = self.sync.push = True

    def set_full_word(self) -> None:
        # --full: -F for 1.4 (see _SIMPLE_LONG), every type for 1.5.
        self.sync.given = self.sync.full = True

    def stop_help(self) -> None:
        raise _Stop(Action.HELP, self.compat)

    def stop_version(self) -> None:
        raise _Stop(Action.VERSION, self.compat)

    def add_type(self, op: SyncOp) -> None:
        self.sync.given = True
        self.sync.types |= op

    def set_pull(self) -> None:
        self.sync.given = self.sync.pull = True

    def set_push(self) -> None:
        self.sync.given = self.sync.push = True

    def box_op_none(self, letter: str) -> None:
        if letter == "x":
            self.isync15_only.append("--no-expunge-solo")
        self.box_ops[letter].given = self.box_ops[letter].none = True


_Flag = Callable[[_Parser], None]

_SWITCHES = {"a": "all_channels", "l": "listing", "V": "verbose", "y": "dry_run"}
_LONG_SWITCHES = {"all": "all_channels", "list": "listing", "verbose": "verbose"}
_LONG_SWITCHES["dry-run"] = "dry_run"
_LONG_SWITCHES["ext-exit"] = "ext_exit"
_LONG_SWITCHES["list-stores"] = "list_stores"
_LONG_SWITCHES["json"] = "json"

_SIMPLE_SHORT: dict[str, _Flag] = {
    "q": _Parser.add_quiet,
    "h": _Parser.stop_help,
    "v": _Parser.stop_version,
    "0": _Parser.set_noop,
    "F": _Parser.set_full,
    "e": _Parser.set_ext_exit,
}

_SIMPLE_LONG: dict[str, _Flag] = {
    "quiet": _Parser.add_quiet,
    "help": _Parser.stop_help,
    "version": _Parser.stop_version,
    "noop": _Parser.set_noop,
    # mbsync 1.4.4's --full only marks the Sync class as given (a bug that
    # makes it a no-op); msync gives it -F's documented meaning.
    "full": _Parser.set_full_word,
    "pull": _Parser.set_pull,
    "push": _Parser.set_push,
    "no-create": lambda parser: parser.box_op_none("C"),
    "no-remove": lambda parser: parser.box_op_none("R"),
    "no-expunge": lambda parser: parser.box_op_none("X"),
    "no-expunge-solo": lambda parser: parser.box_op_none("x"),
}


def _explicit15(parser: _Parser, environ_compat: str | None) -> bool:
    """
    Whether isync 1.5 is chosen before the configuration is read
    (C{--compat}, else the environment's choice); an invalid choice is
    reported later, with the configuration.
    """
    asked = parser.compat or environ_compat
    try:
        return asked is not None and parse_generation(asked, "--compat") is Generation.V15
    except UsageError:
        return False


def parse_arguments(argv: Sequence[str], environ_compat: str | None = None) -> CommandLine:
    """
    Parse C{msync}'s arguments exactly as mbsync 1.4.4 parses its own.

    C{-h} and C{-v} act immediately (later words are not looked at);
    conflicts between operation options are found after all options,
    Sync first, then Expunge, Create and Remove. When isync 1.5 is chosen
    explicitly (C{--compat 1.5}, or C{environ_compat}), they are merged
    as 1.5 merges them, in its order (Sync, Expunge, ExpungeSolo, Create,
    Remove) and with its words (C{Redundant Sync options specified on
    the command line.}), after its notices for C{-N}/C{-d}.

    @param argv: the arguments without the program name.
    @param environ_compat: C{MSYNC_COMPAT}, if set.
    @return: the command line.
    @raise UsageError: with mbsync's message (C{Unknown option '-x'},
        C{-c requires an argument.}, C{Conflicting Sync args specified.}, ...);
        a pending deprecation notice precedes it, as mbsync prints both.
    """
    parser = _Parser(argv)
    try:
        first_operand = parser.run()
    except _Stop as stop:
        # A --compat before -h/-v chooses which texts they print.
        return CommandLine(action=stop.action, compat=stop.compat)
    notices = (SUFFIX_NOTICE,) if parser.legacy_suffix else ()
    isync15 = _explicit15(parser, environ_compat)
    # isync 1.5 prints its -N/-d notices before a conflict (else the
    # caller prints them, see CommandLine.legacy_types).
    early = tuple(
        LEGACY_TYPE_NOTICES[name] for name in LEGACY_TYPE_NOTICES if name in parser.legacy_types
    )
    order = "XxCR" if isync15 else "XCRx"
    try:
        sync = parser.sync.result(isync15)
        sides = {
            letter: parser.box_ops[letter].result(_BOX_OPS[letter], isync15) for letter in order
        }
        overrides = OperationOverrides(
            sync=sync,
            create=sides["C"],
            remove=sides["R"],
            expunge=sides["X"],
            expunge_solo=sides["x"],
        )
    except UsageError as error:
        before = notices + early if isync15 else notices
        if before and parser.quiet < 2:
            raise UsageError("\n".join((*before, str(error)))) from None
        raise
    return CommandLine(
        action=(
            Action.LIST_STORES
            if parser.list_stores
            else Action.LIST
            if parser.listing
            else Action.SYNC
        ),
        config=parser.config,
        all_channels=parser.all_channels,
        targets=tuple(argv[first_operand:]),
        overrides=overrides,
        verbose=parser.verbose,
        debug=frozenset(parser.debug),
        quiet=parser.quiet,
        dry_run=parser.dry_run,
        testing=parser.testing,
        notices=notices,
        compat=parser.compat,
        migrate_names=parser.migrate_names,
        ext_exit=parser.ext_exit,
        legacy_types=tuple(t for t in LEGACY_TYPE_NOTICES if t in parser.legacy_types),
        json=parser.json,
        isync15_only=tuple(parser.isync15_only),
        parallel=parser.parallel,
    )


def version_text(generation: Generation = Generation.V14) -> str:
    """
    @param generation: the mbsync generation followed.
    @return: what C{-v} prints: msync's version and the mbsync release it
        matches, e.g. C{msync 0.1.0 (isync 1.4.4 compatible)}.
    """
    return f"msync {__version__} ({_RELEASES[generation]} compatible)"


def usage_text(generation: Generation = Generation.V14) -> str:
    """
    @param generation: the mbsync generation followed: isync 1.5's help
        names C{-ls}, C{-g}, C{-u}, C{-y}, C{-e} (and C{-x}, whose meaning
        follows that release).
    @return: what C{-h} prints, modelled on C{mbsync --help}.
    """
    if generation is Generation.V15:
        return _USAGE_15.format(version=__version__, release=_RELEASES[generation])
    return f"""\
msync {__version__} - mailbox synchronizer ({MBSYNC_COMPATIBILITY} compatible)
usage:
 msync [flags] {{{{channel[:box,...]|group}} ...|-a}}
  -a, --all\t\toperate on all defined channels
  -l, --list\t\tlist mailboxes instead of syncing them
  -n, --new\t\tpropagate new messages
  -d, --delete\t\tpropagate message deletions
  -f, --flags\t\tpropagate message flag changes
  -N, --renew\t\tpropagate previously not propagated new messages
  -L, --pull\t\tpropagate from far to near side
  -H, --push\t\tpropagate from near to far side
  -C, --create\t\tpropagate creations of mailboxes
  -R, --remove\t\tpropagate deletions of mailboxes
  -X, --expunge\t\texpunge deleted messages
  -y, --dry-run\t\tshow what would be done, change nothing
  --json\t\twrite events as JSON lines on stdout (see man msync)
  --parallel N\t\tsync up to N boxes of a channel at once (see man msync)
  -c, --config CONFIG\tread an alternate config file (default: ~/.mbsyncrc)
  -D, --debug\t\tdebugging modes (see manual)
  -V, --verbose\t\tdisplay what is happening
  -q, --quiet\t\tdon't display progress counters
  -v, --version\t\tdisplay version
  -h, --help\t\tdisplay this help message

If neither --pull nor --push are specified, both are active.
If neither --new, --delete, --flags nor --renew are specified, all are active.
Direction and operation can be concatenated like --pull-new, etc.
--create, --remove, and --expunge can be suffixed with -far/-near.
See 'man msync' and 'man msyncrc' for details.

Supported mailbox formats are: IMAP4rev1, Maildir
"""


# isync 1.5.0's --help, line for line, with msync's name and its --json.
_USAGE_15 = """\
msync {version} - mailbox synchronizer ({release} compatible)
usage:
 msync [flags] {{{{channel[:box,...]|group}} ...|-a}}
  -a, --all\t\toperate on all defined channels
  -l, --list\t\tlist mailboxes instead of syncing them
  -ls, --list-stores\traw listing of stores' mailboxes
  -n, --new\t\tpropagate new messages
  -g, --gone\t\tpropagate message disappearances (expunges)
  -f, --flags\t\tpropagate message flag changes
  -u, --upgrade\t\tupgrade placeholders to full messages
  -L, --pull\t\tpropagate from far to near side
  -H, --push\t\tpropagate from near to far side
  -C, --create\t\tpropagate creations of mailboxes
  -R, --remove\t\tpropagate deletions of mailboxes
  -X, --expunge\t\texpunge deleted messages
  -c, --config CONFIG\tread an alternate config file (default: ~/.mbsyncrc)
  -D, --debug\t\tdebugging modes (see manual)
  -y, --dry-run\t\tdo not actually modify anything
  -e, --ext-exit\treturn extended exit code
  --json\t\twrite events as JSON lines on stdout (see man msync)
  -V, --verbose\t\tdisplay what is happening
  -q, --quiet\t\tdon't display progress counters
  -v, --version\t\tdisplay version
  -h, --help\t\tdisplay this help message

If neither --pull nor --push are specified, both are active.
If neither --new, --gone, --flags, nor --upgrade are specified, all are
active. Direction and operation can be concatenated like --pull-new, etc.
--create, --remove, and --expunge can be suffixed with -far/-near.
See 'man msync' and 'man msyncrc' for details.

Supported mailbox formats are: IMAP4rev1, Maildir
"""
