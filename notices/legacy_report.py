"""The switch-over report: the same plain text for the command line and the /dev file."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from handlers import texts
from inventory.legacy import Plan
from inventory.legacy_apply import Outcome

logger = logging.getLogger(__name__)


def _value(value: Any) -> str:
    """Dates as 15.12.2026 (times with hours), lists comma-separated."""
    if isinstance(value, datetime):
        return texts.fmt_time(value)
    if isinstance(value, date):
        return texts.fmt_date(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value)
    return str(value)


def issue_line(kind: str, values: dict[str, Any]) -> str:
    """One conflict as a line of the report."""
    shown = {name: _value(v) for name, v in values.items()}
    if "column" in values:
        shown["column"] = texts.LEGACY_COLUMNS.get(values["column"], values["column"])
    if "fields" in values:
        shown["fields"] = ", ".join(texts.LEGACY_FIELDS.get(f, f) for f in values["fields"])
    return "• " + texts.LEGACY_ISSUES[kind].format(**shown)


def _title(outcome: Outcome) -> str:
    """What happened: a dry run, a write, or nothing left to write."""
    if not outcome.applied:
        return texts.LEGACY_TITLE_DRY
    return texts.LEGACY_TITLE_APPLIED if outcome.plan.changes else texts.LEGACY_TITLE_NOTHING


def render(outcome: Outcome, *, source: str, timezone: str,
           local: Any = None) -> str:
    """The report; `source` must already be the URL without its password."""
    plan: Plan = outcome.plan
    version = texts.LEGACY_VERSION.format(version=plan.version) if plan.version else ""
    lines = [_title(outcome), texts.LEGACY_SOURCE.format(url=source, version=version),
             texts.LEGACY_TIMEZONE.format(timezone=timezone), "", texts.LEGACY_COUNTS_TITLE]
    for kind, (new, existing) in plan.counts.items():
        lines.append(texts.LEGACY_COUNT.format(title=texts.LEGACY_COUNT_TITLES[kind],
                                               total=new + existing, new=new,
                                               existing=existing))
    if plan.history_since is not None:
        since = local(plan.history_since) if local else plan.history_since
        lines.append(texts.LEGACY_HISTORY_SINCE.format(date=texts.fmt_date(since.date())))
    gifts = plan.from_queue
    if gifts:
        lines += ["", texts.LEGACY_FROM_QUEUE_TITLE.format(count=len(gifts))]
        lines += [texts.LEGACY_FROM_QUEUE_LINE.format(
            number=loan.number, email=loan.email,
            taken=_value(local(loan.taken_at) if local else loan.taken_at)) for loan in gifts]
    lines.append("")
    if plan.issues:
        lines.append(texts.LEGACY_ISSUES_TITLE.format(count=len(plan.issues)))
        lines += [issue_line(issue.kind, issue.values) for issue in plan.issues]
    else:
        lines.append(texts.LEGACY_NO_ISSUES)
    lines.append("")
    lines += admin_lines(plan)
    return "\n".join(lines) + "\n"


def admin_lines(plan: Plan) -> list[str]:
    """The predecessor's admins, and the ADMIN_IDS line to copy."""
    if not plan.admins:
        return [texts.LEGACY_NO_ADMINS]
    lines = [texts.LEGACY_ADMINS_TITLE.format(count=len(plan.admins))]
    for admin in plan.admins:
        name = f" ({admin.name})" if admin.name else ""
        template = (texts.LEGACY_ADMIN_LINE if admin.telegram_id is not None
                    else texts.LEGACY_ADMIN_NOT_REGISTERED)
        lines.append(template.format(email=admin.email, name=name,
                                     telegram_id=admin.telegram_id))
    ids = [str(a.telegram_id) for a in plan.admins if a.telegram_id is not None]
    if ids:
        lines.append(texts.LEGACY_ADMIN_IDS.format(ids=",".join(ids)))
    return lines
