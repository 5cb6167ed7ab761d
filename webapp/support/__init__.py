"""Support work for the service's own agents: find letters, act on them, watch operations; never content."""
