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
  - stdlib and L0 only, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from msync.errors import ConfigError

__all__ = [
    "MAX_LINE_BYTES",
    "Directive",
    "directives",
    "parse_bool",
    "parse_int",
    "parse_size",
    "split_words",
]

MAX_LINE_BYTES = 1022
"""Longest accepted line, in bytes, without its line terminator."""

_TRUE = frozenset({"yes", "true", "on", "1"})
_FALSE = frozenset({"no", "false", "off", "0"})
_SIZE = re.compile(r"([0-9]+)([kKmM]?)[bB]?")
_INTEGER = re.compile(r"[ \t\n\r\f\v]*[+-]?[0-9]+")
_WHITESPACE = " \t\r\f\v"


@dataclass(frozen=True, slots=True)
class Directive:
    """
    One non-comment line of a configuration file.

    @ivar filename: the file name used in error messages.
    @ivar line: the 1-based line number.
    @ivar words: the unquoted, unescaped words; empty for a blank line.
    """

    filename: str
    line: int
    words: tuple[str, ...]

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
    Parse C{N[kKmM][bB]}: bytes, KiB or MiB.

    @param where: the line, for error messages.
    @param word: the word.
    @return: the size in bytes.
    @raise ConfigError: C{invalid size 'x'}.
    """
    match = _SIZE.fullmatch(word)
    if match is None:
        raise where.error(f"invalid size '{word}'")
    number = int(match.group(1))
    unit = match.group(2).casefold()
    return number * {"": 1, "k": 1024, "m": 1024 * 1024}[unit]


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
    words: list[str] = []
    index = 0
    length = len(text)
    while True:
        while index < length and text[index] in _WHITESPACE:
            index += 1
        if index == length or text[index] == "#":
            return tuple(words)
        word, index = _read_word(filename, line, text, index)
        words.append(word)


def _read_word(filename: str, line: int, text: str, index: int) -> tuple[str, int]:
    """
    Read one word starting at C{text[index]}, a non-whitespace character.

    @return: the word and the index just after it.
    """
    chars: list[str] = []
    quoted = False
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 1
            if index == length:
                raise ConfigError(filename, line, "unterminated escape sequence")
            chars.append(text[index])
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in _WHITESPACE:
            break
        else:
            chars.append(char)
        index += 1
    if quoted:
        raise ConfigError(filename, line, "missing closing quote")
    return "".join(chars), index


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
    lines = text.split("\n")
    if lines[-1] == "":
        # The empty string after the final newline is not a line.
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        if len(raw.encode("utf-8", "surrogateescape")) > MAX_LINE_BYTES:
            raise ConfigError(filename, number, f"line too long (more than {MAX_LINE_BYTES} bytes)")
        if raw.strip(_WHITESPACE).startswith("#"):
            continue
        yield Directive(filename, number, split_words(filename, number, raw))
