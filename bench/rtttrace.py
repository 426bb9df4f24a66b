"""
The round trips a tool waits for: the benchmark's case (e) through a proxy
that adds C{--rtt} of delay and records every command line the tool sends,
and when.

C{.venv/bin/python bench/rtttrace.py [--messages N] [--tools mbsync,msync]}
loads the same corpus as C{bench/run.py} into one account per tool, runs
each tool's initial pull, a no-op and then its small-change resync (1%
re-flagged, 100 new in INBOX) through the proxy (C{--baseline DIR} adds
the tool C{msync-base}: msync from another checkout), and prints per run
the I{waves}: runs of commands sent without the tool having waited a round
trip in between (a new wave starts when a command leaves more than half a
round trip after the previous one). The number of waves is the length of the tool's
critical path in round trips; each wave lists its commands (tags removed,
repeated verbs counted).

Invariants: as C{bench/run.py}: everything listens on 127.0.0.1 only and is
stopped on every way out.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.delayproxy import DelayProxy  # noqa: E402
from bench.run import (  # noqa: E402
    ServerChanges,
    Tool,
    fresh,
    load_account,
    run_tool,
    verify,
    write_config,
)
from tests.integration.dovecot import DovecotServer  # noqa: E402

_TAG = re.compile(rb"^[A-Za-z0-9.]+ ")
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class TracingProxy(DelayProxy):
    """
    A L{DelayProxy} that records, per connection, when each command line
    the client sent arrived at the proxy (literals skipped).
    """

    def __init__(self, target_host: str, target_port: int, rtt: float) -> None:
        super().__init__(target_host, target_port, rtt)
        self.lines: list[tuple[float, bytes]] = []
        self.opened: float | None = None
        self.ended: float | None = None
        self._buffer = b""
        self._skip = 0

    def reset(self) -> None:
        self.opened = None
        self.ended = None
        self.lines = []
        self._buffer = b""
        self._skip = 0

    def seen(self, chunk: bytes) -> None:
        now = time.monotonic()
        data = self._buffer + chunk
        while data:
            if self._skip:
                taken = min(self._skip, len(data))
                self._skip -= taken
                data = data[taken:]
                continue
            end = data.find(b"\r\n")
            if end < 0:
                break
            line, data = data[: end + 2], data[end + 2 :]
            self.lines.append((now, line.rstrip(b"\r\n")))
            literal = _LITERAL.search(line)
            if literal:
                self._skip = int(literal.group(1))
        self._buffer = data

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        original = reader.read

        async def read(size: int = -1) -> bytes:
            chunk: bytes = await original(size)
            if chunk:
                self.seen(chunk)
            else:
                self.ended = time.monotonic()
            return chunk

        self.opened = time.monotonic()
        reader.read = read  # type: ignore[method-assign,assignment]
        await super()._client(reader, writer)


def waves(lines: list[tuple[float, bytes]], rtt: float) -> list[tuple[float, list[bytes]]]:
    """
    Group command lines into runs sent without waiting a round trip.
    """
    found: list[tuple[float, list[bytes]]] = []
    last = None
    for when, line in lines:
        if last is None or when - last > rtt / 2:
            found.append((when, []))
        found[-1][1].append(_TAG.sub(b"", line))
        last = when
    return found


def verb(line: bytes) -> str:
    words = line.split(b" ")
    head = words[0].upper()
    if head == b"UID" and len(words) > 1:
        head += b" " + words[1].upper()
    return head.decode("ascii", "replace")


def show(title: str, proxy: TracingProxy, rtt: float, times: tuple[float, float]) -> None:
    lines = proxy.lines
    found = waves(lines, rtt)
    start = lines[0][0] if lines else 0.0
    began, finished = times
    print(f"\n{title}: {len(found)} waves, {len(lines)} commands, {finished - began:.2f} s wall")
    if proxy.opened is not None and proxy.ended is not None and lines:
        print(
            f"  start -> connected {proxy.opened - began:.3f} s; -> first command"
            f" {start - proxy.opened:.3f} s; last command -> closed"
            f" {proxy.ended - lines[-1][0]:.3f} s; -> exit {finished - proxy.ended:.3f} s"
        )
    bodies: list[int] = []
    last = [0.0]

    def flush() -> None:
        if bodies:
            print(
                f"        ... {len(bodies)} waves of body fetches only ({sum(bodies)} commands),"
                f" the last at +{last[0] - start:.3f}s"
            )
            bodies.clear()

    for number, (when, commands) in enumerate(found, 1):
        if number > 1 and all(b"BODY" in each for each in commands):
            bodies.append(len(commands))
            last[0] = when
            continue
        flush()
        counts: dict[str, int] = {}
        for each in commands:
            counts[verb(each)] = counts.get(verb(each), 0) + 1
        first = commands[0].decode("ascii", "replace")[:70]
        summary = ", ".join(f"{v} x{n}" if n > 1 else v for v, n in counts.items())
        print(f"  {number:3d} +{when - start:6.3f}s  {summary}   [{first}]")
    flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--tools", default="mbsync,msync")
    parser.add_argument("--rtt", type=float, default=0.020)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--baseline", help="another msync checkout (sharing this .venv), run as msync-base"
    )
    options = parser.parse_args()
    commands = {"mbsync": ["mbsync"], "msync": [str(ROOT / ".venv" / "bin" / "msync")]}
    if options.baseline:
        # The checkout's own msync package comes first on the path.
        baseline = str(Path(options.baseline).resolve())
        python = str(ROOT / ".venv" / "bin" / "python")
        commands["msync-base"] = ["env", f"PYTHONPATH={baseline}", python, "-m", "msync"]
    base = Path(tempfile.mkdtemp(prefix="msync-rtt-"))
    server = DovecotServer(str(base / "server"))
    server.start()
    proxy = TracingProxy("127.0.0.1", server.imap_port, options.rtt)
    proxy.start()
    try:
        for name in options.tools.split(","):
            account = server.add_account(f"rtt-{name}")
            load_account(account, options.messages, options.seed)
            workdir = base / name
            workdir.mkdir()
            tool = Tool(name, commands[name], account, workdir)
            changes = ServerChanges(tool, server.imap_port)
            changes.remember()
            fresh(tool)
            # Once without the proxy: the server's caches warm, as in bench/run.py.
            run_tool(tool, write_config(tool, server.imap_port))
            fresh(tool)
            steps: tuple[tuple[str, Callable[[int], None] | None], ...] = (
                ("initial pull", None),
                ("no-op", None),
                ("1% + 100 new", changes.small_change),
            )
            for title, before in steps:
                if before is not None:
                    before(options.seed)
                proxy.reset()
                began = time.monotonic()
                run_tool(tool, write_config(tool, proxy.port))
                finished = time.monotonic()
                verify(tool, server.imap_port)
                show(f"{name} {title}", proxy, options.rtt, (began, finished))
            changes.undo()
        return 0
    finally:
        proxy.stop()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
