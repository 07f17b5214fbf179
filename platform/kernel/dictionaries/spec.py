"""How plugins declare dictionaries and their default items (in code or in a TOML file)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openitsm.kernel.errors import ConfigurationError

LOCALES = ("zh-CN", "en")


@dataclass(frozen=True)
class ItemSpec:
    code: str
    labels: dict[str, str]
    children: tuple[ItemSpec, ...] = ()


@dataclass(frozen=True)
class DictionarySpec:
    code: str
    labels: dict[str, str]
    items: tuple[ItemSpec, ...] = ()
    description: str = ""
    owner: str = field(default="", compare=False)

    def walk(self) -> list[tuple[str | None, int, ItemSpec]]:
        """(parent code, position, item) for every item, parents before their children."""
        found: list[tuple[str | None, int, ItemSpec]] = []

        def visit(parent: str | None, items: tuple[ItemSpec, ...]) -> None:
            for position, item in enumerate(items):
                found.append((parent, position, item))
                visit(item.code, item.children)

        visit(None, self.items)
        return found


def _labels(raw: dict[str, Any], where: str) -> dict[str, str]:
    labels = {locale: raw[locale] for locale in LOCALES if locale in raw}
    missing = [locale for locale in LOCALES if not labels.get(locale)]
    if missing:
        raise ConfigurationError(f"{where}: missing label for {', '.join(missing)}")
    return labels


def _item(raw: dict[str, Any], where: str) -> ItemSpec:
    code = raw.get("code")
    if not code:
        raise ConfigurationError(f"{where}: an item has no code")
    children = tuple(_item(child, f"{where}.{code}") for child in raw.get("items", []))
    return ItemSpec(code, _labels(raw, f"{where}.{code}"), children)


def load_specs(path: Path) -> list[DictionarySpec]:
    """Read `[[dictionary]]` tables, each with nested `[[dictionary.items]]`."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    specs = []
    seen: set[str] = set()
    for raw in data.get("dictionary", []):
        code = raw.get("code")
        if not code or code in seen:
            raise ConfigurationError(f"{path}: dictionary code {code!r} missing or repeated")
        seen.add(code)
        items = tuple(_item(item, f"{path.name}:{code}") for item in raw.get("items", []))
        codes = [item.code for _, _, item in DictionarySpec(code, {}, items).walk()]
        if len(codes) != len(set(codes)):
            raise ConfigurationError(f"{path}: dictionary {code} repeats an item code")
        specs.append(
            DictionarySpec(
                code, _labels(raw, f"{path.name}:{code}"), items, raw.get("description", "")
            )
        )
    return specs
