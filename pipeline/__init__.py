"""Runner-agnostic pipeline code: configuration, wiring, metadata queries, progress."""
