"""The two-interpreter harness: what crosses between the code and the tests, and what cannot.

Each test runs a real job on the warm zygote pool (bubblewrap), the backend the service uses.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from selfheal.core.config import SandboxSettings, get_settings
from selfheal.sandbox.base import ExecResult
from selfheal.sandbox.runner import DELEGATED, TRUSTED, ExecutionVerdict, read_verdict, run_tests
from selfheal.sandbox.testplan import build_plan
from selfheal.sandbox.zygote import ZygoteSandbox

BWRAP_OK, BWRAP_WHY = ZygoteSandbox.available(get_settings().sandbox)
pytestmark = pytest.mark.skipif(
    not BWRAP_OK and os.environ.get("SELFHEAL_REQUIRE_BWRAP") != "1", reason=BWRAP_WHY
)


@pytest.fixture
async def box() -> AsyncIterator[ZygoteSandbox]:
    sandbox = ZygoteSandbox(SandboxSettings(timeout_s=2, job_timeout_s=8, pool_size=1))
    await sandbox.start()
    yield sandbox
    await sandbox.aclose()


async def run(
    box: ZygoteSandbox, code: str, tests: str, entry: str | None = None
) -> ExecutionVerdict:
    return await run_tests(box, code=code, plan=build_plan(tests, entry), entry_point=entry)


def statuses(verdict: ExecutionVerdict) -> list[tuple[str, str]]:
    return [(t.status, t.guarantee) for t in verdict.tests]


async def test_plain_answers_are_compared_on_the_trusted_side(box: ZygoteSandbox) -> None:
    verdict = await run(
        box,
        "def f(x):\n    return x * x\n",
        "assert f(2) == 2 * 2\nassert abs(f(3) - 9) < 1e-9\nassert 8 < f(3) <= 9\n"
        "assert 4 in [f(2)]\nassert f(3) == 10\n",
        "f",
    )
    assert statuses(verdict) == [("passed", TRUSTED)] * 4 + [("failed", TRUSTED)]
    assert verdict.tests[-1].message == "AssertionError: f(3) returned 9, expected == 10 (line 5)"


async def test_a_lying_object_can_only_pass_as_delegated(box: ZygoteSandbox) -> None:
    code = (
        "class Yes:\n"
        "    def __eq__(self, o): return True\n"
        "    def __ne__(self, o): return False\n"
        "    def __sub__(self, o): return 0\n"
        "    def __contains__(self, o): return True\n"
        "    def __lt__(self, o): return True\n"
        "    def __bool__(self): return True\n"
        "def f(x):\n    return Yes()\n"
    )
    tests = "assert f(1) == 5\nassert abs(f(1) - 5) < 1e-6\nassert 'x' in f(1)\nassert f(1)\n"
    verdict = await run(box, code, tests, "f")
    assert all(t.guarantee == DELEGATED for t in verdict.tests if t.status == "passed")
    assert verdict.trusted_passed == 0


async def test_stdlib_values_arrive_as_the_real_types(box: ZygoteSandbox) -> None:
    code = (
        "import collections, decimal, fractions, datetime, enum, re\n"
        "class Color(enum.Enum):\n    RED = 1\n"
        "class Level(enum.IntEnum):\n    HIGH = 3\n"
        "Point = collections.namedtuple('Point', 'x y')\n"
        "def values():\n"
        "    return [collections.Counter('aab'), collections.OrderedDict(a=1),\n"
        "            collections.defaultdict(int, b=2), collections.deque([1, 2], maxlen=3),\n"
        "            Point(1, 2), Level.HIGH, decimal.Decimal('1.10'), fractions.Fraction(1, 3),\n"
        "            datetime.date(2024, 2, 29), datetime.timedelta(hours=1), {'k': 1}.keys(),\n"
        "            re.match(r'(a)(b)?', 'ac'), 10 ** 5000, float('nan'), b'x', bytearray(b'y'),\n"
        "            range(3), {1, 2}, frozenset({3}), 1 + 2j, Color.RED]\n"
    )
    tests = (
        "import collections, decimal, fractions, datetime, math\n"
        "v = values()\n"
        "assert v[0].most_common(1) == [('a', 2)]\n"
        "assert v[1] == collections.OrderedDict(a=1) and v[2] == {'b': 2}\n"
        "assert v[3] == collections.deque([1, 2]) and v[3].maxlen == 3\n"
        "assert v[4].x == 1 and v[4] == (1, 2)\n"
        "assert v[5] == 3\n"
        "assert v[6] == decimal.Decimal('1.10') and str(v[6]) == '1.10'\n"
        "assert v[7] == fractions.Fraction(1, 3)\n"
        "assert v[8] == datetime.date(2024, 2, 29) and v[9].seconds == 3600\n"
        "assert v[10] == {'k'} and list(v[10]) == ['k']\n"
        "assert v[11] and v[11].group(1) == 'a' and v[11].groups() == ('a', None)\n"
        "assert v[12] == 10 ** 5000\n"
        "assert math.isnan(v[13]) and v[14] == b'x' and v[15] == bytearray(b'y')\n"
        "assert v[16] == range(3) and v[17] == {1, 2} and v[18] == frozenset({3})\n"
        "assert v[19] == 1 + 2j\n"
        "assert v[20] == Color.RED and v[20].name == 'RED' and v[20].value == 1\n"
    )
    verdict = await run(box, code, tests)
    assert statuses(verdict) == [("passed", TRUSTED)] * 15, verdict.tests


async def test_objects_stay_with_the_code_behind_handles(box: ZygoteSandbox) -> None:
    code = (
        "from dataclasses import dataclass, field\n"
        "@dataclass(frozen=True)\n"
        "class P:\n    x: int\n    y: int\n"
        "    def norm(self) -> int:\n        return abs(self.x) + abs(self.y)\n"
        "class Stack:\n"
        "    def __init__(self):\n        self.items = []\n"
        "    def push(self, v):\n        self.items.append(v)\n        return self\n"
        "    def pop(self):\n        return self.items.pop()\n"
        "    def __len__(self):\n        return len(self.items)\n"
        "def gen(n):\n    yield from range(n)\n"
    )
    tests = (
        "import itertools\n"
        "def test_stack():\n"
        "    s = Stack()\n    s.push(1).push(2)\n    assert len(s) == 2\n"
        "    assert s.pop() == 2 and s.items == [1]\n"
        "    s.items = [7]\n    assert s.pop() == 7\n"
        "    try:\n        s.pop()\n    except IndexError:\n        pass\n"
        "    else:\n        raise AssertionError('no error')\n"
        "assert P(1, -2) == P(1, -2) and P(1, 2) != P(2, 1)\n"
        "assert P(3, -4).norm() == 7\n"
        "assert list(gen(3)) == [0, 1, 2]\n"
        "assert list(itertools.islice(gen(10 ** 12), 2)) == [0, 1]\n"
    )
    verdict = await run(box, code, tests)
    assert statuses(verdict) == [("passed", TRUSTED)] * 5, verdict.tests


async def test_exceptions_cross_by_type(box: ZygoteSandbox) -> None:
    code = (
        "class BankError(Exception):\n    pass\n"
        "class InsufficientFunds(BankError):\n"
        "    def __init__(self, short):\n        super().__init__(f'short by {short}')\n"
        "        self.short = short\n"
        "def withdraw(balance, amount):\n"
        "    if amount < 0:\n        raise ValueError('negative')\n"
        "    if amount > balance:\n        raise InsufficientFunds(amount - balance)\n"
        "    return balance - amount\n"
        "def parse(text):\n    import json\n    return json.loads(text)\n"
    )
    tests = (
        "import json, pytest\n"
        "def test_errors():\n"
        "    with pytest.raises(ValueError, match='neg'):\n        withdraw(1, -1)\n"
        "    with pytest.raises(BankError) as info:\n        withdraw(1, 5)\n"
        "    assert info.value.short == 4 and str(info.value) == 'short by 4'\n"
        "    try:\n        withdraw(1, 5)\n    except InsufficientFunds:\n        pass\n"
        "    with pytest.raises(json.JSONDecodeError):\n        parse('{')\n"
    )
    verdict = await run(box, code, tests)
    assert statuses(verdict) == [("passed", TRUSTED)], verdict.tests


async def test_callbacks_mutation_stdin_and_stdout(box: ZygoteSandbox) -> None:
    code = (
        "def order(xs, key):\n    return sorted(xs, key=key)\n"
        "def sort_in_place(xs):\n    xs.sort()\n"
        "def greet():\n    name = input()\n    print(f'hello {name}')\n    return len(name)\n"
    )
    tests = (
        "import contextlib, io, sys\n"
        "calls = []\n"
        "assert order([3, 1, 2], key=lambda v: (calls.append(v), -v)[1]) == [3, 2, 1]\n"
        "assert sorted(calls) == [1, 2, 3]\n"
        "data = [3, 1, 2]\nsort_in_place(data)\nassert data == [1, 2, 3]\n"
        "def test_io():\n"
        "    sys.stdin = io.StringIO('ada\\nrest')\n    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n        assert greet() == 3\n"
        "    assert out.getvalue() == 'hello ada\\n' and sys.stdin.read() == 'rest'\n"
    )
    verdict = await run(box, code, tests)
    assert statuses(verdict) == [("passed", TRUSTED)] * 4, verdict.tests


async def test_the_code_cannot_reach_the_tests_through_callbacks(box: ZygoteSandbox) -> None:
    code = (
        "def answer(callback):\n"
        "    g = getattr(callback, '__globals__', {})\n"
        "    return g.get('EXPECTED', 'none')\n"
    )
    verdict = await run(box, code, "EXPECTED = 'secret'\nassert answer(lambda: 0) == EXPECTED\n")
    # getattr with a default: the attribute is simply not there
    assert statuses(verdict) == [("failed", TRUSTED)]
    assert "returned 'none'" in verdict.tests[0].message


async def test_exits_crashes_and_hangs_only_fail(box: ZygoteSandbox) -> None:
    for code in (
        "import sys\nsys.exit(0)\n",
        "import os\nos._exit(0)\n",
        "def f():\n    import os\n    os._exit(0)\n",
        "def f():\n    raise SystemExit(0)\n",
        "def f():\n    while True:\n        pass\n",
    ):
        verdict = await run(box, code, "assert f() == 1\n", "f")
        assert verdict.passed == 0, (code, verdict.tests)


async def test_replacing_builtins_in_the_code_does_not_touch_the_tests(box: ZygoteSandbox) -> None:
    code = (
        "import builtins, math\n"
        "builtins.len = lambda x: 3\nbuiltins.isinstance = lambda *a: True\n"
        "math.isclose = lambda *a, **k: True\n"
        "def f():\n    return [1]\n"
    )
    verdict = await run(
        box, code, "import math\nassert len(f()) == 3\nassert math.isclose(f()[0], 2)\n", "f"
    )
    assert [t.status for t in verdict.tests] == ["failed", "failed"]


async def test_user_code_does_not_inherit_future_annotations(box: ZygoteSandbox) -> None:
    code = "import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int\ndef f():\n    return P.__annotations__['x'] is int\n"
    verdict = await run(box, code, "assert f() is True\n", "f")
    assert verdict.passed == 1


def _result(report: bytes) -> ExecResult:
    return ExecResult(
        backend="zygote", exit_code=None, timed_out=False, duration_ms=1.0, report=report
    )


@pytest.mark.parametrize(
    "report",
    [
        b'{"kind": "load", "loaded": true}\n{"kind": "unit", "id": "t0", "status": "passed", "ms": 1e999}\n',
        b'{"kind": "load", "loaded": true}\n{"kind": "unit", "id": "t0", "status": ["passed"]}\n',
        b'{"kind": "load", "loaded": true}\n' + b"[" * 100000 + b"\n",
        b'{"kind": "load", "loaded": true}\n{"kind": "unit", "id": "t0", "status": "passed", "ms": '
        + b"9" * 100000
        + b"}\n",
        b"\xff\xfe not utf-8\n",
        b'{"kind": "unit", "id": "t9", "status": "passed"}\n',
        b'{"kind": "load", "loaded": true}\n{"kind": "unit", "id": "t0", "status": "passed", "trusted": "yes"}\n',
    ],
)
def test_malformed_reports_become_verdicts(report: bytes) -> None:
    plan = build_plan("assert f() == 1\n", "f")
    verdict = read_verdict(_result(report), plan)
    assert verdict.total == 1
    assert verdict.trusted_passed == 0 or verdict.tests[0].message == ""


async def test_enum_members_keep_their_methods_identity_and_flag_algebra(
    box: ZygoteSandbox,
) -> None:
    code = (
        "import enum\n"
        "class Light(enum.Enum):\n    RED = 1\n    GREEN = 2\n"
        "    def next(self):\n        return Light.GREEN if self is Light.RED else Light.RED\n"
        "class Perm(enum.Flag):\n    R = 1\n    W = 2\n"
        "class Level(enum.IntEnum):\n    LOW = 1\n    HIGH = 3\n"
        "    def label(self):\n        return self.name.lower()\n"
        "class Op(enum.StrEnum):\n    ADD = 'add'\n"
        "def parse(name):\n    return Level[name]\n"
        "def both():\n    return Perm.R | Perm.W\n"
    )
    tests = (
        "assert Light.RED.next() is Light.GREEN\n"
        "assert both() == Perm.R | Perm.W and Perm.W in both() and not Perm(0)\n"
        "assert parse('HIGH') is Level.HIGH and parse('HIGH') == 3 and parse('LOW').label() == 'low'\n"
        "assert Op('add') is Op.ADD and Op.ADD == 'add'\n"
    )
    verdict = await run(box, code, tests)
    assert statuses(verdict) == [("passed", TRUSTED)] * 4, verdict.tests


async def test_dataclass_order_and_hash_and_namedtuple_methods_are_trusted(
    box: ZygoteSandbox,
) -> None:
    code = (
        "from dataclasses import dataclass\nfrom typing import NamedTuple\n"
        "@dataclass(order=True, frozen=True)\nclass P:\n    x: int\n"
        "@dataclass\nclass Q:\n    x: int\n"
        "    def __eq__(self, other):\n        return True\n"
        "class V(NamedTuple):\n    major: int\n"
        "    def bump(self):\n        return V(self.major + 1)\n"
        "    def __str__(self):\n        return f'v{self.major}'\n"
    )
    tests = (
        "assert P(1) < P(2) and max(P(3), P(2)) == P(3) and hash(P(1)) == hash(P(1))\n"
        "assert V(1).bump() == (2,) and str(V(4)) == 'v4'\n"
        "assert Q(1) == Q(2)\n"
    )
    verdict = await run(box, code, tests)
    assert statuses(verdict) == [("passed", TRUSTED), ("passed", TRUSTED), ("passed", DELEGATED)]


async def test_builtin_types_cross_and_a_remote_oserror_keeps_the_channel(
    box: ZygoteSandbox,
) -> None:
    code = (
        "from typing import Generic, TypeVar\nT = TypeVar('T')\n"
        "class Box(Generic[T]):\n    pass\n"
        "def convert(values, kind):\n    return [kind(v) for v in values]\n"
        "def missing():\n    return open('/nonexistent/file')\n"
    )
    tests = (
        "assert convert(['1', '2'], int) == [1, 2]\n"
        "assert Box[int]() is not None\n"
        "try:\n    missing()\n    assert False, 'no error'\nexcept FileNotFoundError:\n    pass\n"
        "assert convert([1], str) == ['1']\n"
    )
    verdict = await run(box, code, tests)
    assert statuses(verdict) == [("passed", TRUSTED)] * 4, verdict.tests


async def test_what_taints_a_unit(box: ZygoteSandbox) -> None:
    code = (
        "class M:\n    def __init__(self, v):\n        self.v = v\n"
        "    def __add__(self, o):\n        return M(self.v + o.v)\n"
        "    def __sub__(self, o):\n        return 0\n"
        "class Swallow:\n    def __enter__(self):\n        return 1\n"
        "    def __exit__(self, *a):\n        return True\n"
        "class Keep:\n    def __enter__(self):\n        return 1\n"
        "    def __exit__(self, *a):\n        return False\n"
    )
    tests = (
        "assert (M(1) + M(2)).v == 3\n"  # an operator returning the code's object: still trusted
        "assert M(1) - 5 == 0\n"  # an operator returning plain data: the code decided it
        "with Swallow() as s:\n    assert s == 2\n"  # the code swallowed the failure
        "with Keep() as k:\n    assert k == 2\n"
    )
    verdict = await run(box, code, tests)
    assert statuses(verdict) == [
        ("passed", TRUSTED),
        ("passed", DELEGATED),
        ("passed", DELEGATED),
        ("failed", TRUSTED),
    ]


async def test_the_tests_see_the_files_the_code_wrote(box: ZygoteSandbox) -> None:
    code = "def save(name, text):\n    with open(name, 'w') as f:\n        f.write(text)\n"
    tests = (
        "import os\nsave('out.txt', 'hi')\n"
        "assert open('out.txt').read() == 'hi'\n"
        "assert os.path.exists('/tmp/out.txt')\n"
    )
    verdict = await run(box, code, tests)
    assert statuses(verdict) == [("passed", TRUSTED)] * 2, verdict.tests


async def test_containers_stay_aliased_and_coroutines_can_be_awaited(box: ZygoteSandbox) -> None:
    code = (
        "import asyncio, contextlib\n"
        "@contextlib.contextmanager\ndef tag(events):\n"
        "    events.append('<')\n    yield\n    events.append('>')\n"
        "async def twice(x):\n    await asyncio.sleep(0)\n    return 2 * x\n"
    )
    tests = (
        "import asyncio\nevents = []\n"
        "with tag(events):\n    events.append('body')\n"
        "assert events == ['<', 'body', '>']\n"
        "assert asyncio.run(twice(4)) == 8\n"
    )
    verdict = await run(box, code, tests)
    assert statuses(verdict) == [("passed", TRUSTED)] * 2, verdict.tests
