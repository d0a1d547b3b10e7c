"""UserTasks: a user's own tasks, for /tasks and /task N (reads only)."""

from __future__ import annotations

from bot.domain.records import Task
from storage.tasks import TaskRepository


class UserTasks:
    def __init__(self, tasks: TaskRepository) -> None:
        self._tasks = tasks

    async def recent(self, user_id: int, limit: int = 10) -> list[Task]:
        return await self._tasks.recent_for_user(user_id, limit)

    async def one(self, user_id: int, task_id: int) -> Task | None:
        """The task if it is this user's, else None (others' tasks are not shown)."""
        return await self._tasks.get_for_user(user_id, task_id)
