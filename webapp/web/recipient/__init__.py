"""The recipient's pages."""
