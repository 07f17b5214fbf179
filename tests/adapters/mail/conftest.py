"""A real mail system on loopback for the adapter's tests, started once per test run.

`mailbox`: Dovecot (IMAP and LMTP on free loopback ports) with a self-contained
configuration in a temp dir and three mailboxes, alice@example.test, bob@example.test and
the support mailbox helpdesk@example.test (read by the intake tests),
behind Postfix on 127.0.0.1:25, which delivers example.test over LMTP to Dovecot and refuses
every other domain, so nothing can leave the machine (docs: real-peers recipe). Postfix's
configuration is global: the settings it needs are set with `postconf -e`, and a Postfix this
fixture started is stopped afterwards.

Without Dovecot or Postfix installed the tests using them are skipped with one line saying
so, except under CI (CI=true), where that is a failure. `.ci/run` installs both.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"
PASSWORDS = {
    "alice@example.test": "alice-pw",
    "bob@example.test": "bob-pw",
    "helpdesk@example.test": "helpdesk-pw",
}


@dataclass(frozen=True)
class Mailbox:
    smtp_host: str
    smtp_port: int
    imap_port: int
    lmtp_port: int

    def imap(self, address: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.imap_port)
        client.login(address, PASSWORDS[address])
        client.select("INBOX")
        return client


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.1)
    return False


def _missing() -> str | None:
    for program in (DOVECOT, DOVEADM, POSTFIX, POSTCONF):
        if not Path(program).exists():
            return f"{Path(program).name} is not installed (apt-get install postfix dovecot-imapd dovecot-lmtpd)"
    if os.geteuid() != 0:
        return "Postfix and Dovecot's mail user need root to start"
    return None


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"the mail server cannot run: {reason}")
    pytest.skip(f"no local mail server: {reason}")


def _dovecot_config(folder: Path, imap_port: int, lmtp_port: int) -> Path:
    mail = folder / "mail"
    for part in ("run", "state", "maildirs"):
        (mail / part).mkdir(parents=True)
    shutil.chown(mail / "maildirs", "mail", "mail")
    folder.chmod(0o755)
    lines = []
    for address, password in PASSWORDS.items():
        hashed = subprocess.run(
            [DOVEADM, "pw", "-s", "SHA512-CRYPT", "-p", password],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        lines.append(f"{address}:{hashed}::::::")
    (mail / "users").write_text("\n".join(lines) + "\n")
    config = mail / "dovecot.conf"
    config.write_text(
        f"""base_dir = {mail}/run
state_dir = {mail}/state
instance_name = openitsm-mail-test-{imap_port}
listen = 127.0.0.1
protocols = imap lmtp
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {mail}/dovecot.log
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
mail_location = maildir:{mail}/maildirs/%d/%n
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {mail}/users
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={mail}/maildirs/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"""
    )
    return config


def _run_daemon(command: list[str], folder: Path) -> tuple[int, str]:
    """Run a command that starts (or stops) a daemon; its output goes to a file, since a
    daemon keeps a pipe open for as long as it runs."""
    log = folder / f"{Path(command[0]).name}.out"
    with log.open("ab") as out:
        code = subprocess.run(command, stdout=out, stderr=out, timeout=60).returncode
    return code, log.read_text(errors="replace").strip()[-500:]


def _postfix_running() -> bool:
    return subprocess.run([POSTFIX, "status"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    reason = _missing()
    if reason:
        _unavailable(reason)
    folder = Path(tempfile.mkdtemp(prefix="openitsm-mail-"))
    imap_port, lmtp_port = _free_port(), _free_port()
    config = _dovecot_config(folder, imap_port, lmtp_port)
    started = _run_daemon([DOVECOT, "-c", str(config)], folder)
    if started[0] != 0 or not _listening(imap_port) or not _listening(lmtp_port):
        _stop_dovecot(folder)
        _unavailable(f"dovecot did not start: {started[1]}")
    settings = [
        "inet_interfaces = loopback-only",
        "inet_protocols = ipv4",
        "myhostname = mail.example.test",
        "mydestination = localhost",
        "mynetworks = 127.0.0.0/8",
        "relayhost =",
        "default_transport = error:outbound mail disabled in tests",
        "relay_transport = error:outbound mail disabled in tests",
        "virtual_mailbox_domains = example.test",
        f"virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}",
        "disable_dns_lookups = yes",
        "smtp_dns_support_level = disabled",
        "maillog_file = /var/log/postfix-test.log",
    ]
    subprocess.run([POSTCONF, "-e", *settings], check=True, capture_output=True, timeout=30)
    ours = not _postfix_running()
    action = [POSTFIX, "start"] if ours else [POSTFIX, "reload"]
    result = _run_daemon(action, folder)
    if result[0] != 0 or not _listening(25):
        _stop_dovecot(folder)
        _unavailable(f"postfix did not start: {result[1]}")
    try:
        yield Mailbox("127.0.0.1", 25, imap_port, lmtp_port)
    finally:
        if ours:
            _run_daemon([POSTFIX, "stop"], folder)
        _stop_dovecot(folder)


def _stop_dovecot(folder: Path) -> None:
    pid_file = folder / "mail" / "run" / "master.pid"
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text().strip()), 15)
        for _ in range(50):
            if not pid_file.exists():
                break
            time.sleep(0.1)
    shutil.rmtree(folder, ignore_errors=True)
