# -*- test-case-name: tests.integration.test_isync_suite -*-
"""
A fork server that runs the C{msync} command many times, fast.

isync's test suite starts C{./mbsync} about 1,700 times. A fresh Python
process spends about 0.3 s importing Twisted and msync before it does
anything, which would make the suite take a quarter of an hour. The server
imports L{msync.cli} and what it imports late (L{msync.cli.LATE_MODULES})
once; each run is a fork of it that calls L{msync.cli.main} exactly as
the console script does (same arguments, working directory, standard
descriptors, exit status), in a new process with its own PID, reactor
and random state.

Protocol, over a Unix socket: the client (L{CLIENT}, a few lines of Python
started with C{-I -S}) connects and sends one message carrying its
descriptors 0, 1 and 2 (C{SCM_RIGHTS}) and, as data, its working directory
and arguments, NUL-separated. The server answers with the run's wait status
as decimal text; the client exits with the same status (or dies of the same
signal). No reactor is imported before the fork, so nothing of one run's
event loop is shared with the next.

Run as C{python -m tests.integration.forkserver SOCKET}; it serves until
killed.
"""

from __future__ import annotations

import array
import os
import signal
import socket
import sys

#: The client: exec'd by the C{mbsync} wrapper as C{python -I -S CLIENT SOCKET ARGS...}.
CLIENT = """\
import array, os, signal, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
data = b"\\0".join(os.fsencode(a) for a in [os.getcwd()] + sys.argv[2:])
s.sendmsg([len(data).to_bytes(4, "big") + data],
          [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
reply = b""
while True:
    chunk = s.recv(64)
    if not chunk:
        break
    reply += chunk
status = int(reply or b"-1")
if status < 0:
    sys.exit(125)
if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def wrapper_script(python: str, client: str, socket_path: str) -> str:
    """
    The text of a C{mbsync} shell wrapper that runs msync through the server.
    """
    return f'#!/bin/sh\nexec "{python}" -I -S "{client}" "{socket_path}" "$@"\n'


def _receive(connection: socket.socket) -> tuple[list[int], list[bytes]]:
    """
    Read one request: the client's three descriptors and its words.
    """
    fds = array.array("i")
    data = b""
    need: int | None = None
    while need is None or len(data) < need + 4:
        message, ancillary, _, _ = connection.recvmsg(65536, socket.CMSG_SPACE(3 * fds.itemsize))
        if not message:
            raise EOFError("client went away")
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        data += message
        if need is None and len(data) >= 4:
            need = int.from_bytes(data[:4], "big")
    return list(fds), data[4:].split(b"\0")


def _run(fds: list[int], words: list[bytes]) -> None:
    """
    In the forked child: become the client's process and run msync.
    """
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(words[0])
    argv = [os.fsdecode(word) for word in words[1:]]
    sys.argv = ["mbsync", *argv]
    status = 1
    try:
        from msync.cli import main

        main(argv)
    except SystemExit as stop:
        code = stop.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _handle(connection: socket.socket) -> None:
    """
    In a per-request child: run msync in a grandchild and report its status.
    """
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        fds, words = _receive(connection)
    except (OSError, EOFError):
        os._exit(1)
    pid = os.fork()
    if pid == 0:
        connection.close()
        _run(fds, words)
    for fd in fds:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    try:
        connection.sendall(str(status).encode("ascii"))
    except OSError:
        pass
    os._exit(0)


def serve(path: str) -> None:
    """
    Import msync, listen on C{path}, and fork for every request, forever.
    """
    import importlib

    import msync.cli

    # The point of the server: what every run imports, imported once.
    for name in msync.cli.LATE_MODULES:
        importlib.import_module(name)

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    # Handlers are reaped automatically; each waits for its own run.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            _handle(connection)
        connection.close()


if __name__ == "__main__":
    serve(sys.argv[1])
