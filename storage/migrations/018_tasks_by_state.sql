-- Tasks counted or picked by state: /metrics at every scrape (all of them, one GROUP BY), /stats
-- (those made since a time), and the tracker's queries each round. tasks_tracked is partial
-- (WHERE state IN ...), and a query that names its state as a parameter (`state = ?`) cannot
-- use it: with 100,000 tasks on SQLite each of the tracker's five statements read every row
-- (~10 ms each); with this index, 0.2-3 ms, and a scrape's queries ~45 ms -> ~8 ms
-- (BENCHMARKS.md, "Metrics").
CREATE INDEX tasks_by_state ON tasks (state, created_at);
