"""Org access: the only door to the outside world.

`interface.Org` is the narrow protocol the planner and applier use; `salesforce.SalesforceOrg`
implements it with simple-salesforce for any org (real or the built-in emulator, which speaks the
same wire format); `connect.connect` turns command-line options into an open Org.
"""

from .interface import Org, SaveOutcome

__all__ = ["Org", "SaveOutcome"]
