"""Excel export of 100 000 tickets x 20 columns under a restricted actor: speed and memory.

Target: the export's peak RSS growth stays under 60 MB whatever the number of rows, shown by
exporting 20 000 and then 100 000 rows and finding about the same growth. Reported besides:
rows/s, total seconds and the size of the file.

The site is a throw-away SQLite database with the sample ticket resource
(`openitsm.kernel.testing.tickets`). The exporting user belongs to department `it` under
`hq`; its role grants `department_subtree` on tickets, hides `internal_note` and makes
`cost` read-only. A quarter as many tickets again belong to another department, so the scope
has rows to leave out. Each export runs in a fresh process (`--child`), so the memory of one
export or of building the database cannot hide in the next one's baseline: the process
warms up with a 100-row export, then its peak RSS is reset (/proc/self/clear_refs) and read
again after the export (VmHWM). The file is then checked: one row per visible ticket, no
value of the hidden field.

    openitsm bench export [--rows 100000] [--small 20000] [--chunk 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from bench import _common as c

TARGET_GROWTH_MB = 60.0
HIDDEN_VALUE = "confidential note"
FIELDS = [
    "title",
    "description",
    "status",
    "priority",
    "urgency",
    "impact",
    "category",
    "channel",
    "location",
    "contact_phone",
    "resolution",
    "cost",
    "internal_note",
    "opened_at",
    "due_at",
    "reporter_id",
    "assignee_id",
    "department_id",
    "service_unit_id",
    "related_id",
]
KINDS = {
    "cost": "money",
    "opened_at": "datetime",
    "due_at": "date",
    "reporter_id": "number",
    "assignee_id": "number",
    "department_id": "number",
    "service_unit_id": "number",
    "related_id": "number",
}


def columns() -> list[Any]:
    """`id` and the ticket's twenty fields; `internal_note` is hidden from the exporter."""
    from openitsm.kernel.exports import ExportColumn

    named = [ExportColumn("id", {"en": "No.", "zh-CN": "编号"}, kind="number")]
    named += [
        ExportColumn(
            name, {"en": name.replace("_", " ").capitalize()}, kind=KINDS.get(name, "text")
        )
        for name in FIELDS
    ]
    return named


def open_kernel(root: Path, migrate: bool) -> Any:
    from openitsm.kernel.testing import build_kernel
    from openitsm.kernel.testing.tickets import TicketPlugin

    return build_kernel(
        root,
        f"sqlite:///{root / 'openitsm.db'}",
        plugins={"tickets": TicketPlugin()},
        migrate=migrate,
    )


def build_site(root: Path) -> tuple[int, dict[str, int]]:
    """Departments, the restricted user and its role; returns its id and the departments."""
    from openitsm.kernel.access import action_registry
    from openitsm.kernel.access.fields import set_field_rule
    from openitsm.kernel.access.scope import set_role_scope
    from openitsm.kernel.identity import service as identity
    from openitsm.kernel.organisation import service
    from openitsm.kernel.testing.tickets import create_tables

    kernel = open_kernel(root, migrate=True)
    try:
        create_tables(kernel.engine)
        with kernel.session() as session:
            departments: dict[str, int] = {}
            for code, parent in (("hq", None), ("it", "hq"), ("other", None)):
                departments[code] = service.create_department(
                    session, code=code, name=code, parent_id=departments.get(parent or "")
                ).id
            role = service.create_role(
                session, action_registry(kernel), code="exporters", labels={"en": "Exporters"}
            )
            set_role_scope(session, role.id, "ticket", "department_subtree")
            for field, access in (("internal_note", "hidden"), ("cost", "read_only")):
                set_field_rule(session, kernel.record_kinds, role.id, "ticket", field, access)
            user = identity.create_user(session, "exporter", "Exporter")
            service.update_user(
                session, user.id, user.version, {"department_id": departments["it"]}
            )
            service.grant_role(session, user.id, role.id)
            return user.id, departments
    finally:
        kernel.close()


def add_tickets(root: Path, start: int, count: int, department_id: int) -> None:
    """Bulk inserts of realistic rows: every field filled, some long text, some empty."""
    import datetime as dt

    from sqlalchemy import insert

    from openitsm.kernel.testing.tickets import Ticket

    kernel = open_kernel(root, migrate=False)
    base = dt.datetime(2026, 1, 1)
    try:
        for offset in range(start, start + count, 10_000):
            batch = range(offset, min(offset + 10_000, start + count))
            with kernel.session() as session:
                session.execute(
                    insert(Ticket),
                    [
                        {
                            "title": f"Printer on floor {n % 12} does not print ({n})",
                            "description": f"Reported by phone; the queue shows job {n} stuck. "
                            * (1 + n % 4),
                            "status": ("new", "open", "resolved")[n % 3],
                            "priority": f"p{n % 4 + 1}",
                            "urgency": "high",
                            "impact": "minor",
                            "category": "hardware",
                            "channel": "phone",
                            "location": f"Building {n % 7}, room {n % 300}",
                            "contact_phone": f"+86 10 5555 {n % 10_000:04}",
                            "resolution": None if n % 3 else "Cleared the queue",
                            "cost": n % 500,
                            "internal_note": f"{HIDDEN_VALUE} {n}",
                            "opened_at": base + dt.timedelta(minutes=n),
                            "due_at": base + dt.timedelta(days=n % 30),
                            "reporter_id": n % 1000,
                            "assignee_id": n % 50,
                            "department_id": department_id,
                            "service_unit_id": None,
                            "related_id": n - 1 if n % 5 == 0 and n else None,
                            "version": 1,
                        }
                        for n in batch
                    ],
                )
    finally:
        kernel.close()


