"""The Metrics port: what the services, the providers' HTTP and the Telegram sends report for
the operators' `/metrics` (bot.metrics implements it with prometheus-client).

Every method is called on a hot path and must cost next to nothing; `NO_METRICS` (the default
everywhere, and what the specs use) does nothing at all. Label values are drawn from small
fixed sets (states, failures, endpoints, Bot API methods), never from users' input.
"""

from __future__ import annotations

from typing import Protocol


class Metrics(Protocol):
    def task_submitted(self) -> None:
        """A card became a queued task (Submit)."""
        ...

    def task_finished(self, outcome: str, failure: str | None = None) -> None:
        """A task reached an end state (`outcome`: delivered, undeliverable, failed, unknown,
        cancelled); `failure` says why one failed (a bot.domain.failures.Failure value)."""
        ...

    def task_delivered(
        self, kind: str, processing_seconds: float | None, delivery_seconds: float | None
    ) -> None:
        """A result went into its chat as `kind` (video, document, link): how long the provider
        worked on it, and how long from the provider's end to the chat."""
        ...

    def provider_request(self, endpoint: str, outcome: str, seconds: float) -> None:
        """One HTTP request to the provider (`endpoint`: submit, status, result, credits;
        `outcome`: ok, or the Failure it came to)."""
        ...

    def telegram_call(self, method: str, outcome: str, seconds: float) -> None:
        """One Bot API call (`outcome`: ok, retry_after for a 429, or the error's kind)."""
        ...

    def tracker_round(self, database_seconds: float) -> None:
        """One tracker round and the time its database statements took."""
        ...

    def check_started(self, lateness_seconds: float) -> None:
        """The tracker started a status check this long after it was due."""
        ...

    def broadcast_message(self, result: str) -> None:
        """One broadcast message: sent, blocked or failed."""
        ...

    def upload(self, kind: str, outcome: str) -> None:
        """A file a user sent (`kind`: video, image): kept, refused (checks) or failed."""
        ...


class NoMetrics:
    """Metrics that go nowhere: the default, for specs and for a bot with no /metrics."""

    def task_submitted(self) -> None:
        pass

    def task_finished(self, outcome: str, failure: str | None = None) -> None:
        pass

    def task_delivered(
        self, kind: str, processing_seconds: float | None, delivery_seconds: float | None
    ) -> None:
        pass

    def provider_request(self, endpoint: str, outcome: str, seconds: float) -> None:
        pass

    def telegram_call(self, method: str, outcome: str, seconds: float) -> None:
        pass

    def tracker_round(self, database_seconds: float) -> None:
        pass

    def check_started(self, lateness_seconds: float) -> None:
        pass

    def broadcast_message(self, result: str) -> None:
        pass

    def upload(self, kind: str, outcome: str) -> None:
        pass


NO_METRICS: Metrics = NoMetrics()
