"""The architecture's boundaries, checked: the harness imports no proxy (it starts proxies by command and reads
the reference proxy's defect registry as data), and that data agrees with the proxy's own registry; the wire
recording imports no pytest; the package's layout in pyproject.toml covers every folder of code; the settings
`harness run` takes from its own ini agree with the project's; no import circle among the harness's modules; `wire`
is the floor (it imports nothing of the harness above it)."""

import ast
import configparser
import re
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


# The folders whose modules make up the harness's import graph, by the package each is installed as.
HARNESS_FOLDERS = {"voice_harness": ROOT / "harness", "voice_harness.mock_upstream": ROOT / "mock_upstream",
                   "voice_harness.suites": ROOT / "suites"}


def harness_modules() -> dict[str, Path]:
    """Every module of the harness by its import name (a package by its __init__.py)."""
    modules = {}
    for package, folder in HARNESS_FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            modules[".".join((package, *(parts[:-1] if parts[-1] == "__init__" else parts)))] = path
    return modules


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at module level and inside functions alike (a lazy import is a
    dependency all the same: it only moves the moment a circle bites), not under `if TYPE_CHECKING`."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [node]
    if _type_checking_only(node):
        return list(runtime_imports_of(node.orelse))
    return list(runtime_imports_of(ast.iter_child_nodes(node)))


def runtime_imports_of(nodes) -> list[ast.Import | ast.ImportFrom]:
    return [found for node in nodes for found in runtime_imports(node)]


def absolute_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The absolute module names an import statement names: `from a import b` names a.b when that is a module
    (the caller decides), else a; a relative import is resolved against the importing module."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
        base = ".".join(anchor + ([node.module] if node.module else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """module -> the harness modules it imports, anywhere in it (the most specific: a.b.c for `from a.b import c`
    when c is a module, else a.b; no implicit edge to a parent package, which Python initialises first anyway)."""
    modules = harness_modules()
    graph = {}
    for module, path in modules.items():
        edges = set()
        for node in runtime_imports(ast.parse(path.read_text())):
            names = absolute_names(node, module, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):
                submodules = [name for name in names[1:] if name in modules]
                names = submodules if len(submodules) == len(names) - 1 else [names[0], *submodules]
            edges |= {name for name in names if name in modules and name != module}
        graph[module] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_finds_a_circle_and_only_a_circle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_import_graph_resolves_relative_and_submodule_imports():
    graph = import_graph()
    assert "voice_harness.suites.flows" in graph["voice_harness.suites.test_turns"]       # from .flows import ...
    # from a package import a module
    assert "voice_harness.judging.catalogue" in graph["voice_harness.judging.invariants"]
    assert "voice_harness.wire.recording" in graph["voice_harness.wire.relay"]


def test_no_import_circle_among_the_harness_modules():
    """A circle makes import order matter (a module sees its partner half-initialized) and the layers meaningless.
    Lazy imports count: a command the CLI loads on demand must not import the CLI back."""
    assert import_cycles(import_graph()) == []


# The top-level names under which code of the harness can be imported (installed, and as folders of a checkout).
HARNESS_ROOTS = ("voice_harness", "harness", "mock_upstream", "reference_proxy", "suites", "test_app")


def imports_above_the_floor(source: str) -> list[str]:
    """What a module of `wire` imports of the harness outside `wire`: absolute names, and relative imports that
    climb out of it (from a module of wire, or its __init__, `..` is voice_harness itself)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        found += [name for name in names if name.split(".")[0] in HARNESS_ROOTS
                  and name != "voice_harness.wire" and not name.startswith("voice_harness.wire.")]
        if isinstance(node, ast.ImportFrom) and node.level > 1:
            found.append(f"{'.' * node.level}{node.module or ''} (line {node.lineno})")
    return found


def test_the_floor_check_sees_an_import_from_above_however_it_is_written():
    source = ("import json\nimport websockets\nfrom voice_harness.wire.recording import UP\nfrom . import listener\n"
              "from voice_harness.mock_upstream.scenario import Scenario\n"
              "def later():\n    from ..judging import timeline\n    import voice_harness.paths\n")
    assert imports_above_the_floor(source) == ["voice_harness.mock_upstream.scenario", "..judging (line 7)",
                                               "voice_harness.paths"]


def test_the_wire_floor_imports_nothing_of_the_harness_above_it():
    """`wire` is shared by the mock, the harness and the tools: it may import the standard library, third-party
    packages and its own modules, nothing else of the harness (anywhere in a module, functions included)."""
    offenders = {str(path.relative_to(ROOT)): found for path in sorted((ROOT / "harness/wire").rglob("*.py"))
                 if (found := imports_above_the_floor(path.read_text()))}
    assert offenders == {}


def test_the_plugin_makes_no_verdict_the_judge_in_judging_does():
    """The pytest adapter only collects facts and applies the outcome judging.outcome.judge gives: no module of
    the plugin makes an outcome (a Blame, a check's failure, attribution's classification), decides one by the
    kind of exception (a check that could not finish, a closed connection), writes a literal outcome onto a report,
    or names the outcomes only a judge gives. The same detector finds those rules in judging/outcome.py, so it
    cannot pass for finding nothing anywhere."""
    makers = {"Blame", "ConformanceFailure", "Inconclusive", "NotExercised", "proxy_died", "scenario_expectation",
              "server_death"}
    deciders = {"ConformanceFailure", "Inconclusive", "NotExercised", "ConnectionClosed", "ScenarioError"}

    def verdict_rules(path: Path) -> list[str]:
        found = []
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in makers or (name == "classify" and getattr(func, "value", None) is not None
                                      and getattr(func.value, "id", "") == "attribution"):
                    found.append(f"{where} makes an outcome: {name}(...)")
                if name == "isinstance" and len(node.args) == 2:
                    kinds = {getattr(n, "id", getattr(n, "attr", "")) for n in ast.walk(node.args[1])} & deciders
                    # Reading a check failure's anchors for the timeline is no verdict; deciding by its kind is.
                    if kinds - {"ConformanceFailure"}:
                        found.append(f"{where} decides by the exception: isinstance(..., {sorted(kinds)})")
            elif isinstance(node, ast.Constant) and node.value in ("inconclusive", "expected"):
                found.append(f"{where} names the outcome {node.value!r}")
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if (isinstance(target, ast.Attribute) and target.attr in ("outcome", "longrepr", "wasxfail")
                            and isinstance(node.value, (ast.Constant, ast.JoinedStr))):
                        found.append(f"{where} writes a literal {target.attr} on a report")
        return found

    plugin = sorted((ROOT / "harness/plugin").glob("*.py"))
    assert len(plugin) > 3 and {rule for path in plugin for rule in verdict_rules(path)} == set()
    judge = ROOT / "harness/judging/outcome.py"
    rules = " ".join(verdict_rules(judge))
    assert all(kind in rules for kind in ("Blame(", "Inconclusive(", "ConnectionClosed", "'inconclusive'",
                                               "'expected'", "scenario_expectation("))
    assert "voice_harness.judging.outcome" in imported_modules(ROOT / "harness/plugin/__init__.py")
    assert (ROOT / "tests/judging/test_outcome.py").is_file()


# ------------------------------------------------------------------------------- a check's id is its test's

ID = re.compile(r"^[A-Z]+-\d+$")


def takes_req(tree: ast.Module) -> dict[str, bool]:
    """The module's functions that take a requirement id: name -> whether only as the keyword `req`."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            positional = [a.arg for a in node.args.posonlyargs + node.args.args]
            if "req" in positional or "req" in [a.arg for a in node.args.kwonlyargs]:
                found[node.name] = "req" not in positional
    return found


def marker_ids(node: ast.FunctionDef) -> tuple[str, ...]:
    return tuple(arg.value for d in node.decorator_list if isinstance(d, ast.Call)
                 and ast.unparse(d.func) == "pytest.mark.req" for arg in d.args if isinstance(arg, ast.Constant))


def id_offences(source: str, checks: set[str]) -> list[str]:
    """How the calls of `checks` in a suite module name ids against the rule: never positionally; `req=` with an
    id only in a test marked with several (one of them) or in a helper (no marker: called by tests of other ids)."""
    found = []
    for function in ast.parse(source).body:
        if not isinstance(function, ast.FunctionDef):
            continue
        ids = marker_ids(function)
        for call in ast.walk(function):
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) in checks):
                continue
            where = f"{function.name}:{call.lineno} {call.func.id}"
            if any(isinstance(a, ast.Constant) and isinstance(a.value, str) and ID.match(a.value) for a in call.args):
                found.append(f"{where} passes an id positionally")
            for kw in call.keywords:
                if kw.arg != "req" or not isinstance(kw.value, ast.Constant) or not ids:
                    continue
                if len(ids) == 1:
                    found.append(f"{where} names req={kw.value.value!r}, its test's only id: leave it out")
                elif kw.value.value not in ids:
                    found.append(f"{where} names req={kw.value.value!r}, which its test's marker does not list")
    return found


