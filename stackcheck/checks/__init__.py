"""Checks: one module per domain, each holding its checks' records and pure evaluations.

model.py says what a check is; catalog.py builds the full, ordered list from the stack file.
"""
