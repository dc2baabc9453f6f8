"""Function calls: FunctionCallRequest out, the host's FunctionCallResponse back (MAP-4, MAP-5, through the
browser), and the response that follows it (ORD-3, ORD-6, through a wire client, which answers when the test's
order of events needs it)."""


import time

import pytest

from voice_harness.judging.component_protocol import function_calls

from voice_harness.judging import catalogue, turns
from voice_harness.judging.checks import fail, provoked
from voice_harness.judging.diagnosis import ended_by
from voice_harness.timeouts import units
from voice_harness.suites.flows import (app_params, fail_for_want_of, for_want_of_a_call, function_call_request,
                                       made_a_call, until_called)
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY

FUNCTIONS = [{"name": "get_weather", "description": "The weather in a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
RESULT = '{"temperature_c": 21}'


def call_and_answer(app, recording):
    """Ask a question whose answer needs the function; wait until the function output went upstream."""
    app.open(**app_params(functions=FUNCTIONS, functionResult=RESULT))
    app.send("What is the weather in Paris?")
    output, why_not = until_called(recording, function_output, units(10))
    if output is None:
        for_want_of_a_call(why_not, "no function_call_output item went upstream", recording.timeline())
    return output


def function_output(timeline):
    return timeline.first(route=PROXY_TO_UPSTREAM, type="conversation.item.create", role="function_call_output")


def completions_after(timeline, output):
    """What ORD-3 accepts as the completion of a function_call_output item."""
    return [f for f in timeline.select(route=UPSTREAM_TO_PROXY, after=output)
            if f.type in ("response.done", "response.output_text.done")
            or (f.type == "conversation.item.done" and f.item_id == output.item_id)]


def assert_response_waits_for_function_output_completion(timeline, output):
    response = timeline.first(route=PROXY_TO_UPSTREAM, type="response.create", after=output)
    if response is None:
        fail_for_want_of("no response.create followed the function output", timeline, output)
    completed = [f for f in completions_after(timeline, output) if f.t < response.t]
    if not completed:
        fail(f"{response.label()} at {timeline.offset(response):.3f}s came before any completion of "
             f"function output {output.item_id}", timeline, output, response)


@pytest.mark.req("MAP-4")
@pytest.mark.scenario("function-call")
def test_function_call_arguments_done_becomes_a_function_call_request(app, recording):
    call_and_answer(app, recording)
    timeline = recording.timeline()
    upstream = timeline.first(route=UPSTREAM_TO_PROXY, type="response.function_call_arguments.done")
    request = timeline.first(route=PROXY_TO_CLIENT, type="FunctionCallRequest")
    if request is None:
        fail("the client got no FunctionCallRequest", timeline, upstream)
    calls = function_calls(request.message)
    got = [(c.get("id"), c.get("name"), c.get("arguments")) for c in calls]
    want = (upstream.message["call_id"], upstream.message["name"], upstream.message["arguments"])
    if got != [want]:
        fail(f"FunctionCallRequest carries {got}, expected [{want}]", timeline, upstream, request)


@pytest.mark.req("MAP-5")
@pytest.mark.scenario("function-call")
def test_function_call_response_becomes_a_function_call_output_item(app, recording):
    output = call_and_answer(app, recording)
    timeline = recording.timeline()
    answer = timeline.first(route=CLIENT_TO_PROXY, type="FunctionCallResponse")
    item = output.message["item"]
    if (item.get("call_id"), item.get("output")) != (answer.message.get("id"), answer.message.get("content")):
        fail(f"function_call_output has call_id={item.get('call_id')!r} output={item.get('output')!r}, "
             f"expected {answer.message.get('id')!r} and {answer.message.get('content')!r}",
             timeline, answer, output)


def answer_over_the_wire(make_wire_client, recording, after_response_done: bool):
    """A wire client asks the question that needs the function and answers the FunctionCallRequest with RESULT:
    with after_response_done, only once the upstream's response.done of the response that made the call went to
    the proxy (the response is over when the answer arrives); else at once, and the scenario holds that
    response.done back until the function output was confirmed (the response is still active). Which of the
    two comes first is fixed by those conditions, not by timing. The function output item the proxy sent."""
    client = make_wire_client()
    if client.configure(think={"functions": FUNCTIONS}) is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "What is the weather in Paris?"})
    request, why_not = function_call_request(client, recording, units(10))
    if request is None:
        held = "" if after_response_done else (" while the upstream held back the response's response.done (a "
                                              "proxy that asks the host only once the response is done: this "
                                              "order cannot arise for it)")
        fail_for_want_of(why_not or f"no FunctionCallRequest reached the client{held} (MAP-4's to judge)",
                         recording.timeline())
    if after_response_done and recording.wait_for(call_response_done, units(10), while_live=True) is None:
        fail_for_want_of("the upstream never finished the response that made the call", recording.timeline())
    calls = function_calls(request)
    if not calls:
        fail_for_want_of("the FunctionCallRequest carries no call a host could answer (MAP-4's to judge)",
                         recording.timeline())
    call = calls[0]
    client.send({"type": "FunctionCallResponse", "id": call.get("id"), "name": call.get("name"), "content": RESULT})
    output = recording.wait_for(function_output, units(10), while_live=True)
    if output is None:
        fail_for_want_of("no function_call_output item went upstream (MAP-5's to judge)", recording.timeline())
    return output


