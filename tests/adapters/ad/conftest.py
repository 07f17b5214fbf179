"""Real directory servers for the adapter's tests, started once per test run.

`slapd`: OpenLDAP on a free loopback port with a small test directory, listening for plain
LDAP (StartTLS offered) and LDAPS with a self-signed certificate made here.

`samba`: a Samba Active Directory domain controller provisioned into a temp dir and started on
127.0.0.1 (`samba -M single`, ~15 s), seeded with nested OUs, users (one disabled), a nested
group and an HTTP service principal with its keytab for Kerberos. Its KDC serves the test
realm through a krb5.conf of its own (KRB5_CONFIG, set for the run).

Without slapd or Samba installed their tests are skipped with one line, except under CI
(CI=true), where that is a failure.
"""

from __future__ import annotations

import contextlib
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


# --- Samba Active Directory domain controller ---------------------------------------------

SAMBA = shutil.which("samba") or "/usr/sbin/samba"
SAMBA_TOOL = shutil.which("samba-tool") or "/usr/bin/samba-tool"
REALM = "SAMDOM.EXAMPLE.TEST"
NETBIOS = "SAMDOM"
DOMAIN_DN = "DC=samdom,DC=example,DC=test"
AD_ADMIN_PASSWORD = "Passw0rd!Adm"
SERVICE_HOST = "itsm.samdom.example.test"
# Appended to [global]: loopback only, no DNS, NetBIOS or printing, all state in the folder.
HARDENING = """\
\tldap server require strong auth = no
\tserver services = -dns
\tdisable netbios = yes
\tdns update command = /bin/true
\tspn update command = /bin/true
\tload printers = no
\tprinting = bsd
\tprintcap name = /dev/null
\tdisable spoolss = yes
\tpid directory = {folder}/run
\twinbindd socket directory = {folder}/run/winbindd
\tntp signd socket directory = {folder}/run/ntp_signd
\tlog file = {folder}/log.%m
"""
# login, given name, surname, password, OU path under the domain (None: CN=Users)
AD_PEOPLE = [
    ("jdoe", "John", "Doe", "Us3rPass!1", "OU=Helpdesk,OU=IT"),
    ("asmith", "Anna", "Smith", "Us3rPass!2", "OU=IT"),
    ("bsales", "Ben", "Sales", "Us3rPass!3", "OU=Sales"),
    ("dlocked", "Dora", "Locked", "Us3rPass!4", "OU=Sales"),
    ("svc-itsm", "Service", "ITSM", "Svc!Pass123", None),
]
AD_DISABLED = ("dlocked",)
# group -> members; "Service Desk" is itself a member of "IT Staff" (a nested group).
AD_GROUPS = {
    "Service Desk": ["jdoe"],
    "IT Staff": ["asmith", "Service Desk"],
    "Sales Team": ["bsales"],
}


