"""Names in the order people in China read a list: Chinese by pinyin, Latin ignoring case."""

from __future__ import annotations

from dataclasses import dataclass

from openitsm.kernel.collation import sort_key, sorted_by_name


def test_chinese_sorts_by_pinyin_among_latin_names_ignoring_case() -> None:
    names = ["张", "Zoe", "陈", "adam", "白", "阿", "Bob"]
    assert sorted_by_name(names) == ["阿", "adam", "白", "Bob", "陈", "张", "Zoe"]
    assert sorted(names) != sorted_by_name(names)  # code points put every Chinese name last


def test_phrases_are_read_as_phrases_and_tones_order_one_syllable() -> None:
    # 重庆 reads chong2qing4, not zhong4: it sorts with 陈 (chen2), far from 张 (zhang1).
    assert sorted_by_name(["张三", "重庆", "陈伟"]) == ["陈伟", "重庆", "张三"]
    # The same syllable: tone 1 before 2 before 3 before 4.
    assert sorted_by_name(["骂", "马", "麻", "妈"]) == ["妈", "麻", "马", "骂"]


def test_case_and_width_only_break_ties() -> None:
    assert sort_key("Adam") < sort_key("adam") < sort_key("adams")
    assert sorted_by_name(["Ｂｏｂ", "alice", "CAROL"]) == ["alice", "Ｂｏｂ", "CAROL"]
    assert sort_key("") < sort_key("a")


@dataclass
class Named:
    name: str | None


def test_sorted_by_name_reads_the_name_attribute_or_a_key() -> None:
    rows = [Named("张伟"), Named("Alice"), Named(None), Named("白云")]
    assert [r.name for r in sorted_by_name(rows)] == [None, "Alice", "白云", "张伟"]
    pairs = [("z", "张"), ("a", "阿")]
    assert sorted_by_name(pairs, key=lambda pair: pair[1]) == [("a", "阿"), ("z", "张")]
    assert sorted_by_name(["阿", "张"], reverse=True) == ["张", "阿"]
