"""How a pytest test's parameters show in the Allure report: one result per pytest test, its values readable.

allure-pytest shows a parameter by allure_commons' `represent` (bytes as `<class 'bytes'>`) and tells results
apart by a history id made of the test function and its parameter values. Cases whose values are alike (a
placeholder `_` that is None in every case of a sweep, the cases told apart only by their marks) get one history
id, and Allure then shows all of them but one as retries of another: fewer tests than pytest ran, and a failure
hidden among the retries of a pass. pytest tells its cases apart by the case id (`item.callspec.id`, unique per
test function), so that id goes into the history id (a parameter of its own), and every value is shown readable
but left out of it (a repr with a memory address would also make the history id differ from run to run).
Pure: the plugin passes each returned parameter to `allure.dynamic.parameter`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CASE = "pytest id"   # not an identifier, so no pytest parameter can have this name
LIMIT = 80           # characters of a value shown before it is cut


@dataclass(frozen=True)
class Shown:
    """A value as the report shows it: allure-pytest shows a value by its repr, and this one's is the text
    itself (a str would be shown quoted)."""

    text: str

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Parameter:
    name: str
    value: Shown
    excluded: bool    # left out of the history id
    hidden: bool      # not shown (a placeholder such as `_`)


def shown(value: Any, limit: int = LIMIT) -> str:
    """A readable text of a parameter value: bytes as their literal (with their size when cut), anything else
    by its repr, cut at `limit` characters."""
    if isinstance(value, (bytes, bytearray)):
        text = repr(bytes(value))
        size = f"{len(value):,} bytes: "
        return text if len(text) <= limit else size + text[: max(limit - len(size) - 3, 8)] + "..."
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def parameters(params: dict[str, Any], case_id: str | None) -> list[Parameter]:
    """The Allure parameters of one pytest case: each pytest parameter readable and out of the history id (a
    name starting with `_` is a placeholder: hidden), then the case id, which alone tells the cases apart. A
    test without parameters gets none (its function's full name is its history id already)."""
    if not params and not case_id:
        return []
    result = [Parameter(name, Shown(shown(value)), excluded=True, hidden=name.startswith("_"))
              for name, value in params.items()]
    if case_id:
        result.append(Parameter(CASE, Shown(case_id), excluded=False, hidden=False))
    return result
