"""The architecture's boundaries, checked: the harness imports no proxy (it starts proxies by command and reads
the reference proxy's defect registry as data), and that data agrees with the proxy's own registry; the wire
recording imports no pytest; the package's layout in pyproject.toml covers every folder of code; the settings
`harness run` takes from its own ini agree with the project's."""

import ast
import configparser
import tomllib
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
                 if any(name.split(".")[0] == "reference_proxy" or name.startswith("voice_harness.reference_proxy")
                        for name in imported_modules(p))]
    assert offenders == []


def test_the_wire_recording_and_the_mock_import_no_pytest():
    folders = (ROOT / "harness/wire", ROOT / "mock_upstream")
    offenders = [str(p.relative_to(ROOT)) for folder in folders for p in sorted(folder.rglob("*.py"))
                 if any(name.split(".")[0] in ("pytest", "_pytest", "allure") or name.startswith("voice_harness.plugin")
                        for name in imported_modules(p))]
    assert offenders == []


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_folder_of_code_is_a_package_of_the_distribution():
    setup = pyproject()["tool"]["setuptools"]
    folders = {name: ROOT / folder for name, folder in setup["package-dir"].items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            found.add(".".join((name, *relative)))
    assert found == set(setup["packages"])


def test_harness_runs_take_the_projects_pytest_settings():
    ini = configparser.ConfigParser()
    ini.read(ROOT / "harness/pytest.ini")
    ours = pyproject()["tool"]["pytest"]["ini_options"]
    assert ini["pytest"]["timeout"] == str(ours["timeout"])
    assert ini["pytest"]["xfail_strict"] == str(ours["xfail_strict"]).lower()
    assert set(ours["filterwarnings"]) <= set(ini["pytest"]["filterwarnings"].split())


def test_the_defect_registry_the_harness_reads_is_the_proxys():
    data = defect_registry.load()
    assert list(data) == list(DEFECTS)
    for name, defect in DEFECTS.items():
        assert (data[name].breaks, data[name].collateral, data[name].collateral_reason, data[name].description) == \
            (defect.breaks, defect.collateral, defect.collateral_reason, defect.description)
