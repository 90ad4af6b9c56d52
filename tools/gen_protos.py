"""Generate Python code for the contracts in protos/ into services/contracts/.

grpcio-tools writes absolute imports such as ``from pipewarden.telemetry.v1 import x_pb2``; they
are rewritten to ``services.contracts.pipewarden...`` so that the generated code lives inside the
installed distribution instead of claiming a top-level ``pipewarden`` package.

``--check`` generates into a scratch directory and exits 1 when the committed code differs.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "protos"
OUTPUT_ROOT = REPO / "services" / "contracts"
GENERATED_PACKAGE = "pipewarden"
IMPORT_PREFIX = "services.contracts."
_ABSOLUTE_IMPORT = re.compile(r"^(from|import) pipewarden\.", re.MULTILINE)


def _venv_script(name: str) -> Path:
    """The plugin installed beside this interpreter (the venv's bin/ need not be on PATH)."""
    return Path(sys.executable).parent / name


def generate(out_dir: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={_venv_script('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_venv_script('protoc-gen-mypy_grpc')}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path in (out_dir / GENERATED_PACKAGE).rglob("*.py*"):
        text = path.read_text()
        path.write_text(_ABSOLUTE_IMPORT.sub(rf"\1 {IMPORT_PREFIX}pipewarden.", text))
    for directory in [out_dir / GENERATED_PACKAGE, *(out_dir / GENERATED_PACKAGE).rglob("*")]:
        if directory.is_dir():
            (directory / "__init__.py").touch()


def _tree_differs(a: Path, b: Path) -> list[str]:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    differing = sorted(str(p) for p in files_a ^ files_b)
    differing += sorted(str(p) for p in files_a & files_b if not filecmp.cmp(a / p, b / p, shallow=False))
    return differing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        generate(scratch_dir)
        target = OUTPUT_ROOT / GENERATED_PACKAGE
        if options.check:
            stale = (
                _tree_differs(scratch_dir / GENERATED_PACKAGE, target) if target.exists() else ["<missing>"]
            )
            if stale:
                print("generated protobuf code is stale; run `make proto`:", *stale, sep="\n  ")
                return 1
            return 0
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(scratch_dir / GENERATED_PACKAGE, target)
    print(f"generated {target.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
