"""The sender portal."""
