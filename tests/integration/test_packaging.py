# -*- test-case-name: tests.integration.test_packaging -*-
"""
Tests for what C{pip install} ships besides the code: the man pages, shell
completion and systemd units named in C{setup.py}'s C{data_files}, and
C{python -m msync}.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from msync.cmdline import version_text

ROOT = Path(__file__).resolve().parent.parent.parent

_CONFIG = """\
MaildirStore near
Path /tmp/x/

Channel work
Far :near:
Near :near:

channel Personal
Far :near:
Near :near:

Group everything work Personal
"""


def _data_files() -> dict[str, list[str]]:
    """
    C{setup.py}'s C{data_files}, read without running it.
    """
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "data_files":
            return {target: files for target, files in ast.literal_eval(node.value)}
    raise AssertionError("setup.py has no data_files")


#: The systemd user units msync ships.
UNITS = ("msync.service", "msync.timer", "msync-daemon.service")


class DataFilesTests(SynchronousTestCase):
    """
    C{pip install} puts the man pages, completions and units where man,
    bash-completion, zsh and systemd look, relative to the prefix.
    """

    def test_targets(self) -> None:
        """
        Each shipped file exists and goes to its tool's directory.
        """
        files = _data_files()
        self.assertEqual(
            files,
            {
                "share/man/man1": ["docs/msync.1"],
                "share/man/man5": ["docs/msyncrc.5"],
                "share/bash-completion/completions": ["completion/msync"],
                "share/zsh/site-functions": ["completion/_msync"],
                "share/systemd/user": [
                    "docs/systemd/msync.service",
                    "docs/systemd/msync.timer",
                    "docs/systemd/msync-daemon.service",
                ],
            },
        )
        for each in (name for names in files.values() for name in names):
            self.assertTrue((ROOT / each).is_file(), each)

    def test_man_pages_named(self) -> None:
        """
        The pages' C{.TH} lines name msync(1) and msyncrc(5), which is what
        C{man msync} and C{man 5 msyncrc} look up.
        """
        for path, title in (("docs/msync.1", "MSYNC 1"), ("docs/msyncrc.5", "MSYNCRC 5")):
            heading = next(
                line
                for line in (ROOT / path).read_text(encoding="utf-8").splitlines()
                if line.startswith(".TH ")
            )
            self.assertTrue(heading.replace('"', "").startswith(".TH " + title), heading)


class SystemdUnitTests(SynchronousTestCase):
    """
    The user units: a oneshot C{msync -a} and a timer starting it.
    """

    def test_units(self) -> None:
        """
        The service runs C{msync -a} from C{~/.local/bin} (where C{pip
        install --user} and pipx put it) once per start; the timer is
        persistent and wanted by C{timers.target}; both document the man
        page.
        """
        service = (ROOT / "docs/systemd/msync.service").read_text(encoding="utf-8")
        timer = (ROOT / "docs/systemd/msync.timer").read_text(encoding="utf-8")
        self.assertIn("\nType=oneshot\n", service)
        self.assertIn("\nExecStart=%h/.local/bin/msync -a\n", service)
        self.assertIn("\nDocumentation=man:msync(1)", service)
        for line in ("[Timer]", "OnCalendar=*:0/5", "Persistent=true", "WantedBy=timers.target"):
            self.assertIn("\n" + line + "\n", timer)

    def test_verify_installed_copy(self) -> None:
        """
        C{systemd-analyze --user verify} accepts the units installed under
        a home directory as C{pip install --user} lays them out (with
        C{msync} in C{~/.local/bin} and the man pages in
        C{~/.local/share/man}).
        """
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.fail("systemd-analyze is missing (Debian: systemd)")
        home = Path(self.mktemp()).resolve()
        (home / ".local/bin").mkdir(parents=True)
        (home / ".local/bin/msync").symlink_to(sys.executable)
        (home / ".local/bin/msyncd").symlink_to(sys.executable)
        units = home / ".local/share/systemd/user"
        units.mkdir(parents=True)
        for name in UNITS:
            shutil.copy(ROOT / "docs/systemd" / name, units / name)
        for section, page in (("man1", "msync.1"), ("man5", "msyncrc.5")):
            (home / ".local/share/man" / section).mkdir(parents=True)
            shutil.copy(ROOT / "docs" / page, home / ".local/share/man" / section / page)
        environment = dict(
            os.environ,
            HOME=str(home),
            XDG_RUNTIME_DIR=str(home),
            MANPATH=f"{home}/.local/share/man:",
        )
        result = subprocess.run(
            [analyze, "--user", "verify", *(str(units / name) for name in UNITS)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        # Other units installed on the machine may draw remarks; ours must not.
        ours = [line for line in result.stderr.splitlines() if "msync" in line]
        self.assertEqual((result.returncode, ours), (0, []))


class CompletionTests(SynchronousTestCase):
    """
    Shell completion: options, and channel and group names from the
    configuration.
    """

    def complete(self, *words: str) -> list[str]:
        """
        Run the bash completion function on C{msync words...} (the last
        word being completed) and return its candidates.
        """
        script = (
            f". {ROOT / 'completion/msync'}\n"
            'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _msync\n'
            'printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        home = self.mktemp()
        os.makedirs(home)
        result = subprocess.run(
            ["bash", "-c", script, "bash", "msync", *words],
            capture_output=True,
            text=True,
            env=dict(os.environ, HOME=home, XDG_CONFIG_HOME=home),
            timeout=30,
        )
        self.assertEqual(result.stderr, "")
        return [line for line in result.stdout.splitlines() if line]

    def test_names_from_config(self) -> None:
        """
        Operands complete to the channels and groups of C{-c}'s file
        (section keywords in any case).
        """
        config = self.mktemp()
        Path(config).write_text(_CONFIG, encoding="utf-8")
        self.assertEqual(self.complete("-c", config, ""), ["work", "Personal", "everything"])
        self.assertEqual(self.complete("-V", f"--config={config}", "P"), ["Personal"])

    def test_options(self) -> None:
        """
        Words starting with C{-} complete to options.
        """
        self.assertEqual(self.complete("--dry"), ["--dry-run"])
        self.assertEqual(self.complete("--js"), ["--json"])

    def test_default_config(self) -> None:
        """
        Without C{-c}, C{~/.mbsyncrc} is read.
        """
        self.assertEqual(self.complete(""), [])

    def test_zsh_reads_names_the_same_way(self) -> None:
        """
        The zsh completion extracts names with the same awk program (zsh
        itself need not be installed to check that).
        """
        program = 'awk \'tolower($1) == "channel" || tolower($1) == "group" { print $2 }\''
        self.assertIn(program, (ROOT / "completion/msync").read_text(encoding="utf-8"))
        zsh = (ROOT / "completion/_msync").read_text(encoding="utf-8")
        self.assertTrue(zsh.startswith("#compdef msync\n"))
        self.assertIn(program, zsh)


_ZSH_SESSION = """\
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'PS1="> "; fpath=({completion} $fpath); autoload -Uz compinit; compinit -u -D; bindkey "^I" list-choices'
zpty -w -n z $'msync -c {config} \\t'
zpty -r -m z out '*everything*' && print NAMES
zpty -w -n z $'\\C-u'
zpty -w -n z $'msync --dr\\t'
zpty -r -m z out '*dry-run*' && print OPTIONS
zpty -d z
"""


class ZshCompletionTests(SynchronousTestCase):
    """
    The zsh completion, in a real interactive zsh (on a pseudo terminal).
    """

    def test_interactive(self) -> None:
        """
        In zsh with C{_msync} on C{fpath}, Tab lists the configuration's
        channels and groups after C{-c FILE}, and completes options.
        """
        zsh = shutil.which("zsh")
        if zsh is None:
            self.fail("zsh is missing (Debian: zsh; scripts/bootstrap.sh installs it)")
        config = Path(self.mktemp()).resolve()
        config.write_text(_CONFIG, encoding="utf-8")
        script = _ZSH_SESSION.format(completion=ROOT / "completion", config=config)
        result = subprocess.run(
            [zsh, "-f", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, HOME=str(config.parent)),
        )
        self.assertEqual(result.stdout.split(), ["NAMES", "OPTIONS"])


class ModuleTests(SynchronousTestCase):
    """
    C{python -m msync}.
    """

    def test_python_m_msync(self) -> None:
        """
        C{python -m msync -v} runs the command.
        """
        result = subprocess.run(
            [sys.executable, "-m", "msync", "-v"], capture_output=True, text=True, timeout=60
        )
        self.assertEqual((result.returncode, result.stdout), (0, version_text() + "\n"))
