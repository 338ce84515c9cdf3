"""Who may import whom: the layers of ``worker/`` and the service, read from the source (every import,
module-level or inside a function) and checked once more by importing them in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}

#: Per layer: the third-party top-level packages and the project packages it may import.
LAYERS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "worker/contract": (frozenset({"pydantic"}), ("worker.contract",)),
    "worker/data": (
        frozenset({"numpy", "sklearn", "onnx", "google", "pydantic"}),
        ("worker.contract", "worker.data"),
    ),
    "worker/diagnosis": (frozenset({"pydantic"}), ("worker.contract", "worker.diagnosis")),
    "worker/jobs": (
        frozenset({"redis", "rq", "pydantic", "pydantic_settings"}),
        ("worker.contract", "worker.jobs"),
    ),
    "worker/engine": (
        frozenset({"torch", "numpy", "sklearn", "onnx", "google", "pydantic"}),
        ("worker.contract", "worker.data", "worker.diagnosis", "worker.engine"),
    ),
}
#: The service may use every layer but the engine, and never torch.
SERVICE_FORBIDDEN = ("torch", "worker.engine")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, absolute, with its line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            assert node.module is not None
            found.append((node.lineno, node.module))
    return found


def files_under(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def layer_violations(folder: str) -> list[str]:
    third_party, project = LAYERS[folder]
    bad = []
    for path in files_under(folder):
        for line, module in imports_of(path):
            top = module.split(".")[0]
            allowed = top in STDLIB or top in third_party or _within(module, project)
            if top in {"worker", "service", "lossdoctor"}:
                allowed = _within(module, project)
            if not allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_each_layer_imports_only_what_it_may(folder: str) -> None:
    assert files_under(folder), f"{folder} is empty"
    assert layer_violations(folder) == []


def test_no_module_is_left_at_the_worker_root() -> None:
    loose = sorted(p.name for p in (ROOT / "worker").glob("*.py"))
    assert loose == ["__init__.py", "task.py"]  # task.py: the old task path, kept for queued jobs


def test_the_service_never_imports_torch_or_the_engine() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files_under("service")
        for line, module in imports_of(path)
        if _within(module, SERVICE_FORBIDDEN)
    ]
    assert bad == []


def test_the_rule_finds_a_forbidden_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "worker" / "diagnosis"
    fake.mkdir(parents=True)
    (fake / "leaky.py").write_text("def f():\n    import torch\n    from worker.engine.job import run_job\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert layer_violations("worker/diagnosis") == [
        "worker/diagnosis/leaky.py:2 imports torch",
        "worker/diagnosis/leaky.py:3 imports worker.engine.job",
    ]


def test_torch_free_layers_and_the_api_load_without_torch() -> None:
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for folder in ("worker/contract", "worker/data", "worker/diagnosis", "worker/jobs", "service")
        for p in files_under(folder)
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = sorted(m for m in ('torch', 'worker.engine') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""
