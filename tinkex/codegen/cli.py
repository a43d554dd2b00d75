"""tinkex-codegen: compile manifests and OpenAPI documents into clients that run on tinkex.core.

``generate`` writes an importable package from a manifest or an OpenAPI 3.0/3.1
document; ``build`` writes the raw outputs; ``import-openapi`` and
``check-manifest`` convert and check; ``regen`` and ``check`` keep a project's
generated files (``[tool.tinkex.codegen]`` in its pyproject.toml) current.
Also ``python -m tinkex.codegen``; needs the ``codegen`` extra (``pip install 'tinkex[codegen]'``).
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .build import BuildResult, build
from .check import check_manifest
from .clients import generate_clients
from .errors import ManifestError
from .openapi_file import OpenAPIFileError, dump_manifest, import_file
from .package import PackageError, generate_package
from .protobuf import ProtobufError, generate_protobuf
from .stubs import generated_class_names
from .yamlsource import load_yaml

PROG = "tinkex-codegen"


def _project_config(root: Path) -> dict[str, Any]:
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    try:
        config: dict[str, Any] = data["tool"]["tinkex"]["codegen"]
        return config
    except KeyError:
        raise SystemExit("pyproject.toml has no [tool.tinkex.codegen] table") from None


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _project_outputs(root: Path) -> dict[Path, str]:
    cfg = _project_config(root)
    result: BuildResult = build(root / cfg["manifest"], models_module=cfg["models_module"],
                                runtime_module=cfg["runtime_module"],
                                base_classes=cfg.get("base_classes"),
                                base_class=cfg.get("base_class"),
                                source_name=cfg["manifest"])
    outputs: dict[Path, str] = {}
    for path in _as_list(cfg["openapi"]):
        outputs[root / path] = result.openapi_json
    for path in _as_list(cfg["stubs"]):
        outputs[root / path] = result.stub_pyi
    outputs[root / cfg["models"]] = result.models_py
    if "clients" in cfg:
        outputs[root / cfg["clients"]] = generate_clients(
            result.document, cfg["models_module"], cfg["clients_support"],
            generated_class_names(result.models_py))
    outputs[root / cfg["extension_schemas"]] = result.extensions_json
    if "proto" in cfg:
        proto = generate_protobuf(root / cfg["proto"], cfg["proto_out"], source=cfg["proto"])
        outputs[root / cfg["proto_out"]] = proto.module
        outputs[(root / cfg["proto_out"]).with_suffix(".pyi")] = proto.stub
    return outputs


def cmd_regen(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    outputs = _project_outputs(Path(args.root))
    changed = 0
    for path, text in outputs.items():
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed += 1
            print(f"wrote {path.relative_to(Path(args.root).resolve()) if path.is_absolute() else path}")
    print(f"regen: {len(outputs)} files, {changed} changed, {time.perf_counter() - start:.1f}s")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    outputs = _project_outputs(Path(args.root))
    stale = 0
    for path, text in outputs.items():
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if old != text:
            stale += 1
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(keepends=True), text.splitlines(keepends=True),
                fromfile=f"{path} (committed)", tofile=f"{path} (regenerated)", n=2))
    if stale:
        print(f"codegen check: {stale} generated file(s) are stale; run `make regen`",
              file=sys.stderr)
        return 1
    print(f"codegen check: {len(outputs)} generated files are up to date")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    out = Path(args.out)
    result = build(args.manifest, models_module=args.models_module,
                   runtime_module=args.runtime_module)
    out.mkdir(parents=True, exist_ok=True)
    (out / "openapi.json").write_text(result.openapi_json, encoding="utf-8")
    (out / "models.py").write_text(result.models_py, encoding="utf-8")
    (out / "api.pyi").write_text(result.stub_pyi, encoding="utf-8")
    (out / "extensions.schema.json").write_text(result.extensions_json, encoding="utf-8")
    print(f"built {args.manifest} into {out}/ (openapi.json, models.py, api.pyi)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    try:
        result = import_file(args.file)
    except OpenAPIFileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    rendered = dump_manifest(result.manifest)
    if args.output:
        Path(args.output).write_text(rendered, encoding="utf-8")
    else:
        sys.stdout.write(rendered)
    for line in result.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if result.warnings:
        print(f"import-openapi: {len(result.warnings)} construct(s) not carried (see above)",
              file=sys.stderr)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    try:
        done = generate_package(args.source, args.name, args.out)
    except (OpenAPIFileError, PackageError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for line in done.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if done.warnings:
        print(f"{PROG}: {len(done.warnings)} construct(s) not carried (see above)",
              file=sys.stderr)
    doc = done.result.document
    ops = sum(len(item) for item in doc["paths"].values())
    schemas = len((doc.get("components") or {}).get("schemas") or {})
    print(f"generated {args.name} in {done.directory}/ ({ops} operations, {schemas} schemas); "
          f"use it with `with {args.name}.connect(base_url=..., api_key=...) as api:`")
    return 0


def cmd_check_manifest(args: argparse.Namespace) -> int:
    check_manifest(load_yaml(args.file))
    print(f"{args.file}: OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=".", help="project root (where pyproject.toml is)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("regen", help="rebuild this project's generated files").set_defaults(fn=cmd_regen)
    sub.add_parser("check", help="exit 1 with a diff when a generated file is stale"
                   ).set_defaults(fn=cmd_check)
    g = sub.add_parser("generate", help="write an importable client package from a manifest "
                                        "or an OpenAPI 3.0/3.1 document")
    g.add_argument("source", help="manifest (YAML) or OpenAPI document (YAML or JSON)")
    g.add_argument("--name", required=True, help="package name (a lowercase identifier)")
    g.add_argument("--out", default=".", help="directory to write the package into")
    g.set_defaults(fn=cmd_generate)
    b = sub.add_parser("build", help="build any manifest into a directory")
    b.add_argument("manifest")
    b.add_argument("--out", required=True)
    b.add_argument("--models-module", default="models")
    b.add_argument("--runtime-module", default="api")
    b.set_defaults(fn=cmd_build)
    i = sub.add_parser("import-openapi", help="turn an OpenAPI 3.x document into a manifest")
    i.add_argument("file")
    i.add_argument("-o", "--output")
    i.set_defaults(fn=cmd_import)
    c = sub.add_parser("check-manifest", help="check a manifest and report every problem")
    c.add_argument("file")
    c.set_defaults(fn=cmd_check_manifest)
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except (ManifestError, ProtobufError) as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
