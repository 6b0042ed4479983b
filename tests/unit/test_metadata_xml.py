"""Reading a readMetadata record into a Component, and writing it back (metadata_xml.py).

The reader has a fast path for plain strings and booleans; these tests pin what both paths
must agree on: typing by the WSDL, nil elements left out, unknown and repeated elements kept,
bad values refused naming the field, and the same elements in the same order on the way back.
"""

from __future__ import annotations

import pytest
from lxml import etree

from reconciler.errors import IncompleteResponse
from reconciler.org import soap
from reconciler.org.metadata_xml import component_to_xml, record_to_component

POLICIES = "ExtlClntAppOauthConfigurablePolicies"
NS = f'xmlns="{soap.MD_NS}" xmlns:xsi="{soap.XSI}"'


def record(body: str, type_name: str = POLICIES) -> etree._Element:
    return etree.fromstring(f'<records {NS} xsi:type="{type_name}">{body}</records>')


def test_fields_are_typed_by_the_wsdl_and_nil_ones_left_out():
    component = record_to_component(
        record(
            "<fullName>App_Policies</fullName>"
            "<clientCredentialsFlowUser xsi:nil='true'/>"
            "<isClientCredentialsFlowEnabled>1</isClientCredentialsFlowEnabled>"
            "<isGuestCodeCredFlowEnabled>false</isGuestCodeCredFlowEnabled>"
            "<isNamedUserJwtEnabled xsi:nil='true'/>"
            "<label></label>"
            "<permittedUsersPolicyType>AdminApprovedPreAuthorized</permittedUsersPolicyType>"
            "<sessionTimeoutInMinutes> 120 </sessionTimeoutInMinutes>"
        ),
        POLICIES,
        "readMetadata",
    )
    assert component.full_name == "App_Policies"
    assert component.fields == {
        "isClientCredentialsFlowEnabled": True,
        "isGuestCodeCredFlowEnabled": False,
        "label": "",
        "permittedUsersPolicyType": "AdminApprovedPreAuthorized",
        "sessionTimeoutInMinutes": 120,
    }


def test_padded_boolean_is_still_a_boolean():
    component = record_to_component(
        record(
            "<fullName>A</fullName><isTokenExchangeFlowEnabled> true </isTokenExchangeFlowEnabled>"
        ),
        POLICIES,
        "readMetadata",
    )
    assert component.fields["isTokenExchangeFlowEnabled"] is True


@pytest.mark.parametrize(
    ("element", "words"),
    [
        ("<isClientCredentialsFlowEnabled>yes</isClientCredentialsFlowEnabled>", "not a boolean"),
        ("<sessionTimeoutInMinutes>2h</sessionTimeoutInMinutes>", "not an integer"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(element, words):
    with pytest.raises(IncompleteResponse, match=words) as exc:
        record_to_component(record(f"<fullName>A</fullName>{element}"), POLICIES, "readMetadata")
    assert exc.value.args[0].startswith("readMetadata:")
    name = element[1 : element.index(">")]
    assert name in str(exc.value)


def test_unknown_and_repeated_elements_are_kept_and_written_back_in_order():
    body = (
        "<fullName>A</fullName>"
        "<customAttributes><key>k1</key><formula>1</formula></customAttributes>"
        "<customAttributes><key>k2</key><formula>2</formula></customAttributes>"
        "<isClientCredentialsFlowEnabled>true</isClientCredentialsFlowEnabled>"
        "<someFutureField>x</someFutureField>"
        "<label>L</label>"
    )
    component = record_to_component(record(body), POLICIES, "readMetadata")
    assert [a["key"] for a in component.fields["customAttributes"]] == ["k1", "k2"]
    assert component.fields["someFutureField"] == "x"

    parent = etree.Element(soap.md("updateMetadata"))
    written = component_to_xml(parent, component)
    tags = [etree.QName(child).localname for child in written]
    assert tags == [
        "fullName",
        "customAttributes",
        "customAttributes",
        "isClientCredentialsFlowEnabled",
        "someFutureField",
        "label",
    ]
    assert written.findtext(soap.md("isClientCredentialsFlowEnabled")) == "true"


def test_a_record_of_another_type_is_refused():
    with pytest.raises(IncompleteResponse, match="ExtlClntAppGlobalOauthSettings came back"):
        record_to_component(
            record("<fullName>A</fullName>", "ExtlClntAppGlobalOauthSettings"),
            POLICIES,
            "readMetadata",
        )
