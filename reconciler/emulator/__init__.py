"""A loopback HTTPS Salesforce org emulator speaking the real wire format."""
