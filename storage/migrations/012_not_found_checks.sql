-- Status checks answered "not found" in a row (the provider lost the job after that many): counted
-- apart from `attempts`, which counts every unanswered check.
ALTER TABLE tasks ADD COLUMN not_founds INTEGER NOT NULL DEFAULT 0;
