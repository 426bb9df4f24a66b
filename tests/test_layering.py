# -*- test-case-name: tests.test_layering -*-
"""
Enforce the layering of STYLE.md §1–2 by parsing every module's imports.

Each msync module belongs to a layer (L0 … L4); a module may import only
msync modules of its own layer or below. L0/L1 modules are pure: they may not
import Twisted, zope or I/O modules. Nothing imports L4, and msync never
imports tests.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "msync"
DESIGN = ROOT / "docs" / "design.md"

#: A row of design.md's module list: C{| `msync.x.y` | L1 | what it does |}.
DESIGN_ROW = re.compile(r"^\| `(msync(?:\.\w+)*)` \| L(\d) \|")

# One row per module and package: the map of record, which docs/design.md's
# module list must match (DesignMapTests). layer_of() still takes the longest
# listed prefix, for imported names such as msync.sync.reconcile.Step.
LAYERS: dict[str, int] = {
    "msync": 0,
    "msync.digests": 0,
    "msync.errors": 0,
    "msync.model": 0,
    "msync.records": 0,
    "msync.sidefiles": 0,
    "msync.cmdline": 1,
    "msync.compat": 1,
    "msync.config": 1,
    "msync.config.syntax": 1,
    "msync.config.account": 1,
    "msync.config.schema": 1,
    "msync.config.load": 1,
    "msync.plan": 1,
    "msync.report": 1,
    "msync.imap": 1,
    "msync.imap.grammar": 1,
    "msync.imap.values": 1,
    "msync.imap.responses": 1,
    "msync.imap.untagged": 1,
    "msync.imap.routing": 1,
    "msync.imap.commands": 1,
    "msync.imap.uids": 1,
    "msync.imap.connection": 1,
    "msync.imap.events": 1,
    "msync.imap.trace": 1,
    "msync.imap.sasl": 1,
    "msync.imap.earlytalk": 1,
    "msync.imap.utf7": 1,
    "msync.imap.protocol": 2,
    "msync.imap.session": 2,
    "msync.imap.endpoint": 2,
    "msync.imap.preconnect": 2,
    "msync.imap.tls": 2,
    "msync.reactor": 2,
    "msync.stores": 2,
    "msync.stores.interface": 2,
    "msync.stores.credentials": 2,
    "msync.stores.imapnames": 1,
    "msync.stores.listingcache": 1,
    "msync.stores.imapappend": 2,
    "msync.stores.imapbox": 2,
    "msync.stores.imapstore": 2,
    "msync.stores.maildirnames": 1,
    "msync.stores.maildiruids": 2,
    "msync.stores.maildirindex": 2,
    "msync.stores.maildirfiles": 2,
    "msync.stores.maildirbox": 2,
    "msync.stores.maildirstore": 2,
    "msync.stores.memorystore": 2,
    "msync.sync": 1,
    "msync.sync.options": 1,
    "msync.sync.state": 1,
    "msync.sync.statetext": 1,
    "msync.sync.statepaths": 1,
    "msync.sync.journal": 1,
    "msync.sync.journal5": 1,
    "msync.sync.loading": 1,
    "msync.sync.notices": 1,
    "msync.sync.actions": 1,
    "msync.sync.pairwork": 1,
    "msync.sync.reconcile": 1,
    "msync.sync.flagging": 1,
    "msync.sync.expiry": 1,
    "msync.sync.copying": 1,
    "msync.sync.convert": 1,
    "msync.sync.results": 1,
    "msync.sync.bodies": 2,
    "msync.sync.statefile": 2,
    "msync.sync.statelock": 2,
    "msync.sync.engine": 2,
    "msync.sync.copyrun": 2,
    "msync.sync.quickcheck": 2,
    "msync.runner": 3,
    "msync.compatprobe": 3,
    "msync.migrate": 3,
    "msync.storelist": 3,
    "msync.cli": 4,
    "msync.__main__": 4,
    "msync.service": 4,
    "msync.daemonmain": 4,
    "msync.daemon": 3,
    "msync.daemon.core": 3,
    "msync.daemon.backend": 3,
    "msync.daemon.idle": 3,
    "msync.daemon.localwatch": 3,
    "msync.daemon.hooks": 3,
    "msync.daemon.settings": 1,
}

# Modules that are L1 but may read files: the config loader is the one
# boundary where configuration text enters (STYLE.md §8).
IO_ALLOWED = {"msync.config.load"}

IMPURE_ROOTS = {
    "twisted",
    "zope",
    "socket",
    "ssl",
    "subprocess",
    "asyncio",
    "threading",
    "OpenSSL",
    "service_identity",
}


def layer_of(module: str) -> int:
    """
    The layer of an msync module name, by its longest listed prefix.
    """
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise KeyError(module)


def module_name(path: Path) -> str:
    """
    The dotted module name of a file under the repository root.
    """
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[str]:
    """
    Every absolute module name imported by a Python file.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


