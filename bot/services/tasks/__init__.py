"""A task's life cycle, by stage."""
