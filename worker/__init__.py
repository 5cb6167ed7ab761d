"""Worker processes: RQ workers and the periodic scheduler, each with its own app context."""