@dataclass(frozen=True)
class Samba:
    address: str
    folder: Path
    ca_file: Path
    krb5_conf: Path
    keytab: Path
    wrong_ca_file: Path
    realm: str = REALM
    netbios: str = NETBIOS
    base: str = DOMAIN_DN
    admin: str = f"Administrator@{REALM.lower()}"
    admin_password: str = AD_ADMIN_PASSWORD
    service_host: str = SERVICE_HOST
    # The name on the certificate Samba makes for itself at first start.
    dc_name: str = f"DC1.{REALM.lower()}"

    @property
    def url(self) -> str:
        return f"ldap://{self.address}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.address}"

    def password(self, login: str) -> str:
        return next(password for name, _, _, password, _ in AD_PEOPLE if name == login)

    def user_dn(self, login: str) -> str:
        given, surname, ou = next((g, s, o) for n, g, s, _, o in AD_PEOPLE if n == login)
        return f"CN={given} {surname},{ou or 'CN=Users'},{DOMAIN_DN}"

    def tool(self, *args: str) -> str:
        """Run samba-tool on this domain's database; its output."""
        done = subprocess.run(
            [SAMBA_TOOL, *args, "-s", str(self.folder / "etc" / "smb.conf")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"samba-tool {' '.join(args)}: {done.stderr}"
        return done.stdout


def _ports_free(address: str) -> bool:
    """Samba's LDAP and KDC ports are fixed; another DC on them would answer for ours."""
    for port in (88, 389, 636):
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex((address, port)) == 0:
                return False
    return True


def _provision(folder: Path, address: str) -> None:
    started = subprocess.run(
        [
            SAMBA_TOOL,
            "domain",
            "provision",
            f"--targetdir={folder}",
            f"--realm={REALM}",
            f"--domain={NETBIOS}",
            "--server-role=dc",
            "--dns-backend=SAMBA_INTERNAL",
            "--use-rfc2307",
            f"--adminpass={AD_ADMIN_PASSWORD}",
            "--host-name=dc1",
            f"--host-ip={address}",
            "--option=interfaces=lo",
            "--option=bind interfaces only=yes",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
    conf = folder / "etc" / "smb.conf"
    lines = [
        line
        for line in conf.read_text().splitlines()
        if "dns forwarder" not in line and not line.strip().startswith("log file")
    ]
    index = lines.index("[global]") + 1
    lines[index:index] = HARDENING.format(folder=folder).splitlines()
    conf.write_text("\n".join(lines) + "\n")
    for name in ("cache", "run"):
        (folder / name).mkdir(exist_ok=True)


def _krb5_conf(path: Path, address: str) -> None:
    path.write_text(
        f"""[libdefaults]
  default_realm = {REALM}
  dns_lookup_realm = false
  dns_lookup_kdc = false
  rdns = false
  dns_canonicalize_hostname = false
[realms]
{REALM} = {{
  kdc = {address}
}}
[domain_realm]
  .{REALM.lower()} = {REALM}
"""
    )


def _seed(dc: Samba) -> None:
    for ou in ("OU=IT", "OU=Helpdesk,OU=IT", "OU=Sales"):
        dc.tool("ou", "create", ou)
    for login, given, surname, password, ou in AD_PEOPLE:
        where = [f"--userou={ou}"] if ou else []
        dc.tool(
            "user",
            "create",
            login,
            password,
            f"--given-name={given}",
            f"--surname={surname}",
            f"--mail-address={login}@{REALM.lower()}",
            *where,
        )
        dc.tool("user", "setexpiry", login, "--noexpiry")
    for login in AD_DISABLED:
        dc.tool("user", "disable", login)
    for group in AD_GROUPS:
        dc.tool("group", "add", group)
    for group, members in AD_GROUPS.items():
        dc.tool("group", "addmembers", group, ",".join(members))
    dc.tool("spn", "add", f"HTTP/{SERVICE_HOST}", "svc-itsm")
    dc.tool("domain", "exportkeytab", str(dc.keytab), f"--principal=HTTP/{SERVICE_HOST}")


def _wait_for_ldap(address: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, 389), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the Samba DC did not listen on {address}:389 within {seconds} s")


@pytest.fixture(scope="session")
def samba() -> Iterator[Samba]:
    """A Samba AD DC provisioned into a temp dir and started on a loopback address."""
    if not Path(SAMBA).exists() or not Path(SAMBA_TOOL).exists():
        message = "Samba is not installed (apt-get install samba-ad-dc samba samba-ad-provision)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    address = "127.0.0.1"
    if not _ports_free(address):
        pytest.fail(f"ports 88, 389 or 636 on {address} are taken: is another Samba DC running?")
    folder = Path(tempfile.mkdtemp(prefix="openitsm-samba-"))
    pid_file = folder / "run" / "samba.pid"
    saved_env = {
        name: os.environ.get(name) for name in ("KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME")
    }
    try:
        _provision(folder, address)
        wrong_ca, _ = _certificate(folder, "other")
        dc = Samba(
            address=address,
            folder=folder,
            ca_file=folder / "private" / "tls" / "ca.pem",
            krb5_conf=folder / "krb5.conf",
            keytab=folder / "http.keytab",
            wrong_ca_file=wrong_ca,
        )
        _krb5_conf(dc.krb5_conf, address)
        started = subprocess.run(
            [SAMBA, "-s", str(folder / "etc" / "smb.conf"), "-D", "-M", "single"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert started.returncode == 0, started.stderr
        _wait_for_ldap(address, 60)
        _seed(dc)
        # Kerberos clients and acceptors in this process use the test realm's KDC.
        os.environ["KRB5_CONFIG"] = str(dc.krb5_conf)
        os.environ["KRB5CCNAME"] = "MEMORY:openitsm-tests"
        yield dc
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if pid_file.exists():
            pid = int(pid_file.read_text().strip())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        shutil.rmtree(folder, ignore_errors=True)
