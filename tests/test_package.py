# -*- test-case-name: tests.test_package -*-
"""
Tests for the L{msync} package itself: L{msync.load_lazily}.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

from twisted.trial.unittest import SynchronousTestCase

from msync import LazyModule, load_lazily

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


class LazyModuleTests(SynchronousTestCase):
    """
    L{LazyModule}: C{import name} of a lazy top-level module runs nothing.
    """

    def make_module(self) -> str:
        """
        Write a top-level module (its C{RUNS} list counts its executions)
        in a directory put on C{sys.path} for this test, and register it
        lazily.

        @return: the module's (unique) name.
        """
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        name = "lazytop_" + str(abs(hash(base)))
        with open(os.path.join(base, name + ".py"), "w") as out:
            out.write("RUNS = []\nRUNS.append(1)\nVALUE = 42\n")
        sys.path.insert(0, base)
        self.addCleanup(sys.path.remove, base)
        self.addCleanup(sys.modules.pop, name, None)
        load_lazily(name)
        return name

    def test_import_binds_without_running(self) -> None:
        """
        C{import name} binds the lazy module and runs nothing (the import
        system's C{__spec__} question is answered without running it); the
        first attribute read runs it once, in the same module object.
        """
        name = self.make_module()
        module = sys.modules[name]
        self.assertIsInstance(module, LazyModule)
        namespace: dict[str, object] = {}
        exec(f"import {name}", namespace)
        self.assertIs(namespace[name], module)
        self.assertIs(type(module), LazyModule)
        self.assertEqual(module.VALUE, 42)
        self.assertIs(type(module), types.ModuleType)
        self.assertEqual(module.RUNS, [1])
        exec(f"import {name}", namespace)
        self.assertEqual(module.RUNS, [1])
        self.assertIs(sys.modules[name], module)

    def test_from_import_runs(self) -> None:
        """
        C{from name import value} runs the module and gives the value.
        """
        name = self.make_module()
        namespace: dict[str, object] = {}
        exec(f"from {name} import VALUE", namespace)
        self.assertEqual(namespace["VALUE"], 42)
        self.assertIs(type(sys.modules[name]), types.ModuleType)

    def test_setting_runs_first(self) -> None:
        """
        Setting or deleting a name runs the module first, so its code cannot
        undo the change.
        """
        name = self.make_module()
        module = sys.modules[name]
        module.VALUE = 7  # type: ignore[attr-defined]
        self.assertEqual(module.VALUE, 7)
        self.assertEqual(module.RUNS, [1])
        other = self.make_module()
        del sys.modules[other].RUNS
        self.assertFalse(hasattr(sys.modules[other], "RUNS"))
        self.assertEqual(sys.modules[other].VALUE, 42)

    def test_not_source(self) -> None:
        """
        A module that is not Python source (an extension module) is not
        made lazy, nor imported.
        """
        names = [
            name
            for name in ("_lzma", "_bz2", "_csv", "mmap", "_curses", "_dbm")
            if name not in sys.modules and importlib.util.find_spec(name) is not None
        ]
        self.assertNotEqual(names, [])
        load_lazily(names[0])
        self.assertNotIn(names[0], sys.modules)
