"""The generator as a user outside this repository gets it: from the wheel, as ``tinkex-codegen``.

The wheel is built from a copy of the package sources and installed into a
directory of its own; ``tinkex-codegen generate`` then runs in a directory that
has nothing of this checkout, on a manifest and on an OpenAPI document, and a
script imports the two generated packages and calls a loopback server through
``tinkex.core`` (plain calls, pagination, a future, API-key and OAuth2 auth).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from tests.core.loopback import LoopbackServer, Reply
from tinkex.codegen import missing_requirements
from tinkex.codegen.package import PackageError, generate_package

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tests" / "fixtures" / "petstore.yaml"
OPENAPI = ROOT / "tests" / "fixtures" / "openapi" / "swagger-petstore-3.0.yaml"
TIMEOUT = 600

CALLS = """
import json, sys

import pets, swagger_pets

url = sys.argv[1]
out = {}
with pets.connect(base_url=url, api_key="pet-KEY-0123456789") as api:
    created = api.pets.create(name="Rex", species="dog")
    out["created"] = created.model_dump(mode="json")
    out["listed"] = [pet.name for pet in api.pets.iter_list()]
    out["groomed"] = api.pets.groom(pet_id=created.id).result(timeout=60).minutes
with swagger_pets.connect(base_url=url, api_key="sw-KEY-0123456789",
                          credentials={"petstore_auth": "oauth-TOKEN-0123"}) as api:
    out["available"] = [pet.name for pet in api.pet.find_pets_by_status(status="available").root]
    out["by_id"] = api.pet.get_pet_by_id(pet_id=7).name
print(json.dumps(out))
"""


def _run(cmd: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"{cmd}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tinkex's wheel, built (no network, no build isolation) from a copy of its sources."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, src / name)
    shutil.copytree(ROOT / "tinkex", src / "tinkex",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "--no-index", "--wheel-dir", dist, src], cwd=src, env=dict(os.environ))
    [built] = dist.glob("tinkex-*.whl")
    return built


def test_the_wheel_ships_the_generator_inside_tinkex_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = zf.read(info).decode()
        metadata = zf.read(info.replace("entry_points.txt", "METADATA")).decode()
    assert {n.split("/")[0] for n in names} == {"tinkex", info.split("/")[0]}  # no codegen/
    assert "tinkex/codegen/cli.py" in names and "tinkex/codegen/package.py" in names
    assert "tinkex-codegen = tinkex.codegen:main" in entry_points
    assert "Provides-Extra: codegen" in metadata
    assert "datamodel-code-generator==" in metadata  # pinned, so output is reproducible


def test_generated_packages_run_on_tinkex_core(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
          "--target", site, wheel], cwd=tmp_path, env=env)
    work = tmp_path / "work"  # nothing of the checkout in here, nor on the path
    work.mkdir()
    for source in (MANIFEST, OPENAPI):
        shutil.copyfile(source, work / source.name)
    env["PYTHONPATH"] = str(site)
    where = _run([sys.executable, "-c", "import tinkex.codegen; print(tinkex.codegen.__file__)"],
                 cwd=work, env=env)
    assert where.stdout.strip().startswith(str(site))
    command = site / "bin" / "tinkex-codegen"
    made = _run([command, "generate", MANIFEST.name, "--name", "pets"], cwd=work, env=env)
    assert "generated pets in pets/ (5 operations" in made.stdout
    imported = _run([sys.executable, "-m", "tinkex.codegen", "generate", OPENAPI.name,
                     "--name", "swagger_pets"], cwd=work, env=env)
    assert imported.stderr.splitlines() == [
        f"warning: {OPENAPI.name}:546: /paths/~1user~1login/get/responses/200/headers: "
        "response headers are not carried",
        "tinkex-codegen: 1 construct(s) not carried (see above)"]
    assert (work / "swagger_pets" / "manifest.yaml").exists()

    server = LoopbackServer()
    try:
        rex = {"id": 1, "name": "Rex", "species": "dog", "tags": []}
        server.route("POST", "/pets", lambda r: Reply(201, rex))
        server.route("GET", "/pets", lambda r: Reply(200, {
            "pets": [rex], "page": {"offset": 0, "limit": 2, "total_count": 1}}))
        server.route("POST", "/groom", lambda r: Reply(200, {"job_id": "groom-1"}))
        server.script("POST", "/jobs/poll", [Reply(202, {"state": "pending"}),
                                             Reply(200, {"pet_id": 1, "minutes": 12.5})])
        pet = {"id": 7, "name": "Fido", "photoUrls": [], "status": "available"}
        server.route("GET", "/pet/findByStatus", lambda r: Reply(200, [pet]))
        server.route("GET", "/pet/7", lambda r: Reply(200, pet))
        done = _run([sys.executable, "-c", CALLS, server.url], cwd=work, env=env)
    finally:
        server.close()
    assert json.loads(done.stdout) == {"created": rex, "listed": ["Rex"], "groomed": 12.5,
                                       "available": ["Fido"], "by_id": "Fido"}
    [create] = [r for r in server.received("/pets") if r.method == "POST"]
    assert create.json() == {"name": "Rex", "species": "dog"}
    assert create.headers["x-pet-token"] == "pet-KEY-0123456789"
    assert create.headers["idempotency-key"]
    [listing] = [r for r in server.received("/pets") if r.method == "GET"]
    assert parse_qsl(listing.query) == [("offset", "0"), ("limit", "2")]
    assert [r.json() for r in server.received("/groom")] == [{"pet_id": 1, "style": "tidy"}]
    polls = server.received("/jobs/poll")
    assert len(polls) == 2 and all(p.json() == {"job_id": "groom-1"} for p in polls)
    [found] = server.received("/pet/findByStatus")
    assert parse_qsl(found.query) == [("status", "available")]
    assert found.headers["authorization"] == "Bearer oauth-TOKEN-0123"
    [by_id] = server.received("/pet/7")
    assert by_id.headers["api_key"] == "sw-KEY-0123456789"


def test_generate_refuses_a_directory_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(PackageError, match="not a package written by tinkex-codegen"):
        generate_package(MANIFEST, "mine", tmp_path)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(PackageError, match="lowercase Python identifier"):
        generate_package(MANIFEST, "Not-A-Name", tmp_path)


def test_without_the_extra_the_command_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    import tinkex.codegen

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "datamodel_code_generator"
                        else real(name, *a))
    assert missing_requirements() == ["datamodel-code-generator"]
    assert tinkex.codegen.main(["generate", "x.yaml", "--name", "x"]) == 2
    assert capsys.readouterr().err == (
        "tinkex-codegen needs datamodel-code-generator: pip install 'tinkex[codegen]'\n")


def test_the_checkout_alias_is_the_installed_generator() -> None:
    """``codegen.X`` (a checkout's short name, not in the wheel) is ``tinkex.codegen.X`` itself."""
    import codegen.build
    import codegen.errors

    import tinkex.codegen.build
    import tinkex.codegen.errors

    assert codegen.build is tinkex.codegen.build
    assert codegen.errors.ManifestError is tinkex.codegen.errors.ManifestError
    done = subprocess.run([sys.executable, "-m", "codegen", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and done.stdout.startswith("usage: tinkex-codegen")
