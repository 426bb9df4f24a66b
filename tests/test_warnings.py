# -*- test-case-name: tests.test_warnings -*-
"""
Tests for the warning filters of L{tests}: a warning raised from msync's
code fails the test that raised it; others stay warnings.
"""

from __future__ import annotations

import os
import warnings

from twisted.python.failure import Failure
from twisted.trial.reporter import TestResult
from twisted.trial.unittest import SynchronousTestCase

from tests import MSYNC_DIRECTORY, fail_on_msync_warnings


def _warn_from(filename: str) -> None:
    """
    Raise a L{DeprecationWarning} as if from line 1 of C{filename}.
    """
    warnings.warn_explicit("old API", DeprecationWarning, filename, 1)


class _Inner(SynchronousTestCase):
    """
    A test run by L{WarningsAreErrorsTests}, not by trial directly: its
    method is not named C{test_*}, so discovery finds nothing here.
    """

    filename = ""

    def check_warns(self) -> None:
        _warn_from(self.filename)


class WarningsAreErrorsTests(SynchronousTestCase):
    """
    L{fail_on_msync_warnings}, with trial's own warning collection.
    """

    def run_inner(self, filename: str) -> TestResult:
        """
        Run a test warning from C{filename} under exactly the filters
        installed at import (others ignored), as trial runs every test.
        """
        case = _Inner("check_warns")
        case.filename = filename
        result = TestResult()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fail_on_msync_warnings()
            case.run(result)
        return result

    def test_msync_warning_fails_the_test(self) -> None:
        """
        A warning from a file of the msync package is an error of the test
        that raised it.
        """
        result = self.run_inner(os.path.join(MSYNC_DIRECTORY, "model.py"))
        self.assertEqual(len(result.errors), 1)
        [(_, failure)] = result.errors
        assert isinstance(failure, Failure)
        self.assertTrue(failure.check(DeprecationWarning))

    def test_other_warning_is_not_an_error(self) -> None:
        """
        A warning from outside msync (here: a test file) is not an error.
        """
        result = self.run_inner(os.path.abspath(__file__))
        self.assertEqual((result.errors, result.failures), ([], []))
        self.assertTrue(result.wasSuccessful())

    def test_module_filter(self) -> None:
        """
        Outside trial's collection, a warning attributed to an msync module
        raises at once.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fail_on_msync_warnings()
            with self.assertRaises(DeprecationWarning):
                warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module="msync.model")
            warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module="other.msync")
