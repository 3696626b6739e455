"""The offline model's knowledge: programming tasks it can solve.

Each task has a reference solution (correct on edge cases), a naive variant that a
careless model writes (it misses an edge case the tests catch), an optional input
validation block, and tests in the decomposable ``assert f(...) == literal`` shape.
Sources carry docstrings and type hints; the model strips them when its system prompt
does not ask for them.
"""

from __future__ import annotations

from selfheal.llm.providers.offline.catalog_extra import EXTRA_TASKS
from selfheal.llm.providers.offline.task import Task

__all__ = ["TASKS", "Task", "by_id", "find_task"]


SEED_TASKS: tuple[Task, ...] = (
    Task(
        id="fibonacci",
        request="Write a fibonacci function: return the n-th Fibonacci number, where fib(0) is 0 and fib(1) is 1.",
        entry_point="fib",
        keywords=(r"fibonacci",),
        reference='''
def fib(n: int) -> int:
    """Return the n-th Fibonacci number, with fib(0) == 0 and fib(1) == 1."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
''',
        naive='''
def fib(n: int) -> int:
    """Return the n-th Fibonacci number."""
    if n <= 2:
        return 1
    return fib(n - 1) + fib(n - 2)
''',
        validation="""
if not isinstance(n, int) or n < 0:
    raise ValueError("n must be a non-negative integer")
""",
        tests="assert fib(0) == 0\nassert fib(1) == 1\nassert fib(2) == 1\nassert fib(10) == 55\n"
        "assert fib(20) == 6765\n",
    ),
    Task(
        id="factorial",
        request="Write a function that computes the factorial of a non-negative integer n.",
        entry_point="factorial",
        keywords=(r"factorial",),
        reference='''
def factorial(n: int) -> int:
    """Return n! for a non-negative integer n (0! == 1)."""
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result
''',
        naive='''
def factorial(n: int) -> int:
    """Return n!."""
    result = n
    for i in range(1, n):
        result *= i
    return result
''',
        validation="""
if not isinstance(n, int) or n < 0:
    raise ValueError("n must be a non-negative integer")
""",
        tests="assert factorial(0) == 1\nassert factorial(1) == 1\nassert factorial(5) == 120\n"
        "assert factorial(10) == 3628800\n",
    ),
    Task(
        id="is_prime",
        request="Write a function that checks whether an integer is a prime number.",
        entry_point="is_prime",
        keywords=(r"\bprime\b", r"primality"),
        reference='''
def is_prime(n: int) -> bool:
    """Return True when n is a prime number."""
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True
''',
        naive='''
def is_prime(n: int) -> bool:
    """Return True when n is prime."""
    for i in range(2, n):
        if n % i == 0:
            return False
    return True
''',
        tests="assert is_prime(2) is True\nassert is_prime(97) is True\nassert is_prime(1) is False\n"
        "assert is_prime(0) is False\nassert is_prime(-7) is False\nassert is_prime(91) is False\n",
    ),
    Task(
        id="palindrome",
        request="Write a function that checks whether a string is a palindrome, ignoring case, spaces and punctuation.",
        entry_point="is_palindrome",
        keywords=(r"palindrom",),
        reference='''
def is_palindrome(text: str) -> bool:
    """Return True when text reads the same backwards, ignoring case and non-alphanumerics."""
    cleaned = [c.lower() for c in text if c.isalnum()]
    return cleaned == cleaned[::-1]
''',
        naive='''
def is_palindrome(text: str) -> bool:
    """Return True when text is a palindrome."""
    return text == text[::-1]
''',
        tests="assert is_palindrome('racecar') is True\n"
        "assert is_palindrome('A man, a plan, a canal: Panama') is True\n"
        "assert is_palindrome('hello') is False\nassert is_palindrome('') is True\n",
    ),
    Task(
        id="max_subarray",
        request="Write a function that returns the largest sum of a contiguous subarray of a list of integers.",
        entry_point="max_subarray",
        keywords=(r"subarray", r"kadane", r"contiguous"),
        reference='''
def max_subarray(nums: list[int]) -> int:
    """Return the largest sum of a non-empty contiguous subarray of nums."""
    best = current = nums[0]
    for x in nums[1:]:
        current = max(x, current + x)
        best = max(best, current)
    return best
''',
        naive='''
def max_subarray(nums: list[int]) -> int:
    """Return the largest contiguous sum."""
    best = current = 0
    for x in nums:
        current = max(0, current + x)
        best = max(best, current)
    return best
''',
        tests="assert max_subarray([-2, 1, -3, 4, -1, 2, 1, -5, 4]) == 6\n"
        "assert max_subarray([-3, -1, -2]) == -1\nassert max_subarray([5]) == 5\n",
    ),
    Task(
        id="binary_search",
        request="Write a binary search function that returns the index of a target in a sorted list, or -1 if it is absent.",
        entry_point="binary_search",
        keywords=(r"binary search",),
        reference='''
def binary_search(items: list[int], target: int) -> int:
    """Return the index of target in the sorted list items, or -1 when absent."""
    lo, hi = 0, len(items) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if items[mid] == target:
            return mid
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1
''',
        naive='''
def binary_search(items: list[int], target: int) -> int:
    """Return the index of target in items."""
    lo, hi = 0, len(items) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo if items[lo] == target else -1
''',
        tests="assert binary_search([1, 3, 5, 7], 5) == 2\nassert binary_search([1, 3, 5, 7], 4) == -1\n"
        "assert binary_search([], 1) == -1\nassert binary_search([9], 9) == 0\n",
    ),
    Task(
        id="gcd",
        request="Write a function that returns the greatest common divisor of two integers.",
        entry_point="gcd",
        keywords=(r"greatest common divisor", r"\bgcd\b"),
        reference='''
def gcd(a: int, b: int) -> int:
    """Return the greatest common divisor of a and b (always non-negative)."""
    a, b = abs(a), abs(b)
    while b:
        a, b = b, a % b
    return a
''',
        naive='''
def gcd(a: int, b: int) -> int:
    """Return the greatest common divisor."""
    while b:
        a, b = b, a % b
    return a
''',
        tests="assert gcd(12, 18) == 6\nassert gcd(0, 5) == 5\nassert gcd(4, -6) == 2\n"
        "assert gcd(-4, -6) == 2\n",
    ),
    Task(
        id="two_sum",
        request="Write a two sum function: given a list of numbers and a target, return the indices of the two numbers that add up to the target.",
        entry_point="two_sum",
        keywords=(r"two sum", r"two numbers .*add up", r"indices of the two"),
        reference='''
def two_sum(nums: list[int], target: int) -> list[int]:
    """Return the indices [i, j] (i < j) of two different elements adding up to target."""
    seen: dict[int, int] = {}
    for j, value in enumerate(nums):
        if target - value in seen:
            return [seen[target - value], j]
        seen[value] = j
    return []
''',
        naive='''
def two_sum(nums: list[int], target: int) -> list[int]:
    """Return indices of two numbers adding up to target."""
    seen = {value: i for i, value in enumerate(nums)}
    for i, value in enumerate(nums):
        if target - value in seen:
            return [i, seen[target - value]]
    return []
''',
        tests="assert two_sum([2, 7, 11, 15], 9) == [0, 1]\nassert two_sum([3, 2, 4], 6) == [1, 2]\n"
        "assert two_sum([3, 3], 6) == [0, 1]\nassert two_sum([1, 2], 7) == []\n",
    ),
)

TASKS: tuple[Task, ...] = (*SEED_TASKS, *EXTRA_TASKS)


def find_task(text: str) -> Task | None:
    """The task a request is about, by keyword and function-name matches; None if unknown."""
    best: Task | None = None
    best_score = 0
    for task in TASKS:
        score = task.score(text)
        if score > best_score:
            best, best_score = task, score
    return best


def by_id(task_id: str) -> Task:
    for task in TASKS:
        if task.id == task_id:
            return task
    raise KeyError(task_id)
