"""Dictionaries: tree-shaped, editable enumerations (categories, impact, urgency, ...)."""

from openitsm.kernel.dictionaries.spec import DictionarySpec, ItemSpec, load_specs

__all__ = ["DictionarySpec", "ItemSpec", "load_specs"]
