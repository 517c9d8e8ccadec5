"""The pytest plugin of retort: fixtures for testing code built on retort.

pytest loads it in every run of an environment where retort is installed (entry point
``pytest11``: ``retort``); ``-p no:retort`` turns it off. This module imports only pytest
and the standard library (retort's adapters, servers and hypothesis load when a fixture
is used), and it has no hooks and no autouse fixtures: it changes nothing unless a test
asks for one of its fixtures.

```python norun
def test_my_validator(scripted_agent, retort_plugins):
    pm = retort_plugins(my_plugin)                      # the process default for this test
    agent = scripted_agent(["x = 1  # TODO", "x = 1"])
    solved = asyncio.run(solve(agent, "Code?", Expect.text(tags={"code"})))
    assert solved.value == "x = 1" and "TODO" in agent.history[1]
```

Fixtures (all function-scoped unless said otherwise):

- ``retort_server``: ``retort_server(...)`` starts the reference proxy server on
  127.0.0.1 and a free port (:class:`ServerFactory`); every server it started is closed
  at teardown. Needs the ``server`` extra.
- ``scripted_agent`` / ``scripted_transport``: ``scripted_agent(replies, **options)``
  builds a :class:`~retort.plugins.testing.ScriptedAgent` (a ``ScriptedTransport``).
- ``cassette_player``: ``cassette_player(path_or_exchanges)`` builds a
  :class:`~retort.adapters.replay.ReplayTransport` from a cassette file, or from
  exchanges written to a temporary cassette (:class:`CassettePlayer`).
- ``retort_plugins``: ``retort_plugins(*plugins)`` builds a plugin manager (no entry
  points by default) and makes it the process-wide default until the test ends.
- ``retort_strategies`` (session): :mod:`retort.plugins.testing.strategies`, the
  hypothesis strategies (also importable as ``pytest_plugin.strategies``).

The factories are plain callables: parametrize a test's *arguments* and call the factory
with them. Function-scoped fixtures do not mix with hypothesis' ``@given`` (its
``function_scoped_fixture`` health check): build doubles inside such tests directly.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

# Only for annotations: importing retort (pydantic, uvicorn, hypothesis...) at plugin
# load would slow down every pytest run in the environment, used or not.
if TYPE_CHECKING:
    import pluggy

    from retort.adapters.proxy import Faults, ServerHandle
    from retort.adapters.replay import Cassette, ReplayTransport
    from retort.core import ChatReply, ChatRequest
    from retort.core.plugins import RetortPluginManager
    from retort.plugins.testing import ScriptedAgent, ScriptedTransport

__all__ = [
    "CassettePlayer",
    "ServerFactory",
    "cassette_player",
    "retort_plugins",
    "retort_server",
    "retort_strategies",
    "scripted_agent",
    "scripted_transport",
]

_STRATEGIES = "retort.plugins.testing.strategies"


def __getattr__(name: str) -> Any:
    # ``strategies`` is imported on first use: it needs hypothesis.
    if name == "strategies":
        return importlib.import_module(_STRATEGIES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -------------------------------------------------------------------- the reference server


class ServerFactory:
    """What the ``retort_server`` fixture gives: call it to start a reference server.

    ```python norun
    server = retort_server(replies=["=======ANSWER\\n41", "=======ANSWER\\n42"])
    server = retort_server(script="tests/data/script.yaml", faults={"statuses": {503: 0.3}})
    server = retort_server(lambda request: request.last_message.upper())
    server = retort_server()                      # echoes the last message
    ```

    Attributes:
        servers: every server started in this test, in order; all are closed at teardown.
    """

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self.servers: list[ServerHandle] = []

    def __call__(
        self,
        model: Any = None,
        *,
        replies: str | Sequence[Any] | None = None,
        script: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any] | None = None,
        cassette: str | os.PathLike[str] | None = None,
        faults: Faults | Mapping[str, Any] | str | None = None,
        **options: Any,
    ) -> ServerHandle:
        """Start a server on 127.0.0.1 (a free port); return its handle (``.url``).

        Give at most one of ``model``, ``replies``, ``script`` and ``cassette``; with
        none, the server echoes the last message of each request.

        Args:
            model: a model backend (``ScriptedModel``, ``FunctionModel``...), or a plain
                function ``f(request) -> reply`` (wrapped in a ``FunctionModel``).
            replies: successive replies to every request (strings, or mappings such as
                ``{"status": 503}`` or ``{"tool_calls": [...]}``); the last repeats.
            script: a script file (YAML, or JSON for ``*.json``), or its data: a mapping
                with ``rules`` (and ``default``) or a list of rules.
            cassette: a record/replay cassette to answer from.
            faults: the fault layer (``Faults``, its mapping form, or JSON/YAML text).
            **options: passed to :func:`retort.adapters.proxy.serve` (``log_level``,
                ``startup_timeout``...).

        Raises:
            ConfigurationError: more than one source of replies, or a bad script,
                cassette or fault layer.
        """
        from retort.adapters.proxy import FunctionModel, ScriptedModel, serve
        from retort.core.errors import ConfigurationError

        sources = {"model": model, "replies": replies, "script": script, "cassette": cassette}
        given = [name for name, value in sources.items() if value is not None]
        if len(given) > 1:
            raise ConfigurationError(
                f"retort_server() takes one of model, replies, script and cassette; got "
                f"{' and '.join(given)}"
            )
        script_path = None
        if replies is not None:
            reply = replies if isinstance(replies, str) else list(replies)
            model = ScriptedModel(rules=[{"reply": reply}])
        elif isinstance(script, str | os.PathLike):
            script_path = script
        elif script is not None:
            model = ScriptedModel.from_data(script, source="retort_server(script=...)")
        elif model is not None and not hasattr(model, "reply") and callable(model):
            model = FunctionModel(model)
        server = serve(model, script=script_path, cassette=cassette, faults=faults, **options)
        self._stack.callback(server.close)
        self.servers.append(server)
        return server


@pytest.fixture
def retort_server() -> Iterator[ServerFactory]:
    """Start reference proxy servers: ``retort_server(replies=[...]) -> ServerHandle``.

    See :class:`ServerFactory`. Every server started is closed when the test ends.
    """
    with contextlib.ExitStack() as stack:
        yield ServerFactory(stack)


# -------------------------------------------------------------------- scripted doubles


@pytest.fixture
def scripted_agent() -> Callable[..., ScriptedAgent]:
    """Build scripted agents: ``scripted_agent(replies, **options) -> ScriptedAgent``.

    The options are those of :class:`~retort.plugins.testing.ScriptedAgent`
    (``system_message``, ``latency``, ``budget``, ``count_tokens``).
    """
    from retort.plugins.testing import ScriptedAgent

    def build(replies: Iterable[Any] | Callable[..., Any], **options: Any) -> ScriptedAgent:
        return ScriptedAgent(replies, **options)

    return build


@pytest.fixture
def scripted_transport() -> Callable[..., ScriptedTransport]:
    """Build scripted transports: ``scripted_transport(replies, **options)``.

    The options are those of :class:`~retort.plugins.testing.ScriptedTransport`
    (``latency``, ``plugins``).
    """
    from retort.plugins.testing import ScriptedTransport

    def build(replies: Iterable[Any] | Callable[..., Any], **options: Any) -> ScriptedTransport:
        return ScriptedTransport(replies, **options)

    return build


# -------------------------------------------------------------------- cassettes


class CassettePlayer:
    """What the ``cassette_player`` fixture gives: call it to build a replay transport.

    ```python norun
    transport = cassette_player("tests/data/run.jsonl")       # a recorded cassette
    transport = cassette_player([("What is 6 x 7?", "42")])   # written to a temp file
    transport = cassette_player([])                           # every request misses
    ```

    An exchange is a pair ``(request, reply)`` or a mapping with ``"request"`` and
    ``"reply"`` (a cassette line). The request is a ``ChatRequest``, its mapping form, a
    list of messages (``Message`` objects or mappings), or a string: one user message.
    The reply is a ``ChatReply``, its mapping form, or a string: the reply's text.
    Requests are matched as every cassette matches them: by their messages (tools and
    response format rendered in); model and temperature do not count.
    """

    def __init__(self, directory: Callable[[], Path]) -> None:
        self._directory = directory
        self._numbers = itertools.count(1)

    def __call__(
        self,
        source: str | os.PathLike[str] | Cassette | Iterable[Any],
        *,
        strict: bool = False,
    ) -> ReplayTransport:
        """A :class:`~retort.adapters.replay.ReplayTransport` over ``source``.

        Args:
            source: a cassette (or its path), or the exchanges to record in a new one.
            strict: raise ``CassetteMiss`` when a request is asked more often than it
                was recorded, instead of repeating its last reply.

        Raises:
            CassetteError: the cassette file does not exist or is corrupt.
            TypeError: an exchange, request or reply has an unsupported form.
        """
        from retort.adapters.replay import Cassette, ReplayTransport

        if isinstance(source, str | os.PathLike | Cassette):
            return ReplayTransport(source, strict=strict)
        cassette = Cassette(self._directory() / f"cassette-{next(self._numbers)}.jsonl")
        cassette.path.touch()  # no exchanges: an empty cassette, where every request misses
        try:
            for index, exchange in enumerate(source):
                request, reply = _exchange(exchange, index)
                cassette.record(request, reply)
        finally:
            cassette.close()
        return ReplayTransport(cassette, strict=strict)


def _exchange(exchange: Any, index: int) -> tuple[ChatRequest, ChatReply]:
    if isinstance(exchange, Mapping) and {"request", "reply"} <= exchange.keys():
        request, reply = exchange["request"], exchange["reply"]
    elif isinstance(exchange, Sequence) and not isinstance(exchange, str) and len(exchange) == 2:
        request, reply = exchange
    else:
        raise TypeError(
            f"cassette_player: exchange {index} is {exchange!r:.80}; expected a pair "
            "(request, reply) or a mapping with 'request' and 'reply'"
        )
    return _request(request, index), _reply(reply, index)


def _request(request: Any, index: int) -> ChatRequest:
    from retort.core import ChatRequest, Message

    if isinstance(request, ChatRequest):
        return request
    if isinstance(request, str):
        return ChatRequest(messages=[Message(role="user", content=request)])
    if isinstance(request, Mapping):
        return ChatRequest.model_validate(request)
    if isinstance(request, Sequence):
        return ChatRequest(messages=[Message.model_validate(message) for message in request])
    raise TypeError(
        f"cassette_player: the request of exchange {index} is a {type(request).__name__}; "
        "expected a ChatRequest, a mapping, a list of messages or a str"
    )


def _reply(reply: Any, index: int) -> ChatReply:
    from retort.core import ChatReply

    if isinstance(reply, ChatReply):
        return reply
    if isinstance(reply, str):
        return ChatReply(content=reply)
    if isinstance(reply, Mapping):
        return ChatReply.model_validate(reply)
    raise TypeError(
        f"cassette_player: the reply of exchange {index} is a {type(reply).__name__}; "
        "expected a ChatReply, a mapping or a str"
    )


@pytest.fixture
def cassette_player(tmp_path_factory: pytest.TempPathFactory) -> CassettePlayer:
    """Build replay transports: ``cassette_player(path_or_exchanges, strict=False)``.

    See :class:`CassettePlayer`. Exchanges are written under a fresh temporary directory.
    """
    directory: list[Path] = []

    def make_directory() -> Path:
        # Created on first use only: replaying an existing file needs no directory.
        if not directory:
            directory.append(tmp_path_factory.mktemp("cassettes"))
        return directory[0]

    return CassettePlayer(make_directory)


# -------------------------------------------------------------------- plugins


@pytest.fixture
def retort_plugins() -> Iterator[Callable[..., RetortPluginManager]]:
    """Build a plugin manager and make it the process-wide default for this test.

    ``retort_plugins(*plugins, defaults=None, autoload=False)`` returns
    ``make_plugin_manager(defaults=defaults, autoload=autoload, plugins=plugins)``, and
    installs it with ``set_plugin_manager``, so solves, agents and transports that are
    given no manager use it. ``autoload=False`` leaves out the installed entry points, so
    the test does not depend on what else is installed. When the test ends, the default
    manager in place before the first call is restored.
    """
    from retort.core import plugins as plugins_module

    # The private default is read directly: get_plugin_manager() would build it (loading
    # every entry point) only to put it back.
    previous: list[pluggy.PluginManager | None] = []

    def build(
        *plugins: object,
        defaults: Iterable[str | object] | None = None,
        autoload: bool | None = False,
    ) -> RetortPluginManager:
        pm = plugins_module.make_plugin_manager(
            defaults=defaults, autoload=autoload, plugins=plugins
        )
        if not previous:
            previous.append(plugins_module._default_manager)
        plugins_module.set_plugin_manager(pm)
        return pm

    yield build
    if previous:
        plugins_module.set_plugin_manager(previous[0])


# -------------------------------------------------------------------- strategies


@pytest.fixture(scope="session")
def retort_strategies() -> ModuleType:
    """:mod:`retort.plugins.testing.strategies`: hypothesis strategies for replies.

    Session-scoped, so hypothesis accepts it in ``@given`` tests (draw with
    ``data.draw(retort_strategies.section_replies([...]))``).
    """
    return importlib.import_module(_STRATEGIES)
