"""What `python -m bot modify` (bot/cli.py) prints on the operator's terminal: plain text, with
no length limit. A provider's reason in it is failure_reason's, as the chat has it."""

from __future__ import annotations

from bot.domain.failures import Failure
from bot.texts.formatting import format_duration
from bot.texts.tasks import failure_reason

__all__ = [
    "CLI_DESCRIPTION",
    "CLI_HELP",
    "CLI_INTERVAL_TOO_SHORT",
    "cli_cannot_save",
    "cli_done_after",
    "cli_gave_up",
    "cli_job_failed",
    "cli_modes_offered",
    "cli_needs_public_link",
    "cli_no_first_frame",
    "cli_no_such_file",
    "cli_not_downloaded",
    "cli_outcome_unknown",
    "cli_processing",
    "cli_refused",
    "cli_saved",
    "cli_submitted",
]

CLI_DESCRIPTION = "Run one Luma Modify job through the configured provider and save the result."
# The help of each argument, by its name.
CLI_HELP: dict[str, str] = {
    "video": "a public http(s) link to the video, or (sandbox) a file",
    "prompt": "how the video should change, in English",
    "--out": "where to save the result (default: result-<job>.mp4)",
    "--mode": "edit strength, e.g. flex_1 (providers that offer it)",
    "--first-frame": "link to an image that guides the first frame",
    "--interval": "seconds between status checks, at least 1 (default 10)",
}
CLI_INTERVAL_TOO_SHORT = "must be at least 1 second"


def cli_cannot_save(folder: str) -> str:
    return f"Cannot save the result in {folder}: no such folder, or not writable."


def cli_needs_public_link(provider: str) -> str:
    return (
        f"{provider} needs a public link to the video; a local file works only with "
        "PROVIDER=sandbox."
    )


def cli_no_such_file(path: str) -> str:
    return f"There is no file {path}."


def cli_modes_offered(provider: str, modes: tuple[str, ...]) -> str:
    return f"{provider} offers these modes: {', '.join(modes) or 'none'}."


def cli_no_first_frame(provider: str) -> str:
    return f"{provider} does not take a first frame."


def cli_submitted(provider: str, job_id: str) -> str:
    return f"Submitted to {provider}: job {job_id}"


def cli_processing(seconds: float) -> str:
    return f"Processing… {format_duration(seconds)}"


def cli_done_after(seconds: float) -> str:
    return f"Done after {format_duration(seconds)}."


def cli_job_failed(failure: Failure, provider_message: str | None) -> str:
    return f"The job failed: {failure_reason(failure, provider_message)}"


def cli_gave_up(seconds: float) -> str:
    return f"Gave up waiting after {format_duration(seconds)} (TASK_TIMEOUT_SECONDS)."


def cli_refused(failure: Failure, provider_message: str | None, detail: str) -> str:
    return f"{failure_reason(failure, provider_message)} ({detail})"


def cli_outcome_unknown(error: str) -> str:
    return f"No answer to the submit, so it may or may not be running: {error}"


def cli_not_downloaded(url: str) -> str:
    return f"The result could not be downloaded; it is at {url}"


def cli_saved(target: str) -> str:
    return f"Saved the result to {target}"
