"""JSON API for integrators."""
