"""`python -m bot modify`: one job without Telegram, for operators."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.fakes.kie import TEST_KIE_KEY, FakeKie, result_file_bytes
from tests.test_process import base_environment


async def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "modify",
        *args,
        cwd=cwd,
        env=base_environment() | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


def kie_env(kie: FakeKie, tmp_path: Path) -> dict[str, str]:
    return {  # no TELEGRAM_BOT_TOKEN: the command line does not need one
        "PROVIDER": "kie",
        "PROVIDER_API_KEY": TEST_KIE_KEY,
        "PROVIDER_BASE_URL": kie.url,
        "PROVIDER_RETRY_DELAY_SECONDS": "0.01",
        "DATABASE_PATH": str(tmp_path / "data" / "bot.sqlite3"),
        "ALLOW_LOOPBACK_URLS": "true",  # the fake provider's result files are on loopback
    }


async def test_a_job_through_kie_is_saved(tmp_path: Path) -> None:
    async with FakeKie(complete_after_polls=2, result_size=50_000) as kie:
        out = tmp_path / "out.mp4"
        code, output = await run_cli(
            [
                "https://videos.example.com/clip.mp4",
                "make it snow",
                "--out",
                str(out),
                "--interval",
                "1",
            ],
            kie_env(kie, tmp_path),
            tmp_path,
        )
    assert code == 0, output
    assert "Submitted to KIE.ai" in output
    assert "Processing" in output
    assert f"Saved the result to {out}" in output
    assert out.read_bytes() == result_file_bytes(50_000)
    assert TEST_KIE_KEY not in output


async def test_what_a_provider_cannot_do_is_said_before_anything_is_sent(tmp_path: Path) -> None:
    async with FakeKie() as kie:
        env = kie_env(kie, tmp_path)
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(b"not sent anywhere")
        cases = [
            ([str(clip), "make it red"], "a local file works only with PROVIDER=sandbox"),
            (
                ["https://v.example.com/a.mp4", "make it red", "--mode", "flex_1"],
                "KIE.ai offers these modes: none",
            ),
            (["ftp://v.example.com/a.mp4", "make it red"], "Only http:// and https://"),
            (["https://v.example.com/a.mp4", "сделай красиво"], "only English prompts"),
        ]
        for args, expected in cases:
            code, output = await run_cli(args, env, tmp_path)
            assert code == 1, output
            assert expected in output
        assert kie.requests == []


async def test_a_failed_job_is_explained(tmp_path: Path) -> None:
    async with FakeKie() as kie:
        kie.refuse_next_generate(402, "Credits insufficient")
        code, output = await run_cli(
            ["https://v.example.com/a.mp4", "make it red"], kie_env(kie, tmp_path), tmp_path
        )
    assert code == 1
    assert "run out of credits" in output


async def test_an_output_folder_that_cannot_be_written_is_refused_before_paying(
    tmp_path: Path,
) -> None:
    async with FakeKie() as kie:
        code, output = await run_cli(
            ["https://v.example.com/a.mp4", "make it red", "--out", "/no/such/dir/out.mp4"],
            kie_env(kie, tmp_path),
            tmp_path,
        )
        assert code == 1
        assert "Cannot save the result in /no/such/dir" in output
        assert kie.requests == []
        code, output = await run_cli(
            ["https://v.example.com/a.mp4", "make it red", "--interval", "0"],
            kie_env(kie, tmp_path),
            tmp_path,
        )
        assert code == 2
        assert "must be at least 1 second" in output