class LayeringTests(SynchronousTestCase):
    """
    The import graph of msync respects STYLE.md's layers.
    """

    def modules(self) -> list[tuple[str, Path]]:
        """
        All msync modules with their paths.
        """
        return [(module_name(p), p) for p in sorted(PACKAGE.rglob("*.py"))]

    def test_every_module_has_a_layer(self) -> None:
        """
        Every module under msync/ has its own row in the layer table, and
        every row names a module.
        """
        names = {name for name, _ in self.modules()}
        self.assertEqual(sorted(names - set(LAYERS)), [], "modules without a row")
        self.assertEqual(sorted(set(LAYERS) - names), [], "rows without a module")

    def test_imports_go_down(self) -> None:
        """
        No module imports an msync module of a higher layer, nor tests.
        """
        problems = []
        for name, path in self.modules():
            mine = layer_of(name)
            for imported in imports_of(path):
                if imported == "tests" or imported.startswith("tests."):
                    problems.append(f"{name} imports {imported}")
                if not imported.startswith("msync."):
                    continue
                try:
                    theirs = layer_of(imported)
                except KeyError:
                    continue
                if theirs > mine:
                    problems.append(f"{name} (L{mine}) imports {imported} (L{theirs})")
        self.assertEqual(problems, [])

    def test_pure_layers(self) -> None:
        """
        L0 and L1 modules import neither Twisted, zope, nor network/process
        modules.
        """
        problems = []
        for name, path in self.modules():
            if layer_of(name) > 1:
                continue
            for imported in imports_of(path):
                root = imported.split(".")[0]
                if root in IMPURE_ROOTS:
                    problems.append(f"{name} imports {imported}")
                if root == "os" and name not in IO_ALLOWED and imported not in ("os", "os.path"):
                    problems.append(f"{name} imports {imported}")
        self.assertEqual(problems, [])

    def test_sync_reaches_stores_only_through_interface(self) -> None:
        """
        msync.sync.* imports no concrete store; msync.stores.* never imports
        msync.sync.*; msync.imap.* never imports msync.stores.*.
        """
        problems = []
        for name, path in self.modules():
            for imported in imports_of(path):
                if name.startswith("msync.sync") and imported.startswith("msync.stores."):
                    if not imported.startswith("msync.stores.interface"):
                        problems.append(f"{name} imports {imported}")
                if name.startswith("msync.stores") and imported.startswith("msync.sync"):
                    problems.append(f"{name} imports {imported}")
                if name.startswith("msync.imap") and imported.startswith("msync.stores"):
                    problems.append(f"{name} imports {imported}")
        self.assertEqual(problems, [])

    def test_table_catches_violation(self) -> None:
        """
        The checker itself reports an upward import (so the tests above can
        fail).
        """
        self.assertGreater(layer_of("msync.cli"), layer_of("msync.config.load"))
        self.assertEqual(layer_of("msync.imap.protocol"), 2)
        self.assertEqual(layer_of("msync.imap.grammar"), 1)


def design_modules(text: str) -> dict[str, int]:
    """
    The module list of docs/design.md: module name to layer.
    """
    found: dict[str, int] = {}
    for line in text.splitlines():
        match = DESIGN_ROW.match(line)
        if match is not None:
            found[match.group(1)] = int(match.group(2))
    return found


class DesignMapTests(SynchronousTestCase):
    """
    docs/design.md's module list is the layer table.
    """

    def test_design_lists_every_module(self) -> None:
        """
        Every module of the layer table appears in docs/design.md's module
        list with its layer, and the list names no other module.
        """
        listed = design_modules(DESIGN.read_text(encoding="utf-8"))
        self.assertEqual(sorted(set(LAYERS) - set(listed)), [], "missing from design.md")
        self.assertEqual(sorted(set(listed) - set(LAYERS)), [], "not in the layer table")
        wrong = {name: (layer, LAYERS[name]) for name, layer in listed.items()}
        wrong = {name: pair for name, pair in wrong.items() if pair[0] != pair[1]}
        self.assertEqual(wrong, {}, "design.md layer differs from the table")

    def test_rows_are_read(self) -> None:
        """
        The row pattern reads a module row and ignores other table lines,
        so the test above can fail.
        """
        text = "| Module | Layer |\n|---|---|\n| `msync.sync.engine` | L2 | runs a pair |\n"
        self.assertEqual(design_modules(text), {"msync.sync.engine": 2})


