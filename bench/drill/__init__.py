"""The drills' parts (bench/drills.py runs them): the shared set-up (harness: the fakes, the
settings, the bot's process, the database, the users), the faults injected in front of the
fakes (inject), and one module per drill (restart, faults)."""
