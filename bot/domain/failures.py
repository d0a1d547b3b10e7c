"""Why a task ended without a result: one value per cause; bot.texts says each to the user."""

from __future__ import annotations

from enum import StrEnum


class Failure(StrEnum):
    INSUFFICIENT_CREDITS = "insufficient_credits"
    PROVIDER_AUTH = "provider_auth"  # the operator's API key was refused
    MAINTENANCE = "maintenance"
    RATE_LIMITED = "rate_limited"
    VIDEO_UNREACHABLE = "video_unreachable"  # the provider could not fetch the video link
    INVALID_REQUEST = "invalid_request"
    FEATURE_DISABLED = "feature_disabled"
    GENERATION_FAILED = "generation_failed"
    PROVIDER_ERROR = "provider_error"  # a server error or an answer the bot cannot read
    UNREACHABLE = "unreachable"  # no connection to the provider
    NOT_FOUND = "not_found"  # the provider does not know the task (or it expired)
    TIMED_OUT = "timed_out"  # not finished within TASK_TIMEOUT_SECONDS
    OUTCOME_UNKNOWN = "outcome_unknown"  # the submit may or may not have reached the provider
    RESULT_UNAVAILABLE = "result_unavailable"  # done, but the result file cannot be fetched
    CANNOT_SEND = "cannot_send"  # done, Telegram will not take it, and there is no link to give
