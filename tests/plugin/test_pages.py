"""The browser tests' pages (voice_harness.plugin.pages): one kept context per worker, each test a fresh page, and
nothing of one test's site data or cookies left for the next."""

import pytest

from voice_harness.plugin import pages
from voice_harness.targets import browser
from voice_harness.targets.static_server import StaticServer


def options(**given):
    return lambda name, default: given.get(name, default)


def test_a_kept_context_serves_unless_something_needs_a_context_of_the_tests_own():
    assert pages.own_context_reason(options(), False) is None
    assert pages.own_context_reason(options(**{"--browser-context": "shared", "--tracing": "off"}), False) is None
    assert pages.own_context_reason(options(**{"--browser-context": "test"}), False) == "--browser-context test"
    assert pages.own_context_reason(options(**{"--video": "retain-on-failure"}), False) == "pytest-playwright's --video"
    assert pages.own_context_reason(options(**{"--tracing": "on"}), False) == "pytest-playwright's --tracing"
    assert pages.own_context_reason(options(**{"--screenshot": "only-on-failure"}), False) \
        == "pytest-playwright's --screenshot"
    assert pages.own_context_reason(options(), True) == "the test's browser_context_args marker"


@pytest.mark.parametrize("url, origin", [
    ("http://127.0.0.1:8123/index.html?proxyEndpoint=ws://x", "http://127.0.0.1:8123"),
    ("https://app.example/a/b#c", "https://app.example"),
    ("about:blank", None), ("data:text/html,<p>", None), ("chrome-error://chromewebdata/", None),
])
def test_the_origin_whose_site_data_is_cleared(url, origin):
    assert pages.origin_of(url) == origin


PAGE = "<!doctype html><title>state</title><p>state</p>"
WRITE = """async () => {
    localStorage.setItem('k', 'v');
    document.cookie = 'c=1; path=/; max-age=3600';
    await new Promise((done) => { const r = indexedDB.open('db'); r.onupgradeneeded = () => r.result.createObjectStore('s');
                                   r.onsuccess = () => { r.result.close(); done(); }; });
    await caches.open('cache').then((c) => c.put('/x', new Response('x')));
}"""
READ = """async () => [localStorage.getItem('k'), document.cookie,
                 (await indexedDB.databases()).map((d) => d.name), await caches.keys()]"""
EMPTY = [None, "", [], []]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(PAGE)
    server = StaticServer(root)
    yield server.url
    server.stop()


@pytest.mark.e2e
def test_the_next_test_finds_nothing_of_the_last_ones_site_data_in_the_kept_context(site):
    def action(owned):
        kept = pages.KeptContext(lambda: owned.context.browser.new_context())
        first = kept.new_page()
        first.goto(site)
        first.evaluate(WRITE)
        written = first.evaluate(READ)
        reopened = first.context.new_page()   # as AppDriver.reopen: a page the test opens itself
        reopened.goto(site)
        kept.reset()
        closed = (first.is_closed(), reopened.is_closed())
        second = kept.new_page()
        second.goto(site)
        left = second.evaluate(READ)
        same = second.context is first.context
        open_pages = len(second.context.pages)   # the blank page and this one
        kept.close()
        return written, closed, left, same, open_pages

    written, closed, left, same, open_pages = browser.with_page(action)
    assert written == ["v", "c=1", ["db"], ["cache"]]   # the probe writes what it later looks for
    assert closed == (True, True)
    assert left == EMPTY
    assert same and open_pages == 2


@pytest.mark.e2e
def test_a_context_that_cannot_be_reset_is_replaced(site):
    def action(owned):
        kept = pages.KeptContext(lambda: owned.context.browser.new_context())
        first = kept.new_page()
        first.goto(site)
        first.evaluate(WRITE)
        first.context.close()   # gone behind the kept context's back (a crash, say)
        kept.reset()
        second = kept.new_page()
        second.goto(site)
        left = second.evaluate(READ)
        replaced = second.context is not first.context
        kept.close()
        return replaced, left

    assert browser.with_page(action) == (True, EMPTY)


SAMPLE = '''
CONTEXTS = []

def test_first(app):
    app.open()
    app.page.evaluate("() => { localStorage.setItem('k', 'v'); document.cookie = 'c=1; path=/'; }")
    CONTEXTS.append(app.page.context)

def test_second(app):
    app.open()
    CONTEXTS.append(app.page.context)
    assert app.page.evaluate("() => [localStorage.getItem('k'), document.cookie]") == [None, '']
    print("SAME CONTEXT" if CONTEXTS[0] is CONTEXTS[1] else "OWN CONTEXTS")
'''


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning")
@pytest.mark.parametrize("choice, seen", [((), "SAME CONTEXT"), (("--browser-context", "test"), "OWN CONTEXTS")])
def test_the_apps_tests_share_a_context_and_none_of_its_state(pytester, choice, seen):
    pytester.makeconftest('pytest_plugins = ["voice_harness.plugin"]')
    pytester.makepyfile(test_sample=SAMPLE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "--reports-dir",
                                           str(pytester.path / "out"), *choice)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*{seen}*"])
