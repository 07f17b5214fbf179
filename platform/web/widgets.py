"""Workbench widgets and each user's dashboard: which widgets, in what order, how wide.

A layout is a list of `{"widget": key, "width": 1..3}` kept per user with a version, so two
browser tabs rearranging at once cannot silently overwrite each other. Widgets a user may
no longer see (their plugin disabled, a role taken away) drop out when the page is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from sqlalchemy import JSON, ForeignKey, Integer
from sqlalchemy.orm import Mapped, Session, mapped_column

from openitsm.kernel.actors import Actor
from openitsm.kernel.db import Base, Versioned, check_version
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.labels import pick_label

if TYPE_CHECKING:
    from openitsm.web.pages import PageContext

WIDTHS = (1, 2, 3)
MAX_WIDGETS = 24


@dataclass(frozen=True)
class Widget:
    """A box on the workbench. `render(page)` returns its HTML (escaped: use the page's
    `render` with a template), or nothing to leave the box out for now; `action`, when set,
    limits it to roles granting it, and `audience`, when set, to the actors it accepts (a
    data scope wide enough for the box to mean something, say)."""

    key: str
    labels: Mapping[str, str]
    render: Callable[[PageContext], Markup | str]
    action: str | None = None
    width: int = 1
    default: bool = True
    order: int = 100
    audience: Callable[[Actor], bool] | None = None

    def label(self, locale: str) -> str:
        return pick_label(self.labels, locale, self.key)

    def allowed(self, actor: Actor) -> bool:
        if self.action is not None and not actor.can(self.action):
            return False
        return self.audience is None or self.audience(actor)


class Dashboard(Versioned, Base):
    __tablename__ = "web_dashboard"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    layout: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    columns: Mapped[int] = mapped_column(Integer, default=3)


@dataclass(frozen=True)
class Placed:
    widget: Widget
    width: int


def default_layout(widgets: Iterable[Widget], actor: Actor) -> list[dict[str, Any]]:
    chosen = sorted((w for w in widgets if w.default and w.allowed(actor)), key=lambda w: w.order)
    return [{"widget": w.key, "width": w.width} for w in chosen]


def placed(
    layout: Iterable[Mapping[str, Any]], widgets: Mapping[str, Widget], actor: Actor
) -> list[Placed]:
    """The layout's widgets the actor may still see, in order."""
    shown: list[Placed] = []
    for entry in layout:
        widget = widgets.get(str(entry.get("widget")))
        if widget is not None and widget.allowed(actor):
            width = entry.get("width")
            shown.append(Placed(widget, width if width in WIDTHS else widget.width))
    return shown


def load(session: Session, user_id: int) -> Dashboard | None:
    return session.get(Dashboard, user_id)


def check_layout(
    layout: Iterable[Mapping[str, Any]], widgets: Mapping[str, Widget], actor: Actor
) -> list[dict[str, Any]]:
    """A layout to store: known widgets the actor may use, each once, sane widths."""
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in layout:
        key = str(entry.get("widget", ""))
        widget = widgets.get(key)
        if widget is None or not widget.allowed(actor):
            raise BadUserInput(f"There is no widget '{key}' you can add.", field="widgets")
        width = entry.get("width", widget.width)
        if width not in WIDTHS:
            raise BadUserInput("A widget is 1, 2 or 3 columns wide.", field="widgets")
        if key not in seen:
            seen.add(key)
            cleaned.append({"widget": key, "width": width})
    if len(cleaned) > MAX_WIDGETS:
        raise BadUserInput(f"At most {MAX_WIDGETS} widgets fit on a dashboard.", field="widgets")
    return cleaned


def save(
    session: Session,
    user_id: int,
    layout: list[dict[str, Any]],
    version: int | None,
) -> Dashboard:
    """Store a checked layout; `version` is the one the browser showed (None: never saved)."""
    dashboard = load(session, user_id)
    if dashboard is None:
        dashboard = Dashboard(user_id=user_id, layout=layout)
        session.add(dashboard)
    else:
        check_version(dashboard, version if version is not None else 0, "dashboard")
        dashboard.layout = layout
    flush(session)
    return dashboard