def suite_checks() -> set[str]:
    """Every function a suite calls that takes a requirement id: the checks and the suites' own helpers."""
    sources = [ROOT / "harness/judging/checks.py", *sorted((ROOT / "suites").glob("*.py"))]
    return {name for path in sources for name in takes_req(ast.parse(path.read_text()))}


def test_the_id_rule_sees_a_positional_id_a_redundant_one_and_a_foreign_one():
    source = ('@pytest.mark.req("ORD-1")\ndef test_a():\n    fail("ORD-1", "late")\n    fail("late", req="ORD-1")\n'
              '@pytest.mark.req("WIRE-4", "MAP-10")\ndef test_b():\n    fail("x", req="MAP-10")\n'
              '    fail("x", req="ORD-1")\n'
              'def helper():\n    fail("x", req="CANARY-1")\n    provoked([], "x", t, req="CANARY-1")\n')
    assert id_offences(source, {"fail", "provoked"}) == [
        "test_a:3 fail passes an id positionally", "test_a:4 fail names req='ORD-1', its test's only id: leave it out",
        "test_b:8 fail names req='ORD-1', which its test's marker does not list"]


def test_a_check_takes_its_id_from_the_tests_marker_and_names_one_only_where_it_must():
    checks = suite_checks()
    assert {"fail", "provoked", "not_exercised", "for_want_of", "fail_for_want_of", "connect"} <= checks
    positional = [f"{path.name}: {name}" for path in [ROOT / "harness/judging/checks.py",
                                                       *sorted((ROOT / "suites").glob("*.py"))]
                  for name, keyword in takes_req(ast.parse(path.read_text())).items() if not keyword]
    assert positional == [], "a check takes the requirement id as the keyword req= only"
    offences = [f"{path.name}: {offence}" for path in sorted((ROOT / "suites").glob("*.py"))
                for offence in id_offences(path.read_text(), checks)]
    assert offences == []
