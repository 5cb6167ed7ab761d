"""Public pages and endpoints: no account needed."""
