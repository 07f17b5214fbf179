"""Cost of access rules: a list of 50 tickets x 20 fields, restricted actor against superuser.

Targets: the list read by a user whose role has field rules (hidden and read-only fields,
the hidden ones not selected) and a `department_subtree` data scope takes at most 1.2x the
superuser's time per request; and its number of SQL statements per request is the same for
50 rows as for 10, and for 1 field rule as for 10.

Measured as CPU time per request (median of interleaved rounds), in-process on a throw-away
SQLite site with the sample ticket resource
(`openitsm.kernel.testing.tickets`). Each request resolves its actor from a session token,
as the web endpoint does, then runs the GraphQL operation through the same code path as
`/graphql` (`openitsm.kernel.graphql.view.execute`), minus HTTP.

    openitsm bench permissions [--rounds 40] [--requests 15] [--tickets 800] [--profile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import _common as c

TARGET_RATIO = 1.2
FIELDS = (
    "title description status priority urgency impact category channel location contactPhone "
    "resolution cost internalNote openedAt dueAt reporterId assigneeId departmentId "
    "serviceUnitId version"
)
QUERY = (
    "query($n: Int!) { tickets(first: $n, orderBy: TITLE) { totalCount { value } "
    f"edges {{ node {{ id {FIELDS} }} }} }} }}"
)
# Ten rules: the hidden fields are not selected (a query naming one would be refused).
RULES = (
    ("ticket", "related_id", "hidden"),
    ("user", "phone", "hidden"),
    ("user", "email", "hidden"),
    ("department", "code", "hidden"),
    ("ticket", "cost", "read_only"),
    ("ticket", "priority", "read_only"),
    ("ticket", "status", "read_only"),
    ("ticket", "internal_note", "read_only"),
    ("ticket", "resolution", "read_only"),
    ("ticket", "due_at", "read_only"),
)


@dataclass
class Variant:
    name: str
    token: str
    rows: int


@dataclass
class Measured:
    microseconds: float  # median CPU time per request (what the target is judged on)
    wall_microseconds: float  # median wall time per request
    statements: int  # SQL statements of one request


def build_site(root: Path, tickets: int) -> tuple[Any, dict[str, str]]:
    """A migrated kernel with departments hq > it > desk and other, tickets spread over them,
    a superuser and two restricted users (1 and 10 field rules); returns session tokens."""
    from openitsm.kernel.access import action_registry
    from openitsm.kernel.access.fields import set_field_rule
    from openitsm.kernel.access.scope import set_role_scope
    from openitsm.kernel.identity import service as identity
    from openitsm.kernel.organisation import service
    from openitsm.kernel.testing import build_kernel
    from openitsm.kernel.testing.tickets import Ticket, TicketPlugin, create_tables

    kernel = build_kernel(
        root, f"sqlite:///{root / 'openitsm.db'}", plugins={"tickets": TicketPlugin()}
    )
    create_tables(kernel.engine)
    tokens: dict[str, str] = {}
    with kernel.session() as session:
        departments: dict[str, int] = {}
        for code, parent in (("hq", None), ("it", "hq"), ("desk", "it"), ("other", None)):
            departments[code] = service.create_department(
                session, code=code, name=code, parent_id=departments.get(parent or "")
            ).id
        unit = service.create_service_unit(session, code="unit", name="Unit").id
        spread = ("hq", "it", "desk", "other")
        session.add_all(
            Ticket(
                title=f"ticket {n:05}",
                description=f"description of ticket {n}",
                status=("new", "open", "resolved")[n % 3],
                priority=f"p{n % 4 + 1}",
                urgency="high",
                impact="minor",
                category="hardware",
                channel="phone",
                location=f"room {n % 50}",
                contact_phone=f"555 {n:04}",
                resolution=None if n % 3 else "fixed",
                cost=n % 500,
                internal_note=f"note {n}",
                reporter_id=None,
                assignee_id=None,
                department_id=departments[spread[n % len(spread)]],
                service_unit_id=unit,
            )
            for n in range(tickets)
        )
        boss = identity.create_user(session, "boss", "Boss", superuser=True)
        tokens["superuser"] = identity.open_session(session, boss)
        registry = action_registry(kernel)
        for label, rules in (("1 rule", RULES[:1]), ("10 rules", RULES)):
            role = service.create_role(
                session, registry, code=f"agents-{len(rules)}", labels={"en": label}
            )
            set_role_scope(session, role.id, "ticket", "department_subtree")
            for resource, field, access in rules:
                set_field_rule(session, kernel.record_kinds, role.id, resource, field, access)
            user = identity.create_user(session, f"agent{len(rules)}", f"Agent {len(rules)}")
            service.update_user(
                session, user.id, user.version, {"department_id": departments["it"]}
            )
            service.grant_role(session, user.id, role.id)
            tokens[label] = identity.open_session(session, user)
    return kernel, tokens


def one_request(kernel: Any, token: str, rows: int) -> dict[str, Any]:
    """What the web endpoint does for a request, minus HTTP: actor from token, operation."""
    from openitsm.kernel.graphql.view import execute
    from openitsm.kernel.identity.service import actor_for_token

    found = actor_for_token(kernel.engine, token)
    assert found is not None, "the session token was not accepted"
    return execute(kernel, QUERY, {"n": rows}, actor=found[0])


def check(kernel: Any, variant: Variant) -> dict[str, Any]:
    answer = one_request(kernel, variant.token, variant.rows)
    assert "errors" not in answer, answer
    edges = answer["data"]["tickets"]["edges"]
    assert len(edges) == variant.rows, (variant.name, len(edges))
    assert len(edges[0]["node"]) == 21, edges[0]["node"]  # id and twenty fields
    return answer["data"]["tickets"]


def count(kernel: Any, variant: Variant) -> int:
    from openitsm.kernel.testing import count_statements

    with count_statements(kernel.engine) as log:
        one_request(kernel, variant.token, variant.rows)
    return len(log.statements)


def measure(
    kernel: Any, variants: list[Variant], rounds: int, requests: int
) -> dict[str, Measured]:
    """Interleaved rounds, so a slow moment of the machine hits every variant alike.

    CPU time of this process (SQLite runs inside it) is the measure: unlike wall time it
    hardly moves when other processes compete for the CPUs.
    """
    cpu: dict[str, list[float]] = {v.name: [] for v in variants}
    wall: dict[str, list[float]] = {v.name: [] for v in variants}
    for _ in range(rounds):
        for variant in variants:
            began, began_cpu = time.perf_counter(), time.process_time()
            for _ in range(requests):
                one_request(kernel, variant.token, variant.rows)
            cpu[variant.name].append((time.process_time() - began_cpu) / requests * 1e6)
            wall[variant.name].append((time.perf_counter() - began) / requests * 1e6)
    return {
        v.name: Measured(
            statistics.median(cpu[v.name]), statistics.median(wall[v.name]), count(kernel, v)
        )
        for v in variants
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="Interleaved measuring rounds.")
    parser.add_argument("--requests", type=int, default=15, help="Requests per variant a round.")
    parser.add_argument("--tickets", type=int, default=800, help="Tickets in the database.")
    parser.add_argument("--profile", action="store_true", help="cProfile the restricted list.")
    args = parser.parse_args(argv)

    print(f"machine: {c.machine()}")
    if note := c.busy_note():
        print(note)
    print(
        f"load: in-process, {args.rounds} rounds x {args.requests} requests per variant, "
        f"{args.tickets} tickets, SQLite; each request: session lookup + GraphQL operation"
    )
    with c.temporary_site() as site:
        kernel, tokens = build_site(site.root, args.tickets)
        try:
            variants = [
                Variant("superuser, 50 rows", tokens["superuser"], 50),
                Variant("10 rules + subtree, 50 rows", tokens["10 rules"], 50),
                Variant("10 rules + subtree, 10 rows", tokens["10 rules"], 10),
                Variant("1 rule + subtree, 50 rows", tokens["1 rule"], 50),
            ]
            seen = {v.name: check(kernel, v) for v in variants}
            everyone = seen["superuser, 50 rows"]["totalCount"]["value"]
            scoped = seen["10 rules + subtree, 50 rows"]["totalCount"]["value"]
            assert 50 <= scoped < everyone, (scoped, everyone)  # the scope narrows the list
            for variant in variants:  # warm caches and the grants of every user
                for _ in range(args.requests):
                    one_request(kernel, variant.token, variant.rows)
            results = measure(kernel, variants, args.rounds, args.requests)
            if args.profile:
                profile(kernel, variants[1], args.requests * args.rounds)
        finally:
            kernel.close()
    print(f"rows visible: superuser {everyone}, restricted (department_subtree) {scoped}")
    for name, result in results.items():
        print(
            f"  {name:<30} {result.microseconds:7.0f} us CPU/request   "
            f"{result.wall_microseconds:7.0f} us wall/request   {result.statements} SQL statements"
        )
    superuser = results["superuser, 50 rows"]
    restricted = results["10 rules + subtree, 50 rows"]
    ratio = restricted.microseconds / superuser.microseconds
    rows_same = restricted.statements == results["10 rules + subtree, 10 rows"].statements
    rules_same = restricted.statements == results["1 rule + subtree, 50 rows"].statements
    ten_rows = results["10 rules + subtree, 10 rows"].statements
    one_rule = results["1 rule + subtree, 50 rows"].statements
    wall_ratio = restricted.wall_microseconds / superuser.wall_microseconds
    print(
        f"restricted / superuser CPU time: {ratio:.3f}x (target <= {TARGET_RATIO}x) "
        f"{c.verdict(ratio <= TARGET_RATIO)}; by wall time {wall_ratio:.3f}x"
    )
    print(
        f"statements, 50 vs 10 rows: {restricted.statements} vs {ten_rows} {c.verdict(rows_same)}"
    )
    print(
        f"statements, 10 vs 1 rules: {restricted.statements} vs {one_rule} {c.verdict(rules_same)}"
    )
    return 0 if ratio <= TARGET_RATIO and rows_same and rules_same else 1


def profile(kernel: Any, variant: Variant, calls: int) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        one_request(kernel, variant.token, variant.rows)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    sys.exit(main())
