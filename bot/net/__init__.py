"""The network toolkit: guarded fetching, capped downloads, retries and rate limits.

It imports nothing of the project but the domain, so providers may use it.
"""
