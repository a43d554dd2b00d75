"""The console over plain HTTP: sign-in, tenancy, metrics, downloads, the playground's checks.

What a browser renders is tested in ``test_console_browser.py``; here the
server's answers themselves (statuses, headers, cookies, bodies).
"""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests
from console_helpers import KEY, OTHER_KEY, STEPS, Trained, console_link, train

from tinkex.emulator import Emulator


def segment(run_id: str) -> str:
    return quote(run_id, safe=":")


def signed_in(link: str) -> requests.Session:
    """A requests session that followed the sign-in link (and so holds the cookie)."""
    session = requests.Session()
    response = session.get(link, timeout=30)
    assert response.status_code == 200, response.text
    return session


def as_key(key: str) -> requests.Session:
    session = requests.Session()
    session.headers["X-API-Key"] = key
    return session


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines of an 8-bit RGB PNG (enough to check ours)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
            assert body[8:10] == b"\x08\x02"  # 8-bit RGB
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], zlib.decompress(idat)


# -- signing in ------------------------------------------------------------------------


def test_the_link_signs_in_and_drops_the_token_from_the_address(trained: Trained) -> None:
    session = requests.Session()
    target = f"{trained.console_url}/training_runs/{segment(trained.model_id)}"
    first = session.get(target, allow_redirects=False, timeout=30)
    assert first.status_code == 303
    location = first.headers["location"]
    assert location == f"/console/training_runs/{segment(trained.model_id)}"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert KEY not in cookie
    page = session.get(trained.base_url + location, timeout=30)
    assert page.status_code == 200
    assert trained.model_id in page.text
    assert KEY not in page.text and urlsplit(trained.console_url).path not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_a_link_keeps_the_query_and_the_encoded_path(trained: Trained) -> None:
    checkpoint_id = quote("sampler_weights/console-sampler", safe="")
    target = f"{trained.console_url}/checkpoints/{quote(trained.model_id, safe='')}/{checkpoint_id}"
    response = requests.get(target, allow_redirects=False, timeout=30)
    assert response.headers["location"] == (
        f"/console/checkpoints/{quote(trained.model_id, safe='')}/{checkpoint_id}")
    playground = requests.get(f"{trained.console_url}/playground?mode=checkpoint&checkpoint=x",
                              allow_redirects=False, timeout=30)
    assert playground.headers["location"] == "/console/playground?mode=checkpoint&checkpoint=x"
    # the encoded checkpoint id names the same page as the plain one
    session = signed_in(trained.console_url)
    encoded = session.get(trained.base_url + response.headers["location"], timeout=30)
    assert encoded.status_code == 200 and trained.sampler_path in encoded.text


def test_without_a_sign_in_pages_redirect_and_data_is_401(trained: Trained) -> None:
    page = requests.get(f"{trained.base_url}/console/training_runs/{segment(trained.model_id)}",
                        allow_redirects=False, timeout=30)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login?next=%2Fconsole%2Ftraining_runs")
    data = requests.get(f"{trained.base_url}/console/training_runs/x/metrics.json", timeout=30)
    assert data.status_code == 401
    assert requests.get(f"{trained.base_url}/console", allow_redirects=False,
                        timeout=30).headers["location"] == "/console/"


def test_a_tampered_or_expired_link_lands_on_the_sign_in_form(
        trained: Trained, console_emulator: Emulator) -> None:
    tampered = trained.console_url[:-3] + ("AAA" if not trained.console_url.endswith("AAA")
                                           else "BBB")
    session = requests.Session()
    response = session.get(tampered + "/sessions", timeout=30)
    assert response.status_code == 200 and "not valid" in response.text
    assert urlsplit(response.url).path == "/console/login"
    assert not list(session.cookies)
    access = console_emulator.services.console  # type: ignore[union-attr]
    ttl, access.link_ttl = access.link_ttl, -1.0
    try:
        expired = console_link(trained.base_url, KEY)
    finally:
        access.link_ttl = ttl
    response = requests.get(expired + "/sessions", timeout=30)
    assert "has expired" in response.text
    assert "next=%2Fconsole%2Fsessions" in response.url


