"""The browser tests' pages (voice_harness.plugin.pages): one kept context per worker, each test a fresh page, and
nothing of one test's site data or cookies left for the next."""

import pytest
from support import served_page

from voice_harness.plugin import pages
from voice_harness.targets import browser


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
    assert pages.own_context_reason(options(**{"--playwright-debug": "cli"}), False) \
        == "pytest-playwright's --playwright-debug"
    assert pages.own_context_reason(options(), True) == "the test's browser_context_args marker"
    assert pages.own_context_reason(options(), False, ("context",)) == "the project's own `context` fixture"
    # The harness's microphone browser: pytest-playwright's options and fixtures do not reach it.
    assert pages.own_context_reason(options(**{"--tracing": "on"}), True, ("page",), playwrights=False) is None
    assert pages.own_context_reason(options(**{"--browser-context": "test"}), playwrights=False) \
        == "--browser-context test"


@pytest.mark.parametrize("url, origin", [
    ("http://127.0.0.1:8123/index.html?proxyEndpoint=ws://x", "http://127.0.0.1:8123"),
    ("https://app.example/a/b#c", "https://app.example"),
    ("about:blank", None), ("data:text/html,<p>", None), ("chrome-error://chromewebdata/", None),
])
def test_the_origin_whose_site_data_is_cleared(url, origin):
    assert pages.origin_of(url) == origin
    assert pages.clearable(url) is not url.startswith("chrome-error:")


def test_a_file_page_leaves_what_cannot_be_cleared_by_origin():
    assert not pages.clearable("file:///srv/app/index.html")


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
    yield from served_page(tmp_path_factory.mktemp("site"), PAGE)


def kept_in(owned) -> pages.KeptContext:
    return pages.KeptContext(lambda args: owned.context.browser.new_context(**args))


@pytest.mark.e2e
def test_the_next_test_finds_nothing_of_the_last_ones_site_data_in_the_kept_context(site):
    other = site.replace("127.0.0.1", "localhost")   # another origin, on a page the test opened itself

    def action(owned):
        kept = kept_in(owned)
        first = kept.new_page()
        first.goto(site)
        first.evaluate(WRITE)
        reopened = first.context.new_page()   # as AppDriver.reopen
        reopened.goto(other)
        reopened.evaluate(WRITE)
        written = [first.evaluate(READ), reopened.evaluate(READ)]
        kept.reset()
        closed = (first.is_closed(), reopened.is_closed())
        second = kept.new_page()
        left = []
        for url in (site, other):
            second.goto(url)
            left.append(second.evaluate(READ))
        same = second.context is first.context
        open_pages = len(second.context.pages)   # the blank page and this one
        kept.close()
        return written, closed, left, same, open_pages

    written, closed, left, same, open_pages = browser.with_page(action)
    assert written == [["v", "c=1", ["db"], ["cache"]]] * 2   # the probe writes what it later looks for
    assert closed == (True, True)
    assert left == [EMPTY, EMPTY]
    assert same and open_pages == 2


@pytest.mark.e2e
def test_other_context_arguments_or_a_file_page_get_a_new_context(site, tmp_path):
    (tmp_path / "index.html").write_text(PAGE)

    def action(owned):
        kept = kept_in(owned)
        first = kept.new_page()
        kept.reset()
        second = kept.new_page({"locale": "de-DE"})
        kept.reset()
        third = kept.new_page({"locale": "de-DE"})
        third.goto((tmp_path / "index.html").as_uri())
        kept.reset()
        fourth = kept.new_page({"locale": "de-DE"})
        contexts = [first.context, second.context, third.context, fourth.context]
        kept.close()
        return [a is b for a, b in zip(contexts, contexts[1:])]

    assert browser.with_page(action) == [False, True, False]


@pytest.mark.e2e
def test_a_context_that_cannot_be_reset_is_replaced(site):
    def action(owned):
        kept = kept_in(owned)
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
    assert False, "fails, so that its trace is kept"

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
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "-v", "--harness-trace=failed",
                                           "--reports-dir", str(pytester.path / "out"), *choice)
    result.assert_outcomes(passed=1, failed=1)
    # pytest-playwright's browser parameter stays in the test ids (replay cassettes are found by them).
    result.stdout.fnmatch_lines(["*test_first[[]chromium[]] FAILED*", f"*test_second[[]chromium[]] {seen}*"])
    assert len(list((pytester.path / "out" / "traces").glob("*test_first*.zip"))) == 1


OWN_FIXTURE = '''
import pytest

@pytest.fixture
def context(new_context):
    made = new_context()
    made.add_init_script("window.fromTheProjectsContext = true")
    return made
'''


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning")
def test_a_projects_own_context_fixture_is_used(pytester):
    pytester.makeconftest('pytest_plugins = ["voice_harness.plugin"]\n' + OWN_FIXTURE)
    pytester.makepyfile(test_sample="def test_it(app):\n    app.open()\n"
                                    "    assert app.page.evaluate('() => window.fromTheProjectsContext') is True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--reports-dir", str(pytester.path / "out"))
    result.assert_outcomes(passed=1)
