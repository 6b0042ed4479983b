"""Planning a rollback from data alone: no org, no file (rollback.py is pure planning)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler import fields as F
from reconciler.model import Backup, BackupChange, Component
from reconciler.rollback import backed_up, plan_rollback

APPLIED = {"policy": ("zero", "specific_lifetime"), "period": (None, 10), "unit": (None, "days")}


def _backup() -> Backup:
    changes = [
        BackupChange("A", "policies", f"refresh_token.{key}", "A_plcy", before, after)
        for key, (before, after) in APPLIED.items()
    ]
    return Backup(Path("b.json"), "00D1", "https://x", "2026-01-01", [], changes)


def _org_holds(**values: Any) -> dict[str, Component]:
    wire = {
        "policy": ("refreshTokenPolicyType", {"specific_lifetime": "SpecificLifetime"}),
        "period": ("refreshTokenValidityPeriod", {}),
        "unit": ("refreshTokenValidityUnit", {"days": "Days"}),
    }
    fields = {wire[k][0]: wire[k][1].get(v, v) for k, v in values.items()}
    return {"A_plcy": Component(F.POLICIES_TYPE, "A_plcy", fields)}


def test_the_caller_is_told_what_to_read():
    assert backed_up(_backup()) == {F.POLICIES_TYPE: ["A_plcy"]}


def test_an_untouched_coupled_setting_goes_back_whole():
    plan, _ = plan_rollback(
        _backup(), _org_holds(policy="specific_lifetime", period=10, unit="days"), "https://x"
    )
    assert [(c.path, c.after) for c in plan.changes] == [
        ("policies.refresh_token.policy", "zero"),
        ("policies.refresh_token.period", None),
        ("policies.refresh_token.unit", None),
    ]
    assert plan.instance_url == "https://x"


def test_a_coupled_setting_moved_in_part_goes_back_not_at_all():
    plan, _ = plan_rollback(
        _backup(), _org_holds(policy="specific_lifetime", period=5, unit="days"), "https://x"
    )
    assert plan.changes == []
    (app,) = plan.apps
    assert app.notes[-1] == (
        "policies.refresh_token.policy, policies.refresh_token.period and "
        "policies.refresh_token.unit are one setting (refresh_token) and "
        "policies.refresh_token.period changed since the apply, so the rollback restores none "
        "of them"
    )


def test_a_component_gone_from_the_org_is_a_plan_error():
    plan, _ = plan_rollback(_backup(), {}, "https://x")
    assert plan.errors == [("A", "A_plcy is no longer in the org")] * 3


def _partial_backup() -> Backup:
    """The apply changed only the period; policy and unit held specific_lifetime/days before
    and after it (the backup's copy of the component says so)."""
    changes = [BackupChange("A", "policies", "refresh_token.period", "A_plcy", 30, 10)]
    coupled = {
        "A_plcy": {
            "policies.refresh_token.policy": "specific_lifetime",
            "policies.refresh_token.period": 30,
            "policies.refresh_token.unit": "days",
        }
    }
    return Backup(Path("b.json"), "00D1", "https://x", "2026-01-01", [], changes, coupled)


def test_a_coupled_field_the_apply_left_alone_blocks_the_group_when_it_moved():
    """Someone changed the unit (untouched by the apply) since: restoring the period alone
    would mix two settings, so nothing of the group goes back."""
    plan, _ = plan_rollback(
        _partial_backup(), _org_holds(policy="specific_lifetime", period=10, unit="months"), "x"
    )
    assert plan.changes == []
    assert "policies.refresh_token.unit changed since the apply" in plan.apps[0].notes[-1]


def test_a_coupled_field_the_apply_left_alone_and_nobody_moved_lets_the_change_back():
    plan, _ = plan_rollback(
        _partial_backup(), _org_holds(policy="specific_lifetime", period=10, unit="days"), "x"
    )
    assert [(c.path, c.after) for c in plan.changes] == [("policies.refresh_token.period", 30)]
