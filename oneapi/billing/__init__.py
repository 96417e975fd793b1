"""Quota arithmetic (ratios, token counting, the pricing formula) and the ledger that moves quota."""