def test_signing_in_with_a_key_sets_the_cookie_and_never_echoes_the_key(
        trained: Trained) -> None:
    session = requests.Session()
    login = f"{trained.base_url}/console/login"
    form = session.get(login, params={"next": "/console/sessions"}, timeout=30)
    assert form.status_code == 200 and 'type="password"' in form.text
    bad = session.post(login, data={"api_key": "not-a-key", "next": "/console/sessions"},
                       timeout=30)
    assert bad.status_code == 401 and "must start with" in bad.text and "not-a-key" not in bad.text
    good = session.post(login, data={"api_key": KEY, "next": "/console/sessions"},
                        allow_redirects=False, timeout=30)
    assert good.status_code == 303 and good.headers["location"] == "/console/sessions"
    assert KEY not in good.headers["set-cookie"]
    sessions = session.get(f"{trained.base_url}/console/sessions", timeout=30)
    assert trained.session_id in sessions.text and KEY not in sessions.text
    out = session.post(f"{trained.base_url}/console/logout", allow_redirects=False, timeout=30)
    assert out.status_code == 303
    assert session.get(f"{trained.base_url}/console/sessions", allow_redirects=False,
                       timeout=30).status_code == 303


@pytest.mark.parametrize("target", ["https://elsewhere.example/", "//elsewhere.example/x",
                                    "/api/v1/healthz", "/console/link/abc/sessions"])
def test_the_sign_in_form_only_returns_to_console_pages(trained: Trained, target: str) -> None:
    response = requests.post(f"{trained.base_url}/console/login",
                             data={"api_key": KEY, "next": target}, allow_redirects=False,
                             timeout=30)
    assert response.headers["location"] == "/console/"


def test_a_sign_in_posted_from_another_site_is_refused(trained: Trained) -> None:
    response = requests.post(f"{trained.base_url}/console/login", data={"api_key": KEY},
                             headers={"Origin": "https://elsewhere.example"},
                             allow_redirects=False, timeout=30)
    assert response.status_code == 401 and "set-cookie" not in response.headers


def test_a_cookie_of_another_emulator_on_this_host_is_ignored(
        trained: Trained, tmp_path: Path) -> None:
    # Cookies ignore ports: a browser sends one emulator's cookie to every other on the host.
    with Emulator(data_dir=tmp_path / "second", poll_hold=5.0) as second:
        theirs = signed_in(console_link(second.base_url, KEY))
    cookie = next(iter(theirs.cookies))
    ours = urlsplit(trained.base_url).port
    assert cookie.name == f"tinkex_console_{urlsplit(second.base_url).port}" != \
        f"tinkex_console_{ours}"
    forged = requests.Session()
    forged.cookies.set(f"tinkex_console_{ours}", cookie.value, path="/console")
    response = forged.get(f"{trained.base_url}/console/sessions", allow_redirects=False,
                          timeout=30)
    assert response.status_code == 303  # not signed in here: off to the sign-in form


# -- tenancy ---------------------------------------------------------------------------


def test_another_key_sees_none_of_the_owners_things(trained: Trained) -> None:
    other = as_key(OTHER_KEY)
    base = f"{trained.base_url}/console"
    run = segment(trained.model_id)
    for path in (f"/training_runs/{run}", f"/training_runs/{run}/metrics.json",
                 f"/training_runs/{run}/metrics.png", f"/sessions/{trained.session_id}",
                 f"/checkpoints/{run}/weights/console-state",
                 f"/archives/{run}/weights/console-state"):
        response = other.get(base + path, timeout=30)
        assert response.status_code == 404, path
        # exactly what a run that does not exist gets: nothing tells the two apart
        ghost = other.get(base + path.replace(run, "ghost:train:0").replace(
            trained.session_id, "ghost"), timeout=30)
        assert response.text.replace(trained.model_id, "ghost:train:0").replace(
            trained.session_id, "ghost") == ghost.text, path
    listing = other.get(f"{base}/training_runs", timeout=30)
    assert listing.status_code == 200 and trained.model_id not in listing.text
    assert trained.session_id not in other.get(f"{base}/sessions", timeout=30).text
    played = other.get(f"{base}/playground", params={
        "mode": "checkpoint", "checkpoint": trained.sampler_path, "prompt": "The"}, timeout=30)
    assert played.status_code == 400 and "not found" in played.text


