"""The ``retort`` command: solve, serve and doctor against a real reference server, and
every kind of bad input (one-line errors, exit codes, tracebacks only with --debug).

Commands run in-process through ``main([...])`` with captured output; a few run in a
subprocess to check the installed entry points and real signals.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from retort.adapters.cli import main
from retort.adapters.cli._doctor import satisfies
from retort.adapters.proxy import ScriptedModel, ServerHandle, serve
from retort.core import set_plugin_manager
from retort.plugins.trace import read_trace

RULES: list[dict[str, Any]] = [
    {"match": "6 x 7", "reply": "=======THOUGHT\nsix sevens\n=======ANSWER\n42"},
    {"match": "primes", "reply": "[2, 3, 5]"},
    {"match": "tricky", "reply": "forty-two"},
    {"match": "does not match the regular expression", "reply": "42"},
    {"match": "vote", "reply": ["A", "B", "A"]},
]
Run = Callable[..., tuple[int, str, str]]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with serve(ScriptedModel(RULES, default="no idea")) as handle:
        yield handle


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run ``main(argv)`` (stdin optional); return ``(code, stdout, stderr)``."""
    monkeypatch.delenv("SANDBOX_PROXY_URL", raising=False)
    monkeypatch.delenv("RETORT_DEBUG", raising=False)

    def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        capsys.readouterr()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _one_line_error(err: str, code: int, expected: int) -> str:
    """Assert the error shape; return the error line."""
    assert code == expected, err
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert 1 <= len(lines) <= 2, err
    assert lines[0].startswith("retort: error: ")
    if len(lines) == 2:
        assert lines[1].startswith("hint: ")
    return lines[0]


# ---------------------------------------------------------------------- help and entry points


