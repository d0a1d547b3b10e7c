"""The database a bench's bot uses (`--database`): a SQLite file, the default, or a fresh
database on a throwaway PostgreSQL server that the bench starts and stops (engine)."""
