"""`reconciler export --as-eca` (issue 18): each Connected App as the ECA desired state that
keeps its OAuth flows; the output validates, and plans to `No changes.` against an org where
those ECAs exist as the move would create them. Real CLI, HTTPS emulator."""

from __future__ import annotations

from typing import Any

import yaml

from reconciler.emulator.rules import with_defaults

from ..support import run

CALLBACK = "https://apps.acme.example/warehouse_loader/callback"


def _with_the_ecas(doc: dict[str, Any]) -> None:
    """Warehouse_Loader as an ECA, set by hand from the Connected App's known values."""
    md = doc["metadata"]

    def put(type_name: str, name: str, fields: dict[str, Any]) -> None:
        md.setdefault(type_name, {})[name] = with_defaults(type_name, fields)
        doc["metadata_info"].setdefault(type_name, {})[name] = {
            "id": f"0xZ{len(md[type_name]):012d}AAA",
            "createdDate": "2026-01-01T00:00:00.000Z",
            "lastModifiedDate": "2026-01-01T00:00:00.000Z",
        }

    app = "Warehouse_Loader"
    put("ExternalClientApplication", app, {"contactEmail": "a@acme.example", "label": app})
    put(
        "ExtlClntAppGlobalOauthSettings",
        f"{app}_glbloauth",
        {
            "externalClientApplication": app,
            "label": app,
            "consumerKey": "3MVG9newkey",
            "consumerSecret": "newsecret",
            "isClientCredentialsFlowEnabled": True,
            "callbackUrl": CALLBACK,
        },
    )
    put(
        "ExtlClntAppOauthConfigurablePolicies",
        f"{app}_oauthPlcy",
        {
            "externalClientApplication": app,
            "label": app,
            "isClientCredentialsFlowEnabled": True,
            "clientCredentialsFlowUser": "billing.integration@acme.example",
            "ipRelaxationPolicyType": "Enforce",
            "refreshTokenPolicyType": "SpecificInactivity",
            "refreshTokenValidityPeriod": 30,
            "refreshTokenValidityUnit": "Days",
            "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
            "requiredSessionLevel": "STANDARD",
        },
    )


def test_export_as_eca_keeps_the_flows_and_plans_cleanly_once_the_ecas_exist(
    org, make_org, tmp_path
):
    out = tmp_path / "desired" / "moved.yaml"
    out.parent.mkdir()
    result = run("export", "-o", org.target, "--as-eca", "--out", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    doc = yaml.safe_load(text)
    assert sorted(doc["apps"]) == ["Field_Survey_Mobile", "Legacy_CRM_Sync", "Warehouse_Loader"]
    assert doc["apps"]["Warehouse_Loader"] == {
        "settings": {"client_credentials": True, "callback_url": CALLBACK},
        "policies": {
            "client_credentials": True,
            "run_as": "billing.integration@acme.example",
            "ip_relaxation": "enforce",
            "refresh_token": {"policy": "specific_inactivity", "period": 30, "unit": "days"},
        },
    }
    # A value no ECA value reads the same is said, not guessed (demo: `infinite` is an ECA
    # policy name, BYPASS an ECA value, so both carry over for Legacy_CRM_Sync).
    assert doc["apps"]["Legacy_CRM_Sync"]["policies"]["ip_relaxation"] == "bypass"
    assert "run_as" not in doc["apps"]["Field_Survey_Mobile"].get("policies", {})
    for secret in ("consumerKey", "consumerSecret", "consumer_secret"):
        assert secret not in text
    assert run("validate", "-d", out.parent).exit_code == 0

    only = tmp_path / "only" / "wl.yaml"
    only.parent.mkdir()
    one = run("export", "-o", org.target, "--as-eca", "--app", "Warehouse_Loader", "--out", only)
    assert one.exit_code == 0, one.output
    moved = make_org(_with_the_ecas, name="moved.json")
    plan = run("plan", "-o", moved.target, "-d", only.parent, "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "No changes." in plan.stdout


def test_the_ecas_source_files_deploy_to_exactly_the_exported_desired_state(org, tmp_path):
    """`--source-dir` writes each ECA's SFDX files. Deployed (the emulator seeded from the
    folder, as `sf project deploy` would create the apps), the exported YAML plans to
    `No changes.`: the files and the desired state describe the same apps. No secret, no
    overwrite."""
    source, out = tmp_path / "force-app", tmp_path / "eca.yaml"
    result = run("export", "-o", org.target, "--as-eca", "--out", out, "--source-dir", source)
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(source)) for p in source.rglob("*.xml"))
    assert files == sorted(
        f"{folder}/{app}{suffix}"
        for app in ("Field_Survey_Mobile", "Legacy_CRM_Sync", "Warehouse_Loader")
        for folder, suffix in (
            ("externalClientApps", ".eca-meta.xml"),
            ("extlClntAppGlobalOauthSets", "_glbloauth.ecaGlblOauth-meta.xml"),
            ("extlClntAppOauthSettings", "_oauth.ecaOauth-meta.xml"),
            ("extlClntAppOauthPolicies", "_oauthPlcy.ecaOauthPlcy-meta.xml"),
        )
    )
    texts = {p: p.read_text() for p in source.rglob("*.xml")}
    assert not any("consumerKey" in t or "consumerSecret" in t for t in texts.values())
    deployed = run("plan", "-o", f"emulator:{source}", "-d", out, "--detailed-exitcode")
    assert deployed.exit_code == 0, deployed.output
    assert deployed.stdout.rstrip().endswith("No changes."), deployed.stdout

    again = run("export", "-o", org.target, "--as-eca", "--source-dir", source)
    assert again.exit_code == 1
    assert "already exist" in again.stderr and "nothing was written" in again.stderr
    assert {p: p.read_text() for p in source.rglob("*.xml")} == texts


def test_source_dir_without_as_eca_is_a_clear_error(org, tmp_path):
    result = run("export", "-o", org.target, "--source-dir", tmp_path / "src")
    assert result.exit_code == 1
    assert "use it with --as-eca" in result.stderr
    assert not (tmp_path / "src").exists()
