"""
Tests for msync.

Importing this package (trial does, before any test) turns every warning
raised from msync's own code into an error (L{fail_on_msync_warnings}), so
a deprecation or resource warning in msync fails the suite instead of
scrolling past.
"""

import os
import re
import warnings

import msync

MSYNC_DIRECTORY = os.path.dirname(os.path.abspath(msync.__file__))


def fail_on_msync_warnings() -> None:
    """
    Install the filters that make warnings from msync errors. Two are
    needed: one for warnings as Python raises them (attributed to the
    module C{msync.x}), and one for warnings as trial re-raises them after
    a test (attributed to the file C{.../msync/x.py}, from which
    C{warn_explicit} derives the module name); trial reports the error
    against the test.
    """
    warnings.filterwarnings("error", module=r"msync(\.|$)")
    warnings.filterwarnings("error", module=re.escape(MSYNC_DIRECTORY + os.sep))


fail_on_msync_warnings()
