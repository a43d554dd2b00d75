"""Our compiled document as OpenAPI tools that nobody here wrote see it.

Spectral (``spectral:oas``) and Redocly (``recommended``) must report nothing at
all on ``spec/openapi.json``; openapi-python-client must generate a client whose
only complaint is the protobuf media type it cannot model, and that client must
talk to the emulator. The tools are installed at pinned versions (``tools.py``).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from .tools import REPO, npm_bin, openapi_python_client, tool_env

DOCUMENT = REPO / "spec" / "openapi.json"
RUN_TIMEOUT = 300

pytestmark = [pytest.mark.lint, pytest.mark.timeout(1200)]


def _run(cmd: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          env=tool_env(), timeout=RUN_TIMEOUT)


def test_spectral_oas_reports_nothing(tmp_path: Path) -> None:
    bin_dir = npm_bin()
    ruleset = tmp_path / ".spectral.yaml"
    ruleset.write_text('extends: ["spectral:oas"]\n', encoding="utf-8")
    output = tmp_path / "spectral.json"
    done = _run([bin_dir / "spectral", "lint", "--format", "json", "--output", output,
                 "--fail-severity", "hint", "--ruleset", ruleset, DOCUMENT], cwd=tmp_path)
    if not output.exists():
        pytest.fail(f"spectral wrote no report (exit {done.returncode}):\n"
                    f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    results = json.loads(output.read_text(encoding="utf-8"))
    found = [f"{'.'.join(map(str, r['path']))}: {r['code']}: {r['message']}" for r in results]
    assert found == [], "\n".join(found)
    assert done.returncode == 0, done.stderr[-2000:]


def test_redocly_recommended_reports_nothing(tmp_path: Path) -> None:
    bin_dir = npm_bin()
    done = _run([bin_dir / "redocly", "lint", "--extends", "recommended", "--format", "json",
                 DOCUMENT], cwd=tmp_path)
    start = done.stdout.find("{")
    if start < 0:
        pytest.fail(f"redocly printed no JSON (exit {done.returncode}):\n"
                    f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    report = json.loads(done.stdout[start:])
    found = [f"{p['location'][0]['pointer']}: {p['ruleId']}: {p['message']}"
             for p in report["problems"]]
    assert found == [], "\n".join(found)
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """openapi-python-client's package for spec/openapi.json, and what it printed."""
    command = openapi_python_client()
    out = tmp_path_factory.mktemp("opc")
    config = out / "config.yaml"
    config.write_text("post_hooks: []\n", encoding="utf-8")  # no formatter run: not needed
    done = _run([*command, "generate", "--path", DOCUMENT, "--meta", "none", "--config", config,
                 "--output-path", out / "tinker_client"], cwd=out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done.stdout + done.stderr


def test_openapi_python_client_warns_only_about_protobuf(generated_client: tuple[Path, str]
                                                         ) -> None:
    _, printed = generated_client
    warnings = re.findall(r"^WARNING (.+)\n\n(.+)$", printed, flags=re.MULTILINE)
    assert warnings == [("parsing POST /api/v1/forward_backward within training.",
                         "Unsupported content type application/x-protobuf")], printed
    assert "Unable to" not in printed and "Could not" not in printed, printed


def test_openapi_python_client_sees_futures_and_their_results(
        generated_client: tuple[Path, str]) -> None:
    """forward_backward answers a handle; retrieve_future's union includes the eventual result.

    Standard OpenAPI cannot tie the two together per call (see spec/README.md,
    "Future operations"): the link that does so is ignored by this generator.
    """
    out, _ = generated_client
    api = out / "tinker_client" / "api"
    submit = (api / "training" / "forward_backward.py").read_text(encoding="utf-8")
    assert re.search(r"def sync\([^)]*\) -> ErrorResponse \| UntypedAPIFuture \| None:",
                     submit), submit[:3000]
    retrieve = (api / "futures" / "retrieve_future.py").read_text(encoding="utf-8")
    signature = re.search(r"def sync\([^)]*\) -> ([^:]+):", retrieve)
    assert signature, retrieve[:3000]
    union = {t.strip() for t in signature.group(1).split("|")}
    assert {"ForwardBackwardOutput", "SampleResponse", "TryAgainResponse",
            "SaveWeightsForSamplerResponse"} <= union


CALLS = """
import json, sys
from tinker_client import AuthenticatedClient
from tinker_client.api.service import get_server_capabilities
from tinker_client.api.session import create_session
from tinker_client.models import CreateSessionRequest

client = AuthenticatedClient(base_url=sys.argv[1], token="tml-generated-client",
                             prefix="", auth_header_name="X-API-Key")
caps = get_server_capabilities.sync(client=client)
session = create_session.sync(client=client, body=CreateSessionRequest.from_dict(
    {"tags": ["generated"], "user_metadata": {}, "sdk_version": "0.38.0"}))
print(json.dumps({"models": [m.model_name for m in caps.supported_models],
                  "session_id": session.session_id}))
"""


def test_openapi_python_client_talks_to_the_emulator(generated_client: tuple[Path, str],
                                                      tmp_path: Path) -> None:
    from tinkex.emulator.run.process import EmulatorProcess

    out, _ = generated_client
    python = Path(openapi_python_client()[0])
    with EmulatorProcess(data_dir=tmp_path / "data") as emulator:
        done = subprocess.run([str(python), "-c", CALLS, emulator.base_url], cwd=out,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    assert answer["models"] and answer["session_id"]


def test_skips_cleanly_without_node(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from . import tools

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="npx/npm not found"):
        tools.npm_bin()
