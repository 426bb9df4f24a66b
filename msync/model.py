# -*- test-case-name: tests.test_model -*-
"""
Plain values shared by every layer: sides, message flags, secrets.

Invariant: everything here is immutable and free of I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Side(enum.IntEnum):
    """
    One of the two sides of a channel. The values index mbsync's arrays
    (journal C{N 0 uid} is far, C{N 1 uid} is near).
    """

    FAR = 0
    NEAR = 1

    @property
    def other(self) -> Side:
        """
        The opposite side.
        """
        return Side.NEAR if self is Side.FAR else Side.FAR

    @property
    def label(self) -> str:
        """
        The word mbsync uses in messages: C{"far"} or C{"near"}.
        """
        return "far" if self is Side.FAR else "near"


class Flags(enum.IntFlag):
    """
    The six message flags mbsync synchronizes, with mbsync's bit values
    (state files and journals store them numerically or as letters
    C{DFPRST} in this order).
    """

    NONE = 0
    DRAFT = 1
    FLAGGED = 2
    FORWARDED = 4
    ANSWERED = 8
    SEEN = 16
    DELETED = 32

    def letters(self) -> str:
        """
        The Maildir letters for these flags, in C{DFPRST} order.
        """
        return "".join(letter for letter, bit in _LETTERS if self & bit)

    @classmethod
    def from_letters(cls, text: str) -> Flags:
        """
        Parse Maildir flag letters; characters other than C{DFPRST} are
        ignored, as mbsync does.
        """
        result = cls.NONE
        for letter, bit in _LETTERS:
            if letter in text:
                result |= bit
        return result


_LETTERS: tuple[tuple[str, Flags], ...] = (
    ("D", Flags.DRAFT),
    ("F", Flags.FLAGGED),
    ("P", Flags.FORWARDED),
    ("R", Flags.ANSWERED),
    ("S", Flags.SEEN),
    ("T", Flags.DELETED),
)


@dataclass(frozen=True, slots=True)
class Secret:
    """
    A password or token. Its repr and str never show the value.

    @ivar value: the secret itself; read it only where it is sent.
    """

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    def __str__(self) -> str:
        return "<redacted>"
