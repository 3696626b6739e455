"""The child side of a sandboxed test run. Standard library only; runs as ``python3 -I -S``
(one process per job) or is loaded by ``zygote_main.py`` and called in a forked child.

Protocol: a JSON job on stdin; the report is one JSON document written to the file
descriptor named by ``argv[1]`` (stdout and stderr belong to the code under test).

Job::

    {"code": str, "entry_point": str | null, "setup": str,
     "calls": [{"id": str, "expr": str}],           # decomposed asserts: only the call
     "units": [{"id": str, "source": str, "kind": "assert" | "function", "name": str}],
     "guard": [str]}                                  # modules the tests use (see below)

Report::

    {"loaded": bool, "load_error": str | null, "entry_point_defined": bool | null,
     "setup_error": str | null, "observations": {id: {"ok": bool, "value"|"error": ...}},
     "units": {id: {"status": "passed" | "failed" | "error", "message": str}}, "done": true}

For a decomposed call the child never sees the expected value: it returns what it
observed as tagged plain data, and the trusted side compares. Whole units (anything
that cannot be decomposed) run here and their status is only as trustworthy as the
process that ran them; the trusted side records which guarantee applied.

Before the code under test loads, the harness snapshots ``builtins`` and the modules the
tests import (``guard``); before every call and unit it puts back anything the code
replaced, so patched builtins or assert helpers (``math.isclose = lambda *a: True``)
never reach a check.
"""

import builtins
import contextlib
import json
import json.encoder
import os
import sys
import traceback

_write = os.write
_dumps = json.dumps
_exc_info = sys.exc_info
_type = type
_repr = repr
_len = len
_isinstance = isinstance
_vars = vars
_setattr = setattr
_dict = dict
_modules = sys.modules
_module_type = type(sys)
MAX_ITEMS = 10000


def _encode(value, depth=0, budget=None):
    if budget is None:
        budget = [MAX_ITEMS]
    budget[0] -= 1
    if depth > 50 or budget[0] < 0:
        return {"t": "repr", "type": "too-large", "v": ""}
    kind = _type(value)
    if value is None:
        return {"t": "none"}
    if kind is bool:
        return {"t": "bool", "v": bool(value)}
    if kind is int:
        if value.bit_length() > 4000:
            return {"t": "repr", "type": "int", "v": "huge"}
        return {"t": "int", "v": str(int.__repr__(value))}
    if kind is float:
        return {"t": "float", "v": float.__repr__(value)}
    if kind is str:
        return {"t": "str", "v": str.__str__(value)[:100000]}
    if kind is list or kind is tuple:
        items = list.__iter__(value) if kind is list else tuple.__iter__(value)
        return {"t": kind.__name__, "v": [_encode(x, depth + 1, budget) for x in items]}
    if kind is set or kind is frozenset:
        return {"t": "set", "v": [_encode(x, depth + 1, budget) for x in set.__iter__(set(value))]}
    if kind is dict:
        return {
            "t": "dict",
            "v": [
                [_encode(k, depth + 1, budget), _encode(v, depth + 1, budget)]
                for k, v in dict.items(value)
            ],
        }
    try:
        text = object.__repr__(value)
    except Exception:
        text = "<unrepresentable>"
    return {"t": "repr", "type": getattr(kind, "__name__", "?"), "v": text[:200]}


def _error_text():
    exc_type, exc, tb = _exc_info()
    name = getattr(exc_type, "__name__", "Error")
    try:
        msg = str(exc)
    except Exception:
        msg = ""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename in ("<solution>", "<tests>"):
            line = (frame.f_code.co_filename, lineno)
    text = f"{name}: {msg}" if msg else name
    if line:
        text += f" (at {line[0]} line {line[1]})"
    return text[:2000]


def _guard(names):
    """Snapshot builtins, the json encoder and the tests' modules before untrusted code runs."""
    targets = [builtins, json, json.encoder, json.encoder.JSONEncoder]
    for name in names:
        with contextlib.suppress(BaseException):
            targets.append(__import__(name))
    saved = [(t, _dict(_vars(t))) for t in targets]
    modules = {n: _modules.get(n) for n in ["builtins", "json", "json.encoder", *names]}
    return saved, modules


def _restore(guard):
    saved, modules = guard
    for target, snapshot in saved:
        current = _vars(target)
        for key, value in _dict.items(snapshot):
            if current.get(key, _restore) is not value:
                try:
                    if _type(target) is _module_type:
                        current[key] = value
                    else:
                        _setattr(target, key, value)
                except BaseException:
                    pass
    for name, module in modules.items():
        if module is not None and _modules.get(name) is not module:
            _modules[name] = module


def run(job):
    """Load the code, run the calls and units; return the report (plain data)."""
    report = {
        "loaded": False,
        "load_error": None,
        "entry_point_defined": None,
        "setup_error": None,
        "observations": {},
        "units": {},
        "done": False,
    }
    guard = _guard([n for n in job.get("guard", []) if _isinstance(n, str)])
    namespace = {"__name__": "solution"}
    try:
        exec(compile(job["code"], "<solution>", "exec"), namespace)
        report["loaded"] = True
    except BaseException:
        report["load_error"] = _error_text()
    _restore(guard)
    entry = job.get("entry_point")
    if entry and report["loaded"]:
        report["entry_point_defined"] = callable(namespace.get(entry))
    if report["loaded"]:
        if job.get("setup"):
            try:
                exec(compile(job["setup"], "<tests>", "exec"), namespace)
            except BaseException:
                report["setup_error"] = _error_text()
        for call in job.get("calls", []):
            _restore(guard)
            try:
                value = eval(compile(call["expr"], "<tests>", "eval"), namespace)
                report["observations"][call["id"]] = {"ok": True, "value": _encode(value)}
            except BaseException:
                report["observations"][call["id"]] = {"ok": False, "error": _error_text()}
        for unit in job.get("units", []):
            _restore(guard)
            try:
                exec(compile(unit["source"], "<tests>", "exec"), namespace)
                if unit["kind"] == "function":
                    namespace[unit["name"]]()
                report["units"][unit["id"]] = {"status": "passed", "message": ""}
            except AssertionError:
                report["units"][unit["id"]] = {"status": "failed", "message": _error_text()}
            except BaseException:
                report["units"][unit["id"]] = {"status": "error", "message": _error_text()}
    _restore(guard)
    report["done"] = True
    return report


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def serve(job_fd, report_fd):
    """Read a job from ``job_fd``, run it, write the report to ``report_fd``."""
    report = run(json.loads(_read_all(job_fd)))
    data = _dumps(report).encode()
    view = memoryview(data)
    while view:
        written = _write(report_fd, view)
        view = view[written:]
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()


def main():
    serve(0, int(sys.argv[1]))


if __name__ == "__main__":
    main()
    os._exit(0)
