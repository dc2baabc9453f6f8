"""The docs link only to files that exist (pages, images, scripts): a renamed file must not leave a dead link."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


# (not named `page`: that is pytest-playwright's fixture, and parametrizing it reorders the whole session)
@pytest.mark.parametrize("doc", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_a_page_resolves(doc):
    targets = [t for t in LINK.findall(doc.read_text()) if "://" not in t and not t.startswith("mailto:")]
    missing = [t for t in targets if not (doc.parent / t).exists()]
    assert missing == [], f"{doc.name} links to missing files: {missing}"


def test_the_report_reading_guide_shows_screenshots_the_tooling_made():
    guide = (ROOT / "docs" / "reading-a-report.md").read_text()
    images = re.findall(r"!\[[^]]*\]\((img/[^)]+\.png)\)", guide)
    assert len(images) >= 3
    assert "docs/make_screenshots.py" in guide
