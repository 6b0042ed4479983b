"""Declarative reconciler for Salesforce External Client App OAuth settings."""

#: The one version source: packaging reads it (pyproject.toml, dynamic version) and so does
#: `reconciler --version`. The distribution is `eca-reconciler`; the package and command are
#: `reconciler`.
__version__ = "0.2.0"
