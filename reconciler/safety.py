"""The safety valve: an unattended apply may not change more than a share of the org's apps.

In the spirit of octoDNS's `Plan.raise_if_unsafe`: a plan that touches far more of the org
than usual is more likely a broken desired state (a bad default, an overlay pointed at the
wrong org) than an intended change, and pipelines apply without a human reading the plan. So
by default a plan that changes more than 30% of the org's apps is refused, once the org has
10 apps or more (below that every change is a large share, and the valve would only get in
the way). `--max-changes N` (apps) or `--max-changes N%` (of the org's apps) replaces the
default; an explicit limit is honoured at any org size, because a pipeline that says "never
more than 5 apps" means it on a small org too.

The verdict is a function of the plan (`Plan.org_app_count`, its changed apps) and the run's
limit, so plan views can say that an apply would stop, and apply refuses with nothing written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import ReconcilerError
from .model import Plan

DEFAULT_PERCENT = 30
#: Orgs with fewer apps than this have no default threshold (octoDNS: MIN_EXISTING_RECORDS).
MIN_APPS = 10
_SPELLING = re.compile(r"^\s*(\d{1,9})\s*(%?)\s*$")


class UnsafePlan(ReconcilerError):
    """The plan changes more of the org's apps than the threshold allows; nothing was written."""


@dataclass(frozen=True)
class Threshold:
    """A limit on the number of apps one apply may change: absolute, or a share of the org."""

    value: int
    percent: bool

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """`N` or `N%` (0-100); anything else is a usage error naming what is allowed."""
        match = _SPELLING.match(text)
        if not match:
            raise ValueError(
                f"{text!r} is not a threshold: give a number of apps (e.g. 25) or a "
                "percentage of the org's apps (e.g. 50%)"
            )
        value, percent = int(match[1]), bool(match[2])
        if percent and value > 100:
            raise ValueError(f"{text!r}: a percentage is at most 100%")
        return cls(value, percent)

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)

    def allows(self, changed: int, org_apps: int | None) -> bool | None:
        """Whether `changed` apps are within the limit; None when it cannot be told (a share
        of an org whose size is unknown)."""
        if not self.percent:
            return changed <= self.value
        if org_apps is None:
            return None
        return changed * 100 <= self.value * org_apps  # integers: no rounding at the edge

    def limit(self, org_apps: int | None) -> int | None:
        """The most apps one apply may change, or None when unknown."""
        if not self.percent:
            return self.value
        return None if org_apps is None else self.value * org_apps // 100


@dataclass(frozen=True)
class SafetyCheck:
    """What the valve says about one plan; `blocks` is what apply acts on."""

    org_apps: int | None
    apps_to_change: int
    #: None: no threshold applies (fewer than MIN_APPS apps and no --max-changes).
    threshold: Threshold | None
    explicit: bool
    blocks: bool

    @property
    def limit(self) -> int | None:
        return None if self.threshold is None else self.threshold.limit(self.org_apps)

    def to_dict(self) -> dict[str, Any]:
        """The JSON view's `safety` object."""
        return {
            "org_apps": self.org_apps,
            "apps_to_change": self.apps_to_change,
            "threshold": None if self.threshold is None else str(self.threshold),
            "threshold_source": "--max-changes" if self.explicit else "default",
            "max_apps": self.limit,
            "apply_would_refuse": self.blocks,
        }

    def reason(self) -> str:
        """What is too large, e.g. "the plan changes 5 apps (50% of the org's 10 apps), more
        than the default safety threshold allows (30% = 3 apps)"."""
        assert self.threshold is not None
        share = (
            f" ({self.apps_to_change * 100 / self.org_apps:.0f}% of the org's {self.org_apps} apps)"
            if self.org_apps
            else ""
        )
        source = "--max-changes" if self.explicit else "the default safety threshold"
        limit = self.limit
        if not self.threshold.percent:
            allowed = f"{self.threshold} apps"
        elif limit is None:
            allowed = f"{self.threshold} of an org whose app count is unknown"
        else:
            allowed = f"{self.threshold} = {limit} app{'' if limit == 1 else 's'}"
        return (
            f"the plan changes {self.apps_to_change} app"
            f"{'' if self.apps_to_change == 1 else 's'}{share}, more than {source} "
            f"allows ({allowed})"
        )

    def remedy(self) -> str:
        return f"--max-changes {self.apps_to_change} (or --max-changes {_needed_percent(self)}%)"

    def message(self) -> str:
        """The plan's warning: what apply will do with this plan."""
        return f"{self.reason()}; apply will refuse it unless given {self.remedy()}"


def _needed_percent(check: SafetyCheck) -> int:
    """The smallest whole percentage that lets this plan through."""
    if not check.org_apps:
        return 100
    return min(100, -(-check.apps_to_change * 100 // check.org_apps))


def assess(plan: Plan, max_changes: str | None = None) -> SafetyCheck:
    """The valve's verdict on `plan` under the run's `--max-changes` (None: the default)."""
    changed = len(plan.changed_apps)
    explicit = max_changes is not None
    threshold: Threshold | None
    if max_changes is not None:
        threshold = Threshold.parse(max_changes)
    elif plan.org_app_count is not None and plan.org_app_count >= MIN_APPS:
        threshold = Threshold(DEFAULT_PERCENT, percent=True)
    else:
        threshold = None
    allowed = True if threshold is None else threshold.allows(changed, plan.org_app_count)
    # A share of an unknown org size cannot be judged: refuse rather than guess (an apply
    # always reads the org, so this only happens to plans not made from a live read).
    return SafetyCheck(plan.org_app_count, changed, threshold, explicit, allowed is not True)


def raise_if_unsafe(plan: Plan, max_changes: str | None = None) -> None:
    """Refuse, before anything is written, a plan larger than the threshold allows."""
    check = assess(plan, max_changes)
    if check.blocks:
        raise UnsafePlan(
            f"refusing to apply: {check.reason()}. Nothing was written. If so many changes are "
            f"intended, re-run with {check.remedy()}"
        )