def test_help_lists_every_command(cli: Run) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    for command in ("demo", "create", "solve", "serve", "doctor"):
        assert command in out


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-m", "retort.adapters.cli"], [str(Path(sys.executable).parent / "retort")]],
    ids=["python-m", "console-script"],
)
def test_entry_points_run_in_a_subprocess(command: list[str]) -> None:
    if not Path(command[0]).exists():
        pytest.skip("the console script is not installed next to this Python")
    done = subprocess.run([*command, "solve", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--format FORMAT" in done.stdout
    bad = subprocess.run([*command, "solve", "--nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[0] == "retort: error: unrecognized arguments: --nope"


# ---------------------------------------------------------------------- solve


@pytest.mark.parametrize("agent", ["native", "autogen"])
def test_solve_sections_prints_a_json_object(cli: Run, server: ServerHandle, agent: str) -> None:
    if agent == "autogen":
        pytest.importorskip("autogen_agentchat")
    code, out, err = cli(
        "solve", "--base-url", server.url, "--agent", agent,
        "--format", "sections:THOUGHT,ANSWER", "What is 6 x 7?",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {"THOUGHT": "six sevens", "ANSWER": "42"}
    assert err == ""


def test_solve_reads_the_task_from_stdin_and_prints_json(cli: Run, server: ServerHandle) -> None:
    code, out, err = cli("solve", "--base-url", server.url, "--format", "json", stdin="primes?")
    assert code == 0, err
    assert json.loads(out) == [2, 3, 5]
    prompt = server.model.requests[0].last_message  # type: ignore[attr-defined]
    assert prompt.startswith("primes?")


def test_solve_env_url_and_feedback_note(
    cli: Run, server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_PROXY_URL", server.url)
    code, out, err = cli("solve", "--agent", "native", "--regex", r"^\d+$", "a tricky one")
    assert code == 0, err
    assert out == "42\n"
    assert err == "solved on attempt 2 of 3 (feedback sent for: regex)\n"
    code, out, err = cli("solve", "-q", "--regex", r"^\d+$", "a tricky one")
    assert (code, out, err) == (0, "42\n", "")


def test_solve_json_envelope(cli: Run, server: ServerHandle) -> None:
    code, out, _ = cli(
        "solve", "--base-url", server.url, "--json", "-q", "--regex", r"^\d+$", "tricky"
    )
    assert code == 0
    envelope = json.loads(out)
    assert envelope["ok"] is True
    assert envelope["value"] == "42"
    assert [attempt["ok"] for attempt in envelope["attempts"]] == [False, True]
    assert envelope["attempts"][0]["failure"]["kind"] == "regex"
    assert envelope["metrics"]["attempts"] == 2


def test_solve_samples_votes(cli: Run, server: ServerHandle) -> None:
    code, out, err = cli("solve", "--base-url", server.url, "--samples", "3", "vote please")
    assert code == 0, err
    assert out == "A\n"
    assert err == "vote: 2 of 3 samples agree (2 distinct values, 0 failed)\n"


def test_solve_samples_json_envelope_has_the_tally(cli: Run, server: ServerHandle) -> None:
    code, out, _ = cli("solve", "--base-url", server.url, "--samples", "3", "--json", "vote")
    assert code == 0
    envelope = json.loads(out)
    assert envelope["votes"] == [{"count": 2, "value": "A"}, {"count": 1, "value": "B"}]
    assert [sample["ok"] for sample in envelope["samples"]] == [True, True, True]


def test_solve_that_fails_exits_1_with_one_line(cli: Run, server: ServerHandle) -> None:
    code, out, err = cli(
        "solve", "--base-url", server.url, "--attempts", "2", "--regex", "^FIX$", "anything"
    )
    line = _one_line_error(err, code, 1)
    assert line.startswith("retort: error: no valid reply in 2 attempts")
    assert "--attempts" in err
    assert out == ""
    code, out, err = cli(
        "solve", "--base-url", server.url, "--attempts", "2", "--regex", "^FIX$", "--json", "x"
    )
    assert code == 1
    envelope = json.loads(out)
    assert envelope["ok"] is False
    assert len(envelope["attempts"]) == 2


def test_solve_trace_writes_every_attempt(cli: Run, server: ServerHandle, tmp_path: Path) -> None:
    trace = tmp_path / "runs" / "trace.jsonl"
    code, _, _ = cli(
        "solve",
        "--base-url",
        server.url,
        "--trace",
        str(trace),
        "-q",
        "--regex",
        r"^\d+$",
        "tricky",
    )
    assert code == 0
    assert [record["ok"] for record in read_trace(trace)] == [False, True]
    assert read_trace(trace, "run_end")[0]["metrics"]["attempts"] == 2


# ---------------------------------------------------------------------- bad input


def test_unknown_flag_is_a_usage_error(cli: Run) -> None:
    code, _, err = cli("solve", "--bogus", "x")
    line = _one_line_error(err, code, 2)
    assert line == "retort: error: unrecognized arguments: --bogus"
    assert "retort solve --help" in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ((), "no command given"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        (("solve", "--format", "xml", "x"), "expected text, json or sections"),
        (("solve", "--format", "sections:", "x"), "sections:THOUGHT,ANSWER"),
        (("solve", "--regex", "(", "x"), "not a valid regular expression"),
        (("solve", "--attempts", "0", "x"), "must be 1 or more, got 0"),
        (("solve", "--samples", "2", "--quorum", "3", "x"), "--quorum 3 is more than --samples 2"),
        (("solve", "   "), "the task is empty"),
        (("solve", "--transport", "openai", "x"), "--transport openai needs --base-url"),
        (("solve", "--base-url", "ftp://host", "x"), "--base-url must be an http:// or https://"),
        (("solve", "--base-url", "http://", "x"), "--base-url"),
        (("serve", "--script", "missing.yaml"), "missing.yaml"),
        (("serve", "--faults", "missing.yaml"), "the faults file missing.yaml does not exist"),
        (("serve", "--faults", '{"nonsense": 1}'), "unknown key(s) 'nonsense'"),
        (("serve", "--host", "0.0.0.0"), "not a loopback address"),
        (("doctor", "--base-url", "nope"), "--base-url"),
    ],
)
def test_usage_errors_exit_2_with_one_line(cli: Run, argv: tuple[str, ...], needle: str) -> None:
    code, out, err = cli(*argv)
    line = _one_line_error(err, code, 2)
    assert needle in line
    assert out == ""


def test_no_task_and_a_terminal_on_stdin(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    code, _, err = cli("solve")
    assert "no task: give it as an argument or pipe it on stdin" in _one_line_error(err, code, 2)
    code, _, err = cli("solve", "-", stdin="  \n")
    assert "the task read from stdin is empty" in _one_line_error(err, code, 2)


def test_bad_url_in_the_environment_names_it(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PROXY_URL", "sandbox_proxy:80")
    code, _, err = cli("solve", "x")
    assert "SANDBOX_PROXY_URL" in _one_line_error(err, code, 2)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "nonexistent.invalid"])
def test_unreachable_endpoint_exits_1(cli: Run, host: str) -> None:
    url = "http://" + host.format(port=free_port())
    code, _, err = cli("solve", "--base-url", url, "--retries", "0", "--timeout", "5", "hi")
    line = _one_line_error(err, code, 1)
    assert "is the proxy running at" in line
    assert "retort doctor" in err


def test_unwritable_trace_directory_fails_before_any_request(
    cli: Run, server: ServerHandle, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, _, err = cli("solve", "--base-url", server.url, "--trace", f"{blocker}/t.jsonl", "hi")
    assert "cannot write the trace file" in _one_line_error(err, code, 1)
    assert server.stats.by_path.get("/api/inference", 0) == 0


@pytest.mark.parametrize(
    "argv",
    [("--debug", "solve"), ("solve", "--debug")],
    ids=["before", "after"],
)
def test_debug_shows_the_traceback(cli: Run, argv: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = cli(*argv, "--base-url", url, "--retries", "0", "hi")
    assert code == 1
    assert err.startswith("Traceback (most recent call last):")
    assert "TransportConnectionError" in err
    assert err.strip().splitlines()[-2].startswith("retort: error: ")


def test_debug_from_the_environment(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETORT_DEBUG", "1")
    code, _, err = cli(
        "solve", "--base-url", f"http://127.0.0.1:{free_port()}", "--retries", "0", "x"
    )
    assert code == 1
    assert "Traceback" in err


@pytest.mark.parametrize(
    ("error", "code", "needle"),
    [
        (RuntimeError("boom"), 1, "unexpected RuntimeError: boom"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (PermissionError(13, "Permission denied", "/out"), 1, "Permission denied: /out"),
    ],
)
def test_unexpected_errors_are_one_line_too(
    cli: Run, monkeypatch: pytest.MonkeyPatch, error: BaseException, code: int, needle: str
) -> None:
    def explode(args: object) -> None:
        raise error

    monkeypatch.setattr("retort.adapters.cli._solve.build_expect", explode)
    exit_code, _, err = cli("solve", "x")
    assert needle in _one_line_error(err, exit_code, code)


# ---------------------------------------------------------------------- serve


def _drive(port: int, results: list[Any], faults: bool) -> None:
    """Wait for the server on ``port``, use it, then Ctrl-C this process."""
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{base}/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        body = {"model": "m", "messages": [{"role": "user", "content": "6 x 7"}],
                "run_id": "r", "temperature": 0.0, "agent_id": "a:b"}  # fmt: skip
        results.append(httpx.post(f"{base}/api/inference", json=body, timeout=5).status_code)
        if faults:
            faults_now = httpx.get(f"{base}/admin/faults", timeout=5).json()["faults"]
            results.append(faults_now["statuses"])
    except BaseException as exc:
        results.append(exc)
    finally:
        os.kill(os.getpid(), signal.SIGINT)


def test_serve_until_ctrl_c_with_script_and_faults(cli: Run, tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text('rules:\n  - match: "6 x 7"\n    reply: "42"\n')
    faults = tmp_path / "faults.json"
    faults.write_text('{"seed": 1, "statuses": {"503": 1.0}, "retry_after": null}')
    port = free_port()
    results: list[Any] = []
    helper = threading.Thread(target=_drive, args=(port, results, True))
    helper.start()
    code, out, err = cli(
        "serve", "--script", str(script), "--faults", str(faults), "--port", str(port)
    )
    helper.join(10)
    assert results == [503, {"503": 1.0}]
    assert code == 0
    assert out == f"http://127.0.0.1:{port}\n"
    assert "scripted" in err
    assert "faults on" in err
    assert err.strip().splitlines()[-1].startswith("retort serve: stopped after 3 requests")
    # The signal handlers are back: SIGINT is Python's again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_serve_echo_stops_after_max_seconds(cli: Run) -> None:
    started = time.monotonic()
    code, out, err = cli("serve", "--port", "0", "--max-seconds", "0.2")
    assert code == 0
    assert 0.2 <= time.monotonic() - started < 5
    assert out.startswith("http://127.0.0.1:")
    assert "echo model" in err
    assert "stopped after 0 requests" in err


def test_serve_port_in_use(cli: Run) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli("serve", "--port", str(port), "--max-seconds", "0.1")
    line = _one_line_error(err, code, 1)
    assert f"cannot listen on 127.0.0.1:{port}" in line
    assert "--port 0" in err


def test_serve_subprocess_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text('default: "pong"\n')
    command = [sys.executable, "-m", "retort.adapters.cli", "serve", "--script", str(script)]
    process = subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        body = {"model": "m", "messages": [{"role": "user", "content": "ping"}],
                "run_id": "r", "temperature": 0.0, "agent_id": "a:b"}  # fmt: skip
        assert httpx.post(f"{url}/api/inference", json=body, timeout=5).json() == "pong"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "stopped after 1 request " in err


# ---------------------------------------------------------------------- doctor


def _findings(out: str) -> dict[str, dict[str, Any]]:
    data = json.loads(out)
    return {f"{item['section']}:{item['name']}": item for item in data["findings"]}


def test_doctor_against_a_running_server(cli: Run, server: ServerHandle) -> None:
    code, out, err = cli("doctor", "--base-url", server.url, "--probe", "--json")
    assert code == 0, out + err
    findings = _findings(out)
    assert findings["versions:python"]["status"] == "ok"
    assert findings["versions:pluggy"]["status"] == "ok"
    assert findings["versions:autogen-agentchat"]["wanted"] == "<0.8,>=0.7.5"
    feedback = findings["plugins:retort.plugins.feedback"]
    assert (feedback["found"], feedback["status"]) == ("default", "ok")
    assert "retort_feedback" in feedback["note"]
    health = findings[f"endpoint:GET {server.url}/health"]
    assert health["status"] == "ok"
    assert health["found"].startswith("HTTP 200")
    assert findings["endpoint:probe (proxy)"]["found"].endswith("'no idea'")


def test_doctor_tables(cli: Run, server: ServerHandle) -> None:
    code, out, _ = cli("doctor", "--base-url", server.url)
    assert code == 0
    for needle in ("versions", "plugins", "endpoint", "pydantic", "retort.plugins.llm_fix"):
        assert needle in out
    assert out.strip().splitlines()[-1] == "retort doctor: nothing broken"


def test_doctor_without_an_endpoint_warns_only(cli: Run) -> None:
    code, out, _ = cli("doctor", "--json")
    assert code == 0
    finding = _findings(out)["endpoint:base URL"]
    assert (finding["found"], finding["status"]) == ("not configured", "warn")


def test_doctor_unreachable_endpoint_fails(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SANDBOX_PROXY_URL", url)
    code, out, _ = cli("doctor", "--json")
    assert code == 1
    assert _findings(out)[f"endpoint:GET {url}/health"]["status"] == "fail"
    code, out, _ = cli("doctor")
    assert code == 1
    assert out.strip().splitlines()[-1] == f"retort doctor: 1 problem: GET {url}/health"


def test_doctor_bad_url_in_the_environment_is_a_finding(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_PROXY_URL", "ftp://proxy")
    code, out, _ = cli("doctor", "--json")
    assert code == 1
    assert _findings(out)["endpoint:SANDBOX_PROXY_URL"]["status"] == "fail"


def test_doctor_openai_endpoint(cli: Run, server: ServerHandle) -> None:
    code, out, _ = cli(
        "doctor", "--transport", "openai", "--base-url", server.url, "--model", "m",
        "--probe", "--json",
    )  # fmt: skip
    findings = _findings(out)
    models = findings[f"endpoint:GET {server.url}/v1/models"]
    assert models["status"] == "warn"
    assert "HTTP 404" in models["found"]
    assert findings["endpoint:probe (openai)"]["status"] == "ok"
    assert code == 0


def test_doctor_reports_a_plugin_that_cannot_load(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETORT_LOAD_PLUGINS", "no_such_plugin")
    set_plugin_manager(None)
    try:
        code, out, _ = cli("doctor", "--json")
    finally:
        monkeypatch.delenv("RETORT_LOAD_PLUGINS")
        set_plugin_manager(None)
    findings = _findings(out)
    assert code == 1
    assert findings["plugins:RETORT_LOAD_PLUGINS"]["status"] == "info"
    assert "no_such_plugin" in findings["plugins:plugin manager"]["found"]


@pytest.mark.parametrize(
    ("version", "specifier", "expected"),
    [
        ("0.7.5", ">=0.7.5,<0.8", True),
        ("0.7.10", ">=0.7.5,<0.8", True),
        ("0.8.0", ">=0.7.5,<0.8", False),
        ("0.7.4", ">=0.7.5,<0.8", False),
        ("0.7.6rc1", ">=0.7.5,<0.8", True),
        ("3.11.7", ">=3.11", True),
        ("2.14.4", "<3,>=2.6", True),
        ("1.2.9", "==1.2.*", True),
        ("1.3.0", "==1.2.*", False),
        ("1.3.0", "!=1.2.*", True),
        ("1.4.2", "~=1.4.0", True),
        ("1.5.0", "~=1.4.0", False),
        ("6.0", "", True),
        ("1.0", "==1.0.0", True),
        ("1.0.1", "!=1.0.1", False),
    ],
)
def test_version_ranges(version: str, specifier: str, expected: bool) -> None:
    assert satisfies(version, specifier) is expected


def test_version_range_that_cannot_be_read() -> None:
    with pytest.raises(ValueError, match="cannot read the version clause"):
        satisfies("1.0", "about 1")


def test_public_api_is_main() -> None:
    import retort.adapters.cli as cli_package

    assert cli_package.__all__ == ["main"]
    assert cli_package.main is main


def test_the_api_key_is_never_shown(cli: Run, server: ServerHandle) -> None:
    secret = "sk-test-secret-123"
    closed = f"http://127.0.0.1:{free_port()}"
    code, out, err = cli(
        "--debug", "solve", "--base-url", closed, "--api-key", secret, "--retries", "0", "x"
    )
    assert code == 1
    assert secret not in out + err
    code, out, err = cli(
        "doctor", "--base-url", server.url, "--api-key", secret, "--probe", "--json"
    )
    assert code == 0
    assert secret not in out + err


def test_autogen_consensus(cli: Run, server: ServerHandle) -> None:
    pytest.importorskip("autogen_agentchat")
    code, out, err = cli(
        "solve", "--agent", "autogen", "--base-url", server.url, "--samples", "3", "--quorum", "2",
        "vote please",
    )  # fmt: skip
    assert code == 0, err
    assert out == "A\n"
    assert err.startswith("vote: 2 of 3 samples agree")
