"""Makes the screenshots of docs/reading-a-report.md with the project's own tooling: a run of the canary on
the field defect (premature-response-create), its timeline of both legs, and the Allure report of that run.

    .venv/bin/python docs/make_screenshots.py      # writes docs/img/*.png (about a minute)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice_harness.targets import browser

IMG = ROOT / "docs" / "img"
WAIT_MS = 30_000


def harness(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=900)


def main() -> int:
    IMG.mkdir(parents=True, exist_ok=True)
    reports = Path(tempfile.mkdtemp(prefix="harness-screenshots-"))
    run = harness("run", "--defect", "premature-response-create", "--reports-dir", str(reports), "--",
                  "-k", "canary or readiness")
    lines = run.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if " conformance " in line and line.startswith("="))
    (IMG / "terminal-summary.txt").write_text("\n".join(lines[start:]).replace(str(reports), "reports") + "\n")
    built = harness("report", "--reports-dir", str(reports))
    if built.returncode != 0:
        print(built.stderr, file=sys.stderr)
        return 1
    timeline = next((reports / "timelines").glob("*first_text*.html"))

    def shoot(page) -> None:
        page.goto(timeline.as_uri())
        page.screenshot(path=str(IMG / "timeline.png"), full_page=True)
        page.goto((reports / "html" / "index.html").as_uri())
        page.wait_for_function("/Passed\\s+\\d+/.test(document.body.innerText)", timeout=WAIT_MS)
        page.screenshot(path=str(IMG / "allure-overview.png"))
        page.get_by_text("test_agent_replies_to_the_first_text_message_within_15_s", exact=False).first.click()
        page.get_by_text("mock upstream transcript").first.wait_for(timeout=WAIT_MS)
        page.screenshot(path=str(IMG / "allure-failed-test.png"))
        page.get_by_text("Attachments", exact=False).first.click()
        page.get_by_text("browser console").first.click()
        page.screenshot(path=str(IMG / "allure-attachments.png"), full_page=True)

    browser.with_page(shoot)
    print(f"screenshots in {IMG} (run kept in {reports})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
