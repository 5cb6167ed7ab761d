"""The support console and its operations view."""
