"""Declarative reconciler for Salesforce External Client App OAuth settings."""
