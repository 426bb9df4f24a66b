# -*- test-case-name: tests.test_package -*-
"""
Tests for the L{msync} package itself: L{msync.load_lazily}.
"""

from __future__ import annotations

import os
import sys

from twisted.trial.unittest import SynchronousTestCase

from msync import load_lazily

# A module that counts its executions in its package's C{runs} list.
_CHILD = "from {package} import runs\nruns.append(1)\nVALUE = 42\n"


class LoadLazilyTests(SynchronousTestCase):
    """
    L{load_lazily} registers a module whose code runs at its first use.
    """

    def make_package(self) -> str:
        """
        Write a package with a child module C{child} in a directory put on
        C{sys.path} for this test; both are forgotten after it.

        @return: the package's (unique) name.
        """
        base = os.path.abspath(self.mktemp())
        package = "lazyprobe_" + str(abs(hash(base)))
        os.makedirs(os.path.join(base, package))
        with open(os.path.join(base, package, "__init__.py"), "w") as out:
            out.write("runs = []\n")
        with open(os.path.join(base, package, "child.py"), "w") as out:
            out.write(_CHILD.format(package=package))
        sys.path.insert(0, base)
        self.addCleanup(sys.path.remove, base)
        for name in (package, f"{package}.child"):
            self.addCleanup(sys.modules.pop, name, None)
        return package

    def test_runs_at_first_attribute(self) -> None:
        """
        C{from package import child} binds the module without running it;
        reading an attribute runs it once and gives the real value.
        """
        package = self.make_package()
        load_lazily(f"{package}.child")
        runs = sys.modules[package].runs
        namespace: dict[str, object] = {}
        exec(f"from {package} import child", namespace)
        self.assertEqual(runs, [])
        child = namespace["child"]
        self.assertEqual(child.VALUE, 42)  # type: ignore[attr-defined]
        self.assertEqual(child.VALUE, 42)  # type: ignore[attr-defined]
        self.assertEqual(runs, [1])
        self.assertIs(sys.modules[f"{package}.child"], child)

    def test_loaded_module_left_alone(self) -> None:
        """
        A module already imported stays the very same module, not re-run.
        """
        package = self.make_package()
        namespace: dict[str, object] = {}
        exec(f"from {package} import child", namespace)
        load_lazily(f"{package}.child")
        self.assertIs(sys.modules[f"{package}.child"], namespace["child"])
        self.assertEqual(sys.modules[package].runs, [1])

    def test_missing_module_ignored(self) -> None:
        """
        A name that cannot be found registers nothing.
        """
        package = self.make_package()
        load_lazily(f"{package}.absent")
        self.assertNotIn(f"{package}.absent", sys.modules)
