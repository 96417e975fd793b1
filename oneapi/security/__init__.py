"""Hardening for a gateway on the open internet: one module per concern (see SECURITY.md)."""
