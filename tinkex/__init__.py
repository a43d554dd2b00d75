"""tinkex: a sync-first Python SDK for the Tinker fine-tuning API."""

__version__ = "0.1.0"