def call_response_done(timeline):
    """The upstream's response.done of the response that made the function call (a function_call item in its
    output), or None: not any response's (a proxy may speak the greeting through a response of its own)."""
    return next((f for f in timeline.select(route=UPSTREAM_TO_PROXY, type="response.done") if made_a_call(f)), None)


def call_done_before_the_answer(timeline) -> bool | None:
    """Whether the response that made the call was done (its response.done reached the proxy) before the host's
    FunctionCallResponse; None before either was recorded."""
    done = call_response_done(timeline)
    answer = timeline.first(route=CLIENT_TO_PROXY, type="FunctionCallResponse")
    if answer is None:
        return None
    return done is not None and done.t < answer.t


FUNCTION_CALL = pytest.mark.scenario("function-call")
# The upstream holds back the response.done of the response that made the call (that response's only: a greeting
# the proxy has the model speak ends as usual) until it confirmed the function output item
# (conversation.item.added): the host's answer always comes while that response is active.
CALL_DONE_AFTER_OUTPUT = pytest.mark.scenario("function-call", reorders=[
    {"event": "response.done", "role": "function_call", "after": "conversation.item.added",
     "after_role": "function_call_output"}])
ORDERS = [
    pytest.param(True, id="response-done-before-function-response", marks=FUNCTION_CALL),
    pytest.param(False, id="response-done-after-function-output-confirmed", marks=CALL_DONE_AFTER_OUTPUT),
]


@pytest.mark.req("ORD-3")
@pytest.mark.parametrize("after_response_done", ORDERS)
def test_the_response_after_a_function_output_waits_for_its_completion(make_wire_client, recording,
                                                                       after_response_done):
    """Both orders of the call's response.done and the host's FunctionCallResponse, each fixed by a condition
    (answer_over_the_wire): once done, the completion left is the output item's conversation.item.done; while
    active, its response.done (or that item.done) too."""
    output = answer_over_the_wire(make_wire_client, recording, after_response_done)
    recording.first(units(10), route=PROXY_TO_UPSTREAM, type="response.create", after=output, while_live=True)
    timeline = recording.timeline()
    provoked(call_done_before_the_answer(timeline) is after_response_done,
             "the call's response.done " + ("before" if after_response_done else "after") +
             " the host's FunctionCallResponse", timeline, output)
    assert_response_waits_for_function_output_completion(timeline, output)


RECOVERY = catalogue.get("ORD-6")


@pytest.mark.req("ORD-6")
@pytest.mark.scenario("function-call", drops=[
    {"event": "conversation.item.added", "role": "function_call_output"},
    {"event": "conversation.item.done", "role": "function_call_output"}])
