"""Org access: the only door to the outside world.

`interface.Org` is the narrow protocol the planner and applier use; `salesforce.SalesforceOrg`
implements it with simple-salesforce for any org (real or the built-in emulator, which speaks the
same wire format); `registry.open_org` turns an `OrgTarget` (target.py) into an open Org.
Nothing is imported here, so `--help` can read the org options (target.py) without the model.
"""
