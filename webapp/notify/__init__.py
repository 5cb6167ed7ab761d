"""Notification providers (SMS now, email later) and message texts.

Providers know nothing of letters: they take a number, a text and our own
message id (for idempotency and delivery receipts), and report the outcome.
"""
