"""Actions: the named things a role may allow (`org.manage`, `incident.create`, …).

Plugins declare theirs through the `register_actions` hook; a role may grant only declared
actions, so a typo in a grant is an error instead of a permission that never applies.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openitsm.kernel.actors import Actor
from openitsm.kernel.errors import BadUserInput, ConfigurationError, Forbidden, Unauthenticated
from openitsm.kernel.labels import pick_label

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class ActionSpec:
    """One action: `name` is `<module>.<verb>`, labels are by locale (zh-CN and en).

    `roles` names the predefined roles (`service_desk_agent`, …) that get the action once,
    when a version declaring it is installed; see `organisation.service.grant_declared_defaults`.
    """

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    roles: tuple[str, ...] = ()

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.name)


KERNEL_ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "org.read",
        {"zh-CN": "查看组织架构", "en": "View the organisation"},
        "See departments, users, roles and service units.",
    ),
    ActionSpec(
        "org.manage",
        {"zh-CN": "管理组织架构", "en": "Manage the organisation"},
        "Create and change departments, users and service units.",
    ),
    ActionSpec(
        "role.manage",
        {"zh-CN": "管理角色", "en": "Manage roles"},
        "Create roles, choose their actions, and grant or revoke them.",
    ),
    ActionSpec(
        "dictionary.manage",
        {"zh-CN": "管理参数配置", "en": "Manage dictionaries"},
        "Add, rename, reorder and deactivate dictionary items.",
    ),
    ActionSpec(
        "audit.read",
        {"zh-CN": "查看全站审计记录", "en": "Read the site-wide audit timeline"},
        "See every recorded change across the site.",
    ),
    ActionSpec(
        "site.read",
        {"zh-CN": "查看模块与设置", "en": "See modules and settings"},
        "See which modules are enabled and how the site is configured (never its secrets).",
    ),
    ActionSpec(
        "site.manage",
        {"zh-CN": "管理模块与设置", "en": "Manage modules and settings"},
        "Enable modules and change the settings not fixed by openitsm.toml or the environment.",
    ),
    ActionSpec(
        "list.export",
        {"zh-CN": "导出列表", "en": "Export lists"},
        "Download lists as Excel files, with only the rows and fields the user may see.",
    ),
    ActionSpec(
        "process.read",
        {"zh-CN": "查看流程定义", "en": "See process definitions"},
        "See every process, its versions and its diagram.",
    ),
    ActionSpec(
        "process.manage",
        {"zh-CN": "管理流程定义", "en": "Manage process definitions"},
        "Import, redraw and publish processes.",
    ),
    ActionSpec(
        "process.dispatch",
        {"zh-CN": "调度流程事项", "en": "Dispatch work items"},
        "Give any open step of any process to another person, department or role (调度).",
    ),
    ActionSpec(
        "process.supervise",
        {"zh-CN": "督办流程", "en": "Supervise processes"},
        "See every running process and urge any open step; its assignee is told (督办).",
    ),
    ActionSpec(
        "process.jump",
        {"zh-CN": "流程跳转", "en": "Jump within processes"},
        "Move a process from a step that allows it to any other step (跳转).",
    ),
    ActionSpec(
        "calendar.manage",
        {"zh-CN": "管理工作日历", "en": "Manage business calendars"},
        "Create and change business calendars: working hours, holidays and make-up workdays.",
    ),
    ActionSpec(
        "sla.manage",
        {"zh-CN": "管理服务级别", "en": "Manage SLAs"},
        "Create and change SLA levels, the level matrix and service units' calendars.",
    ),
    ActionSpec(
        "fields.manage",
        {"zh-CN": "管理自定义字段", "en": "Manage custom fields"},
        "Add, change and retire the custom fields of users, departments and other records.",
    ),
    ActionSpec(
        "attachment.delete_any",
        {"zh-CN": "删除任意附件", "en": "Delete any attachment"},
        "Remove attachments uploaded by others.",
    ),
    ActionSpec(
        "duty.manage",
        {"zh-CN": "管理值班表", "en": "Manage duty rotas"},
        "Create duty rotas and put people on duty, shift by shift (值班).",
    ),
    ActionSpec(
        "comment.internal",
        {"zh-CN": "查看和发表内部备注", "en": "Read and write internal comments"},
        "See comments marked internal on the records one may see, and mark one's own so.",
    ),
)


class ActionRegistry:
    """Every declared action by name, in declaration order (kernel first)."""

    def __init__(self, declared: Iterable[tuple[str, Iterable[ActionSpec]]]) -> None:
        self.specs: dict[str, ActionSpec] = {}
        self.owners: dict[str, str] = {}
        for owner, specs in declared:
            for spec in specs:
                if not isinstance(spec, ActionSpec) or not NAME.match(spec.name):
                    raise ConfigurationError(
                        f"plugin '{owner}' declares the action {getattr(spec, 'name', spec)!r}; "
                        "actions are ActionSpec objects named '<module>.<verb>' in lower case"
                    )
                if spec.name in self.specs:
                    raise ConfigurationError(
                        f"the action '{spec.name}' is declared by both '{self.owners[spec.name]}' "
                        f"and '{owner}'; one of them must rename it"
                    )
                self.specs[spec.name] = spec
                self.owners[spec.name] = owner

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __iter__(self) -> Iterator[ActionSpec]:
        return iter(self.specs.values())

    def __len__(self) -> int:
        return len(self.specs)

    def check(self, names: Iterable[str], field: str = "actions") -> list[str]:
        """The names, de-duplicated in order, or BadUserInput naming the first unknown one."""
        wanted = list(dict.fromkeys(name.strip() for name in names))
        unknown = [name for name in wanted if name not in self.specs]
        if unknown:
            raise BadUserInput(
                f"Unknown action {unknown[0]!r}; see the `actions` query for the declared ones.",
                field=field,
            )
        return wanted


_REGISTRIES: weakref.WeakKeyDictionary[Kernel, ActionRegistry] = weakref.WeakKeyDictionary()


def action_registry(kernel: Kernel) -> ActionRegistry:
    """The kernel's actions, collected once from every enabled plugin's `register_actions`."""
    found = _REGISTRIES.get(kernel)
    if found is None:
        found = _REGISTRIES[kernel] = ActionRegistry(kernel.contributions("register_actions"))
    return found


def require(actor: Actor, action: str) -> Actor:
    """Return `actor` when one of its roles grants `action`; otherwise raise Forbidden."""
    if not actor.authenticated:
        raise Unauthenticated()
    if not actor.can(action):
        raise Forbidden(
            f"You may not do this: it needs the action '{action}', "
            "which none of your roles grants. Ask an administrator for a role that does.",
            action=action,
        )
    return actor
