# -*- test-case-name: tests.daemon.test_hooks -*-
"""
The daemon's hooks (C{--post-sync-cmd}, C{--new-mail-cmd}) and its
mailboxes file (C{--mailboxes-file}).

Invariants:
  - a hook never blocks the reactor: it runs through
    C{reactor.spawnProcess}, its output goes to the log;
  - never two hooks at once: runs queue, one after the other, in order; a
    run already queued with the same command, channel and box absorbs a new
    one (its counts added), so a burst of syncs is one run;
  - the environment is the daemon's plus C{MSYNC_CHANNEL}, C{MSYNC_BOX},
    C{MSYNC_NEW} and C{MSYNC_CHANGED}; no shell unless the command needs one
    (L{msync.daemon.settings.hook_argv});
  - the mailboxes file is rewritten atomically (temporary file, rename) and
    only when its text changes.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.interfaces import IReactorProcess
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from msync.daemon.settings import hook_argv, mailboxes_text

log = Logger()

#: Output kept from a hook for the log.
_OUTPUT_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class HookRun:
    """
    One queued hook run.

    @ivar command: the command line.
    @ivar channel: C{MSYNC_CHANNEL}.
    @ivar box: C{MSYNC_BOX} (the near box).
    @ivar new: C{MSYNC_NEW}: messages pulled.
    @ivar changed: C{MSYNC_CHANGED}: every change (pulled, pushed, flags,
        removed).
    """

    command: str
    channel: str
    box: str
    new: int
    changed: int

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """
        The process environment: C{base} plus the C{MSYNC_*} variables.
        """
        env = dict(base)
        env.update(
            MSYNC_CHANNEL=self.channel,
            MSYNC_BOX=self.box,
            MSYNC_NEW=str(self.new),
            MSYNC_CHANGED=str(self.changed),
        )
        return env


class _HookProcess(ProcessProtocol):
    """
    Collects a hook's output and fires when it exits.
    """

    def __init__(self, ended: Deferred[int | None]) -> None:
        self.ended = ended
        self.output = b""

    def childDataReceived(self, childFD: int, data: bytes) -> None:  # noqa: N802, N803
        """
        Keep the start of the output for the log.
        """
        if len(self.output) < _OUTPUT_LIMIT:
            self.output += data[: _OUTPUT_LIMIT - len(self.output)]

    def processEnded(self, reason: Failure) -> None:  # noqa: N802
        """
        Report the exit status (C{None} when killed by a signal).
        """
        if reason.check(ProcessDone):
            self.ended.callback(0)
        elif reason.check(ProcessTerminated):
            value = reason.value
            assert isinstance(value, ProcessTerminated)
            self.ended.callback(value.exitCode)
        else:  # pragma: no cover - Twisted only reports the two above
            self.ended.callback(None)


class HookQueue:
    """
    Runs hooks one at a time, in order, off the reactor.

    @ivar ran: the last 100 runs finished, in order, with their status.
    """

    def __init__(self, reactor: IReactorProcess, environ: dict[str, str] | None = None) -> None:
        self._reactor = reactor
        self._environ = dict(os.environ if environ is None else environ)
        self._queue: list[HookRun] = []
        self._running: Deferred[None] | None = None
        self._stopping = False
        # Bounded: a daemon runs for months (memory stays flat).
        self.ran: deque[tuple[HookRun, int | None]] = deque(maxlen=100)

    @property
    def busy(self) -> bool:
        """
        Whether a hook is running or queued.
        """
        return self._running is not None or bool(self._queue)

    def submit(self, run: HookRun) -> None:
        """
        Queue a run (merged into a queued one for the same command, channel
        and box) and start it if nothing runs.
        """
        if self._stopping:
            return
        for index, queued in enumerate(self._queue):
            if (queued.command, queued.channel, queued.box) == (run.command, run.channel, run.box):
                self._queue[index] = replace(
                    queued, new=queued.new + run.new, changed=queued.changed + run.changed
                )
                break
        else:
            self._queue.append(run)
        if self._running is None:
            self._running = Deferred.fromCoroutine(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue and not self._stopping:
                run = self._queue.pop(0)
                status = await self._run(run)
                self.ran.append((run, status))
        finally:
            self._running = None

    async def _run(self, run: HookRun) -> int | None:
        ended: Deferred[int | None] = Deferred()
        process = _HookProcess(ended)
        argv = hook_argv(run.command)
        try:
            self._reactor.spawnProcess(
                process,
                argv[0],
                argv,
                env=run.environment(self._environ),
                childFDs={0: "w", 1: "r", 2: "r"},
            )
        except OSError as error:
            log.error("hook {command!r} could not start: {error}", command=run.command, error=error)
            return None
        status = await ended
        output = process.output.decode("utf-8", "replace").rstrip()
        if status != 0:
            log.warn(
                "hook {command!r} for {channel}:{box} exited with {status}: {output}",
                command=run.command,
                channel=run.channel,
                box=run.box,
                status=status,
                output=output,
            )
        elif output:
            log.info("hook {command!r}: {output}", command=run.command, output=output)
        return status

    async def stop(self) -> None:
        """
        Start nothing more; wait for the running hook, if any.
        """
        self._stopping = True
        self._queue.clear()
        if self._running is not None:
            await self._running


class MailboxesFile:
    """
    Keeps a mutt C{mailboxes} line for the served near-side boxes.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.writes = 0

    def update(self, paths: Iterable[str]) -> bool:
        """
        Rewrite the file if its text changed.

        @param paths: the Maildir box paths.
        @return: whether the file was written.
        """
        text = mailboxes_text(paths)
        try:
            with open(self.path, encoding="utf-8") as stream:
                if stream.read() == text:
                    return False
        except FileNotFoundError:
            pass
        temporary = f"{self.path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.path)
        self.writes += 1
        return True
