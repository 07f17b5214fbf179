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
    `action`, when set, hides the entry from users whose roles do not grant it — the page
    itself checks again, a hidden link is a courtesy, not the protection.
    """

    key: str
    labels: Mapping[str, str]
    url: str
    section: str = "records"
    action: str | None = None
    order: int = 100
    icon: str = ""

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.key)


SECTIONS: dict[str, dict[str, str]] = {
    "workbench": {"zh-CN": "服务台", "en": "Service desk"},
    "records": {"zh-CN": "业务", "en": "Records"},
    "reports": {"zh-CN": "报表", "en": "Reports"},
    "admin": {"zh-CN": "系统管理", "en": "Administration"},
}


@dataclass
class MenuSection:
    key: str
    label: str
    items: list[MenuItem] = field(default_factory=list)


def visible_menu(items: Iterable[MenuItem], actor: Actor, locale: str) -> list[MenuSection]:
    """The sections and entries `actor` may use, in declaration order within each."""
    sections: dict[str, MenuSection] = {}
    for key, labels in SECTIONS.items():
        sections[key] = MenuSection(key, pick_label(labels, locale, key))
    for item in sorted(items, key=lambda i: (i.order, i.key)):
        if item.action is not None and not actor.can(item.action):
            continue
        section = sections.setdefault(item.section, MenuSection(item.section, item.section))
        section.items.append(item)
    return [section for section in sections.values() if section.items]
