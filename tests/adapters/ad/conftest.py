"""A real OpenLDAP `slapd` on a free loopback port, with a small test directory.

It listens for plain LDAP (StartTLS offered) and LDAPS, with a self-signed certificate made
here. Without slapd installed the tests are skipped with one line, except under CI
(CI=true), where that is a failure.
"""

from __future__ import annotations

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

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BASE = "dc=example,dc=test"
ADMIN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "adminpw"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")

PEOPLE = [
    # uid, name, mail, phone, employee number, password, OU
    ("alice", "Alice Liddell", "alice@example.test", "+86 10 1234", "E1001", "alice-pw", "people"),
    ("bob", "Bob Builder", "bob@example.test", None, None, "bob-pw", "people"),
    (
        "carol",
        "Carol Disabled",
        "carol@example.test",
        None,
        "E1003",
        "carol-pw",
        "disabled,ou=people",
    ),
]
GROUPS = {"helpdesk": ["alice"], "change-board": ["alice", "bob"], "unmapped": ["bob"]}


@dataclass(frozen=True)
class Slapd:
    url: str
    ldaps_url: str
    ca_file: Path
    wrong_ca_file: Path
    base: str = BASE
    admin: str = ADMIN
    admin_password: str = ADMIN_PASSWORD

    def people_dn(self, uid: str, ou: str = "people") -> str:
        return f"uid={uid},ou={ou},{BASE}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def _ldif() -> str:
    blocks = [
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example Test",
        f"dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: ou=disabled,ou=people,{BASE}\nobjectClass: organizationalUnit\nou: disabled",
        f"dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups",
    ]
    for uid, name, mail, phone, number, password, ou in PEOPLE:
        lines = [
            f"dn: uid={uid},ou={ou},{BASE}",
            "objectClass: inetOrgPerson",
            f"uid: {uid}",
            f"cn: {name}",
            f"sn: {name.split()[-1]}",
            f"mail: {mail}",
            f"userPassword: {password}",
        ]
        lines += [f"telephoneNumber: {phone}"] if phone else []
        lines += [f"employeeNumber: {number}"] if number else []
        blocks.append("\n".join(lines))
    ous = {uid: ou for uid, *_, ou in PEOPLE}
    for group, members in GROUPS.items():
        lines = [f"dn: cn={group},ou=groups,{BASE}", "objectClass: groupOfNames", f"cn: {group}"]
        lines += [f"member: uid={uid},ou={ous[uid]},{BASE}" for uid in members]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _config(folder: Path, cert: Path, key: Path) -> str:
    includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
    return f"""{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
database mdb
suffix "{BASE}"
rootdn "{ADMIN}"
rootpw {ADMIN_PASSWORD}
directory {folder}/db
maxsize 104857600
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
"""


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    if not Path(SLAPD).exists():
        message = "slapd is not installed (apt-get install slapd ldap-utils)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="openitsm-slapd-"))
    (folder / "db").mkdir()
    cert, key = _certificate(folder, "server")
    wrong_ca, _ = _certificate(folder, "other")
    (folder / "slapd.conf").write_text(_config(folder, cert, key))
    (folder / "seed.ldif").write_text(_ldif())
    subprocess.run(
        [SLAPADD, "-f", str(folder / "slapd.conf"), "-l", str(folder / "seed.ldif")],
        check=True,
        capture_output=True,
        timeout=30,
    )
    port, tls_port = _free_port(), _free_port()
    urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
    started = subprocess.run(
        [SLAPD, "-f", str(folder / "slapd.conf"), "-h", urls],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert started.returncode == 0, started.stderr
    pid_file = folder / "slapd.pid"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield Slapd(f"ldap://127.0.0.1:{port}", f"ldaps://127.0.0.1:{tls_port}", cert, wrong_ca)
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text().strip()), 15)
            for _ in range(100):
                if not pid_file.exists():
                    break
                time.sleep(0.05)
        shutil.rmtree(folder, ignore_errors=True)
