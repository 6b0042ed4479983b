"""Offline: controls as data, check_desired with a fixed `today`, remedies, findings."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from reconciler import fields as F
from reconciler.baseline import check_desired, findings, remedies
from reconciler.controls import BY_ID, CONTROLS, DEFAULT_BASELINE, PARTNER_CONTROLS
from reconciler.desired_state import (
    BaselineConfig,
    DesiredApp,
    DesiredState,
    ExceptionEntry,
)
from reconciler.errors import DesiredStateError
from reconciler.operations import load_desired

TODAY = dt.date(2026, 6, 15)


def test_control_catalogue_shape():
    assert [c.id for c in CONTROLS] == [f"ECA-OAUTH-00{i}" for i in range(1, 8)] + [
        *(f"ECA-PARTNER-00{i}" for i in range(1, 5)),  # the partner controls (issue 18)
        "ECA-APPROVAL-001",  # who can bypass app approval (issue 18)
    ]
    assert DEFAULT_BASELINE == ("ECA-OAUTH-001",)
    assert BY_ID["ECA-OAUTH-001"].severity == "high"
    for c in CONTROLS:
        low, high = (float(x) for x in re.findall(r"\d+\.\d+", c.cvss)[:2])
        assert low <= c.security_severity <= high, c.id
        for req in c.requirements:
            assert req.path in F.BY_PATH, req.path
            assert set(req.remedy) <= set(F.BY_PATH), req.remedy


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id)
def test_remedy_of_every_requirement_complies(control):
    for req in control.requirements:
        bad = {req.path: next(iter(req.violating))}
        assert control.violations(bad) == [req]
        fixed = {**bad, **req.remedy}
        assert control.violations(fixed) == []


def test_unset_value_is_not_a_violation():
    assert all(c.violations({}) == [] for c in CONTROLS)
    assert all(c.violations(dict.fromkeys(c.paths())) == [] for c in CONTROLS)


@pytest.mark.parametrize(
    "path, ok", [("policies.ip_relaxation", "enforce_relax_refresh"),
                 ("policies.refresh_token.policy", "zero"),
                 ("policies.refresh_token.policy", "specific_lifetime"),
                 ("policies.permitted_users", "admin_approved"),
                 ("settings.device", False)],
)  # fmt: skip
def test_compliant_values(path, ok):
    # The partner controls (issue 18) are stricter on purpose: see test_partner_controls.
    assert all(c.violations({path: ok}) == [] for c in CONTROLS if c.id not in PARTNER_CONTROLS)


@pytest.mark.parametrize(
    "control, values, violated",
    [
        ("ECA-PARTNER-001", {"settings.pkce_required": False}, True),
        ("ECA-PARTNER-001", {"connected.pkce_required": False}, True),
        ("ECA-PARTNER-001", {"settings.pkce_required": True}, False),
        ("ECA-PARTNER-002", {"connected.refresh_token_rotation": True}, False),
        ("ECA-PARTNER-002", {"settings.refresh_token_rotation": False}, True),
        ("ECA-PARTNER-003", {"policies.refresh_token.policy": "specific_lifetime"}, True),
        ("ECA-PARTNER-003", {"policies.refresh_token.policy": "specific_inactivity",
                             "policies.refresh_token.period": 30,
                             "policies.refresh_token.unit": "days"}, False),
        ("ECA-PARTNER-003", {"policies.refresh_token.policy": "specific_inactivity",
                             "policies.refresh_token.period": 31,
                             "policies.refresh_token.unit": "days"}, True),
        ("ECA-PARTNER-003", {"policies.refresh_token.policy": "specific_inactivity",
                             "policies.refresh_token.period": 1,
                             "policies.refresh_token.unit": "months"}, True),
        ("ECA-PARTNER-003", {"policies.refresh_token.policy": "specific_inactivity",
                             "policies.refresh_token.period": 720,
                             "policies.refresh_token.unit": "hours"}, False),
        ("ECA-PARTNER-003", {"connected.refresh_token": "specific_inactivity:30:DAYS"}, False),
        ("ECA-PARTNER-003", {"connected.refresh_token": "specific_inactivity:90:DAYS"}, True),
        ("ECA-PARTNER-003", {"connected.refresh_token": "Infinite"}, True),
        ("ECA-PARTNER-003", {"connected.refresh_token": "something new"}, True),
        ("ECA-PARTNER-004", {"policies.ip_relaxation": "enforce_relax_refresh"}, True),
        ("ECA-PARTNER-004", {"policies.ip_relaxation": "enforce"}, False),
    ],
)  # fmt: skip
def test_partner_controls(control, values, violated):
    assert bool(BY_ID[control].violations(values)) is violated
    assert control not in DEFAULT_BASELINE


def state(app: DesiredApp, controls=("ECA-OAUTH-006",), warn: int = 30) -> DesiredState:
    return DesiredState(
        apps={app.name: app},
        files=["d.yaml"],
        digest="x",
        baseline=BaselineConfig(tuple(controls), exception_warning_days=warn),
    )


def exc(expires: dt.date, control: str = "ECA-OAUTH-006") -> ExceptionEntry:
    return ExceptionEntry(control, "why", "who", expires, None, "d.yaml", 7)


def app_with(*exceptions, values=None) -> DesiredApp:
    values = values if values is not None else {"policies.ip_relaxation": "bypass"}
    return DesiredApp("A", "d.yaml", 3, values, dict.fromkeys(values, 5), list(exceptions))


@pytest.mark.parametrize(
    "offset, errors, warned",
    [(-1, 1, False), (0, 0, True), (30, 0, True), (31, 0, False), (365, 0, False)],
)
def test_expiry_boundaries(offset, errors, warned):
    expires = TODAY + dt.timedelta(days=offset)
    errs, warns = check_desired(state(app_with(exc(expires))), TODAY)
    assert len(errs) == errors
    assert any("expires in" in w.message for w in warns) is warned
    if errors:
        assert (errs[0].file, errs[0].line) == ("d.yaml", 7)
        assert f"expired on {expires}" in errs[0].message


def test_declared_violation_located_at_field_line():
    errs, _ = check_desired(state(app_with()), TODAY)
    assert [(e.file, e.line, e.key) for e in errs] == [
        ("d.yaml", 5, "apps.A.policies.ip_relaxation")
    ]
    assert "violates ECA-OAUTH-006" in errs[0].message


def test_declared_violation_outside_baseline_is_fine():
    assert check_desired(state(app_with(), controls=("ECA-OAUTH-001",)), TODAY) == ([], [])


def test_unneeded_exception_warnings():
    _, warns = check_desired(state(app_with(exc(TODAY + dt.timedelta(days=100)), values={})), TODAY)
    assert warns == []  # nothing declared: the org may still need it
    compliant = app_with(
        exc(TODAY + dt.timedelta(days=100)), values={"policies.ip_relaxation": "enforce"}
    )
    _, warns = check_desired(state(compliant), TODAY)
    assert [w.message for w in warns] == [
        "exception for ECA-OAUTH-006 is not needed: the declared values comply"
    ]
    other = app_with(exc(TODAY + dt.timedelta(days=100), "ECA-OAUTH-002"), values={})
    _, warns = check_desired(state(other), TODAY)
    assert "not in the baseline" in warns[0].message


def test_remedies_skip_declared_exempt_and_compliant():
    live = {
        "settings.client_credentials": True,
        "policies.client_credentials": False,
        "policies.refresh_token.policy": "infinite",
        "policies.ip_relaxation": "bypass",
    }
    controls = [BY_ID["ECA-OAUTH-001"], BY_ID["ECA-OAUTH-004"], BY_ID["ECA-OAUTH-006"]]
    out = remedies({"policies.refresh_token.period": 7}, live, controls, ["ECA-OAUTH-006"])
    assert out == {
        "settings.client_credentials": (False, "ECA-OAUTH-001"),
        "policies.refresh_token.policy": ("specific_inactivity", "ECA-OAUTH-004"),
        "policies.refresh_token.unit": ("days", "ECA-OAUTH-004"),
    }


def test_findings_mark_accepted_and_unlisted():
    values = {"policies.ip_relaxation": "bypass", "settings.device": True}
    controls = [BY_ID["ECA-OAUTH-002"], BY_ID["ECA-OAUTH-006"]]
    listed = findings("A", values, controls, app_with(exc(TODAY)))
    assert [(f.control, f.accepted, f.line) for f in listed] == [
        ("ECA-OAUTH-002", False, 3),
        ("ECA-OAUTH-006", True, 5),
    ]
    unlisted = findings("A", values, controls, None)
    assert all(not f.listed and f.file is None and not f.accepted for f in unlisted)


def test_load_desired_today_parameter(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(
        "version: 1\nbaseline: [ECA-OAUTH-006]\napps:\n  A:\n    exceptions:\n"
        "      - {control: ECA-OAUTH-006, justification: j, owner: o, expires: 2026-06-20}\n"
    )
    assert "expires in 5 day(s)" in load_desired(path, today=TODAY).warnings[0].message
    with pytest.raises(DesiredStateError, match=r"a\.yaml:6: .*expired on 2026-06-20"):
        load_desired(path, today=dt.date(2026, 6, 21))


@pytest.mark.parametrize(
    "item, message",
    [
        ("{control: ECA-OAUTH-042, justification: j, owner: o, expires: 2099-01-01}",
         "unknown control 'ECA-OAUTH-042'"),
        ("{control: ECA-OAUTH-006, justification: j, owner: o, expires: 20990101}",
         "required: a date YYYY-MM-DD"),
        ("{control: ECA-OAUTH-006, justification: j, owner: o, expires: 2099-01-01, why: x}",
         "unknown key"),
    ],
)  # fmt: skip
def test_malformed_exception_entries(tmp_path, item, message):
    path = tmp_path / "a.yaml"
    path.write_text(
        f"version: 1\nbaseline: [ECA-OAUTH-006]\napps:\n  A:\n    exceptions:\n      - {item}\n"
    )
    with pytest.raises(DesiredStateError, match=re.escape(message)):
        load_desired(path, today=TODAY)


def test_duplicate_exception_for_one_control(tmp_path):
    path = tmp_path / "a.yaml"
    entry = "{control: ECA-OAUTH-006, justification: j, owner: o, expires: 2099-01-01}"
    path.write_text(
        "version: 1\nbaseline: [ECA-OAUTH-006]\napps:\n  A:\n    exceptions:\n"
        f"      - {entry}\n      - {entry}\n"
    )
    with pytest.raises(DesiredStateError, match="a second exception for ECA-OAUTH-006"):
        load_desired(path, today=TODAY)
