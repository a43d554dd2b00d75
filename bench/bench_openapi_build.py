"""Build time of the pinned public OpenAPI documents, step by step, against the model generator alone.

For each document under ``tests/fixtures/openapi/``: import (read + convert +
locate warnings), load the written manifest, check it, compile it, validate the
compiled document, generate the models, write the stub, import the models, and
the whole ``build()`` (which runs validation beside the model generator). The
baseline, measured in the same run, is datamodel-code-generator alone on the
original document with the same flags: the ratio says what tinkex adds to the
tool that does the heaviest part. A loaded machine stretches every number alike.

    .venv/bin/python bench/bench_openapi_build.py [--small] [NAME ...]
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinkex.codegen.build import build  # noqa: E402
from tinkex.codegen.check import check_manifest  # noqa: E402
from tinkex.codegen.compile import compile_manifest  # noqa: E402
from tinkex.codegen.models import FLAGS, generate_models  # noqa: E402
from tinkex.codegen.openapi_file import dump_manifest, import_file  # noqa: E402
from tinkex.codegen.stubs import generate_stub, generated_class_names  # noqa: E402
from tinkex.codegen.validate import validate_document  # noqa: E402
from tinkex.codegen.yamlsource import load_yaml  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "openapi"
SMALL = ["swagger-petstore-3.0.yaml", "redocly-museum-3.1.yaml", "svix-3.0.json"]
LARGE = ["openai-3.0.yaml", "openai-3.1.json"]
T = TypeVar("T")


def timed(times: dict[str, float], step: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    value = fn()
    times[step] = time.perf_counter() - start
    return value


def generator_alone(document: Path, tmp: Path) -> float | None:
    """datamodel-code-generator on the original document (None when it cannot)."""
    cmd = [sys.executable, "-m", "datamodel_code_generator", "--input", str(document),
           "--output", str(tmp / "baseline.py"), *FLAGS]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp,
                          env=dict(os.environ, PYTHONHASHSEED="0"))
    return time.perf_counter() - start if done.returncode == 0 else None


def measure(name: str, tmp: Path) -> dict[str, Any]:
    times: dict[str, float] = {}
    source = CORPUS / name
    imported = timed(times, "import", lambda: import_file(source))
    manifest = tmp / (source.stem + ".yaml")
    manifest.write_text(dump_manifest(imported.manifest), encoding="utf-8")
    src = timed(times, "load", lambda: load_yaml(manifest))
    timed(times, "check", lambda: check_manifest(src))
    doc = timed(times, "compile", lambda: compile_manifest(src.data))
    timed(times, "validate", lambda: validate_document(doc))
    module = "bench_" + source.stem.replace("-", "_").replace(".", "_")
    models_py = timed(times, "models", lambda: generate_models(doc, name))
    timed(times, "stub", lambda: generate_stub(doc, module, module + "_api",
                                               generated_class_names(models_py)))
    (tmp / f"{module}.py").write_text(models_py, encoding="utf-8")

    def import_models() -> None:
        spec = importlib.util.spec_from_file_location(module, tmp / f"{module}.py")
        assert spec and spec.loader
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[module] = loaded
        spec.loader.exec_module(loaded)

    timed(times, "models import", import_models)
    timed(times, "build()", lambda: build(manifest, models_module=module,
                                          runtime_module=module + "_api"))
    baseline = generator_alone(source, tmp)
    total = times["import"] + times["build()"]
    return {"name": name, "kib": source.stat().st_size // 1024, "times": times,
            "total": total, "baseline": baseline}


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("--")] or (
        SMALL if "--small" in argv else SMALL + LARGE)
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores (numbers stretch with load)")
    steps = ["import", "load", "check", "compile", "validate", "models", "stub",
             "models import", "build()"]
    print(f"{'document':28} {'KiB':>6} " + " ".join(f"{s:>13}" for s in steps)
          + f" {'import+build':>13} {'dcg alone':>10} {'ratio':>6}")
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            row = measure(name, Path(tmp))
        base = row["baseline"]
        ratio = f"{row['total'] / base:6.2f}" if base else "   n/a"
        print(f"{row['name']:28} {row['kib']:6} "
              + " ".join(f"{row['times'][s]:12.2f}s" for s in steps)
              + f" {row['total']:12.2f}s {(f'{base:9.2f}s' if base else '      n/a')} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
