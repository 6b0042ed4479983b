"""The plan-file format offline: round trip, malformed files, and the strictness of `check`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler import planfile
from reconciler.desired_state import DesiredState
from reconciler.errors import PlanFileError
from reconciler.model import AppPlan, FieldChange, Plan
from reconciler.render.json_view import render_json

ORG = "00D000000000001EAA"


def _plan(observed: dict[str, Any] | None = None, *changes: FieldChange) -> Plan:
    app = AppPlan(
        "Billing_Sync",
        list(changes),
        observed if observed is not None else {"policies.refresh_token.period": 30},
    )
    return Plan(
        org_id=ORG,
        instance_url="https://acme.my.salesforce.com",
        desired_digest="d" * 64,
        created_at="2026-01-01T00:00:00+00:00",
        apps=[app],
        desired_file_digests={"apps.yaml": "a" * 64, "teams/b.yaml": "b" * 64},
        scope_apps=["Billing_Sync"],
        scope_exclude=["Legacy_Importer"],
    )


def _desired(files: dict[str, str], digest: str = "d" * 64) -> DesiredState:
    return DesiredState(apps={}, files=list(files), digest=digest, file_digests=files)


PERIOD = FieldChange("Billing_Sync", "policies", "refresh_token.period", 30, 90)


def test_write_then_read_is_the_same_plan_and_the_json_view(tmp_path: Path) -> None:
    plan = _plan({"policies.refresh_token.period": 30, "policies.profiles": ["A", "B"]}, PERIOD)
    path = planfile.write(plan, tmp_path / "sub" / "p.json")
    assert path.read_text() == render_json(plan)
    back = planfile.read(path)
    assert back.changes == plan.changes
    assert back.apps[0].observed == plan.apps[0].observed
    assert (back.scope_apps, back.scope_exclude) == (["Billing_Sync"], ["Legacy_Importer"])
    assert back.desired_file_digests == plan.desired_file_digests
    assert planfile.check(back, plan, _desired(plan.desired_file_digests)) == []


@pytest.mark.parametrize(
    ("then", "now", "differs"),
    [
        (30, 30, False),
        (30, 30.5, True),
        (30, "30", True),
        (True, 1, True),  # a loose == would call these equal
        (False, 0, True),
        (None, False, True),
        (["A", "B"], ["B", "A"], False),  # profiles are a set
        (["A", "B"], ["A"], True),
    ],
)
def test_observed_values_compare_strictly(then: Any, now: Any, differs: bool) -> None:
    saved = _plan({"policies.refresh_token.period": then})
    recomputed = _plan({"policies.refresh_token.period": now})
    diffs = planfile.plan_differences(saved, recomputed)
    assert bool(diffs) is differs, diffs
    if differs:
        assert diffs == [
            f"Billing_Sync: policies.refresh_token.period was {planfile._show(then)} when "
            f"planned, now {planfile._show(now)}"
        ]


def test_observed_field_declared_or_dropped_since_is_a_difference() -> None:
    saved = _plan({"policies.refresh_token.period": 30})
    now = _plan({"policies.refresh_token.period": 30, "policies.session_level": "low"})
    assert planfile.plan_differences(saved, now) == [
        "Billing_Sync: policies.session_level: declared now, not observed when planned"
    ]
    assert planfile.plan_differences(now, saved) == [
        "Billing_Sync: policies.session_level: observed when planned, no longer declared"
    ]


@pytest.mark.parametrize(
    "edited",
    [
        FieldChange("Billing_Sync", "policies", "refresh_token.period", 30, 91),
        FieldChange("Billing_Sync", "policies", "refresh_token.period", 31, 90),
        FieldChange("Billing_Sync", "policies", "refresh_token.period", 30, 90, "ECA-OAUTH-004"),
        FieldChange("Billing_Sync", "policies", "refresh_token.period", 30.0, 90),
    ],
    ids=["after", "before", "control", "before-type"],
)
def test_every_part_of_a_change_is_compared(edited: FieldChange) -> None:
    diffs = planfile.plan_differences(_plan(None, edited), _plan(None, PERIOD))
    assert len(diffs) == 1 and diffs[0].startswith(
        "Billing_Sync: policies.refresh_token.period: the plan file says "
    ), diffs
    assert diffs[0].endswith("but planning now gives 30 -> 90")


def test_other_org_is_the_only_difference_reported() -> None:
    other = _plan(None, PERIOD)
    other.org_id = "00D000000000002EAA"
    assert planfile.plan_differences(_plan(), other) == [
        f"the plan was made for org {ORG}, but this org is 00D000000000002EAA"
    ]


def test_desired_differences_name_each_file() -> None:
    saved = _plan()
    now = _desired({"apps.yaml": "c" * 64, "new.yaml": "n" * 64})
    assert planfile.desired_differences(saved, now) == [
        "new.yaml: added since the plan was made",
        "teams/b.yaml: removed since the plan was made",
        "apps.yaml: modified since the plan was made",
    ]
    same_files = _desired(dict(saved.desired_file_digests), digest="e" * 64)
    assert len(planfile.desired_differences(saved, same_files)) == 1


def _doc(tmp_path: Path) -> dict[str, Any]:
    return json.loads(planfile.dumps(_plan(None, PERIOD)))


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["changes"][0].update(app="Ghost"), "names app Ghost, which is not in"),
        (lambda d: d["changes"][0].update(after="ninety"), 'planned value "ninety"'),
        (lambda d: d["changes"].append(dict(d["changes"][0])), "changed twice"),
        (lambda d: d["apps"].append(dict(d["apps"][0])), "listed twice"),
        (lambda d: d.update(scope=[]), "scope must be an object"),
        (lambda d: d["scope"].update(apps="Billing_Sync"), "scope.apps must be a list"),
        (lambda d: d.update(apps={}), "apps and changes must be lists"),
        (lambda d: d.update(org_id=5), "org_id must be a string"),
        (lambda d: d["apps"][0].update(observed=[]), "observed must be an object"),
        (lambda d: d["changes"][0].pop("before"), "missing key before"),
        (lambda d: d["changes"][0].update(component=None), "not a field name"),
        (lambda d: d["changes"][0].update(app="Bad\nName", field="x"), '"Bad\\nName"'),
    ],
)
def test_malformed_documents_are_plan_file_errors(tmp_path: Path, edit: Any, needle: str) -> None:
    doc = _doc(tmp_path)
    edit(doc)
    with pytest.raises(PlanFileError) as info:
        planfile.plan_from_document(doc, "p.json")
    assert str(info.value).startswith("p.json: "), info.value
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_secret_named_in_observed_never_prints_its_value(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    doc["apps"][0]["observed"]["settings.consumerSecret"] = "s3cr3t-value"
    with pytest.raises(PlanFileError) as info:
        planfile.plan_from_document(doc, "p.json")
    assert "app Billing_Sync: observed field settings.consumerSecret is a secret" in str(info.value)
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        (b"{", "not JSON (line 1)"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(PlanFileError, match=re.escape(needle)):
        planfile.read(path)
    with pytest.raises(PlanFileError, match="cannot read plan file"):
        planfile.read(tmp_path / "missing.json")
