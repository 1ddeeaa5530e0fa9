"""Checkout Sessions: the hosted front door (API keys, sessions, session webhooks) onto the same
orders, deposits, watchers and outbox as the Ocrch headless flow. See docs/checkout-sessions.md."""
