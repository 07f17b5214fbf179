"""zh-CN and en through gettext catalogues (Babel), read from the `.po` files at start-up.

The catalogues are compiled in memory, so the repository holds only the `.po` sources and
a translator's change shows after a restart without a build step.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
CATALOGUES = Path(__file__).parent / "locales"


def catalogue_path(locale: str, root: Path = CATALOGUES) -> Path:
    return root / locale.replace("-", "_") / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=8)
def translations(locale: str) -> Translations:
    """The compiled catalogue of `locale` (an unknown locale gets the default's)."""
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    with catalogue_path(locale).open("rb") as source:
        catalogue = read_po(source, locale=locale.replace("-", "_"))
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled, domain="messages")


def pick_locale(
    wanted: str | None, accept_language: str = "", default: str = DEFAULT_LOCALE
) -> str:
    """The user's own locale if set, else the browser's first supported one, else the site's."""
    if wanted in LOCALES:
        return wanted  # type: ignore[return-value]
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return default if default in LOCALES else DEFAULT_LOCALE


# Functions whose first argument is a message, as `babel.cfg` extraction looks for them.
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}


def extract_messages(root: Path) -> dict[str, list[tuple[str, int]]]:
    """Every translatable string under `root` (per its `babel.cfg`) with where it is used."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (root / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, list[tuple[str, int]]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS
    ):
        key = message if isinstance(message, str) else message[0]
        found.setdefault(key, []).append((filename, lineno))
    return found
