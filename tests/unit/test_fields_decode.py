"""decode_component passes through only what the reader already typed; text still decodes."""

from __future__ import annotations

from reconciler import fields as F


def test_typed_values_pass_through_and_text_is_decoded():
    typed = F.decode_component(
        "policies", {"isClientCredentialsFlowEnabled": True, "sessionTimeoutInMinutes": 120}
    )
    text = F.decode_component(
        "policies", {"isClientCredentialsFlowEnabled": " TRUE ", "sessionTimeoutInMinutes": "120"}
    )
    for values in (typed, text):
        assert values["policies.client_credentials"] is True
        assert values["policies.session_timeout_minutes"] == 120
    assert text["policies.run_as"] is None  # absent stays None


def test_enums_are_decoded_to_yaml_terms():
    values = F.decode_component("policies", {"ipRelaxationPolicyType": "Enforce_RelaxRefresh"})
    assert values["policies.ip_relaxation"] == "enforce_relax_refresh"
