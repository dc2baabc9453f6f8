"""AppDriver.disconnect: the app's hook if the page has one, else the profile's disconnect control, else the page
is closed; never an error for an app that has neither (the LIFE-2/LIFE-3 run error of issue 19). reopen() then
brings the app back on a new page of the same browser context."""

import dataclasses

import pytest
from support import served_page

from voice_harness.drivers.app_driver import CONTROL, HOOK, PAGE_CLOSE, AppDriver, Selectors
from voice_harness.targets import browser

# Its module fixture is made once: under pytest-xdist (make test), every test of the module runs on one worker.
# It drives a Chromium (4 s): e2e, out of the unit tier.
pytestmark = [pytest.mark.xdist_group("app-driver-disconnect"), pytest.mark.e2e]

# A page that records how it was asked to disconnect; `hook` and `button` switch its two means on.
PAGE = """<!doctype html><html><body><div data-testid="voice-agent">
<span data-testid="asked"></span>
<button data-testid="hang-up" hidden>Hang up</button>
<span data-testid="agent-audio-chunks-played">0</span></div>
<script>
const q = new URLSearchParams(location.search);
const asked = (how) => { document.querySelector('[data-testid="asked"]').textContent = how; };
if (q.get('hook') === 'yes') window.voiceAgentApp = { disconnect: () => asked('hook') };
const button = document.querySelector('[data-testid="hang-up"]');
if (q.get('button') === 'yes') { button.hidden = false; button.onclick = () => asked('button'); } else button.remove();
if (q.get('played') === 'no') document.querySelector('[data-testid="agent-audio-chunks-played"]').remove();
</script></body></html>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    yield from served_page(tmp_path_factory.mktemp("app"), PAGE)


WITH_CONTROL = dataclasses.replace(Selectors(), disconnect="hang-up")
CASES = {"hook and control": (WITH_CONTROL, {"hook": "yes", "button": "yes"}),
         "control only": (WITH_CONTROL, {"button": "yes"}),
         "neither": (Selectors(), {}),
         "a control the page lacks": (WITH_CONTROL, {})}


def disconnected(context, url: str, selectors: Selectors, params: dict):
    page = context.new_page()
    driver = AppDriver(page, url, "ws://127.0.0.1:1/openai", selectors, extra_params={})
    driver.open(**params)
    means = driver.disconnect()
    asked = None if page.is_closed() else driver.text("asked")
    closed = page.is_closed()
    driver.reopen(**params)   # a new page when the old one was closed, else the same one again
    return means, asked, closed, driver.page is not page, driver.page.is_closed()


def played_counters(context, url: str):
    driver = AppDriver(context.new_page(), url, "ws://127.0.0.1:1/openai", extra_params={})
    driver.open()
    there = driver.has_played_counter()
    driver.open(played="no")
    return there, driver.has_played_counter()


@pytest.fixture(scope="module")
def seen(site):
    """Every case in one browser (a launch costs seconds)."""
    def action(owned):
        context = owned.context.browser.new_context()   # as the fixtures' pages: a context of their own
        return {**{name: disconnected(context, site, *case) for name, case in CASES.items()},
                "played": played_counters(context, site)}
    return browser.with_page(action)


def test_the_pages_hook_comes_first(seen):
    assert seen["hook and control"] == (HOOK, "hook", False, False, False)


def test_the_profiles_control_when_the_page_has_no_hook(seen):
    assert seen["control only"] == (CONTROL, "button", False, False, False)


def test_without_hook_or_control_the_page_is_closed_and_reopen_gives_a_new_page(seen):
    # A control named in the profile but absent from the page is no control either.
    assert seen["neither"] == seen["a control the page lacks"] == (PAGE_CLOSE, None, True, True, False)


def test_the_played_audio_counter_is_found_only_where_it_is(seen):
    assert seen["played"] == (True, False)