def test_a_published_checkpoint_shows_its_run_to_others(trained: Trained) -> None:
    # A run of its own, so that publishing does not change what the other tests see.
    other = as_key(OTHER_KEY)
    owner = as_key(KEY)
    mine = train(trained.base_url)
    run = segment(mine.model_id)
    publish = owner.post(f"{trained.base_url}/api/v1/training_runs/{run}/checkpoints/"
                         "sampler_weights/console-sampler/publish", timeout=30)
    assert publish.status_code == 200, publish.text
    page = other.get(f"{trained.base_url}/console/training_runs/{run}", timeout=30)
    assert page.status_code == 200
    assert mine.sampler_path in page.text and mine.state_path not in page.text
    assert "/console/archives/" not in page.text  # only the owner downloads
    assert mine.sampler_id not in page.text  # nor sees the owner's sampling sessions
    assert "published" in other.get(f"{trained.base_url}/console/training_runs",
                                    timeout=30).text
    played = other.get(f"{trained.base_url}/console/playground", params={
        "mode": "checkpoint", "checkpoint": mine.sampler_path, "prompt": "The quick",
        "max_tokens": "5", "temperature": "0"}, timeout=30)
    assert played.status_code == 200 and 'class="completion"' in played.text


# -- data ------------------------------------------------------------------------------


def test_metrics_have_one_point_per_step_and_match_the_clients_losses(
        trained: Trained) -> None:
    session = signed_in(trained.console_url)
    data = session.get(f"{trained.base_url}/console/training_runs/"
                       f"{segment(trained.model_id)}/metrics.json", timeout=30).json()
    steps = data["steps"]
    assert [s["step"] for s in steps] == list(range(1, STEPS + 1))
    assert [s["loss"] for s in steps] == pytest.approx(trained.losses, rel=1e-6)
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert all(s["learning_rate"] == pytest.approx(2e-2) for s in steps)
    assert all(s["grad_norm"] > 0 and s["param_norm"] > 0 and s["tokens"] > 0 for s in steps)
    # forward passes before steps 1 and 5 are the "forward" series
    assert [s["step"] for s in steps if s["eval_loss"] is not None] == [1, 5]


def test_the_charts_png_is_a_valid_image(trained: Trained) -> None:
    session = signed_in(trained.console_url)
    response = session.get(f"{trained.base_url}/console/training_runs/"
                           f"{segment(trained.model_id)}/metrics.png", timeout=30)
    assert response.headers["content-type"] == "image/png"
    width, height, rows = read_png(response.content)
    assert (width, height) == (960, 36 + 3 * 250)
    assert len(rows) == height * (1 + 3 * width)
    assert len(set(rows[1:1 + 3 * width * 40])) > 2  # not blank: title text and a curve


def test_the_console_download_is_the_checkpoint_archive(trained: Trained) -> None:
    session = signed_in(trained.console_url)
    response = session.get(f"{trained.base_url}/console/archives/{segment(trained.model_id)}/"
                           "weights/console-state", timeout=30)
    assert response.status_code == 200
    assert 'filename="weights-console-state.tar.gz"' in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["adapter_model.safetensors", "checkpoint.json"]


def test_pages_that_do_not_exist_are_404_pages(trained: Trained) -> None:
    session = signed_in(trained.console_url)
    for path in ("/training_runs/nobody:train:0", "/sessions/nobody",
                 f"/checkpoints/{segment(trained.model_id)}/weights/missing",
                 f"/checkpoints/{segment(trained.model_id)}/bogus"):
        response = session.get(f"{trained.base_url}/console{path}", timeout=30)
        assert response.status_code == 404, path
        assert "Not found" in response.text


# -- playground ------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "message"), [
    ("temperature", "hot", "temperature must be a number"),
    ("max_tokens", "100000", "max_tokens must be between"),
    ("top_p", "0", "top_p must be above 0"),
    ("top_k", "0", "top_k must be -1"),
    ("num_samples", "99", "num_samples must be between"),
])
def test_the_playground_names_a_bad_field(trained: Trained, field: str, value: str,
                                          message: str) -> None:
    session = signed_in(trained.console_url)
    response = session.get(f"{trained.base_url}/console/playground", params={
        "mode": "checkpoint", "checkpoint": trained.sampler_path, "prompt": "Hi",
        field: value}, timeout=30)
    assert response.status_code == 400
    assert f'data-error="{field}"' in response.text and message in response.text


def test_the_playground_escapes_what_it_echoes(trained: Trained) -> None:
    session = signed_in(trained.console_url)
    response = session.get(f"{trained.base_url}/console/playground", params={
        "mode": "base", "base_model": "tinkex/tiny-lm", "prompt": "<script>x()</script>",
        "max_tokens": "3", "seed": "1"}, timeout=30)
    assert response.status_code == 200
    assert "<script>x()" not in response.text and "&lt;script&gt;x()" in response.text