# --- the measured export, in its own process --------------------------------------------


def _status_kb(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {name} in /proc/self/status")


def child(root: Path, user_id: int, output: Path, chunk: int) -> dict[str, float]:
    from sqlalchemy import select

    from openitsm.kernel.access.grants import actor_for_user
    from openitsm.kernel.exports import export_xlsx
    from openitsm.kernel.testing.tickets import TICKET, Ticket

    kernel = open_kernel(root, migrate=False)
    try:
        with kernel.session() as session:
            actor = actor_for_user(session, user_id)
        wanted = columns()
        with kernel.session(actor) as session:  # warm-up: imports, compiled statements
            warm = select(Ticket).where(Ticket.id <= 100)
            for _ in export_xlsx(session, warm, TICKET, wanted, actor, chunk_rows=chunk):
                pass
        baseline_kb = _status_kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS starts again from here
        began, began_cpu = time.perf_counter(), time.process_time()
        size = 0
        with kernel.session(actor) as session, output.open("wb") as file:
            stream = export_xlsx(
                session,
                select(Ticket),
                TICKET,
                wanted,
                actor,
                locale="zh-CN",
                time_zone="Asia/Shanghai",
                chunk_rows=chunk,
            )
            for block in stream:
                file.write(block)
                size += len(block)
        seconds = time.perf_counter() - began
        cpu = time.process_time() - began_cpu
        peak_kb = _status_kb("VmHWM")
    finally:
        kernel.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "baseline_mb": baseline_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "growth_mb": (peak_kb - baseline_kb) / 1024,
        "bytes": size,
    }


def measure(root: Path, user_id: int, chunk: int) -> dict[str, float]:
    output = root / "export.xlsx"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.export",
            "--child",
            str(root),
            "--user-id",
            str(user_id),
            "--chunk",
            str(chunk),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=c.BENCH_DIR.parent,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the export process failed:\n{completed.stderr}")
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["rows"] = verify(output)
    output.unlink()
    return result


def verify(path: Path) -> int:
    """Rows of the file's sheet, after checking the hidden field left no trace in it."""
    rows = 0
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            tail = b""  # the end of the previous block: a match may straddle two blocks
            with archive.open(name) as part:
                while block := part.read(1 << 20):
                    text = tail + block
                    if HIDDEN_VALUE.encode() in text or b"Internal note" in text:
                        raise AssertionError(f"the hidden field shows in {name}")
                    if name == "xl/worksheets/sheet1.xml":
                        rows += text.count(b"<row ") - tail.count(b"<row ")
                    tail = block[-64:]
    return rows - 1  # the header


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="Tickets the user exports.")
    parser.add_argument("--small", type=int, default=20_000, help="Rows of the first export.")
    parser.add_argument("--chunk", type=int, default=1_000, help="Rows read per query.")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--user-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        outcome = child(args.child, args.user_id, args.child / "export.xlsx", args.chunk)
        print(json.dumps(outcome))
        return 0

    print(f"machine: {c.machine()}")
    if note := c.busy_note():
        print(note)
    print(
        f"load: SQLite, {len(columns())} columns asked (internal_note hidden, so "
        f"{len(columns()) - 1} written), department_subtree scope, chunks of {args.chunk} "
        f"rows, each export in a fresh process"
    )
    results: dict[int, dict[str, float]] = {}
    with c.temporary_site() as site:
        user_id, departments = build_site(site.root)
        began = time.perf_counter()
        add_tickets(site.root, 0, args.rows // 4, departments["other"])  # outside the scope
        add_tickets(site.root, args.rows, args.small, departments["it"])
        results[args.small] = measure(site.root, user_id, args.chunk)
        add_tickets(site.root, args.rows + args.small, args.rows - args.small, departments["it"])
        filled = time.perf_counter() - began
        results[args.rows] = measure(site.root, user_id, args.chunk)
    print(f"database: {args.rows + args.rows // 4} tickets inserted in {filled:.1f} s")
    ok = True
    for wanted, result in results.items():
        rows_ok = result["rows"] == wanted
        growth_ok = result["growth_mb"] < TARGET_GROWTH_MB
        ok = ok and rows_ok and growth_ok
        print(
            f"  {wanted:>7} rows: {result['seconds']:6.2f} s ({result['cpu_seconds']:.2f} s CPU), "
            f"{wanted / result['seconds']:6.0f} rows/s ({wanted / result['cpu_seconds']:.0f} "
            f"per CPU second), file {result['bytes'] / 1e6:4.1f} MB, "
            f"RSS {result['baseline_mb']:.0f} MB -> peak {result['peak_mb']:.0f} MB, growth "
            f"{result['growth_mb']:.1f} MB (target < {TARGET_GROWTH_MB:.0f}) "
            f"{c.verdict(rows_ok and growth_ok)}"
        )
        if not rows_ok:
            print(f"    the file holds {result['rows']} rows, expected {wanted}")
    small, large = results[args.small]["growth_mb"], results[args.rows]["growth_mb"]
    print(
        f"growth {args.rows} vs {args.small} rows: {large:.1f} vs {small:.1f} MB "
        f"({large - small:+.1f} MB for {args.rows // args.small}x the rows)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
