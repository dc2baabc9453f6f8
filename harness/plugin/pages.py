"""The browser tests' pages. By default each worker keeps one browser context per browser and gives every
browser test a fresh page in it; after the test its pages are closed and the context's cookies and the site data
of every origin its pages visited are cleared, so the next test starts as a new visitor would. A fresh context
per test (pytest-playwright's `page`) costs Chromium about 1.1 s of CPU, a fresh page in a kept context about
0.4 s (docs/performance.md): on two cores that is most of the suite's time.

A test gets a context of its own, as pytest-playwright makes it, where the harness asks for one
(`--browser-context test`), where pytest-playwright keeps per-context artifacts (--tracing, --video,
--screenshot) or where the test carries a `browser_context_args` marker."""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

SHARED, PER_TEST = "shared", "test"
OPTION = "--browser-context"
# pytest-playwright's options that keep something of each test's own context, with their "off" values.
PER_CONTEXT_ARTIFACTS = (("--tracing", "off"), ("--video", "off"), ("--screenshot", "off"))


def own_context_reason(getoption: Callable[[str, object], object], has_context_marker: bool) -> str | None:
    """Why a test needs a browser context of its own, or None when a kept context serves (pure)."""
    if getoption(OPTION, SHARED) == PER_TEST:
        return f"{OPTION} {PER_TEST}"
    for name, off in PER_CONTEXT_ARTIFACTS:
        if getoption(name, off) != off:
            return f"pytest-playwright's {name}"
    return "the test's browser_context_args marker" if has_context_marker else None


def origin_of(url: str) -> str | None:
    """The web origin of a page URL whose site data a test may have written (None for about:, data:, ...)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


class KeptContext:
    """One browser context for many tests, made on first use by `make` and made again after a reset failed. It
    keeps a blank page open between tests: Chromium starts a page (its renderer) in a context that has another
    page open for about a third of the CPU it takes in an empty context (0.44 s instead of 1.23 s for a page
    that connects, sends and reads a reply; docs/performance.md). The blank page's DevTools session clears
    the site data."""

    def __init__(self, make: Callable[[], BrowserContext]):
        self._make = make
        self._context: BrowserContext | None = None
        self._blank: Page | None = None
        self._session = None
        self._origins: set[str] = set()

    def new_page(self) -> Page:
        if self._context is None:
            self._context = self._make()
            self._context.on("page", self._watch)
        if self._blank is None or self._blank.is_closed():
            self._blank = self._context.new_page()
            self._session = self._context.new_cdp_session(self._blank)
        return self._context.new_page()

    def _watch(self, page: Page) -> None:
        # Every page of the context, also one a test opens itself (AppDriver.reopen).
        page.on("framenavigated", lambda frame: self._seen(frame.url))

    def _seen(self, url: str) -> None:
        origin = origin_of(url)
        if origin:
            self._origins.add(origin)

    def reset(self) -> None:
        """Close the test's pages, then clear what they left in the context: cookies and the site data (storage,
        IndexedDB, caches, service workers) of the origins they visited. A context that cannot be reset is
        closed; the next test gets a new one."""
        context, origins = self._context, sorted(self._origins)
        self._origins.clear()
        if context is None:
            return
        try:
            for page in context.pages:
                if page is not self._blank and not page.is_closed():
                    page.close()   # the browser closes its sockets; the app can write nothing more
            for origin in origins:
                self._session.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
            context.clear_cookies()
        except PlaywrightError:
            self.close()

    def close(self) -> None:
        context, self._context, self._blank, self._session = self._context, None, None, None
        if context is not None:
            try:
                context.close()
            except PlaywrightError:
                pass
