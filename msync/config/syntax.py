# -*- test-case-name: tests.config.test_syntax -*-
"""
The lexical layer of an mbsyncrc: lines, words, and scalar values.

Invariants:
  - input is C{str}; a physical line may hold at most L{MAX_LINE_BYTES}
    bytes of UTF-8 (mbsync reads lines into a 1024-byte buffer, newline and
    NUL included);
  - a word is a run of non-whitespace; C{"..."} quotes may appear anywhere
    in a word and a backslash escapes the next character, inside quotes or
    not; a C{#} where a word would start ends the line, elsewhere it is
    literal;
  - lines holding only a comment are dropped; lines holding only
    whitespace are yielded with no words, because they end sections;
  - every error is a L{ConfigError} carrying the file name and line number,
    worded as mbsync words it;
  - L{lines} never raises: like mbsync's C{get_arg}, it keeps the words
    read before a malformed one and records why the next could not be read
    (L{Directive.lex_errors}), so the parser can report it in mbsync's order
    and go on with the next line;
  - stdlib and L0 only, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from msync.errors import ConfigError
from msync.records import record

__all__ = [
    "MAX_LINE_BYTES",
    "Directive",
    "Reader",
    "directives",
    "lines",
    "parse_bool",
    "parse_int",
    "UINT_MAX",
    "max_size_limit",
    "parse_size",
    "split_words",
]

MAX_LINE_BYTES = 1022
"""Longest accepted line, in bytes, without its line terminator."""

_TRUE = frozenset({"yes", "true", "on", "1"})
_FALSE = frozenset({"no", "false", "off", "0"})
# C strtoul's accepted prefix (C locale): white space, a sign, decimal digits.
_STRTOUL = re.compile(r"([ \t\n\v\f\r]*)([+-]?)([0-9]*)")
_ULONG = 1 << 64
UINT_MAX = (1 << 32) - 1
"""
The largest size mbsync can hold (C{uint}); a C{MaxSize} of it or of 0
means no limit.
"""
_INTEGER = re.compile(r"[ \t\n\r\f\v]*[+-]?[0-9]+")
_WHITESPACE = " \t\r\f\v"


@record
class Directive:
    """
    One non-comment line of a configuration file.

    @ivar filename: the file name used in error messages.
    @ivar line: the 1-based line number.
    @ivar words: the unquoted, unescaped words read; empty for a blank line.
    @ivar lex_errors: why the word after L{words} could not be read
        (C{missing closing quote}, ...); empty when the line was read to
        its end.
    """

    filename: str
    line: int
    words: tuple[str, ...]
    lex_errors: tuple[str, ...] = ()

    @property
    def is_blank(self) -> bool:
        """
        Whether the line holds only whitespace (it ends a section).
        """
        return not self.words and not self.lex_errors

    @property
    def keyword(self) -> str:
        """
        The first word as written (compare with L{is_keyword}).
        """
        return self.words[0]

    @property
    def args(self) -> tuple[str, ...]:
        """
        Every word after the keyword.
        """
        return self.words[1:]

    def is_keyword(self, *names: str) -> bool:
        """
        @param names: keywords to test for.
        @return: whether the keyword is one of C{names}, ignoring case.
        """
        folded = self.keyword.casefold()
        return any(folded == name.casefold() for name in names)

    def error(self, reason: str) -> ConfigError:
        """
        @param reason: what is wrong.
        @return: an error located at this line (for the caller to raise).
        """
        return ConfigError(self.filename, self.line, reason)

    def section_error(self, reason: str) -> ConfigError:
        """
        An error mbsync finds only when the section starting here ends (or,
        for global options, at the end of the file); mbsync prints it
        without a location.

        @param reason: what is wrong.
        @return: an unlocated error remembering this line (for the caller to
            raise).
        """
        return ConfigError(self.filename, self.line, reason, located=False)

    def at_least_one(self) -> tuple[str, ...]:
        """
        @return: the arguments, of which there is at least one.
        @raise ConfigError: C{parameter missing}.
        """
        if not self.args:
            raise self.error("parameter missing")
        return self.args

    def value(self) -> str:
        """
        @return: the single argument.
        @raise ConfigError: C{parameter missing} or C{excess token 'x'}.
        """
        args = self.at_least_one()
        if len(args) > 1:
            raise self.error(f"excess token '{args[1]}'")
        return args[0]

    def bool_value(self) -> bool:
        """
        @return: the single argument as a boolean.
        @raise ConfigError: when it is missing or not a boolean.
        """
        return parse_bool(self, self.value())

    def int_value(self) -> int:
        """
        @return: the single argument as an integer.
        @raise ConfigError: when it is missing or not an integer.
        """
        return parse_int(self, self.value())

    def size_value(self) -> int:
        """
        @return: the single argument as a size in bytes.
        @raise ConfigError: when it is missing or not a size.
        """
        return parse_size(self, self.value())


def parse_bool(where: Directive, word: str) -> bool:
    """
    Parse C{yes|true|on|1} or C{no|false|off|0}, ignoring case.

    @param where: the line, for error messages.
    @param word: the word.
    @return: the boolean.
    @raise ConfigError: C{invalid boolean value 'x'}.
    """
    folded = word.casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise where.error(f"invalid boolean value '{word}'")


def parse_int(where: Directive, word: str) -> int:
    """
    Parse a decimal integer the way mbsync does (C{strtol} that must consume
    the whole word: leading whitespace and a sign allowed, nothing after).

    @param where: the line, for error messages.
    @param word: the word.
    @return: the integer.
    @raise ConfigError: C{invalid integer value 'x'}.
    """
    if not _INTEGER.fullmatch(word):
        raise where.error(f"invalid integer value '{word}'")
    return int(word)


def parse_size(where: Directive, word: str) -> int:
    """
    Parse a size as mbsync's C{parse_size} does: C{strtoul} (leading white
    space, an optional sign, decimal digits, possibly none), an optional
    C{k}/C{K} (KiB) or C{m}/C{M} (MiB), an optional C{b}/C{B}, nothing
    more; the result is a C{uint}, so it wraps modulo 2^32: C{-5} is
    4294967291, C{k} and C{b} are 0.

    @param where: the line, for error messages.
    @param word: the word.
    @return: the size in bytes, 0 to L{UINT_MAX}.
    @raise ConfigError: C{invalid size 'x'}.
    """
    match = _STRTOUL.match(word)
    assert match is not None  # every part of the pattern may be empty
    _, sign, digits = match.groups()
    if digits:
        # strtoul saturates at ULONG_MAX (with or without a minus sign),
        # else negates modulo 2^64; the uint keeps the low 32 bits.
        value = int(digits)
        if value >= _ULONG:
            value = _ULONG - 1
        elif sign == "-":
            value = (_ULONG - value) % _ULONG
        rest = word[match.end() :]
    else:
        # No conversion: strtoul's end pointer is the start of the word.
        value, rest = 0, word
    value &= UINT_MAX
    unit = rest[:1].casefold()
    if unit in ("k", "m"):
        value = value * (1024 if unit == "k" else 1024 * 1024) & UINT_MAX
        rest = rest[1:]
    if rest[:1] in ("b", "B"):
        rest = rest[1:]
    if rest:
        raise where.error(f"invalid size '{word}'")
    return value


def max_size_limit(size: int) -> int:
    """
    A C{MaxSize} as msync keeps it: mbsync treats 0 and L{UINT_MAX} alike
    as no limit; both are 0 here.
    """
    return 0 if size == UINT_MAX else size


def split_words(filename: str, line: int, text: str) -> tuple[str, ...]:
    """
    Split one line into words.

    @param filename: the file name, for error messages.
    @param line: the line number, for error messages.
    @param text: the line without its terminator.
    @return: the words; empty for a blank or comment-only line.
    @raise ConfigError: C{missing closing quote} or C{unterminated escape
        sequence}.
    """
    words, problems = _split(text)
    if problems:
        raise ConfigError(filename, line, problems[0])
    return words


def _split(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """
    Split one line into words, stopping at a malformed one.

    @return: the words read, and why the next one is malformed (empty when
        the whole line was read).
    """
    words: list[str] = []
    index = 0
    length = len(text)
    while True:
        while index < length and text[index] in _WHITESPACE:
            index += 1
        if index == length or text[index] == "#":
            return tuple(words), ()
        word, index, problems = _read_word(text, index)
        if problems:
            return tuple(words), problems
        words.append(word)


def _read_word(text: str, index: int) -> tuple[str, int, tuple[str, ...]]:
    """
    Read one word starting at C{text[index]}, a non-whitespace character.

    @return: the word, the index just after it, and why the word is
        malformed (empty when it is not).
    """
    chars: list[str] = []
    quoted = escaped = False
    length = len(text)
    while index < length:
        char = text[index]
        if escaped:
            escaped = False
            chars.append(char)
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in _WHITESPACE:
            break
        else:
            chars.append(char)
        index += 1
    # mbsync's get_arg reports both problems when both occur.
    problems = []
    if escaped:
        problems.append("unterminated escape sequence")
    if quoted:
        problems.append("missing closing quote")
    return "".join(chars), index, tuple(problems)


def directives(text: str, filename: str) -> Iterator[Directive]:
    """
    Turn a whole configuration text into directives.

    Comment-only lines are skipped; blank (whitespace-only) lines are
    yielded with no words since they end sections.

    @param text: the file's contents.
    @param filename: the name used in error messages.
    @return: the directives in file order.
    @raise ConfigError: for an over-long line or a quoting error.
    """
    for directive in lines(text, filename):
        if directive.lex_errors:
            raise directive.error(directive.lex_errors[0])
        yield directive


def lines(text: str, filename: str) -> Iterator[Directive]:
    """
    Like L{directives}, but never raising: a line with a malformed word
    carries the words before it and L{Directive.lex_error}; an over-long
    line carries no words and C{line too long} (mbsync would split it and
    misparse the rest; msync refuses it). Only C{lex_errors} of a line can
    be non-empty; nothing is raised.

    @param text: the file's contents.
    @param filename: the name used in error messages.
    @return: the directives in file order.
    """
    physical = text.split("\n")
    if physical[-1] == "":
        # The empty string after the final newline is not a line.
        physical.pop()
    for number, raw in enumerate(physical, start=1):
        if len(raw.encode("utf-8", "surrogateescape")) > MAX_LINE_BYTES:
            yield Directive(
                filename, number, (), (f"line too long (more than {MAX_LINE_BYTES} bytes)",)
            )
            continue
        if raw.strip(_WHITESPACE).startswith("#"):
            continue
        words, problems = _split(raw)
        yield Directive(filename, number, words, problems)


class Reader:
    """
    Reads a configuration's lines the way mbsync's C{getcline} does, and
    collects every error instead of stopping at the first.

    A line is I{readable} when it has a keyword and a first argument; a
    line without an argument is dropped with C{parameter missing}, one
    whose keyword or first argument is malformed with its lexical error.
    After a line is handled, mbsync looks at the word after those the
    keyword reads: it reports an C{excess token}, or the lexical error that
    stopped the line.

    @ivar errors: every error so far, in the order mbsync prints them.
    """

    def __init__(self, text: str, filename: str) -> None:
        self.errors: list[ConfigError] = []
        self._stream = lines(text, filename)

    def report(self, error: ConfigError) -> None:
        """
        Record one error.
        """
        self.errors.append(error)

    def statements(self) -> Iterator[Directive]:
        """
        The readable lines outside sections, blank lines skipped. Sections
        read with L{section} from inside the loop continue the same stream.
        """
        for directive in self._stream:
            if not directive.is_blank and self._readable(directive):
                yield directive

    def section(self) -> Iterator[Directive]:
        """
        The readable lines up to the next blank line or the end.
        """
        for directive in self._stream:
            if directive.is_blank:
                return
            if self._readable(directive):
                yield directive

    def skip_section(self) -> None:
        """
        Drop the lines up to the next blank line, as mbsync does after an
        unknown keyword outside sections; their lexical and excess-token
        errors are still reported.
        """
        for directive in self.section():
            self.finish(directive, 2)

    def apply(self, directive: Directive, handle: Callable[[Directive], None], whole: bool) -> None:
        """
        Handle one readable line and report what follows what it reads.

        @param directive: the line.
        @param handle: reads the line; it sees only the words it may use
            and raises L{ConfigError} for the line's (last) error.
        @param whole: whether the keyword reads all its words (C{Sync},
            C{Patterns}, ...) rather than just one.
        """
        count = len(directive.words) if whole else 2
        try:
            handle(Directive(directive.filename, directive.line, directive.words[:count]))
        except ConfigError as error:
            self.report(error)
        self.finish(directive, count)

    def finish(self, directive: Directive, count: int) -> None:
        """
        Report the first word after the C{count} words read as an excess
        token, or the lexical error that ended the line.
        """
        if len(directive.words) > count:
            self.report(directive.error(f"excess token '{directive.words[count]}'"))
        else:
            for problem in directive.lex_errors:
                self.report(directive.error(problem))

    def _readable(self, directive: Directive) -> bool:
        """
        Whether the line has a keyword and an argument; if not, report why.
        """
        if len(directive.words) >= 2:
            return True
        for problem in directive.lex_errors:
            self.report(directive.error(problem))
        if not directive.lex_errors:
            self.report(directive.error("parameter missing"))
        return False
