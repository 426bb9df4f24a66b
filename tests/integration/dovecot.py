# -*- test-case-name: tests.integration.test_dovecot -*-
"""
A private, disposable Dovecot IMAP server for integration tests and the demo.

L{DovecotServer} writes its own configuration under a directory the caller
owns (tests pass C{self.mktemp()}), starts C{dovecot -F} bound only to
127.0.0.1 on two free unprivileged ports (plain/STARTTLS and IMAPS), and waits
until it greets. Mail lives in Maildirs with C{LAYOUT=fs} and hierarchy
separator C{/}: C{Archive/2024} is the directory C{Maildir/Archive/2024}, so
folder names may contain C{.}; INBOX is C{Maildir/INBOX}. Users live in a
passwd-file per user (C{etc/users/<name>}, so accounts added while the
server runs are seen at once; one shared file is re-read at most once a
second) with C{{PLAIN}} passwords, which keeps CRAM-MD5 working.

Invariants:
  - Nothing listens on anything but 127.0.0.1; nothing outside the given
    directory is written, except: the C{msynctest} system user (created with
    C{useradd} when running as root, because Dovecot refuses to run mail
    processes as root); search permission (C{o+x}) on the directory's
    ancestors that we own, so that Dovecot's unprivileged processes reach it;
    and, when the directory's path is too long for UNIX socket names, a short
    C{base_dir} under C{/tmp}, removed by C{stop}.
  - C{stop} ends the whole process group and returns only once none of it
    runs and both ports are free. The master gets C{PR_SET_PDEATHSIG}, so a
    test process that dies abruptly takes its Dovecot with it.
  - A missing Dovecot is an error (L{DovecotError}), never a skip.

Helpers talk IMAP over one blocking connection per account (see
L{tests.integration.imapaccount}), so loading thousands of messages takes
seconds.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from twisted.trial.unittest import TestCase

from tests.integration.imapaccount import (
    DovecotAccount,
    DovecotError,
    StoredMessage,
    decode_mailbox_name,
    encode_mailbox_name,
)

__all__ = [
    "HOST",
    "Certificate",
    "DovecotAccount",
    "DovecotError",
    "DovecotServer",
    "DovecotTestCase",
    "check_setting",
    "StoredMessage",
    "decode_mailbox_name",
    "encode_mailbox_name",
    "find_binary",
    "free_port",
    "free_ports",
    "live_members",
    "make_certificate",
    "wait_for_free_ports",
]

HOST = "127.0.0.1"
MAIL_USER = "msynctest"
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0
_STOP_GRACE = 0.3
# Longest socket name Dovecot creates under base_dir ("login/imap-urlauth" and
# friends) plus margin; sun_path holds 107 bytes.
_SOCKET_NAME_ROOM = 40
_SUN_PATH_MAX = 107
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Certificate:
    """
    A self-signed certificate and its key, in PEM files.

    @ivar cert_path: the certificate; usable as mbsync's C{CertificateFile}.
    @ivar key_path: its private key.
    @ivar hostname: the DNS name in its CN and subjectAltName.
    """

    cert_path: str
    key_path: str
    hostname: str


def free_ports(count: int, host: str = HOST) -> list[int]:
    """
    Find distinct TCP ports on C{host} that nothing listens on right now.

    @param count: how many ports.
    @param host: the address they must be free on.
    @return: C{count} distinct port numbers (above 1023).
    """
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(probe)
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def free_port(host: str = HOST) -> int:
    """
    Find one TCP port on C{host} that nothing listens on right now.

    @param host: the address it must be free on.
    @return: the port number.
    """
    return free_ports(1, host)[0]


def make_certificate(
    directory: str, hostname: str = "localhost", ip: str | None = HOST
) -> Certificate:
    """
    Generate a fresh self-signed certificate with C{openssl}.

    @param directory: where to write C{<hostname>.crt} and C{<hostname>.key}.
    @param hostname: the DNS name for the CN and subjectAltName; use another
        name than C{localhost} to provoke host name mismatches.
    @param ip: an IP address to name too (as IP and DNS subjectAltName), or
        C{None} for none.
    @return: the certificate's files.
    @raise DovecotError: if C{openssl} is missing or fails.
    """
    os.makedirs(directory, exist_ok=True)
    cert_path = os.path.join(directory, hostname + ".crt")
    key_path = os.path.join(directory, hostname + ".key")
    alt_names = "DNS:" + hostname
    if ip is not None:
        # mbsync 1.4 matches the host only against DNS names (socket.c,
        # verify_hostname), so the address goes in as a DNS name as well.
        alt_names += f",IP:{ip},DNS:{ip}"
    # An EC key is generated in milliseconds; RSA would cost a good part of a second.
    _run(
        [
            find_binary("openssl"),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "7",
            "-subj",
            "/CN=" + hostname,
            "-addext",
            "subjectAltName=" + alt_names,
            "-keyout",
            key_path,
            "-out",
            cert_path,
        ]
    )
    os.chmod(key_path, 0o644)
    return Certificate(cert_path, key_path, hostname)


def find_binary(name: str, search_path: str | None = None) -> str:
    """
    Find an executable on C{PATH} or in the sbin directories (which a
    non-login root shell may lack).

    @param name: the program's name.
    @param search_path: a C{:}-separated path to search instead.
    @return: its absolute path.
    @raise DovecotError: with installation advice when it is missing.
    """
    if search_path is None:
        search_path = os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin:/sbin"
    found = shutil.which(name, path=search_path)
    if found is None:
        raise DovecotError(
            f"{name} not found: run scripts/bootstrap.sh (apt-get install dovecot-imapd "
            "dovecot-core openssl); integration tests need a real Dovecot"
        )
    return found


def _run(argv: Sequence[str]) -> str:
    """
    Run a command to completion and return its output.

    @raise DovecotError: if it fails, with its output.
    """
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DovecotError(
            f"{' '.join(argv)} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def _mail_identity() -> tuple[int, int, str, str]:
    """
    Choose the identity Dovecot runs mail and service processes as.

    As root: the C{msynctest} system user, created when missing, because
    Dovecot refuses UID 0 for mail processes. Otherwise: ourselves, with every
    Dovecot service running as us too (Dovecot's "rootless" mode).

    @return: uid, gid, the mail user's name, and the service user's name.
    """
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me.pw_uid, me.pw_gid, me.pw_name, me.pw_name
    try:
        entry = pwd.getpwnam(MAIL_USER)
    except KeyError:
        _run(
            [
                find_binary("useradd"),
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                MAIL_USER,
            ]
        )
        entry = pwd.getpwnam(MAIL_USER)
    return entry.pw_uid, entry.pw_gid, MAIL_USER, ""


def _die_with_parent() -> None:
    """
    In the forked child: ask the kernel for SIGKILL when our parent dies.
    Dovecot's other processes exit by themselves once the master is gone.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class DovecotServer:
    """
    A private Dovecot instance; see the module docstring for its setup.

    @ivar directory: everything lives below it (absolute path).
    @ivar host: always C{127.0.0.1}.
    @ivar imap_port: the plain port, offering STARTTLS.
    @ivar imaps_port: the implicit-TLS port.
    @ivar certificate: the server's certificate (for C{CertificateFile}).
    @ivar log_path: Dovecot's log file.
    @ivar config_path: the generated C{dovecot.conf}.
    @ivar account: the default account, created with the server.
    """

    def __init__(
        self,
        directory: str,
        user: str = "msync",
        password: str | None = None,
        cert_hostname: str = "localhost",
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """
        Prepare (but do not start) a server.

        @param directory: a directory of the caller's; created if missing.
        @param user: the default account's name.
        @param password: its password, or C{None} to generate one.
        @param cert_hostname: the host name the server's certificate is for.
        @param settings: more top-level settings for C{dovecot.conf} (the
            benchmark's C{--dovecot KEY=VALUE}, e.g.
            C{maildir_very_dirty_syncs}), written after the fixture's own.
        @raise ValueError: a setting's name is not a plain word, or a
            value holds a line break.
        """
        for key, value in (settings or {}).items():
            check_setting(key, value)
        self.directory = os.path.abspath(directory)
        self.host = HOST
        self.imap_port, self.imaps_port = 0, 0
        self.config_path = os.path.join(self.directory, "etc", "dovecot.conf")
        self.log_path = os.path.join(self.directory, "dovecot.log")
        self._users_dir = os.path.join(self.directory, "etc", "users")
        self._mail_dir = os.path.join(self.directory, "mail")
        self._base_dir = os.path.join(self.directory, "run")
        self._own_base_dir = False
        self._cert_hostname = cert_hostname
        self._process: subprocess.Popen[bytes] | None = None
        self._accounts: list[DovecotAccount] = []
        self._lock = threading.Lock()
        self._uid, self._gid, self._mail_user, self._service_user = 0, 0, "", ""
        self._first_user = (user, password or secrets.token_urlsafe(12))
        self._settings = dict(settings or {})
        self.certificate = Certificate("", "", cert_hostname)
        self.account: DovecotAccount

    @property
    def user(self) -> str:
        """
        The default account's login name.
        """
        return self.account.user

    @property
    def password(self) -> str:
        """
        The default account's password.
        """
        return self.account.password

    @property
    def cert_path(self) -> str:
        """
        The server certificate's PEM file, for C{CertificateFile}.
        """
        return self.certificate.cert_path

    def start(self) -> None:
        """
        Write the configuration and start Dovecot; return once it greets.

        @raise DovecotError: if Dovecot is missing, or does not come up in
            time (with its log in the message).
        """
        dovecot = find_binary("dovecot")
        self._uid, self._gid, self._mail_user, self._service_user = _mail_identity()
        os.makedirs(os.path.join(self.directory, "etc"), exist_ok=True)
        os.makedirs(self._mail_dir, exist_ok=True)
        _open_search_path(self.directory)
        if len(self._base_dir) + _SOCKET_NAME_ROOM > _SUN_PATH_MAX:
            self._base_dir = _short_base_dir()
            self._own_base_dir = True
        # Only a certificate for localhost also names 127.0.0.1: any other
        # host name must make verification against 127.0.0.1 fail.
        ip = HOST if self._cert_hostname == "localhost" else None
        self.certificate = make_certificate(
            os.path.join(self.directory, "etc"), self._cert_hostname, ip
        )
        os.makedirs(self._users_dir, mode=0o755, exist_ok=True)
        self.imap_port, self.imaps_port = free_ports(2)
        self.account = self.add_account(*self._first_user)
        with open(self.config_path, "w", encoding="utf-8") as config:
            config.write(self._config_text())
        log = open(self.log_path, "ab")
        on_main_thread = threading.current_thread() is threading.main_thread()
        self._process = subprocess.Popen(
            [dovecot, "-F", "-c", self.config_path],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # The kernel's parent-death signal follows the creating *thread*.
            preexec_fn=_die_with_parent if on_main_thread else None,
        )
        log.close()
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DovecotError(
                    f"dovecot exited with status {self._process.returncode} during startup;"
                    f" its log:\n{self.log_text()}"
                )
            if _greets(self.imap_port) and _accepts(self.imaps_port):
                return
            time.sleep(0.02)
        raise DovecotError(
            f"dovecot did not greet on {HOST}:{self.imap_port} within {_START_TIMEOUT}s;"
            f" its log:\n{self.log_text()}"
        )

    def stop(self) -> None:
        """
        Stop Dovecot and every process it started; return once the ports are
        free. Safe to call twice or after a failed start.
        """
        for account in self._accounts:
            account.close()
        process, self._process = self._process, None
        if process is not None:
            # Ask the master nicely first; its own shutdown sometimes waits
            # seconds for stragglers, which a disposable server need not do.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(_STOP_GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(_STOP_TIMEOUT)
            _reap_group(process.pid)
            wait_for_free_ports([self.imap_port, self.imaps_port])
        if self._own_base_dir:
            shutil.rmtree(self._base_dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        """
        Whether the master process is alive.
        """
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        """
        @return: Dovecot's log so far (empty if there is none yet).
        """
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                return log.read()
        except FileNotFoundError:
            return ""

    def add_account(self, user: str | None = None, password: str | None = None) -> DovecotAccount:
        """
        Add a user with an empty mailbox set; works while the server runs
        (each user has a passwd-file of its own, opened on first use).

        @param user: its login name, or C{None} for a fresh unique one.
        @param password: its password, or C{None} to generate one.
        @return: the new account.
        """
        with self._lock:
            user = user or f"user{len(self._accounts) + 1}"
            password = password or secrets.token_urlsafe(12)
            if ":" in user + password or "\n" in user + password:
                raise DovecotError("user names and passwords must not contain ':' or newlines")
            home = os.path.join(self._mail_dir, user)
            os.makedirs(home, exist_ok=True)
            os.chown(home, self._uid, self._gid)
            if not re.fullmatch(r"[A-Za-z0-9._-]+", user) or user.startswith("."):
                raise DovecotError(f"unusable user name {user!r}: letters, digits, . _ - only")
            passwd_path = os.path.join(self._users_dir, user)
            with open(passwd_path, "w", encoding="utf-8") as passwd:
                # user:password:uid:gid:gecos:home:shell:extra (passwd-file format)
                passwd.write(f"{user}:{{PLAIN}}{password}:{self._uid}:{self._gid}::{home}::\n")
            account = DovecotAccount(HOST, self.imap_port, user, password, home)
            self._accounts.append(account)
            return account

    def doveadm(self, *arguments: str) -> str:
        """
        Run C{doveadm -c <our config> ARGUMENTS...}.

        @return: its standard output.
        @raise DovecotError: if it fails.
        """
        return _run([find_binary("doveadm"), "-c", self.config_path, *arguments])

    def imap_account_section(self, name: str = "demo", ssl_type: str = "STARTTLS") -> str:
        """
        Render an mbsync C{IMAPAccount} section for the default account.

        @param name: the account's name in the configuration.
        @param ssl_type: C{None}, C{STARTTLS} or C{IMAPS} (picks the port).
        @return: the section's lines, ending with a blank line.
        """
        port = self.imaps_port if ssl_type == "IMAPS" else self.imap_port
        return (
            f"IMAPAccount {name}\nHost {HOST}\nPort {port}\nUser {self.user}\n"
            f"Pass {self.password}\nSSLType {ssl_type}\nCertificateFile {self.cert_path}\n\n"
        )

    # The default account's helpers, for tests that need just one user.

    def create_mailbox(self, name: str) -> None:
        """
        See L{DovecotAccount.create_mailbox}.
        """
        self.account.create_mailbox(name)

    def list_mailboxes(self, selectable_only: bool = True) -> list[str]:
        """
        See L{DovecotAccount.list_mailboxes}.
        """
        return self.account.list_mailboxes(selectable_only)

    def add_message(
        self,
        mailbox: str,
        message: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """
        See L{DovecotAccount.add_message}.
        """
        return self.account.add_message(mailbox, message, flags, internal_date)

    def set_flags(self, mailbox: str, uid: int, flags: Iterable[str]) -> None:
        """
        See L{DovecotAccount.set_flags}.
        """
        self.account.set_flags(mailbox, uid, flags)

    def expunge(self, mailbox: str, uid: int) -> None:
        """
        See L{DovecotAccount.expunge}.
        """
        self.account.expunge(mailbox, uid)

    def messages(self, mailbox: str) -> list[StoredMessage]:
        """
        See L{DovecotAccount.messages}.
        """
        return self.account.messages(mailbox)

    def uid_validity(self, mailbox: str) -> int:
        """
        See L{DovecotAccount.uid_validity}.
        """
        return self.account.uid_validity(mailbox)

    def _config_text(self) -> str:
        if self._service_user:
            # Rootless: every service runs as us, and nothing may chroot.
            me = self._service_user
            identity = (
                f"default_login_user = {me}\ndefault_internal_user = {me}\n"
                f"default_internal_group = {_group_name(self._gid)}\n"
                "service anvil {\n  chroot =\n}\n"
            )
            login_chroot = "  chroot =\n"
        else:
            identity, login_chroot = "", ""
        extra = "".join(f"{key} = {value}\n" for key, value in self._settings.items())
        return _CONFIG_TEMPLATE.format(
            base_dir=self._base_dir,
            state_dir=os.path.join(self.directory, "state"),
            instance=f"{os.path.basename(self.directory)}-{self.imap_port}",
            log=self.log_path,
            cert=self.certificate.cert_path,
            key=self.certificate.key_path,
            uid=self._uid,
            passwd=os.path.join(self._users_dir, "%u"),
            imap_port=self.imap_port,
            imaps_port=self.imaps_port,
            identity=identity,
            login_chroot=login_chroot,
        ) + (f"# The caller's own settings:\n{extra}" if extra else "")


def check_setting(key: str, value: str) -> None:
    """
    Refuse a top-level C{dovecot.conf} setting unless its name is a plain
    word and its value one line (L{DovecotServer}'s C{settings}).

    @raise ValueError: naming the setting.
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", key) or "\n" in value or "\r" in value:
        raise ValueError(f"not a plain Dovecot setting: {key!r} = {value!r}")


_CONFIG_TEMPLATE = """\
# Written by tests/integration/dovecot.py: a private test instance.
protocols = imap
listen = 127.0.0.1
base_dir = {base_dir}
state_dir = {state_dir}
instance_name = msync-{instance}
log_path = {log}
info_log_path = {log}
debug_log_path = {log}
auth_verbose = yes
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5
# Tests of wrong passwords need no two-second penalty.
auth_failure_delay = 0
first_valid_uid = {uid}
mail_fsync = never
mail_max_userip_connections = 200
mail_location = maildir:~/Maildir:LAYOUT=fs:INBOX=~/Maildir/INBOX
{identity}
namespace inbox {{
  inbox = yes
  separator = /
  prefix =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {passwd}
}}
service imap-login {{
{login_chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
"""


def _open_search_path(directory: str) -> None:
    """
    Let Dovecot's unprivileged processes reach C{directory}: grant search
    (C{o+x}, not read) on it and on every ancestor we own that lacks it,
    e.g. the 0700 directory trial's C{mktemp} creates.

    @raise DovecotError: if an ancestor owned by someone else blocks the way.
    """
    path = directory
    while True:
        info = os.stat(path)
        if not info.st_mode & stat.S_IXOTH:
            if info.st_uid != os.geteuid():
                raise DovecotError(
                    f"{path} is not searchable by other users, so Dovecot's mail and "
                    f"login processes cannot reach {directory}; use another directory"
                )
            os.chmod(path, stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def _short_base_dir() -> str:
    import tempfile

    path = tempfile.mkdtemp(prefix="msync-dovecot-", dir="/tmp")
    os.chmod(path, 0o755)
    return path


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _reap_group(pgid: int) -> None:
    """
    Kill whatever is left in the process group and wait until none of it
    runs (zombies, which only their new parent can reap, do not count).

    @raise DovecotError: if processes survive SIGKILL for L{_STOP_TIMEOUT}.
    """
    deadline = time.monotonic() + _STOP_TIMEOUT
    while time.monotonic() < deadline:
        _signal_group(pgid, signal.SIGKILL)
        if not live_members(pgid):
            return
        time.sleep(0.01)
    raise DovecotError(f"Dovecot processes {live_members(pgid)} survive SIGKILL")


def live_members(pgid: int) -> list[int]:
    """
    @return: the PIDs in process group C{pgid} that are not zombies (Linux C{/proc}).
    """
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat_file:
                fields = stat_file.read().rpartition(")")[2].split()
        except OSError:
            continue
        # proc(5): after "(comm)" come state, ppid, pgrp.
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def _greets(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as probe:
            return probe.recv(100).startswith(b"* OK")
    except OSError:
        return False


def _accepts(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=1.0).close()
        return True
    except OSError:
        return False


def wait_for_free_ports(ports: Sequence[int], timeout: float = _STOP_TIMEOUT) -> None:
    """
    Wait until nothing accepts connections on any of C{ports} on 127.0.0.1.

    @param ports: the ports.
    @param timeout: how long to wait, in seconds.
    @raise DovecotError: if some port still accepts connections then.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_accepts(port) for port in ports):
            return
        time.sleep(0.02)
    raise DovecotError(f"ports {list(ports)!r} still accept connections after stop")


class DovecotTestCase(TestCase):
    """
    Base class for tests against a real Dovecot: each test gets a running
    server (C{self.dovecot}) with its own directory, and its default account
    (C{self.account}); the server is stopped by cleanup even if the test fails.

    Dovecot starts in well under a second, so one server per test keeps tests
    independent without a class-level fixture (trial has no C{setUpClass}).
    """

    dovecot: DovecotServer
    account: DovecotAccount

    def setUp(self) -> None:
        """
        Start a private Dovecot for this test.
        """
        server = DovecotServer(self.mktemp())
        self.addCleanup(server.stop)
        server.start()
        self.dovecot = server
        self.account = server.account
