"""Names by locale, as dictionaries, roles, actions and record kinds carry them."""

from __future__ import annotations

from collections.abc import Mapping

# The locale every label must have; others fall back to it.
FALLBACK_LOCALE = "en"


def pick_label(labels: Mapping[str, str], locale: str | None, default: str) -> str:
    """The label in `locale`, else the English one, else `default` (a code or a name)."""
    return (locale and labels.get(locale)) or labels.get(FALLBACK_LOCALE) or default
