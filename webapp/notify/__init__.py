"""Notification providers (SMS, email) and message texts.

Providers know nothing of letters: they take a number or an address, a text
and our own message id (for idempotency and delivery receipts), and report
the outcome.
"""
