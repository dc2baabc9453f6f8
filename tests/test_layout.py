"""The architecture's boundaries, checked: the harness imports no proxy (it starts proxies by command and reads
the reference proxy's defect registry as data), and that data agrees with the proxy's own registry."""

import ast
from pathlib import Path

from voice_harness.targets import defect_registry
from voice_harness.reference_proxy.defects import DEFECTS

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_harness_module_imports_a_proxy():
    offenders = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "harness").rglob("*.py"))
                 if any(name.split(".")[0] == "reference_proxy" for name in imported_modules(p))]
    assert offenders == []


def test_the_defect_registry_the_harness_reads_is_the_proxys():
    data = defect_registry.load()
    assert list(data) == list(DEFECTS)
    for name, defect in DEFECTS.items():
        assert (data[name].breaks, data[name].collateral, data[name].collateral_reason, data[name].description) == \
            (defect.breaks, defect.collateral, defect.collateral_reason, defect.description)