TESTS = ROOT / "tests"
INTEGRATION = TESTS / "integration"

#: What a unit test may not use (STYLE.md §7): other processes, real
#: sockets, the global reactor (also through trial's reactor-spinning
#: TestCase), real sleeps. Those tests live in tests/integration/.
UNIT_FORBIDDEN = (
    "subprocess",
    "multiprocessing",
    "socket",
    "twisted.internet.reactor",
    "twisted.trial.unittest.TestCase",
    "time.sleep",
)


def forbidden_uses(path: Path) -> list[str]:
    """
    What a test module imports or calls of L{UNIT_FORBIDDEN}: imports (also
    C{from twisted.internet import reactor} and C{from time import sleep})
    and attribute uses such as C{time.sleep(...)}.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    used = set(imports_of(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            used.add(f"{node.value.id}.{node.attr}")
    return sorted(
        name
        for name in used
        if any(name == banned or name.startswith(banned + ".") for banned in UNIT_FORBIDDEN)
    )


class UnitTestIsolationTests(SynchronousTestCase):
    """
    Unit tests (everything under tests/ but tests/integration/) run on fakes
    only, so C{make unit} needs no process, socket, reactor or wall-clock
    wait.
    """

    def test_no_process_reactor_or_sleep(self) -> None:
        """
        No module outside tests/integration/ imports subprocess,
        multiprocessing or socket, the global reactor or trial's TestCase
        (which runs it), or sleeps.
        """
        problems: list[str] = []
        for path in sorted(TESTS.rglob("*.py")):
            if INTEGRATION in path.parents:
                continue
            problems.extend(f"{module_name(path)}: {name}" for name in forbidden_uses(path))
        self.assertEqual(problems, [])

    def test_checker_sees_uses(self) -> None:
        """
        The checker reports each kind of forbidden use, so the test above
        can fail.
        """
        source = self.mktemp() + ".py"
        with open(source, "w", encoding="utf-8") as stream:
            stream.write(
                "import subprocess, time\n"
                "from twisted.internet import reactor\n"
                "from twisted.trial.unittest import SynchronousTestCase, TestCase\n"
                "time.sleep(1)\n"
                "import os\n"
                "os.path.join('a')\n"
            )
        self.assertEqual(
            forbidden_uses(Path(source)),
            [
                "subprocess",
                "time.sleep",
                "twisted.internet.reactor",
                "twisted.trial.unittest.TestCase",
            ],
        )


@functools.cache
def _top_level_names(path: Path) -> tuple[set[str], dict[str, str]]:
    """
    The names a module defines at top level, and those it imports (name to
    the module imported from).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    defined: set[str] = set()
    imported: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                defined.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                imported[alias.asname or alias.name] = node.module
    return defined, imported


def module_path(module: str) -> Path | None:
    """
    The file of a module of this repository, or C{None}.
    """
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def reexported_imports(path: Path) -> list[str]:
    """
    The C{from msync.x import name} of a file where C{msync.x} does not
    define C{name} but imports it from elsewhere (or lacks it).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    problems = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
            continue
        if not node.module.startswith("msync"):
            continue
        source = module_path(node.module)
        if source is None:
            continue
        defined, imported = _top_level_names(source)
        for alias in node.names:
            name = alias.name
            if name in defined or module_path(f"{node.module}.{name}") is not None:
                continue
            where = imported.get(name, "nowhere")
            problems.append(f"{node.module}.{name} (defined in {where})")
    return problems


class ImportOriginTests(SynchronousTestCase):
    """
    Imports name the module that defines a name (STYLE.md, docs/design.md):
    no module re-exports another's names.
    """

    def test_no_reexports(self) -> None:
        """
        Every C{from msync.x import name} in msync, tests, twisted, bench
        and scripts imports from the module defining C{name}.
        """
        problems: list[str] = []
        for top in ("msync", "tests", "twisted", "bench", "scripts"):
            for path in sorted((ROOT / top).rglob("*.py")):
                relative = path.relative_to(ROOT)
                problems.extend(f"{relative}: {each}" for each in reexported_imports(path))
        self.assertEqual(problems, [])

    def test_checker_sees_reexport(self) -> None:
        """
        Importing a name through a module that only imports it is
        reported, so the test above can fail.
        """
        source = self.mktemp() + ".py"
        with open(source, "w", encoding="utf-8") as stream:
            stream.write(
                "from msync.sync.engine import sync_pair\n"
                "from msync.sync.engine import StateFile\n"
                "from msync import sync\n"
            )
        self.assertEqual(
            reexported_imports(Path(source)),
            ["msync.sync.engine.StateFile (defined in msync.sync.statefile)"],
        )
