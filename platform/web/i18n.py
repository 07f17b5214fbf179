"""zh-CN and en through gettext catalogues (Babel), read from the `.po` files at start-up.

The catalogues are compiled in memory, so the repository holds only the `.po` sources and
a translator's change shows after a restart without a build step.
"""

from __future__ import annotations

import datetime as dt
import io
from datetime import tzinfo
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers
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


# Functions whose first argument is a message, as `babel.cfg` extraction looks for them;
# `_t` marks the kernel's error templates (`openitsm.kernel.errors`).
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_t": None}


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


# --- dates and numbers as the viewer's locale writes them --------------------------------


def babel_locale(locale: str) -> str:
    """Babel's name of one of our locales ("zh-CN" -> "zh_CN")."""
    return (locale if locale in LOCALES else DEFAULT_LOCALE).replace("-", "_")


@cache
def _date_formats(locale: str) -> tuple[Any, Any, Any, str]:
    """Babel's parsed locale and its medium date, short time and joining patterns: parsing
    them costs more than formatting, and a page formats hundreds of times."""
    where = Locale.parse(babel_locale(locale))
    return (
        where,
        dates.parse_pattern(where.date_formats["medium"].pattern),
        dates.parse_pattern(where.time_formats["short"].pattern),
        str(where.datetime_formats["medium"]),
    )


def format_when(
    value: dt.datetime | dt.date | None, zone: tzinfo, locale: str, style: str = "datetime"
) -> str:
    """A stored (UTC) time in `zone`, written as `locale` writes dates: "2026年3月5日 09:07",
    "Mar 5, 2026, 9:07 AM"; `style="date"` leaves the time out. A date is shown as it is."""
    if value is None:
        return ""
    where, day_pattern, time_pattern, joined = _date_formats(locale)
    if not isinstance(value, dt.datetime):
        return day_pattern.apply(value, where)  # type: ignore[no-any-return]
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(zone)
    day = day_pattern.apply(local, where)
    if style == "date":
        return day  # type: ignore[no-any-return]
    # The locale's way of joining the two: "{1} {0}" in zh-CN, "{1}, {0}" in en.
    return joined.format(time_pattern.apply(local, where), day)


def format_number(value: Any, locale: str, places: int | None = None) -> str:
    """A number with the locale's grouping and decimal sign; `places` fixes the decimals
    (money has 2). Anything that is no number is shown as it is."""
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    try:
        number = value if isinstance(value, int | float | Decimal) else Decimal(str(value))
    except (ArithmeticError, ValueError):
        return str(value)
    pattern = None if places is None else "#,##0" + ("." + "0" * places if places else "")
    return numbers.format_decimal(number, format=pattern, locale=babel_locale(locale))
