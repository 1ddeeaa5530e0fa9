"""Fiat pricing: exchange-rate sources, the in-memory rate book and its refresher, currencies."""
