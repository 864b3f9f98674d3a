"""Flamenco's side of the farm tests, simulated: the Manager's job compiler (the Node harness),
its REST API for a submitter, its variable expansion, and the Worker's commands.

What a task runs is built here as Flamenco 3.x builds it (internal/manager/api_impl/varrepl.go:
each string parameter, and each string in a list parameter, has its `{variable}`s replaced for
the worker; internal/worker/command_blender.go and command_exec.go: the command line from the
parameters). Parameters the Worker does not read are refused here (the real Worker ignores
them silently, which would hide a misspelt one).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HARNESS = HERE / "flamenco_harness.js"
JOB_SCRIPT = ROOT / "farm" / "flamenco" / "s2l_bake.js"
NODE = shutil.which("node") or shutil.which("nodejs")


class CompileError(Exception):
    """The job type refused the job (compileJob threw), or the harness refused the script."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


def _node(*args: str) -> str:
    assert NODE is not None, "node is not installed"
    proc = subprocess.run([NODE, str(HARNESS), *args], capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise CompileError(proc.stderr.strip(), proc.returncode)
    return proc.stdout


def describe(script: Path = JOB_SCRIPT) -> dict[str, Any]:
    """The job type, as GET /api/v3/jobs/type/{name} gives it."""
    result: dict[str, Any] = json.loads(_node("describe", str(script)))
    return result


def compile_job(submitted: Mapping[str, Any], folder: Path,
                script: Path = JOB_SCRIPT) -> dict[str, Any]:
    """The job compiled from a SubmittedJob: its settings after compileJob and its tasks."""
    path = folder / f"submitted-{os.getpid()}-{threading.get_ident()}.json"
    path.write_text(json.dumps(submitted))
    try:
        result: dict[str, Any] = json.loads(_node("compile", str(script), str(path)))
    finally:
        path.unlink()
    return result


def etag(job_type: Mapping[str, Any]) -> str:
    return hashlib.sha1(json.dumps(job_type, sort_keys=True).encode()).hexdigest()


@contextmanager
def fake_manager(folder: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A Manager's job routes on localhost: GET /api/v3/jobs/type/s2l-bake, POST
    /api/v3/jobs/check and POST /api/v3/jobs (compiled by the harness; a stale type_etag is
    412, a refused job 400 with the Manager's Error body). Yields its URL and the jobs made."""
    job_type = describe()
    jobs: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == f"/api/v3/jobs/type/{job_type['name']}":
                self._send(200, {**job_type, "etag": etag(job_type)})
            else:
                self._send(404, {"code": 404, "message": "no such job type known"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path not in ("/api/v3/jobs", "/api/v3/jobs/check"):
                self._send(404, {"code": 404, "message": "not found"})
                return
            if body.get("type_etag") not in (None, "", etag(job_type)):
                self._send(412, {"code": 412, "message": "rejecting job because its job type "
                                 "etag is outdated"})
                return
            try:
                job = compile_job(body, folder)
            except CompileError as exc:
                self._send(400, {"code": 400, "message": str(exc)})
                return
            if self.path == "/api/v3/jobs/check":
                self._send(204)
                return
            jobs.append(job)
            self._send(200, {"id": job["jobID"], "name": job["name"], "type": job["jobType"]})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", jobs
    finally:
        server.shutdown()
        server.server_close()


def expand(value: str, variables: Mapping[str, str]) -> str:
    """The Manager's one-way variable expansion of one string."""
    for name, replacement in variables.items():
        value = value.replace("{" + name + "}", replacement)
    return value


def _strings(params: Mapping[str, Any], key: str) -> list[str]:
    """A list parameter. The Worker formats a non-string item with Go's %v, which Python's
    str() does not always match (1.0 is "1" there), so only strings are accepted here."""
    value = params.get(key, [])
    assert isinstance(value, list), f"{key} must be a list, not {value!r}"
    assert all(isinstance(v, str) for v in value), f"{key} holds a non-string: {value!r}"
    return list(value)


_READ = {"blender-render": {"exe", "exeArgs", "argsBefore", "blendfile", "args"},
         "exec": {"exe", "args"}}


def command_line(command: Mapping[str, Any], variables: Mapping[str, str]) -> list[str]:
    """The argv a Worker runs for one command, after the Manager's variable expansion."""
    name = command["name"]
    assert name in _READ, f"the Worker has no command {name!r}"
    raw: dict[str, Any] = command["parameters"]
    unread = set(raw) - _READ[name]
    assert not unread, f"{name} does not read the parameters {sorted(unread)}"
    params = {k: (expand(v, variables) if isinstance(v, str) else
                  [expand(x, variables) if isinstance(x, str) else x for x in v]
                  if isinstance(v, list) else v) for k, v in raw.items()}
    exe = params.get("exe")
    assert isinstance(exe, str) and exe, f"{name} needs an exe"
    if name == "exec":
        return [exe, *_strings(params, "args")]
    blendfile = params.get("blendfile")
    assert isinstance(blendfile, str), "blender-render needs a blendfile parameter (may be '')"
    exe_args = params.get("exeArgs", "")
    assert isinstance(exe_args, str), "exeArgs must be a string"
    return [exe, *shlex.split(exe_args), *_strings(params, "argsBefore"),
            *([blendfile] if blendfile else []), *_strings(params, "args")]


def write_blender(folder: Path) -> Path:
    """A `blender` executable in folder that runs blender_shim.py on this Python's bpy."""
    path = folder / "blender"
    path.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} "
                    f"{shlex.quote(str(HERE / 'blender_shim.py'))} \"$@\"\n")
    path.chmod(0o755)
    return path


def task_process(task: Mapping[str, Any], variables: Mapping[str, str], cwd: Path,
                 env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start a task's one command as a Worker would: its own process, stdout and stderr as one
    log, the Worker's environment and working folder."""
    (command,) = task["commands"]
    return subprocess.Popen(command_line(command, variables), cwd=cwd, env=dict(env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_task(task: Mapping[str, Any], variables: Mapping[str, str], cwd: Path,
             env: Mapping[str, str], timeout: float = 300) -> tuple[int, str]:
    proc = task_process(task, variables, cwd, env)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def in_dependency_order(tasks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The tasks in an order the Manager may hand them out (dependencies first)."""
    done: set[str] = set()
    order: list[Mapping[str, Any]] = []
    left = list(tasks)
    while left:
        ready = [t for t in left if set(t["dependencies"]) <= done]
        assert ready, "the tasks' dependencies form a cycle"
        for t in ready:
            order.append(t)
            done.add(t["uuid"])
            left.remove(t)
    return order
