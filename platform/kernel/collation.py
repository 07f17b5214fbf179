"""Order names as people in China read a list: Chinese by pinyin, Latin letters ignoring case.

Python's own order puts every Chinese name after every Latin one, and Chinese among
themselves by code point, which looks random. `sort_key` spells each Chinese character
in pinyin with its tone number (common words read as words: 重庆 is chong2qing4), so 阿 (a1)
sorts with "Adam" and before 白 (bai2), and 张 (zhang1) before "Zoe". The key is a plain
string, so it can also be stored in a column and ordered by with the "C" collation.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from typing import Any, TypeVar

from sqlalchemy import String, event
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

T = TypeVar("T")
# Long enough to order any real name; longer keys only lose the order of their ties.
SORT_KEY_LENGTH = 400
# Between the reading and the text itself, which breaks ties ("Adam" before "adam"); below
# every character a name holds, so a shorter reading sorts first.
TIE = "\x1f"


# Words of organisations and places whose characters read otherwise on their own. pypinyin's
# whole phrase dictionary costs every process 55 MB and 0.3 s; each character's usual reading
# (as collations do) plus these keeps the order people expect.
PHRASES = {
    "重庆": [["chóng"], ["qìng"]],
    "银行": [["yín"], ["háng"]],
    "长沙": [["cháng"], ["shā"]],
    "长春": [["cháng"], ["chūn"]],
    "长江": [["cháng"], ["jiāng"]],
    "厦门": [["xià"], ["mén"]],
    "行业": [["háng"], ["yè"]],
    "总行": [["zǒng"], ["háng"]],
    "分行": [["fēn"], ["háng"]],
    "支行": [["zhī"], ["háng"]],
}


@cache
def _readings() -> Any:
    """pypinyin, loaded on the first key (start-up does not pay for it)."""
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
    import pypinyin

    pypinyin.load_phrases_dict(PHRASES)
    return pypinyin


@lru_cache(maxsize=8192)
def sort_key(text: str) -> str:
    """The key that orders `text` by pinyin and case-insensitive letters, then exactly."""
    text = text or ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    pinyin = _readings()
    syllables = pinyin.lazy_pinyin(folded, style=pinyin.Style.TONE3, neutral_tone_with_five=True)
    return "".join(syllables) + TIE + text


def _name(item: Any) -> str:
    if isinstance(item, str):
        return item
    name = getattr(item, "name", "")
    return "" if name is None else str(name)


def sorted_by_name(
    items: Iterable[T], key: Callable[[T], str | None] | None = None, *, reverse: bool = False
) -> list[T]:
    """`items` ordered by `sort_key` of their name: `key(item)`, else the item itself when it
    is a string, else its `name` attribute."""
    read = key or _name
    return sorted(items, key=lambda item: sort_key(read(item) or ""), reverse=reverse)


class SortedByName:
    """Mixin for a model whose lists sort by `name`: `sort_name` holds `sort_key(name)`,
    kept up to date on every insert and update, indexed, and compared byte by byte (the
    "C" collation on PostgreSQL), so ordering by it is ordering by pinyin."""

    @declared_attr
    def sort_name(cls) -> Mapped[str]:
        return mapped_column(
            String(SORT_KEY_LENGTH).with_variant(
                String(SORT_KEY_LENGTH, collation="C"), "postgresql"
            ),
            default="",
            server_default="",
            index=True,
            info={"audit": False, "derived": True},
        )


def stored_sort_key(name: str | None) -> str:
    return sort_key(name or "")[:SORT_KEY_LENGTH]


@event.listens_for(SortedByName, "before_insert", propagate=True)
@event.listens_for(SortedByName, "before_update", propagate=True)
def _keep_sort_name(_mapper: Any, _connection: Any, target: Any) -> None:
    target.sort_name = stored_sort_key(target.name)
