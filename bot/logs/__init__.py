"""Keeping logs and admin reports readable and free of secrets."""
