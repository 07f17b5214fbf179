"""Navigation assembled from the menus plugins declare, filtered by the viewer's actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from openitsm.kernel.actors import Actor
from openitsm.kernel.labels import pick_label


@dataclass(frozen=True)
class MenuItem:
    """One entry of the navigation.

    `section` groups entries under a heading (`workbench`, `records`, `reports`, `admin`);
    entries in the `portal` section are what people may submit on the self-service portal
    (`/portal`) and never show in the agents' navigation. `action`, when set, hides the
    entry from users whose roles do not grant it — the page itself checks again, a hidden
    link is a courtesy, not the protection. `hint` is a line under the label where the
    layout has room for one (the portal's cards).
    """

    key: str
    labels: Mapping[str, str]
    url: str
    section: str = "records"
    action: str | None = None
    order: int = 100
    icon: str = ""
    hint: Mapping[str, str] = field(default_factory=dict)

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.key)

    def hint_text(self, locale: str) -> str:
        return pick_label(self.hint, locale, "") if self.hint else ""


PORTAL = "portal"  # the section of what may be submitted on the self-service portal
SECTIONS: dict[str, dict[str, str]] = {
    "workbench": {"zh-CN": "服务台", "en": "Service desk"},
    "records": {"zh-CN": "业务", "en": "Records"},
    "reports": {"zh-CN": "报表", "en": "Reports"},
    "admin": {"zh-CN": "系统管理", "en": "Administration"},
    PORTAL: {"zh-CN": "自助服务", "en": "Self-service"},
}


@dataclass
class MenuSection:
    key: str
    label: str
    items: list[MenuItem] = field(default_factory=list)


def visible_menu(items: Iterable[MenuItem], actor: Actor, locale: str) -> list[MenuSection]:
    """The sections and entries `actor` may use, in declaration order within each; the
    portal's entries are left out (the portal lists them, see `portal_items`)."""
    sections: dict[str, MenuSection] = {}
    for key, labels in SECTIONS.items():
        if key != PORTAL:
            sections[key] = MenuSection(key, pick_label(labels, locale, key))
    for item in sorted(items, key=lambda i: (i.order, i.key)):
        if item.section == PORTAL or (item.action is not None and not actor.can(item.action)):
            continue
        section = sections.setdefault(item.section, MenuSection(item.section, item.section))
        section.items.append(item)
    return [section for section in sections.values() if section.items]


def portal_items(items: Iterable[MenuItem], actor: Actor) -> list[MenuItem]:
    """The `portal` entries `actor` may use: what they may submit on the portal, in order."""
    return [
        item
        for item in sorted(items, key=lambda i: (i.order, i.key))
        if item.section == PORTAL and (item.action is None or actor.can(item.action))
    ]
