"""Declarative reconciler for Salesforce External Client App OAuth settings."""

__version__ = "0.1.0"
