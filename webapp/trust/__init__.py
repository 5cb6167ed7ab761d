"""Hashing, evidence records and (later) seals, timestamps and PDF proofs."""