def test_a_missing_completion_does_not_hang_the_conversation(make_wire_client, recording):
    """The deferred completion never comes: the host answers only after the response that made the call was done
    (its response.done already went by), and the upstream drops both confirmations of the function output item,
    so its conversation.item.done, the one completion a correct proxy can still wait for, never comes. The
    proxy must recover on its own. (In the other order that response's own response.done completes the output:
    nothing to recover from; ORD-3 judges it.)"""
    output = answer_over_the_wire(make_wire_client, recording, after_response_done=True)
    # The bound is the requirement's own (apps close an idle connection after about 10 s): not scaled.
    response = recording.first(RECOVERY.within_s, route=PROXY_TO_UPSTREAM, type="response.create", after=output,
                               while_live=True)
    timeline = recording.timeline()
    completed = [f for f in completions_after(timeline, output) if response is None or f.t < response.t]
    provoked(call_done_before_the_answer(timeline) and not completed,
             "no completion of the function output after it went upstream", timeline, output, *completed[:1])
    if response is None or response.t - output.t > RECOVERY.within_s:
        note, close = ended_by(timeline)
        fail(f"no response.create within {RECOVERY.within_s:g} s after the function output, whose "
             f"completion never came{note}", timeline, output, close)


# FN-1: the bound is the catalogue's (2 s after the later of the output item's confirmation and the calling
# response's response.done); the check waits that long plus this margin, so a silent proxy is judged at the bound,
# never after a 20 s fallback.
FN_1_MARGIN = 1


def follow_up_of(timeline, until=None):
    found = turns.follow_ups(timeline, until)
    return found[0] if found else None


def fn_1_start(timeline):
    """The later of the output item's confirmation and the calling response's response.done, once both came."""
    one = follow_up_of(timeline)
    if one is None or one.confirmed is None or one.caller is None or one.caller.done is None:
        return None
    return max(one.confirmed, one.caller.done, key=lambda f: f.t)


def judge_fn_1(recording):
    """Wait until FN-1's bound passed (or the follow-up was decided before it), then for the follow-up's reply;
    fail on what turns.follow_ups says."""
    start = recording.wait_for(fn_1_start, units(10), while_live=True)
    if start is None:
        one = follow_up_of(recording.timeline())
        fail_for_want_of(one.reason if one is not None and one.reason else
                         "the function result's item or the calling response never completed upstream",
                         recording.timeline())
    deadline = start.t + turns.follow_up_within_s()
    recording.wait_for(lambda tl: follow_up_of(tl).ok is not None,
                       max(0.0, deadline + units(FN_1_MARGIN) - time.monotonic()), while_live=True)
    now = time.monotonic()
    one = follow_up_of(recording.timeline(), until=now if now > deadline else None)
    if one.ok is None and one.creates:
        # The follow-up was asked for in time: its reply must still reach the client.
        recording.wait_for(lambda tl: follow_up_of(tl).ok is not None, units(10), while_live=True)
        one = follow_up_of(recording.timeline(), until=time.monotonic())
    timeline = recording.timeline()
    if one.ok is False:
        fail(one.reason, timeline, one.sent, start, *one.creates[:2], one.reply)
    if one.ok is None:
        fail_for_want_of(one.reason, timeline, one.sent, start)
    return one


@pytest.mark.req("FN-1")
@pytest.mark.parametrize("after_response_done", ORDERS)
def test_the_function_result_is_followed_up_once_within_2_s_and_the_reply_reaches_the_client(
        make_wire_client, recording, after_response_done):
    """Both orders of the call's response.done and the host's FunctionCallResponse, each fixed by a condition
    (answer_over_the_wire, the scenario's reorder). Judged at FN-1's bound from the later of the output item's
    confirmation and that response.done, plus a margin: a proxy that waits for a signal that never comes, or for a
    long fallback timer, is red at the bound without being waited out."""
    answer_over_the_wire(make_wire_client, recording, after_response_done)
    judge_fn_1(recording)
    timeline = recording.timeline()
    provoked(call_done_before_the_answer(timeline) is after_response_done,
             "the call's response.done " + ("before" if after_response_done else "after") +
             " the host's FunctionCallResponse", timeline)
