"""The conversation context: turn kinds, the reject rule, window(), snapshots, to_wire."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retort.core.context import Context, Turn, approx_tokens, to_wire
from retort.core.messages import Message, ToolCall

SYSTEM = "You are a careful engineer."


def assistant(text: str = "reply") -> Message:
    return Message(role="assistant", content=text)


def user(text: str) -> Message:
    return Message(role="user", content=text)


def call_turn(call_id: str, *, name: str = "read") -> Message:
    return Message(
        role="assistant",
        tool_calls=(ToolCall(id=call_id, name=name, arguments='{"path": "a.py"}'),),
    )


def result(call_id: str, text: str = "contents") -> Message:
    return Message(role="tool", content=text, tool_call_id=call_id)


def texts(messages: list[Message]) -> list[str | None]:
    return [message.content for message in messages]


def one_per_message(message: Message) -> int:
    return 1


# ---------------------------------------------------------------- turn kinds


def test_first_turn_is_a_task_and_accepted_turns_keep_it_that_way() -> None:
    context = Context()
    first = context.begin("task")
    context.add(assistant())
    second = context.begin("next task")
    assert (first.kind, second.kind) == ("task", "task")
    assert second.id > first.id


def test_turn_after_a_rejected_turn_is_feedback_and_after_it_a_task_again() -> None:
    context = Context()
    task = context.begin("task")
    context.add(assistant("bad"))
    context.reject(task.id)
    assert context.next_kind == "feedback"
    feedback = context.begin("You are missing a section")
    context.add(assistant("good"))
    after = context.begin("another task")
    assert (feedback.kind, after.kind) == ("feedback", "task")


def test_reset_forgets_turns_keeps_system_message_and_clears_feedback_state() -> None:
    context = Context(SYSTEM)
    turn = context.begin("task")
    context.add(assistant())
    context.reject(turn.id)
    context.reset()
    assert context.messages() == [Message(role="system", content=SYSTEM)]
    assert context.turns == ()
    assert context.begin("fresh").kind == "task"


def test_turn_ids_are_unique_and_increasing_across_resets() -> None:
    context = Context()
    ids = [context.begin(f"t{n}").id for n in range(3)]
    context.reset()
    ids.append(context.begin("after reset").id)
    assert ids == sorted(set(ids))


def test_begin_refuses_a_non_string_prompt() -> None:
    with pytest.raises(TypeError, match="must be a str, got NoneType"):
        Context().begin(None)  # type: ignore[arg-type]


# ---------------------------------------------------------------- reject


def test_reject_of_a_task_turn_keeps_the_prompt_and_drops_every_answer() -> None:
    context = Context(SYSTEM)
    turn = context.begin("task")
    for message in (call_turn("c1"), result("c1"), assistant("final")):
        context.add(message)
    context.reject(turn.id)
    assert texts(context.messages()) == [SYSTEM, "task"]
    assert context.turns[0].messages == []


def test_reject_of_a_feedback_turn_removes_the_whole_turn() -> None:
    context = Context()
    task = context.begin("task")
    context.add(assistant("bad 1"))
    context.reject(task.id)
    feedback = context.begin("feedback 1")
    context.add(call_turn("c1"))
    context.add(result("c1"))
    context.reject(feedback.id)
    assert texts(context.messages()) == ["task"]
    assert [turn.id for turn in context.turns] == [task.id]


@pytest.mark.parametrize("system", [SYSTEM, None])
@pytest.mark.parametrize("failures", [1, 2, 3, 7])
def test_after_k_failed_attempts_the_context_holds_the_task_and_the_current_attempt(
    system: str | None, failures: int
) -> None:
    context = Context(system)
    head = [system] if system else []
    turn = context.begin("task")
    context.add(assistant("bad 0"))
    context.reject(turn.id)
    for n in range(1, failures):
        turn = context.begin(f"feedback {n}")
        context.add(assistant(f"bad {n}"))
        assert texts(context.messages()) == [*head, "task", f"feedback {n}", f"bad {n}"]
        context.reject(turn.id)
        assert texts(context.messages()) == [*head, "task"]
    assert texts(context.messages()) == [*head, "task"]
    assert len(context) == len(head) + 1


def test_reject_of_an_older_turn_removes_it_without_setting_feedback_state() -> None:
    context = Context()
    first = context.begin("task 1")
    context.add(assistant("answer 1"))
    context.begin("task 2")
    context.add(assistant("answer 2"))
    context.reject(first.id)
    assert texts(context.messages()) == ["task 1", "task 2", "answer 2"]
    assert context.next_kind == "task"
    context.add(assistant("still open"))
    assert texts(context.messages())[-1] == "still open"


def test_reject_of_an_older_feedback_turn_removes_it_whole() -> None:
    context = Context()
    task = context.begin("task")
    context.reject(task.id)
    feedback = context.begin("feedback")
    context.add(assistant("fixed"))
    context.begin("next task")
    context.reject(feedback.id)
    assert texts(context.messages()) == ["task", "next task"]
    assert context.next_kind == "task"


def test_reject_of_an_unknown_or_foreign_turn_is_a_key_error() -> None:
    mine, other = Context(), Context()
    mine.begin("task")
    foreign = other.begin("task")
    with pytest.raises(KeyError, match="not in this context"):
        mine.reject(foreign.id)
    with pytest.raises(KeyError, match="turn 10000000"):
        mine.reject(10_000_000)
    assert texts(mine.messages()) == ["task"]


def test_a_rejected_feedback_turn_cannot_be_rejected_twice() -> None:
    context = Context()
    task = context.begin("task")
    context.reject(task.id)
    feedback = context.begin("feedback")
    context.reject(feedback.id)
    with pytest.raises(KeyError, match="removed"):
        context.reject(feedback.id)


# ---------------------------------------------------------------- add / discard


def test_add_needs_an_open_turn() -> None:
    context = Context()
    with pytest.raises(RuntimeError, match="no turn was begun"):
        context.add(assistant())
    turn = context.begin("task")
    context.reject(turn.id)
    with pytest.raises(RuntimeError, match="last turn was rejected"):
        context.add(assistant())


def test_add_to_a_named_turn_and_type_check() -> None:
    context = Context()
    first = context.begin("one")
    context.begin("two")
    context.add(assistant("late answer to one"), turn_id=first.id)
    assert texts(context.messages()) == ["one", "late answer to one", "two"]
    with pytest.raises(TypeError, match="takes a Message, got dict"):
        context.add({"role": "assistant", "content": "x"})  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        context.add(assistant(), turn_id=first.id + 1_000_000)


def test_discard_removes_a_turn_as_if_it_was_never_begun() -> None:
    context = Context()
    task = context.begin("task")
    context.reject(task.id)
    feedback = context.begin("feedback")
    context.discard(feedback.id)
    assert texts(context.messages()) == ["task"]
    assert context.next_kind == "feedback"
    retry = context.begin("feedback")
    assert retry.kind == "feedback"
    context.discard(retry.id)
    context.discard(task.id)
    assert context.turns == ()


def test_len_counts_every_message_and_the_system_message() -> None:
    context = Context(SYSTEM)
    assert len(context) == 1
    context.begin("task")
    context.add(call_turn("c1"))
    context.add(result("c1"))
    assert len(context) == len(context.messages()) == 4
    context.system_message = None
    assert len(context) == 3
    assert context.messages()[0] == user("task")


def test_system_message_is_settable_and_type_checked() -> None:
    context = Context()
    context.system_message = "new rules"
    assert context.messages() == [Message(role="system", content="new rules")]
    with pytest.raises(TypeError):
        context.system_message = 42  # type: ignore[assignment]


@pytest.mark.parametrize(("budget", "error"), [(0, ValueError), (-5, ValueError), (1.5, TypeError)])
def test_budget_must_be_a_positive_int(budget: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="budget"):
        Context(budget=budget)


# ---------------------------------------------------------------- tokens and window


def test_approx_tokens_is_a_quarter_of_the_characters_plus_overhead() -> None:
    assert approx_tokens(assistant("")) == 4
    assert approx_tokens(assistant("abcd")) == 5
    assert approx_tokens(assistant("abcde")) == 6
    call = call_turn("c1", name="read")
    assert approx_tokens(call) == 4 + -(-(len("read") + len('{"path": "a.py"}')) // 4)


def build(context: Context, spec: list[list[str]]) -> None:
    """Turns from a compact spec: each turn is [prompt, *answers]; "call:x"/"tool:x" pair up."""
    for prompt, *answers in spec:
        context.begin(prompt)
        for answer in answers:
            kind, _, name = answer.partition(":")
            if kind == "call":
                context.add(call_turn(name))
            elif kind == "tool":
                context.add(result(name, text=f"result {name}"))
            else:
                context.add(assistant(answer))


def test_window_without_budget_or_under_budget_is_every_message() -> None:
    context = Context(SYSTEM)
    build(context, [["t1", "a1"], ["t2", "a2"]])
    assert context.window() == context.messages()
    context.budget = 10_000
    assert context.window() == context.messages()


def test_window_drops_the_oldest_turns_first_and_keeps_task_and_last_turn() -> None:
    context = Context(SYSTEM, budget=9, count_tokens=one_per_message)
    build(context, [["task", "a1"], ["t2", "a2"], ["t3", "a3"], ["t4", "a4"], ["t5", "a5"]])
    assert len(context.messages()) == 11
    # 9 messages fit: the first answer and then turn 2 go, turns 3 to 5 stay.
    assert texts(context.window()) == [SYSTEM, "task", "t3", "a3", "t4", "a4", "t5", "a5"]
    context.budget = 6
    assert texts(context.window()) == [SYSTEM, "task", "t4", "a4", "t5", "a5"]


def test_window_returns_the_minimum_when_even_that_is_over_budget() -> None:
    context = Context(SYSTEM, budget=1, count_tokens=one_per_message)
    build(context, [["task", "a1"], ["t2", "a2"], ["t3", "call:c1", "tool:c1", "a3"]])
    assert texts(context.window()) == [SYSTEM, "task", "t3", None, "result c1", "a3"]


def test_window_never_separates_a_tool_call_from_its_results() -> None:
    context = Context(budget=7, count_tokens=one_per_message)
    build(context, [["task", "call:c1", "tool:c1", "call:c2", "tool:c2", "a1"], ["t2", "a2"]])
    # 8 messages, budget 7: dropping the call c1 alone would orphan its result.
    window = context.window()
    assert texts(window) == ["task", None, "result c2", "a1", "t2", "a2"]
    assert window[1].tool_calls[0].id == "c2"


def test_window_uses_the_context_token_counter() -> None:
    counted: list[Message] = []

    def count(message: Message) -> int:
        counted.append(message)
        return 100

    context = Context(budget=250, count_tokens=count)
    build(context, [["task", "a1"], ["t2", "a2"]])
    assert texts(context.window()) == ["task", "t2", "a2"]
    assert counted
    assert context.count_tokens is count


_answers = st.lists(
    st.one_of(st.just("text"), st.integers(min_value=1, max_value=3).map(lambda n: f"calls:{n}")),
    max_size=4,
)


@given(
    turns=st.lists(_answers, min_size=1, max_size=6),
    budget=st.integers(min_value=1, max_value=40),
    system=st.booleans(),
)
def test_window_invariants(turns: list[list[str]], budget: int, system: bool) -> None:
    context = Context(SYSTEM if system else None, budget=budget, count_tokens=one_per_message)
    serial = 0
    for number, answers in enumerate(turns):
        context.begin(f"prompt {number}")
        for answer in answers:
            if answer == "text":
                context.add(assistant())
                continue
            ids = [f"c{serial + n}" for n in range(int(answer.split(":")[1]))]
            serial += len(ids)
            calls = tuple(ToolCall(id=i, name="read") for i in ids)
            context.add(Message(role="assistant", tool_calls=calls))
            for call_id in ids:
                context.add(result(call_id))
    full, window = context.messages(), context.window()
    # A subsequence of the full conversation, in order.
    positions = [next(i for i, m in enumerate(full) if m is w) for w in window]
    assert positions == sorted(set(positions))
    # The minimum is always there.
    last = context.turns[-1]
    assert window[-1 - len(last.messages) :] == [last.prompt, *last.messages]
    assert user("prompt 0") in window
    assert (window[0].role == "system") is system
    # Calls and results travel together.
    calls = {c.id for m in window for c in m.tool_calls}
    results = {m.tool_call_id for m in window if m.role == "tool"}
    assert calls == results
    # Over budget only when nothing but the minimum is left.
    if len(context.turns) == 1:
        assert window == full
        return
    minimum = int(system) + 1 + 1 + len(last.messages)
    assert len(window) <= budget or len(window) == minimum
    # The turns in between that stay are the most recent ones.
    middle = [turn.prompt for turn in context.turns[1:-1]]
    kept = [prompt in window for prompt in middle]
    assert kept == sorted(kept)


# ---------------------------------------------------------------- snapshot / restore


def rich_context() -> Context:
    context = Context(SYSTEM, budget=500)
    task = context.begin("task")
    context.add(call_turn("c1"))
    context.add(result("c1", "line 1\nline 2 – ünïcode"))
    context.add(Message(role="assistant", content="named", name="coder"))
    context.reject(task.id)
    context.begin("feedback")
    context.add(assistant("second try"))
    return context


def test_snapshot_round_trips_through_json() -> None:
    context = rich_context()
    data = json.loads(json.dumps(context.snapshot()))
    restored = Context.restore(data)
    assert restored.messages() == context.messages()
    assert restored.turns == context.turns
    assert restored.system_message == SYSTEM
    assert restored.budget == 500
    assert restored.next_kind == context.next_kind
    assert restored.snapshot() == data


def test_restored_context_keeps_the_reject_rule_and_increasing_ids() -> None:
    context = Context()
    task = context.begin("task")
    context.reject(task.id)
    restored = Context.restore(json.loads(json.dumps(context.snapshot())))
    assert restored.next_kind == "feedback"
    turn = restored.begin("feedback")
    assert turn.kind == "feedback"
    assert turn.id > task.id
    restored.reject(turn.id)
    assert texts(restored.messages()) == ["task"]


def test_restore_takes_the_token_counter_again() -> None:
    context = Context(budget=3)
    build(context, [["task", "a1"], ["t2", "a2"]])
    restored = Context.restore(context.snapshot(), count_tokens=one_per_message)
    assert restored.count_tokens is one_per_message
    assert texts(restored.window()) == ["task", "t2", "a2"]


def test_restore_accepts_minimal_data() -> None:
    restored = Context.restore(
        {
            "turns": [
                {
                    "id": 3,
                    "kind": "task",
                    "prompt": {"role": "user", "content": "hi"},
                    "messages": [],
                }
            ]
        }
    )
    assert texts(restored.messages()) == ["hi"]
    assert restored.begin("next").id > 3


def _turn(**changes: Any) -> dict[str, Any]:
    turn: dict[str, Any] = {
        "id": 1,
        "kind": "task",
        "prompt": {"role": "user", "content": "task"},
        "messages": [],
    }
    turn.update(changes)
    return turn


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ([], "a mapping"),
        ({"turns": [], "extra": 1}, "unknown keys \\['extra'\\]"),
        ({"turns": [], "version": 2}, "version 2"),
        ({}, "missing key 'turns'"),
        ({"turns": {}}, "turns must be a list"),
        ({"turns": [], "system_message": 3}, "system_message"),
        ({"turns": [], "budget": 0}, "budget"),
        ({"turns": [], "last_id": "7"}, "last_id"),
        ({"turns": [], "last_rejected": "yes"}, "last_rejected"),
        ({"turns": ["x"]}, "turns\\[0\\] must be an object"),
        ({"turns": [{"id": 1}]}, "turns\\[0\\] missing keys \\['kind', 'messages', 'prompt'\\]"),
        ({"turns": [_turn(kind="retry")]}, "turns\\[0\\].kind"),
        ({"turns": [_turn(id=True)]}, "turns\\[0\\].id"),
        ({"turns": [_turn(id=2), _turn(id=2)]}, "turns\\[1\\].id"),
        ({"turns": [_turn(prompt={"role": "assistant", "content": "x"})]}, "turns\\[0\\].prompt"),
        ({"turns": [_turn(prompt="task")]}, "turns\\[0\\].prompt must be a message"),
        ({"turns": [_turn(messages="none")]}, "turns\\[0\\].messages must be a list"),
        (
            {"turns": [_turn(messages=[{"role": "assistant"}, {"role": "robot"}])]},
            "turns\\[0\\].messages\\[1\\]: role",
        ),
    ],
)
def test_restore_refuses_bad_data_naming_the_key(data: Any, where: str) -> None:
    with pytest.raises(ValueError, match=where):
        Context.restore(data)


# ---------------------------------------------------------------- to_wire


def test_to_wire_passes_messages_with_content_unchanged() -> None:
    messages = [
        Message(role="system", content="rules"),
        Message(role="tool", content="ok", tool_call_id="c1", name="read"),
    ]
    assert to_wire(messages) == [
        {"role": "system", "content": "rules"},
        {"role": "tool", "content": "ok", "tool_call_id": "c1", "name": "read"},
    ]


def test_to_wire_rewrites_a_none_content_tool_call_turn_as_key_value_text() -> None:
    message = Message(
        role="assistant",
        tool_calls=(ToolCall(id="c1", name="read", arguments='{"path": "é.py"}'),),
        name="coder",
    )
    calls = (
        '[{"id": "c1", "type": "function", '
        '"function": {"name": "read", "arguments": "{\\"path\\": \\"é.py\\"}"}}]'
    )
    assert to_wire([message]) == [
        {"role": "assistant", "content": f"tool_calls: {calls}\nname: coder\n"}
    ]


def test_to_wire_fallback_of_a_bare_none_message_is_empty_text() -> None:
    assert to_wire([Message(role="assistant")]) == [{"role": "assistant", "content": ""}]


def test_to_wire_without_fallback_keeps_none_and_structure() -> None:
    message = call_turn("c1")
    assert to_wire([message], fallback_none=False) == [message.to_openai()]
    assert to_wire([message], fallback_none=False)[0]["content"] is None


def test_turn_is_a_plain_record() -> None:
    turn = Turn(1, "task", user("x"))
    assert turn.messages == []
    assert turn == Turn(1, "task", user("x"), [])
