"""
Tests for L{msync.sidefiles}.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from twisted.trial.unittest import SynchronousTestCase

from msync.sidefiles import remove_quietly, replace_file


class ReplaceFileTests(SynchronousTestCase):
    """
    L{replace_file} puts the new content in place whole or not at all.
    """

    def setUp(self) -> None:
        self.directory = self.mktemp()
        os.mkdir(self.directory)
        self.path = os.path.join(self.directory, "cache")
        with open(self.path, "wb") as old:
            old.write(b"old")

    def listing(self) -> list[str]:
        return sorted(os.listdir(self.directory))

    def content(self) -> bytes:
        with open(self.path, "rb") as current:
            return current.read()

    def test_replaces(self) -> None:
        """
        What the writer writes replaces the old content; no temporary file
        is left.
        """
        self.assertTrue(replace_file(self.path, lambda out: out.write(b"new")))
        self.assertEqual(self.content(), b"new")
        self.assertEqual(self.listing(), ["cache"])

    def test_failed_write_keeps_old(self) -> None:
        """
        A writer failing with one of the listed exceptions, even after
        writing part of its content, leaves the old file as it was and no
        temporary file.
        """

        def write(out: BinaryIO) -> None:
            out.write(b"part")
            raise OverflowError("too big")

        self.assertFalse(replace_file(self.path, write, (OSError, OverflowError)))
        self.assertEqual(self.content(), b"old")
        self.assertEqual(self.listing(), ["cache"])

    def test_other_exceptions_propagate(self) -> None:
        """
        An exception not listed is not taken for a failed write: it is the
        caller's bug and propagates.
        """

        def write(out: BinaryIO) -> None:
            raise ValueError("bug")

        self.assertRaises(ValueError, replace_file, self.path, write)
        self.assertEqual(self.content(), b"old")

    def test_missing_directory(self) -> None:
        """
        A path in a directory that is not there is not written, and says so.
        """
        path = os.path.join(self.directory, "gone", "cache")
        self.assertFalse(replace_file(path, lambda out: out.write(b"new")))
        self.assertFalse(os.path.exists(path))


class RemoveQuietlyTests(SynchronousTestCase):
    """
    L{remove_quietly} removes a file and is silent when there is none.
    """

    def test_removes(self) -> None:
        path = self.mktemp()
        with open(path, "wb"):
            pass
        remove_quietly(path)
        self.assertFalse(os.path.exists(path))
        remove_quietly(path)
        self.assertFalse(os.path.exists(path))
