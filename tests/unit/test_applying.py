"""Write-back rules of the applier that need no org."""

from __future__ import annotations

from reconciler.applying import _modified, _phase_of
from reconciler.model import AppPlan, Component, FieldChange


def _app(*changes: FieldChange) -> AppPlan:
    return AppPlan("A", list(changes))


def test_only_planned_fields_change_and_rotation_triggers_are_not_replayed():
    live = Component(
        "ExtlClntAppGlobalOauthSettings",
        "A_g",
        {
            "externalClientApplication": "A",
            "consumerSecret": "kept-as-read",
            "isDeviceFlowEnabled": True,
            "shouldRotateConsumerSecret": True,
            "label": "L",
        },
    )
    new = _modified(live, _app(FieldChange("A", "settings", "device", True, False)), "settings")
    assert new.fields == {
        "externalClientApplication": "A",
        "consumerSecret": "kept-as-read",
        "isDeviceFlowEnabled": False,
        "shouldRotateConsumerSecret": False,
        "label": "L",
    }
    assert live.fields["isDeviceFlowEnabled"] is True  # the live copy is untouched


def test_client_credentials_order():
    enable = _app(FieldChange("A", "settings", "client_credentials", False, True))
    disable = _app(FieldChange("A", "settings", "client_credentials", True, False))
    assert _phase_of(enable, "settings") < _phase_of(enable, "policies")
    assert _phase_of(disable, "policies") < _phase_of(disable, "settings")
