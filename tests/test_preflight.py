"""Preflight: reachable, a video, within size and length; and never into a private network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from bot import texts
from bot.net.netguard import GuardedClient
from bot.providers.kie import capabilities as kie_capabilities
from bot.services.preflight import Preflight, Verdict
from tests.fakes.server import LoopbackServer
from tests.videos import make_clip

KIE = kie_capabilities("KIE.ai")  # 10 s, 500 MB, MP4/MOV/AVI/WebM
BIG = str(600 * 1024 * 1024)


def site(folder: Path) -> Starlette:
    make_clip(folder / "clip.mp4", seconds=2.0)
    make_clip(folder / "long.mp4", seconds=12.0, fps=4, size=(64, 48), audio=False)
    make_clip(folder / "clip.webm", seconds=1.0, container="webm", audio=False)

    def file(name: str, media_type: str | None = None) -> Route:
        return Route(f"/{name}", lambda r: FileResponse(folder / name, media_type=media_type))

    async def huge(request: Request) -> Response:
        headers = {"content-type": "video/mp4"}
        if "range" in request.headers:
            return Response(b"\x00" * 16, 206, {**headers, "content-range": f"bytes 0-15/{BIG}"})
        return Response(b"", 200, {**headers, "content-length": BIG})

    async def no_head(request: Request) -> Response:
        if request.method == "HEAD":
            return Response(status_code=405)
        return FileResponse(folder / "clip.mp4", media_type="video/mp4")

    async def shy(request: Request) -> Response:
        return Response(status_code=405)  # neither HEAD nor GET of a part

    async def loop(request: Request) -> Response:
        return RedirectResponse(f"/loop?{int(request.query_params.get('n', 0)) + 1}")

    return Starlette(
        routes=[
            file("clip.mp4"),
            file("long.mp4"),
            file("clip.webm"),
            Route(
                "/blob",
                lambda r: FileResponse(folder / "clip.mp4", media_type="application/octet-stream"),
            ),
            Route(
                "/movie.mkv",
                lambda r: FileResponse(folder / "clip.webm", media_type="video/x-matroska"),
            ),
            Route("/page", lambda r: Response("<html>hi</html>", media_type="text/html")),
            Route("/huge.mp4", huge, methods=["GET", "HEAD"]),
            Route("/no-head.mp4", no_head, methods=["GET", "HEAD"]),
            Route("/shy.mp4", shy, methods=["GET", "HEAD"]),
            Route("/secret.mp4", lambda r: Response(status_code=403)),
            Route("/redirect", lambda r: RedirectResponse("/clip.mp4")),
            Route("/to-private", lambda r: RedirectResponse("http://10.0.0.1/v.mp4")),
            Route("/to-metadata", lambda r: RedirectResponse("http://169.254.169.254/latest/")),
            Route("/loop", loop),
        ]
    )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    async with LoopbackServer(site(tmp_path)) as running:
        yield running.url


async def fake_dns(host: str, port: int) -> list[str]:
    names = {
        "public.test": ["127.0.0.1"],
        "two.test": ["127.0.0.2", "127.0.0.1"],  # nothing listens at the first one
        "internal.test": ["10.1.2.3"],
        "mixed.test": ["8.8.8.8", "192.168.0.9"],
    }
    if host not in names:
        raise OSError("no such host")
    return names[host]


async def check(url: str, *, allow_loopback: bool = True) -> Verdict:
    client = GuardedClient(timeout=5, allow_loopback=allow_loopback, resolver=fake_dns)
    try:
        return await Preflight(client, KIE, timeout=5).check_link(url)
    finally:
        await client.aclose()


@pytest.mark.parametrize("path", ["/clip.mp4", "/clip.webm", "/blob", "/no-head.mp4", "/redirect"])
async def test_good_videos_pass(server: str, path: str) -> None:
    assert await check(server + path) == Verdict()


async def test_a_server_that_shows_nothing_is_let_through_with_a_note(server: str) -> None:
    assert await check(server + "/shy.mp4") == Verdict(note=texts.preflight_unchecked())


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/long.mp4", texts.video_too_long(12.0, 10)),
        ("/huge.mp4", texts.video_too_big(600, 500)),
        ("/page", texts.not_a_video("text/html")),
        ("/movie.mkv", texts.format_not_taken("mkv", KIE)),
        ("/missing.mp4", texts.link_not_found(404)),
        ("/secret.mp4", texts.link_not_public(403)),
    ],
)
async def test_videos_the_provider_would_reject_are_refused_with_a_sentence(
    server: str, path: str, problem: str
) -> None:
    assert (await check(server + path)).problem == problem


async def test_too_many_redirects_are_refused(server: str) -> None:
    verdict = await check(server + "/loop")
    assert verdict.problem is not None
    assert "redirects more than 3 times" in verdict.problem


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/v.mp4",
        "http://10.0.0.1/v.mp4",
        "http://[::1]/v.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:192.168.1.1]/v.mp4",
        "http://internal.test/v.mp4",  # a name that resolves to a private address
        "http://mixed.test/v.mp4",  # one private address among the answers is enough
        "http://0.0.0.0/v.mp4",
    ],
)
async def test_private_and_local_addresses_are_refused_without_connecting(url: str) -> None:
    verdict = await check(url, allow_loopback=False)
    assert verdict.problem is not None
    assert "private or local network" in verdict.problem


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata"])
async def test_a_public_link_that_redirects_into_a_private_network_is_refused(
    server: str, path: str
) -> None:
    public = server.replace("127.0.0.1", "public.test")  # the test server stands in for it
    verdict = await check(public + path)  # loopback allowed: the first hop is fine...
    assert verdict.problem is not None  # ...the redirect into 10/8 or 169.254/16 is not
    assert "private or local network" in verdict.problem


async def test_unknown_hosts_and_closed_ports_are_explained() -> None:
    assert (await check("http://nowhere.test/v.mp4")).problem == (
        "The address nowhere.test does not exist (it has no DNS entry)."
    )
    assert (await check("http://127.0.0.1:9/v.mp4")).problem == texts.link_unreachable("127.0.0.1")


async def test_uploaded_files_are_checked_on_disk(tmp_path: Path) -> None:
    good = make_clip(tmp_path / "good.mov", seconds=1.0, container="mov")
    long = make_clip(tmp_path / "long.mp4", seconds=11.0, fps=4, size=(64, 48), audio=False)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 50)
    client = GuardedClient()
    try:
        preflight = Preflight(client, KIE)
        assert await preflight.check_file(good, good.stat().st_size, "video/quicktime") == Verdict()
        assert (await preflight.check_file(long, 1000, "video/mp4")).problem == (
            texts.video_too_long(11.0, 10)
        )
        assert (await preflight.check_file(junk, 900, "video/mp4")).problem == (
            texts.upload_not_a_video()
        )
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("media_type", "disposition"),
    [
        ("application/mp4", None),
        ("application/force-download", None),
        ("application/x-download", 'attachment; filename="holiday.mp4"'),
        ("binary/octet-stream", None),
    ],
)
async def test_videos_served_under_odd_types_are_judged_by_their_bytes(
    tmp_path: Path, media_type: str, disposition: str | None
) -> None:
    make_clip(tmp_path / "v", seconds=1.0)
    headers = {"content-disposition": disposition} if disposition else {}
    app = Starlette(
        routes=[
            Route(
                "/get",
                lambda r: FileResponse(tmp_path / "v", media_type=media_type, headers=headers),
            )
        ]
    )
    async with LoopbackServer(app) as server:
        assert await check(server.url + "/get") == Verdict()


@pytest.mark.parametrize(
    "host",
    ["bücher.example", "a" * 64 + ".example", "x<b>y.example"],
)
async def test_odd_host_names_get_a_sentence_not_an_error(host: str) -> None:
    verdict = await check(f"http://{host}/v.mp4")
    assert verdict.problem is not None
    assert "<b>" not in verdict.problem  # escaped: the message goes out as HTML


async def test_a_host_whose_first_address_is_down_is_reached_at_the_next(server: str) -> None:
    assert await check(server.replace("127.0.0.1", "two.test") + "/clip.mp4") == Verdict()
