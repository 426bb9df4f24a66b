# -*- test-case-name: tests.integration.test_daemon -*-
"""
The daemon (C{twistd -n msync}, C{msyncd}) as a subprocess against a real
Dovecot: push by IDLE within 2 s, local flags pushed within 3 s, hooks, the
mailboxes file, a Dovecot restart on the same port, SIGTERM during a large
pull (exit 0 within 5 s, then C{msync -a} completes with no duplicate).
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from twisted.internet import task
from twisted.internet.defer import Deferred

from msync import service
from tests.integration import dovecot
from tests.integration.dovecot import DovecotTestCase, find_binary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")

#: Where the measured latencies are written (for the report).
LATENCY_REPORT = os.environ.get("MSYNC_LATENCY_REPORT")

#: The messages of the pull SIGTERM interrupts: a batched pull takes a few
#: thousand small ones a second.
MESSAGES_PULLED = 5000


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.005) -> float:
    """
    Wait for C{condition}; return the seconds it took.

    @raise AssertionError: after C{timeout} seconds.
    """
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(poll)
    return time.monotonic() - start


def local_files(root: str, box: str) -> list[str]:
    """
    The message files of a near Maildir box.
    """
    found = []
    for sub in ("new", "cur"):
        directory = os.path.join(root, box, sub)
        if os.path.isdir(directory):
            found += [os.path.join(directory, name) for name in os.listdir(directory)]
    return found


def local_subjects(root: str, box: str) -> list[str]:
    """
    The Subject lines of a near box's messages.
    """
    subjects = []
    for path in local_files(root, box):
        try:
            with open(path, "rb") as stream:
                head = stream.read(200)
        except FileNotFoundError:
            continue
        for line in head.splitlines():
            if line.startswith(b"Subject: "):
                subjects.append(line[9:].decode())
    return subjects


class DroppingProxy:
    """
    A TCP proxy on 127.0.0.1 whose connections the test can cut (as a NAT
    box or a flaky network does).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self.accepted += 1
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass

    def drop_all(self) -> None:
        """
        Reset every connection (RST, no FIN, no BYE).
        """
        sockets, self.sockets = self.sockets, []
        for each in sockets:
            try:
                each.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # SHUT_RD wakes the pump blocked in recv (a close alone would
                # wait for it); close with SO_LINGER 0 then sends RST.
                each.shutdown(socket.SHUT_RD)
                each.close()
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.drop_all()


