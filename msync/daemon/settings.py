# -*- test-case-name: tests.daemon.test_settings -*-
"""
The daemon's settings and the pure decisions made from them: which boxes
are idled, how long to wait before reconnecting, how a hook command is run
and what the mailboxes file says.

Invariants:
  - pure (STYLE §2, L1): no clock, no I/O; randomness is passed in;
  - a backoff delay is always within C{[base * (1 - jitter), base]} of
    an exponentially growing, capped base, and never negative.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from msync.plan import matches_pattern

#: Characters that make a hook command need C{/bin/sh -c}: anything a shell
#: would interpret (pipes, redirections, variables, globs, quoting is fine).
SHELL_CHARACTERS = frozenset("|&;<>()$`\\*?[]{}~!#\n")


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    """
    What the daemon's command line says (every value has a default).

    @ivar interval: seconds between full rounds.
    @ivar quick_interval: seconds between quick (STATUS) checks; 0: none.
    @ivar idle: whether to IDLE at all (C{--no-idle} turns it off).
    @ivar idle_patterns: far boxes to IDLE on (C{Patterns} syntax).
    @ivar idle_renew: seconds after which IDLE is re-issued (RFC 2177
        asks for less than 29 minutes).
    @ivar idle_check: seconds of quiet after which the IDLE connection is
        checked with C{NOOP}.
    @ivar debounce: seconds of quiet after a change before its sync starts.
    @ivar debounce_limit: at most this long from the first change.
    @ivar poll_interval: STATUS polling of an idled box on a server
        without IDLE.
    @ivar local: whether to watch the near Maildir boxes.
    @ivar local_poll: polling period where inotify is missing.
    @ivar lock_retry: seconds before retrying a box another process locked.
    @ivar max_connections: connections per server, IDLE included.
    @ivar backoff_initial: first reconnection delay.
    @ivar backoff_max: longest reconnection delay.
    @ivar post_sync_cmd: run after each sync that changed something.
    @ivar new_mail_cmd: run after each sync that pulled new mail.
    @ivar mailboxes_file: where the mutt C{mailboxes} line is kept.
    """

    interval: float = 300
    quick_interval: float = 60
    idle: bool = True
    idle_patterns: tuple[str, ...] = ("INBOX",)
    idle_renew: float = 29 * 60
    idle_check: float = 5 * 60
    debounce: float = 0.3
    debounce_limit: float = 1.5
    poll_interval: float = 30
    local: bool = True
    local_poll: float = 2
    lock_retry: float = 30
    max_connections: int = 4
    backoff_initial: float = 1
    backoff_max: float = 300
    post_sync_cmd: str | None = None
    new_mail_cmd: str | None = None
    mailboxes_file: str | None = None


def idled(box: str, patterns: Sequence[str]) -> bool:
    """
    Whether a far box is to be idled: the last matching pattern decides,
    C{!} excludes (as in C{Patterns}).

    @param box: the far box name.
    @param patterns: the C{--idle} patterns.
    """
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if matches_pattern(box, pattern[1:] if negated else pattern):
            verdict = not negated
    return verdict


class Backoff:
    """
    Exponential backoff with jitter for reconnecting: C{initial}, doubled
    after each failure up to C{maximum}, each delay drawn uniformly from
    C{[base * (1 - jitter), base]} so that many clients do not reconnect in
    step after a server restart.
    """

    def __init__(
        self,
        initial: float,
        maximum: float,
        random: Callable[[], float],
        *,
        factor: float = 2,
        jitter: float = 0.5,
    ) -> None:
        """
        @param random: uniform in [0, 1) (C{random.random}).
        """
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._random = random
        self.failures = 0

    def base(self) -> float:
        """
        The upper bound of the next delay.
        """
        return float(min(self.maximum, self.initial * self.factor**self.failures))

    def next_delay(self) -> float:
        """
        Count a failure and return how long to wait before the next try.
        """
        base = self.base()
        self.failures = min(self.failures + 1, 64)
        return max(0.0, base * (1 - self.jitter * self._random()))

    def reset(self) -> None:
        """
        A success: the next failure waits C{initial} again.
        """
        self.failures = 0


def hook_argv(command: str) -> list[str]:
    """
    How a hook command is run: split into words (with shell quoting rules)
    and executed directly, unless it contains a character a shell would
    interpret (L{SHELL_CHARACTERS}: pipes, redirections, C{$}, globs, C{;},
    C{&&}, C{~}, comments), in which case C{/bin/sh -c COMMAND} runs it.

    @param command: the command as given on the command line.
    @return: the argument vector.
    """
    if SHELL_CHARACTERS & set(command):
        return ["/bin/sh", "-c", command]
    try:
        words = shlex.split(command)
    except ValueError:
        return ["/bin/sh", "-c", command]
    return words or ["/bin/sh", "-c", command]


def mailboxes_text(paths: Iterable[str]) -> str:
    """
    The mutt/neomutt C{mailboxes} line for some Maildir paths (sorted,
    unique, each double-quoted with C{\\} and C{"} escaped).

    @param paths: absolute Maildir box paths.
    @return: the file's text, ending with a newline.
    """
    quoted = []
    for path in sorted(set(paths)):
        escaped = path.replace("\\", "\\\\").replace('"', '\\"')
        quoted.append(f'"{escaped}"')
    return "mailboxes " + " ".join(quoted) + "\n"


def change_summary(box: str, new: int, pushed: int, flags: int, removed: int) -> str | None:
    """
    The one log line for a sync that changed something, e.g.
    C{INBOX: +3 new, 2 flags, -1}; C{None} when nothing changed.

    @param new: messages pulled to the near side.
    @param pushed: messages pushed to the far side.
    @param flags: flag updates on either side.
    @param removed: messages trashed or expunged on either side.
    """
    parts = []
    if new:
        parts.append(f"+{new} new")
    if pushed:
        parts.append(f"{pushed} pushed")
    if flags:
        parts.append(f"{flags} flags")
    if removed:
        parts.append(f"-{removed}")
    if not parts:
        return None
    return f"{box}: " + ", ".join(parts)
