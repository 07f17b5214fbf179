"""Fixed texts of the templates are translated as a template is compiled, and say exactly
what the call at render time would have said."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from jinja2 import Environment

from openitsm.kernel import Kernel
from openitsm.kernel.testing import build_kernel
from openitsm.web.i18n import translations
from openitsm.web.pages import _localtime, site_of


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    kernel = build_kernel(tmp_path, f"sqlite:///{tmp_path / 'site.db'}", migrate=False)
    yield kernel
    kernel.close()


def calls_gettext(environment: Environment, source: str) -> bool:
    """Whether the template, as compiled, looks `_` or `gettext` up when it is drawn."""
    code = str(environment.compile(source, raw=True))
    return "resolve('_')" in code or "resolve('gettext')" in code


def test_a_fixed_text_is_written_into_the_template_translated(kernel: Kernel) -> None:
    chinese = site_of(kernel).environment("zh-CN")
    source = '<button title="{{ _("Save") }}">{{ gettext("Save") }}</button>'
    saved = translations("zh-CN").ugettext("Save")
    assert saved != "Save"
    assert not calls_gettext(chinese, source)
    assert chinese.from_string(source).render() == f'<button title="{saved}">{saved}</button>'
    english = site_of(kernel).environment("en")
    assert english.from_string(source).render() == '<button title="Save">Save</button>'


def test_literal_variables_are_filled_in_when_compiled(kernel: Kernel) -> None:
    chinese = site_of(kernel).environment("zh-CN")
    source = '{{ _("%(n)smin", n=5) }}|{{ _("%(time)s left", time="{time}") }}'
    expected = (
        translations("zh-CN").ugettext("%(n)smin") % {"n": 5}
        + "|"
        + translations("zh-CN").ugettext("%(time)s left") % {"time": "{time}"}
    )
    assert not calls_gettext(chinese, source)
    assert chinese.from_string(source).render() == expected


def test_texts_that_depend_on_the_render_are_left_to_it(kernel: Kernel) -> None:
    english = site_of(kernel).environment("en")
    # A variable that escaping changes: the answer differs with and without autoescape.
    escaped = '{{ _("on behalf of %(name)s", name="<b>") }}'
    assert calls_gettext(english, escaped)
    assert english.from_string(escaped).render() == "on behalf of &lt;b&gt;"
    plain = "{% autoescape false %}" + escaped + "{% endautoescape %}"
    assert english.from_string(plain).render() == "on behalf of <b>"
    # A variable that is not a literal, and a text missing its variable.
    named = '{{ _("on behalf of %(name)s", name=who) }}'
    assert english.from_string(named).render(who="Ann & Bo") == "on behalf of Ann &amp; Bo"
    missing = english.from_string('{{ _("on behalf of %(name)s") }}')
    with pytest.raises(KeyError):
        missing.render()


def test_a_template_that_names_its_own_underscore_is_compiled_as_written(kernel: Kernel) -> None:
    english = site_of(kernel).environment("en")
    for source in (
        '{% set _ = upper %}{{ _("Save") }}',
        '{% macro shout(_) %}{{ _("Save") }}{% endmacro %}{{ shout(upper) }}',
    ):
        # Folded, it would say "Save" whatever `_` is here.
        assert english.from_string(source).render(upper=str.upper) == "SAVE"


def test_a_time_is_written_for_each_zone_and_language_it_is_asked_in() -> None:
    at = dt.datetime(2026, 3, 4, 20, 5, tzinfo=dt.UTC)
    answers = {
        (zone, locale): _localtime(at, zone, locale=locale)
        for zone in ("Asia/Shanghai", "America/New_York")
        for locale in ("zh-CN", "en")
    }
    assert answers == {
        ("Asia/Shanghai", "zh-CN"): "2026年3月5日 04:05",
        ("Asia/Shanghai", "en"): "Mar 5, 2026, 4:05\u202fAM",
        ("America/New_York", "zh-CN"): "2026年3月4日 15:05",
        ("America/New_York", "en"): "Mar 4, 2026, 3:05\u202fPM",
    }
    # The same instant written in another zone's clock is the same answer.
    eastern = at.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert _localtime(eastern, "Asia/Shanghai", locale="zh-CN") == "2026年3月5日 04:05"
    assert _localtime(at, "Asia/Shanghai", "date", locale="en") == "Mar 5, 2026"
    assert _localtime(None, "Asia/Shanghai", locale="en") == ""