class DaemonProcess:
    """
    A daemon subprocess logging to a file.
    """

    def __init__(self, argv: Sequence[str], cwd: str) -> None:
        self.log_path = os.path.join(cwd, "daemon.log")
        env = dict(os.environ, PYTHONPATH=ROOT)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                list(argv), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as stream:
            return stream.read()

    def terminate(self) -> tuple[int, float]:
        """
        SIGTERM; return the exit status and how long the exit took.
        """
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(30)
        return status, time.monotonic() - start

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class DaemonTests(DovecotTestCase):
    """
    The daemon against a private Dovecot.
    """

    def setUp(self) -> None:
        super().setUp()
        self.root = os.path.abspath(self.mktemp())
        self.mail = os.path.join(self.root, "mail")
        os.makedirs(self.mail)
        self.rc = os.path.join(self.root, "rc")
        with open(self.rc, "w") as stream:
            stream.write(
                self.dovecot.imap_account_section("acc")
                + "IMAPStore far\nAccount acc\n\n"
                + f"MaildirStore near\nPath {self.mail}/\nInbox {self.mail}/INBOX\n"
                + "SubFolders Verbatim\n\n"
                + "Channel c\nFar :far:\nNear :near:\nPatterns *\nCreate Near\n"
                + "SyncState *\nExpunge Both\n"
            )

    def daemon(self, *arguments: str) -> DaemonProcess:
        argv = [TWISTD, "-n", "msync", "-c", self.rc, "-a", "--interval", "3600", *arguments]
        process = DaemonProcess(argv, self.root)
        self.addCleanup(process.kill)
        return process

    def save(self, subject: str, box: str = "INBOX") -> None:
        """
        Deliver a message on the server with C{doveadm save}.
        """
        subprocess.run(
            [find_binary("doveadm"), "-c", self.dovecot.config_path, "save"]
            + ["-u", self.dovecot.user, "-m", box],
            input=f"Subject: {subject}\nMessage-Id: <{subject}@test>\n\nhi\n".encode(),
            check=True,
            capture_output=True,
        )

    def restart_dovecot(self) -> None:
        """
        Stop Dovecot and start it again on the same ports.
        """
        server = self.dovecot
        ports = [server.imap_port, server.imaps_port]
        server.stop()
        original = dovecot.free_ports
        dovecot.free_ports = lambda count, host=dovecot.HOST: list(ports)
        try:
            server.start()
        finally:
            dovecot.free_ports = original

    def test_push_hooks_restart_and_stop(self) -> None:
        """
        With --interval 3600: 20 messages saved on the server each reach the
        Maildir within 2 s (IDLE); a flag set locally reaches the server
        within 3 s; the post-sync hook ran with the right variables; the
        mailboxes file lists the near boxes; after Dovecot restarts on the
        same port the next delivery still arrives; SIGTERM exits 0 within
        5 s with no traceback, and no twistd.pid/twistd.log is left in the
        current directory.
        """
        self.dovecot.create_mailbox("Archive")
        hooks = os.path.join(self.root, "hooks")
        mailboxes = os.path.join(self.root, "mailboxes")
        daemon = self.daemon(
            "--quick-interval",
            "3600",
            "--post-sync-cmd",
            f'echo "$MSYNC_CHANNEL $MSYNC_BOX $MSYNC_NEW $MSYNC_CHANGED" >> {hooks}',
            "--mailboxes-file",
            mailboxes,
        )
        wait_until(lambda: "watching by IMAP IDLE" in daemon.log(), 30)
        with open(mailboxes) as stream:
            self.assertEqual(
                stream.read(), f'mailboxes "{self.mail}/Archive" "{self.mail}/INBOX"\n'
            )
        latencies = []
        for n in range(20):
            # Deliveries a second apart: the Maildir race guard (mbsync's
            # one-second sleep after a modification in the same second) is
            # not what this measures.
            time.sleep(1.1)
            subject = f"d{n}"
            start = time.monotonic()
            self.save(subject)
            wait_until(lambda s=subject: s in local_subjects(self.mail, "INBOX"), 10)  # type: ignore[misc]
            latencies.append(time.monotonic() - start)
        report = (
            f"delivery to Maildir: median {statistics.median(latencies):.3f}s, "
            f"worst {max(latencies):.3f}s over {len(latencies)}"
        )
        if LATENCY_REPORT:
            with open(LATENCY_REPORT, "a") as stream:
                stream.write(report + "\n")
        self.assertLess(max(latencies), 2.0, report)
        # The hook: once per sync that changed something, one new each.
        wait_until(lambda: os.path.exists(hooks) and len(open(hooks).readlines()) >= 20, 10)
        with open(hooks) as stream:
            lines = stream.read().splitlines()
        self.assertEqual(set(lines), {"c INBOX 1 1"})
        # A flag set locally, as a MUA does (new/ to cur/ with :2,S).
        time.sleep(1.1)
        path = sorted(local_files(self.mail, "INBOX"))[0]
        name = os.path.basename(path).split(":2,")[0]
        os.rename(path, os.path.join(self.mail, "INBOX", "cur", name + ":2,S"))
        flagged = wait_until(
            lambda: any("\\Seen" in m.flags for m in self.dovecot.messages("INBOX")), 3, 0.05
        )
        if LATENCY_REPORT:
            with open(LATENCY_REPORT, "a") as stream:
                stream.write(f"local flag to server: {flagged:.3f}s\n")
        self.assertLess(flagged, 3.0)
        # Dovecot restarted on the same port: the next delivery arrives.
        self.restart_dovecot()
        self.save("after-restart")
        wait_until(lambda: "after-restart" in local_subjects(self.mail, "INBOX"), 30)
        status, took = daemon.terminate()
        log = daemon.log()
        self.assertEqual(status, 0, log)
        self.assertLess(took, 5.0)
        self.assertNotIn("Traceback", log)
        self.assertNotIn("Unhandled", log)
        self.assertIn("c: INBOX: +1 new", log)
        # The default level has no wire trace (and so no LOGIN line).
        self.assertNotIn(" C: ", log)
        self.assertNotIn(" S: ", log)
        self.assertNotIn(self.dovecot.password, log)
        self.assertFalse(os.path.exists(os.path.join(self.root, "twistd.pid")))
        self.assertFalse(os.path.exists(os.path.join(self.root, "twistd.log")))
        self.assertEqual(sorted(local_subjects(self.mail, "INBOX")).count("d0"), 1)

    def test_dropped_idle_and_dead_account(self) -> None:
        """
        The IDLE connection cut by the network (a proxy resets it) is
        recovered and the next delivery arrives; a second account whose
        server is down fails alone (logged) while the first one keeps being
        pushed.
        """
        proxy = DroppingProxy(self.dovecot.imap_port)
        self.addCleanup(proxy.close)
        dead = dovecot.DovecotServer(self.mktemp())
        dead.start()
        dead_section = dead.imap_account_section("dead")
        dead.stop()
        near2 = os.path.join(self.root, "mail2")
        os.makedirs(near2)
        with open(self.rc) as stream:
            text = stream.read()
        text = text.replace(f"Port {self.dovecot.imap_port}\n", f"Port {proxy.port}\n")
        text += (
            "\n" + dead_section + "IMAPStore far2\nAccount dead\n\n"
            f"MaildirStore near2\nPath {near2}/\nInbox {near2}/INBOX\n\n"
            "Channel e\nFar :far2:\nNear :near2:\nCreate Near\nSyncState *\n"
        )
        with open(self.rc, "w") as stream:
            stream.write(text)
        daemon = self.daemon()
        wait_until(lambda: "watching by IMAP IDLE" in daemon.log(), 30)
        wait_until(lambda: "error" in daemon.log(), 15, 0.05)
        before = proxy.accepted
        proxy.drop_all()
        wait_until(lambda: "c:INBOX: reconnected" in daemon.log(), 15, 0.05)
        self.assertGreater(proxy.accepted, before)
        time.sleep(1.1)
        self.save("after-drop")
        took = wait_until(lambda: "after-drop" in local_subjects(self.mail, "INBOX"), 10)
        self.assertLess(took, 2.0)
        status, _ = daemon.terminate()
        self.assertEqual(status, 0)
        self.assertNotIn("Traceback", daemon.log())

    def test_sigterm_during_pull(self) -> None:
        """
        SIGTERM during a 5,000-message pull (enough that the pull is still
        under way when the signal lands): exit status 0 within 5 s, no
        traceback; then C{msync -a} completes with every message once.
        """
        body = b"x" * 8000 + b"\r\n"
        self.account.add_messages(
            "INBOX",
            [
                (b"Subject: m%d\r\nMessage-Id: <m%d@test>\r\n\r\n" % (n, n) + body, (), None)
                for n in range(MESSAGES_PULLED)
            ],
        )
        daemon = self.daemon("--no-idle")
        wait_until(lambda: len(local_files(self.mail, "INBOX")) >= 50, 60, 0.01)
        status, took = daemon.terminate()
        log = daemon.log()
        pulled = len(local_files(self.mail, "INBOX"))
        self.assertEqual(status, 0, log)
        self.assertLess(took, 5.0)
        self.assertLess(
            pulled, MESSAGES_PULLED, "the pull ended before SIGTERM: nothing was tested"
        )
        self.assertNotIn("Traceback", log)
        done = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "msync"), "-c", self.rc, "-a"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.root,
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        subjects = local_subjects(self.mail, "INBOX")
        self.assertEqual(len(subjects), MESSAGES_PULLED)
        self.assertEqual(sorted(set(subjects)), sorted(f"m{n}" for n in range(MESSAGES_PULLED)))
        self.assertEqual(len(self.dovecot.messages("INBOX")), MESSAGES_PULLED)

    def test_in_process(self) -> Deferred[None]:
        """
        The daemon service in this process on the real reactor: a delivery
        is pushed by IDLE and the hook sees it; stopService leaves the
        reactor clean (trial fails the test on a leftover connection or
        timer).
        """
        from twisted.internet import reactor

        hooks = os.path.join(self.root, "hooks")
        options = service.Options()
        options.parseOptions(
            ["-c", self.rc, "-a", "--interval", "3600", "--no-local-watch"]
            + ["--post-sync-cmd", f'echo "$MSYNC_BOX $MSYNC_NEW" >> {hooks}']
        )
        made = service.makeService(options, reactor)
        assert isinstance(made, service.DaemonService)
        daemon = made.daemon

        async def until(condition: Callable[[], bool], timeout: float) -> float:
            start = time.monotonic()
            while not condition():
                if time.monotonic() - start > timeout:
                    raise AssertionError(f"condition not met within {timeout}s")
                await task.deferLater(reactor, 0.01)
            return time.monotonic() - start

        async def run() -> None:
            made.startService()
            try:
                await until(lambda: any(w.state == "idling" for w in daemon.watchers.values()), 30)
                self.save("in-process")
                took = await until(lambda: "in-process" in local_subjects(self.mail, "INBOX"), 5)
                self.assertLess(took, 2.0)
                await until(lambda: os.path.exists(hooks), 5)
                await until(lambda: not daemon.hooks or not daemon.hooks.busy, 5)  # type: ignore[attr-defined]
                with open(hooks) as stream:
                    self.assertEqual(stream.read(), "INBOX 1\n")
            finally:
                await made.stopService()
            self.assertEqual([q.running for q in daemon.queues.values()], [None])

        return Deferred.fromCoroutine(run())

    def test_msyncd_version(self) -> None:
        """
        The msyncd entry point is twistd in the foreground: --version prints
        msync's version.
        """
        from msync import __version__

        done = subprocess.run(
            [sys.executable, "-c", "from msync.daemonmain import main; main()", "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.root,
            env=dict(os.environ, PYTHONPATH=ROOT),
        )
        self.assertEqual(done.stdout, f"msync {__version__}\n", done.stderr)
