"""stablecheckout: a self-hosted stablecoin checkout server, wire-compatible with Ocrch."""

__version__ = "0.1.0"
