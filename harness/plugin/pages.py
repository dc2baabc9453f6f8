"""The browser tests' pages. By default each worker keeps one browser context per browser and gives every
browser test a fresh page in it; after the test its pages are closed and the context's cookies, its HTTP cache
and the site data of every origin its pages visited are cleared, so the next test finds nothing of the last
one's state. Chromium's CPU for a page that connects, sends and reads a reply (`voice-harness bench --groups
fixed`, docs/performance.md): 0.95 s in a fresh context, 1.19 s in a kept context with no other page open, 0.44 s
beside another open page; so the kept context also keeps a blank page open.

Settings made on the context itself (routes, permissions, init scripts, offline mode) are not undone: the
harness's suites make none. A test gets a context of its own where the harness is asked for one
(`--browser-context test`), where pytest-playwright must make it (its --tracing, --video, --screenshot and
--playwright-debug, a test's `browser_context_args` marker, the project's own `page`, `context` or
`new_context` fixture), and where a page went to a URL whose site data cannot be cleared by origin (file:)."""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Page

SHARED, PER_TEST = "shared", "test"
OPTION = "--browser-context"
# pytest-playwright's options that keep something of each test's own context, with their "off" values.
PER_CONTEXT_OPTIONS = (("--tracing", "off"), ("--video", "off"), ("--screenshot", "off"),
                       ("--playwright-debug", None))
CLEARED_SCHEMES = ("http", "https")              # site data cleared by origin
NO_DATA_SCHEMES = ("about", "data", "blob", "")  # nothing of their own to clear
PLAYWRIGHT_FIXTURES = ("page", "context", "new_context")


def own_context_reason(getoption: Callable[[str, object], object], marked: bool = False,
                       overridden: tuple[str, ...] = (), playwrights: bool = True) -> str | None:
    """Why a test needs a browser context of its own, or None when a kept context serves (pure). `marked`: the
    test has a browser_context_args marker; `overridden`: pytest-playwright fixtures the project redefines;
    `playwrights`: the context would be pytest-playwright's (False for the harness's microphone browser, where
    only the harness's option decides)."""
    if getoption(OPTION, SHARED) == PER_TEST:
        return f"{OPTION} {PER_TEST}"
    if not playwrights:
        return None
    for name, off in PER_CONTEXT_OPTIONS:
        if getoption(name, off) not in (off, None):
            return f"pytest-playwright's {name}"
    if marked:
        return "the test's browser_context_args marker"
    return f"the project's own `{overridden[0]}` fixture" if overridden else None


def origin_of(url: str) -> str | None:
    """The web origin of a page URL whose site data a test may have written (None for about:, data:, ...)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in CLEARED_SCHEMES and parts.netloc else None


def clearable(url: str) -> bool:
    """Whether what a page at this URL may store can be cleared by origin (a file: page's cannot)."""
    return urlsplit(url).scheme in CLEARED_SCHEMES + NO_DATA_SCHEMES


class KeptContext:
    """One browser context for many tests, made by `make(args)` on first use, made again when the tests' context
    arguments change, when a test left what cannot be cleared, and after a reset failed."""

    def __init__(self, make: Callable[[dict], BrowserContext]):
        self._make = make
        self._args: dict | None = None
        self._context: BrowserContext | None = None
        self._blank: Page | None = None
        self._session = None
        self._origins: set[str] = set()
        self._dirty = False

    def new_page(self, args: dict | None = None) -> Page:
        args = dict(args or {})
        if self._context is not None and args != self._args:
            self.close()
        if self._context is None:
            self._context = self._make(args)
            self._args = args
            self._context.on("page", self._watch)
        if self._blank is None or self._blank.is_closed():
            blank = self._context.new_page()
            self._session, self._blank = self._context.new_cdp_session(blank), blank
        return self._context.new_page()

    def _watch(self, page: Page) -> None:
        # Every page of the context, also one a test opens itself (AppDriver.reopen).
        page.on("framenavigated", lambda frame: self._seen(frame.url))

    def _seen(self, url: str) -> None:
        origin = origin_of(url)
        if origin:
            self._origins.add(origin)
        elif not clearable(url):
            self._dirty = True

    def reset(self) -> None:
        """Close the test's pages, then clear what they left in the context: cookies, the HTTP cache and the site
        data (storage, IndexedDB, caches, service workers) of the origins they visited. A context that cannot be
        reset, or holds what cannot be cleared, is closed; the next test gets a new one."""
        context = self._context
        if context is None:
            return
        try:
            for page in context.pages:
                if page is not self._blank and not page.is_closed():
                    page.close()   # the browser closes its sockets; the app can write nothing more
            origins, self._origins = sorted(self._origins), set()
            if self._dirty:
                self.close()
                return
            for origin in origins:
                self._session.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
            self._session.send("Network.clearBrowserCache")
            context.clear_cookies()
        except Exception:   # noqa: BLE001 - whatever went wrong, the next test must not inherit it
            self.close()

    def close(self) -> None:
        context, self._context, self._blank, self._session = self._context, None, None, None
        self._origins, self._dirty, self._args = set(), False, None
        if context is not None:
            try:
                context.close()
            except Exception:   # noqa: BLE001 - already gone (the browser crashed or closed)
                pass
