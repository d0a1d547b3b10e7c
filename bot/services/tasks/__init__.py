"""A task's life cycle, by stage; each module one job.

- intake: a confirmed card becomes a queued task, within the user's quota;
- submitting: a queued task is sent to the provider, once;
- checking: what the provider says of a running task (from a poll or a callback);
- callbacks: the provider's calls, authenticated by their URL, handed to checking;
- delivering: a finished task's result goes into its chat, once;
- endings: failed, or outcome unknown; and reports of the bot's own errors;
- recovery: what a stop left half-done, settled at start;
- cards: the status card under each request;
- tracker: the loop that finds due tasks and hands each to its stage;
- lifecycle: builds the stages over one set of ports; ports, policy, stage: what they share;
- queries: a user's own tasks, for /tasks and /status.
"""
