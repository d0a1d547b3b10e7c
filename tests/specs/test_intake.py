"""Intake: a confirmed card becomes a queued task, within the user's limits, outside maintenance."""

from __future__ import annotations

import asyncio

from bot import texts
from bot.domain.records import DraftState, TaskState
from bot.services.tasks.intake import SubmitOutcomeKind
from tests.specs.conftest import ADMIN, OTHER_USER, PROMPT, USER, VIDEO_URL, World

HALF_A_DAY = 12 * 3600.0  # from START (noon UTC) to the next midnight


async def test_a_draft_becomes_a_queued_task_and_the_tracker_is_woken(world: World) -> None:
    draft_id = await world.draft(card=77)

    outcome = await world.life.intake.submit_draft(USER, draft_id)

    assert outcome.kind == SubmitOutcomeKind.SUBMITTED
    assert outcome.task_id is not None
    task = await world.task(outcome.task_id)
    assert (task.state, task.user_id, task.video_url, task.prompt) == (
        TaskState.QUEUED,
        USER,
        VIDEO_URL,
        PROMPT,
    )
    assert task.status_message_id == 77  # the card becomes the task's status card
    assert task.created_at == world.clock()
    assert world.wakes.count == 1
    assert [(c.task_id, c.state) for c in world.outbox.cards] == [(task.id, TaskState.QUEUED)]
    draft = await world.drafts.get(draft_id)
    assert draft is not None
    assert draft.state == DraftState.SUBMITTED
    assert world.provider.submitted == []  # the tracker sends it, not intake


async def test_a_draft_submitted_again_names_the_task_it_became(world: World) -> None:
    draft_id = await world.draft()
    first = await world.life.intake.submit_draft(USER, draft_id)

    again = await world.life.intake.submit_draft(USER, draft_id)

    assert again.kind == SubmitOutcomeKind.ALREADY_SUBMITTED
    assert again.task_id == first.task_id
    assert len(await world.tasks.recent_for_user(USER, 10)) == 1


async def test_two_presses_of_submit_at_once_make_one_task(world: World) -> None:
    draft_id = await world.draft()

    outcomes = await asyncio.gather(
        world.life.intake.submit_draft(USER, draft_id),
        world.life.intake.submit_draft(USER, draft_id),
    )

    kinds = sorted(o.kind for o in outcomes)
    assert kinds == [SubmitOutcomeKind.ALREADY_SUBMITTED, SubmitOutcomeKind.SUBMITTED]
    assert len(await world.tasks.recent_for_user(USER, 10)) == 1
    assert world.wakes.count == 1


async def test_another_users_draft_is_gone_for_them(world: World) -> None:
    draft_id = await world.draft(USER)
    await world.users.seen(OTHER_USER, None, "other", world.clock())

    outcome = await world.life.intake.submit_draft(OTHER_USER, draft_id)

    assert outcome.kind == SubmitOutcomeKind.GONE
    assert await world.tasks.recent_for_user(OTHER_USER, 10) == []


async def test_the_active_limit_refuses_with_the_sentence_and_leaves_the_draft(
    world: World,
) -> None:
    first = await world.given_queued()
    second = await world.given_queued()
    draft_id = await world.draft()

    outcome = await world.life.intake.submit_draft(USER, draft_id)

    assert outcome.kind == SubmitOutcomeKind.REFUSED
    assert outcome.message == texts.active_limit_reached(2, [first.id, second.id])
    draft = await world.drafts.get(draft_id)
    assert draft is not None
    assert draft.state == DraftState.PENDING  # to be submitted once a task ends
    assert world.wakes.count == 0


async def test_the_daily_limit_refuses_with_the_sentence_and_leaves_the_draft(
    world: World,
) -> None:
    for _ in range(3):  # QUOTA.daily_limit, each finished so the active limit stays clear
        task = await world.given_processing()
        assert await world.tasks.transition(task.id, TaskState.PROCESSING, TaskState.DELIVERED)
    draft_id = await world.draft()

    outcome = await world.life.intake.submit_draft(USER, draft_id)

    assert outcome.kind == SubmitOutcomeKind.REFUSED
    assert outcome.message == texts.daily_limit_reached(3, HALF_A_DAY)
    draft = await world.drafts.get(draft_id)
    assert draft is not None
    assert draft.state == DraftState.PENDING


async def test_a_users_own_daily_limit_wins_and_a_new_utc_day_starts_it_again(
    world: World,
) -> None:
    await world.given_queued()
    await world.users.set_daily_limit(USER, 1)
    draft_id = await world.draft()

    refused = await world.life.intake.submit_draft(USER, draft_id)
    world.clock.advance(HALF_A_DAY)  # midnight UTC
    accepted = await world.life.intake.submit_draft(USER, draft_id)

    assert refused.message == texts.daily_limit_reached(1, HALF_A_DAY)
    assert accepted.kind == SubmitOutcomeKind.SUBMITTED


async def test_a_task_the_provider_refused_outright_does_not_count_for_the_day(
    world: World,
) -> None:
    await world.users.seen(USER, None, "user", world.clock())
    await world.users.set_daily_limit(USER, 1)
    refused = await world.given_queued()
    assert await world.tasks.transition(refused.id, TaskState.QUEUED, TaskState.FAILED)

    outcome = await world.life.intake.submit_draft(USER, await world.draft())

    assert outcome.kind == SubmitOutcomeKind.SUBMITTED


async def test_maintenance_refuses_non_admins_only(world: World) -> None:
    await world.maintenance.start("Back at six.")
    user_draft = await world.draft(USER)
    admin_draft = await world.draft(ADMIN)

    user = await world.life.intake.submit_draft(USER, user_draft)
    admin = await world.life.intake.submit_draft(ADMIN, admin_draft)

    assert (user.kind, user.message) == (SubmitOutcomeKind.REFUSED, "Back at six.")
    assert admin.kind == SubmitOutcomeKind.SUBMITTED
    assert await world.tasks.active_for_user(USER) == []


async def test_admins_have_no_limits(world: World) -> None:
    outcomes = [
        await world.life.intake.submit_draft(ADMIN, await world.draft(ADMIN)) for _ in range(4)
    ]

    assert {o.kind for o in outcomes} == {SubmitOutcomeKind.SUBMITTED}
    assert len(await world.tasks.active_for_user(ADMIN)) == 4


async def test_the_task_holds_its_upload_and_an_expired_upload_refuses(world: World) -> None:
    kept = await world.given_queued(upload="kept-video")
    draft_id = await world.draft(upload="old-video")
    world.clock.advance(86400)  # the upload of the new draft expires

    outcome = await world.life.intake.submit_draft(USER, draft_id)

    assert kept.media_token == "kept-video"
    assert await world.media.live("kept-video", world.clock())  # held: it no longer expires
    assert (outcome.kind, outcome.message) == (SubmitOutcomeKind.REFUSED, texts.upload_gone())
