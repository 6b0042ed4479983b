"""The planner is pure: desired x live -> Plan. These tests need no org."""

from __future__ import annotations

from reconciler.controls import BY_ID
from reconciler.desired_state import DesiredApp
from reconciler.diffing import changed_paths
from reconciler.model import Component, LiveApp
from reconciler.planning import plan_app


def live(settings=None, policies=None, **kw) -> LiveApp:
    app = LiveApp("A", **kw)
    if settings is not None:
        app.settings = Component(
            "ExtlClntAppGlobalOauthSettings", "A_g", {"externalClientApplication": "A", **settings}
        )
    if policies is not None:
        app.policies = Component(
            "ExtlClntAppOauthConfigurablePolicies",
            "A_p",
            {"externalClientApplication": "A", **policies},
        )
    return app


def desired(**values) -> DesiredApp:
    app = DesiredApp("A", "d.yaml", 3)
    app.values = {k.replace("__", "."): v for k, v in values.items()}
    return app


def test_only_declared_fields_are_compared():
    plan = plan_app(
        desired(policies__ip_relaxation="enforce"),
        live(policies={"ipRelaxationPolicyType": "Bypass", "startUrl": "https://x"}),
    )
    assert [(c.path, c.before, c.after) for c in plan.changes] == [
        ("policies.ip_relaxation", "bypass", "enforce")
    ]
    assert plan.observed == {"policies.ip_relaxation": "bypass"}


def test_list_order_is_not_a_change():
    assert changed_paths({"policies.profiles": ["a", "b"]}, {"policies.profiles": ["b", "a"]}) == []


def test_enabling_a_flow_is_flagged():
    plan = plan_app(desired(settings__device=True), live(settings={"isDeviceFlowEnabled": False}))
    assert plan.changes[0].enables_flow


def test_enabling_client_credentials_without_run_as_is_an_error():
    plan = plan_app(
        desired(policies__client_credentials=True),
        live(policies={"isClientCredentialsFlowEnabled": False}),
    )
    assert any("no run-as user" in e for e in plan.errors)


def test_missing_app_and_unreadable_settings_are_errors():
    assert "not found in the org" in plan_app(desired(settings__device=False), None).errors[0]
    plan = plan_app(
        desired(settings__device=False, policies__token_exchange=False),
        live(policies={"isTokenExchangeFlowEnabled": True}, settings_unreadable="refused"),
    )
    assert any("settings side cannot be read" in e for e in plan.errors)
    assert [c.path for c in plan.changes] == ["policies.token_exchange"]


def test_baseline_remedy_only_where_silent_and_violating():
    controls = [BY_ID["ECA-OAUTH-001"], BY_ID["ECA-OAUTH-004"]]
    plan = plan_app(
        desired(),
        live(
            settings={"isClientCredentialsFlowEnabled": True},
            policies={"isClientCredentialsFlowEnabled": False, "refreshTokenPolicyType": "Zero"},
        ),
        controls,
    )
    assert [(c.path, c.after, c.control) for c in plan.changes] == [
        ("settings.client_credentials", False, "ECA-OAUTH-001")
    ]


def test_exception_stops_the_remedy_and_is_reported_as_accepted():
    app = desired()
    from datetime import date

    from reconciler.desired_state import ExceptionEntry

    app.exceptions = [
        ExceptionEntry("ECA-OAUTH-001", "why", "who", date(2099, 1, 1), None, "d.yaml", 5)
    ]
    plan = plan_app(
        app,
        live(
            settings={"isClientCredentialsFlowEnabled": True},
            policies={"isClientCredentialsFlowEnabled": True, "clientCredentialsFlowUser": "u"},
        ),
        [BY_ID["ECA-OAUTH-001"]],
    )
    assert plan.changes == []
    assert {f.path for f in plan.findings if f.accepted} == {
        "settings.client_credentials",
        "policies.client_credentials",
    }
