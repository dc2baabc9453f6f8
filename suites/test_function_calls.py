"""Function calls through the browser: FunctionCallRequest out, the host's FunctionCallResponse back (MAP-4,
MAP-5), and the response that follows it (ORD-3, ORD-6)."""


import pytest

from voice_harness.judging import catalogue
from voice_harness.judging.checks import fail
from voice_harness.judging.diagnosis import ended_by
from voice_harness.timeouts import units
from voice_harness.suites.flows import app_params, fail_for_want_of
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY

FUNCTIONS = [{"name": "get_weather", "description": "The weather in a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
RESULT = '{"temperature_c": 21}'


def call_and_answer(app, recording, req):
    """Ask a question whose answer needs the function; wait until the function output went upstream."""
    app.open(**app_params(functions=FUNCTIONS, functionResult=RESULT))
    app.send("What is the weather in Paris?")
    output = recording.first(units(10), route=PROXY_TO_UPSTREAM, type="conversation.item.create",
                             role="function_call_output", while_live=True)
    if output is None:
        fail_for_want_of(req, "no function_call_output item went upstream", recording.timeline())
    return output


def completions_after(timeline, output):
    """What ORD-3 accepts as the completion of a function_call_output item."""
    return [f for f in timeline.select(route=UPSTREAM_TO_PROXY, after=output)
            if f.type in ("response.done", "response.output_text.done")
            or (f.type == "conversation.item.done" and f.item_id == output.item_id)]


def assert_response_waits_for_function_output_completion(timeline, output):
    response = timeline.first(route=PROXY_TO_UPSTREAM, type="response.create", after=output)
    if response is None:
        fail_for_want_of("ORD-3", "no response.create followed the function output", timeline, output)
    completed = [f for f in completions_after(timeline, output) if f.t < response.t]
    if not completed:
        fail("ORD-3", f"{response.label()} at {timeline.offset(response):.3f}s came before any completion of "
                      f"function output {output.item_id}", timeline, output, response)


@pytest.mark.req("MAP-4")
@pytest.mark.scenario("function-call")
def test_function_call_arguments_done_becomes_a_function_call_request(app, recording):
    call_and_answer(app, recording, "MAP-4")
    timeline = recording.timeline()
    upstream = timeline.first(route=UPSTREAM_TO_PROXY, type="response.function_call_arguments.done")
    request = timeline.first(route=PROXY_TO_CLIENT, type="FunctionCallRequest")
    if request is None:
        fail("MAP-4", "the client got no FunctionCallRequest", timeline, upstream)
    calls = request.data.get("functions") or [request.data]
    got = [(c.get("id"), c.get("name"), c.get("arguments")) for c in calls]
    want = (upstream.data["call_id"], upstream.data["name"], upstream.data["arguments"])
    if got != [want]:
        fail("MAP-4", f"FunctionCallRequest carries {got}, expected [{want}]", timeline, upstream, request)


@pytest.mark.req("MAP-5")
@pytest.mark.scenario("function-call")
def test_function_call_response_becomes_a_function_call_output_item(app, recording):
    output = call_and_answer(app, recording, "MAP-5")
    timeline = recording.timeline()
    answer = timeline.first(route=CLIENT_TO_PROXY, type="FunctionCallResponse")
    item = output.data["item"]
    if (item.get("call_id"), item.get("output")) != (answer.data.get("id"), answer.data.get("content")):
        fail("MAP-5", f"function_call_output has call_id={item.get('call_id')!r} output={item.get('output')!r}, "
                      f"expected {answer.data.get('id')!r} and {answer.data.get('content')!r}",
             timeline, answer, output)


@pytest.mark.req("ORD-3")
@pytest.mark.parametrize("_", [
    pytest.param(None, id="function-response-already-done", marks=pytest.mark.scenario("function-call")),
    pytest.param(None, id="function-response-still-active", marks=pytest.mark.scenario(
        "function-call", delays=[{"event": "response.done", "ms": 600}])),
])
def test_the_response_after_a_function_output_waits_for_its_completion(app, recording, _):
    output = call_and_answer(app, recording, "ORD-3")
    recording.first(units(10), route=PROXY_TO_UPSTREAM, type="response.create", after=output, while_live=True)
    assert_response_waits_for_function_output_completion(recording.timeline(), output)


RECOVERY = catalogue.get("ORD-6")


@pytest.mark.req("ORD-6")
@pytest.mark.scenario("function-call", drops=[
    {"event": "conversation.item.added", "role": "function_call_output"},
    {"event": "conversation.item.done", "role": "function_call_output"}])
def test_a_missing_completion_does_not_hang_the_conversation(app, recording):
    output = call_and_answer(app, recording, "ORD-6")
    # The bound is the requirement's own (apps close an idle connection after about 10 s): not scaled.
    response = recording.first(RECOVERY.within_s, route=PROXY_TO_UPSTREAM, type="response.create", after=output,
                               while_live=True)
    timeline = recording.timeline()
    if response is None or response.t - output.t > RECOVERY.within_s:
        note, close = ended_by(timeline)
        fail("ORD-6", f"no response.create within {RECOVERY.within_s:g} s after the function output, whose "
                      f"completion never came{note}", timeline, output, close)
