"""More tasks of the offline model's catalog (strings, lists, numbers, parsing).

Same shape as the seed tasks in ``catalog``: a reference that handles the edge cases,
a naive variant that misses one the tests catch, tests as ``assert f(...) == literal``
lines, and an optional validation block inserted when the prompt asks for it.
"""

from __future__ import annotations

from selfheal.llm.providers.offline.task import Task

EXTRA_TASKS: tuple[Task, ...] = (
    Task(
        id="reverse_words",
        request="Write a function that reverses the order of the words in a sentence, collapsing repeated spaces.",
        entry_point="reverse_words",
        keywords=(r"revers\w* (the )?order of (the )?words", r"reverse words"),
        reference='''
def reverse_words(sentence: str) -> str:
    """Return the words of sentence in reverse order, separated by single spaces."""
    return " ".join(reversed(sentence.split()))
''',
        naive='''
def reverse_words(sentence: str) -> str:
    """Reverse the words."""
    return " ".join(sentence.split(" ")[::-1])
''',
        validation="""
if not isinstance(sentence, str):
    raise ValueError("sentence must be a string")
""",
        tests="assert reverse_words('hello world') == 'world hello'\n"
        "assert reverse_words('  the sky  is blue ') == 'blue is sky the'\n"
        "assert reverse_words('') == ''\n",
    ),
    Task(
        id="count_vowels",
        request="Write a function that counts the vowels (a, e, i, o, u, in either case) in a string.",
        entry_point="count_vowels",
        keywords=(r"\bvowels?\b",),
        reference='''
def count_vowels(text: str) -> int:
    """Return how many characters of text are vowels, upper or lower case."""
    return sum(1 for c in text.lower() if c in "aeiou")
''',
        naive='''
def count_vowels(text: str) -> int:
    """Count vowels."""
    return sum(1 for c in text if c in "aeiou")
''',
        validation="""
if not isinstance(text, str):
    raise ValueError("text must be a string")
""",
        tests="assert count_vowels('hello') == 2\nassert count_vowels('HELLO World') == 3\n"
        "assert count_vowels('rhythm') == 0\nassert count_vowels('') == 0\n",
    ),
    Task(
        id="flatten",
        request="Write a function that flattens an arbitrarily deeply nested list into a flat list.",
        entry_point="flatten",
        keywords=(r"\bflatten", r"nested lists?"),
        reference='''
def flatten(items: list[object]) -> list[object]:
    """Return the non-list elements of items, at any depth, in order."""
    flat: list[object] = []
    for item in items:
        if isinstance(item, list):
            flat.extend(flatten(item))
        else:
            flat.append(item)
    return flat
''',
        naive='''
def flatten(items: list[object]) -> list[object]:
    """Flatten one level."""
    flat: list[object] = []
    for item in items:
        if isinstance(item, list):
            flat.extend(item)
        else:
            flat.append(item)
    return flat
''',
        tests="assert flatten([1, [2, 3], 4]) == [1, 2, 3, 4]\n"
        "assert flatten([1, [2, [3, [4]]]]) == [1, 2, 3, 4]\nassert flatten([]) == []\n"
        "assert flatten([[], [[]]]) == []\n",
    ),
    Task(
        id="fizzbuzz",
        request="Write a fizzbuzz function that returns the FizzBuzz strings for the numbers 1 to n.",
        entry_point="fizzbuzz",
        keywords=(r"fizz\s*buzz",),
        reference='''
def fizzbuzz(n: int) -> list[str]:
    """Return "Fizz", "Buzz", "FizzBuzz" or the number itself for 1..n."""
    out: list[str] = []
    for i in range(1, n + 1):
        if i % 15 == 0:
            out.append("FizzBuzz")
        elif i % 3 == 0:
            out.append("Fizz")
        elif i % 5 == 0:
            out.append("Buzz")
        else:
            out.append(str(i))
    return out
''',
        naive='''
def fizzbuzz(n: int) -> list[str]:
    """FizzBuzz."""
    out: list[str] = []
    for i in range(1, n + 1):
        if i % 3 == 0:
            out.append("Fizz")
        elif i % 5 == 0:
            out.append("Buzz")
        else:
            out.append(str(i))
    return out
''',
        validation="""
if not isinstance(n, int) or n < 0:
    raise ValueError("n must be a non-negative integer")
""",
        tests="assert fizzbuzz(5) == ['1', '2', 'Fizz', '4', 'Buzz']\n"
        "assert fizzbuzz(15)[-1] == 'FizzBuzz'\nassert fizzbuzz(0) == []\n",
    ),
    Task(
        id="roman_to_int",
        request="Write a function that converts a Roman numeral string such as 'MCMXCIV' to an integer.",
        entry_point="roman_to_int",
        keywords=(r"roman numerals?",),
        reference='''
def roman_to_int(numeral: str) -> int:
    """Return the value of a Roman numeral, honouring subtractive pairs such as IV and CM."""
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(numeral):
        value = values[ch]
        if i + 1 < len(numeral) and values[numeral[i + 1]] > value:
            total -= value
        else:
            total += value
    return total
''',
        naive='''
def roman_to_int(numeral: str) -> int:
    """Add up the symbols."""
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    return sum(values[ch] for ch in numeral)
''',
        validation="""
if not isinstance(numeral, str) or not numeral or set(numeral) - set("IVXLCDM"):
    raise ValueError("numeral must be a non-empty string of Roman digits")
""",
        tests="assert roman_to_int('III') == 3\nassert roman_to_int('IV') == 4\n"
        "assert roman_to_int('LVIII') == 58\nassert roman_to_int('MCMXCIV') == 1994\n",
    ),
    Task(
        id="anagram",
        request="Write a function that checks whether two strings are anagrams of each other, ignoring case and spaces.",
        entry_point="are_anagrams",
        keywords=(r"anagrams?",),
        reference='''
def are_anagrams(first: str, second: str) -> bool:
    """Return True when the letters of first and second are a permutation of each other."""

    def letters(text: str) -> list[str]:
        return sorted(c.lower() for c in text if not c.isspace())

    return letters(first) == letters(second)
''',
        naive='''
def are_anagrams(first: str, second: str) -> bool:
    """Compare sorted letters."""
    return sorted(first) == sorted(second)
''',
        tests="assert are_anagrams('listen', 'silent') is True\n"
        "assert are_anagrams('Dormitory', 'dirty room') is True\n"
        "assert are_anagrams('abc', 'abd') is False\nassert are_anagrams('', '') is True\n",
    ),
    Task(
        id="merge_intervals",
        request="Write a function that merges overlapping intervals, given as a list of [start, end] pairs in any order.",
        entry_point="merge_intervals",
        keywords=(r"\bintervals?\b",),
        reference='''
def merge_intervals(intervals: list[list[int]]) -> list[list[int]]:
    """Return the union of the intervals as sorted, non-overlapping [start, end] pairs."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
''',
        naive='''
def merge_intervals(intervals: list[list[int]]) -> list[list[int]]:
    """Merge intervals."""
    merged: list[list[int]] = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged
''',
        tests="assert merge_intervals([[1, 3], [2, 6], [8, 10]]) == [[1, 6], [8, 10]]\n"
        "assert merge_intervals([[8, 10], [1, 3], [2, 6]]) == [[1, 6], [8, 10]]\n"
        "assert merge_intervals([[1, 10], [2, 3]]) == [[1, 10]]\nassert merge_intervals([]) == []\n",
    ),
    Task(
        id="balanced_brackets",
        request="Write a function that checks whether the brackets (), [] and {} in a string are balanced and properly nested.",
        entry_point="is_balanced",
        keywords=(r"\bbalanced\b", r"\bbrackets?\b", r"parenthes[ei]s"),
        reference='''
def is_balanced(text: str) -> bool:
    """Return True when every bracket in text is closed by its partner in the right order."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack
''',
        naive='''
def is_balanced(text: str) -> bool:
    """Count the brackets."""
    return text.count("(") == text.count(")") and text.count("[") == text.count("]") and text.count("{") == text.count("}")
''',
        tests="assert is_balanced('([]{})') is True\nassert is_balanced('([)]') is False\n"
        "assert is_balanced(')(') is False\nassert is_balanced('') is True\n",
    ),
    Task(
        id="second_largest",
        request="Write a function that returns the second largest distinct value in a list of numbers, or None when there is none.",
        entry_point="second_largest",
        keywords=(r"second[- ]largest",),
        reference='''
def second_largest(nums: list[int]) -> int | None:
    """Return the second largest distinct value of nums, or None if it has fewer than two."""
    distinct = sorted(set(nums))
    return distinct[-2] if len(distinct) >= 2 else None
''',
        naive='''
def second_largest(nums: list[int]) -> int | None:
    """Second largest."""
    return sorted(nums)[-2]
''',
        tests="assert second_largest([3, 1, 4, 2]) == 3\nassert second_largest([3, 1, 4, 4]) == 3\n"
        "assert second_largest([5, 5]) is None\nassert second_largest([7]) is None\n",
    ),
    Task(
        id="run_length",
        request="Write a function that compresses a string with run-length encoding, so 'aaabcc' becomes 'a3b1c2'.",
        entry_point="run_length_encode",
        keywords=(r"run[- ]length",),
        reference='''
def run_length_encode(text: str) -> str:
    """Return each run of equal characters as the character followed by the run length."""
    out: list[str] = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and text[j] == text[i]:
            j += 1
        out.append(f"{text[i]}{j - i}")
        i = j
    return "".join(out)
''',
        naive='''
def run_length_encode(text: str) -> str:
    """Run-length encode."""
    out = ""
    count = 1
    for i in range(1, len(text)):
        if text[i] == text[i - 1]:
            count += 1
        else:
            out += text[i - 1] + str(count)
            count = 1
    return out
''',
        tests="assert run_length_encode('aaabcc') == 'a3b1c2'\nassert run_length_encode('a') == 'a1'\n"
        "assert run_length_encode('') == ''\nassert run_length_encode('abab') == 'a1b1a1b1'\n",
    ),
    Task(
        id="median",
        request="Write a function that returns the median of a list of numbers (the mean of the two middle values for an even count).",
        entry_point="median",
        keywords=(r"\bmedian\b",),
        reference='''
def median(values: list[float]) -> float:
    """Return the median of values; for an even count, the mean of the two middle values."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2
''',
        naive='''
def median(values: list[float]) -> float:
    """Middle value."""
    return values[len(values) // 2]
''',
        validation="""
if not values:
    raise ValueError("the median of an empty list is undefined")
""",
        tests="assert median([3, 1, 2]) == 2\nassert median([4, 1, 3, 2]) == 2.5\n"
        "assert median([5]) == 5\nassert median([1, 9, 2, 8]) == 5.0\n",
    ),
    Task(
        id="dedupe",
        request="Write a function that removes duplicates from a list while keeping the order of first occurrences.",
        entry_point="dedupe",
        keywords=(r"remov\w* duplicates", r"\bdedup"),
        reference='''
def dedupe(items: list[int]) -> list[int]:
    """Return items without repeats, each kept where it first occurs."""
    seen: set[int] = set()
    out: list[int] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
''',
        naive='''
def dedupe(items: list[int]) -> list[int]:
    """Remove duplicates."""
    return list(set(items))
''',
        tests="assert dedupe([3, 1, 3, 2, 1]) == [3, 1, 2]\nassert dedupe([]) == []\n"
        "assert dedupe([5, 5, 5]) == [5]\nassert dedupe([10, 2, 10]) == [10, 2]\n",
    ),
    Task(
        id="leap_year",
        request="Write a function that tells whether a year is a leap year in the Gregorian calendar.",
        entry_point="is_leap_year",
        keywords=(r"leap[- ]year",),
        reference='''
def is_leap_year(year: int) -> bool:
    """Return True for Gregorian leap years: divisible by 4, except centuries not divisible by 400."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
''',
        naive='''
def is_leap_year(year: int) -> bool:
    """Every fourth year."""
    return year % 4 == 0
''',
        validation="""
if not isinstance(year, int):
    raise ValueError("year must be an integer")
""",
        tests="assert is_leap_year(2024) is True\nassert is_leap_year(2023) is False\n"
        "assert is_leap_year(1900) is False\nassert is_leap_year(2000) is True\n",
    ),
    Task(
        id="word_frequencies",
        request="Write a function that counts how often each word occurs in a text, case-insensitively and ignoring punctuation, returning a dict.",
        entry_point="word_frequencies",
        keywords=(r"how often each word", r"word frequenc"),
        reference='''
def word_frequencies(text: str) -> dict[str, int]:
    """Return a dict from each lower-cased word of text to its number of occurrences."""
    import re

    counts: dict[str, int] = {}
    for word in re.findall(r"[a-z0-9']+", text.lower()):
        counts[word] = counts.get(word, 0) + 1
    return counts
''',
        naive='''
def word_frequencies(text: str) -> dict[str, int]:
    """Count words."""
    counts: dict[str, int] = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts
''',
        tests="assert word_frequencies('the cat') == {'the': 1, 'cat': 1}\n"
        "assert word_frequencies('The cat and the hat.') == {'the': 2, 'cat': 1, 'and': 1, 'hat': 1}\n"
        "assert word_frequencies('') == {}\n",
    ),
    Task(
        id="caesar_cipher",
        request="Write a function that encrypts text with a Caesar cipher, shifting letters by k positions, keeping case and leaving other characters unchanged.",
        entry_point="caesar",
        keywords=(r"caesar",),
        reference='''
def caesar(text: str, k: int) -> str:
    """Shift each letter of text by k places in the alphabet, wrapping around; keep case."""
    out: list[str] = []
    for ch in text:
        if ch.isascii() and ch.isalpha():
            base = ord("A") if ch.isupper() else ord("a")
            out.append(chr(base + (ord(ch) - base + k) % 26))
        else:
            out.append(ch)
    return "".join(out)
''',
        naive='''
def caesar(text: str, k: int) -> str:
    """Shift letters."""
    return "".join(chr(ord(ch) + k) if ch.isalpha() else ch for ch in text)
''',
        tests="assert caesar('abc', 1) == 'bcd'\nassert caesar('xyz', 3) == 'abc'\n"
        "assert caesar('Hello, World!', 13) == 'Uryyb, Jbeyq!'\nassert caesar('abc', -1) == 'zab'\n",
    ),
    Task(
        id="digit_sum",
        request="Write a function that returns the sum of the decimal digits of an integer, which may be negative.",
        entry_point="digit_sum",
        keywords=(r"sum of (the )?(decimal )?digits", r"digit sum"),
        reference='''
def digit_sum(n: int) -> int:
    """Return the sum of the decimal digits of n, ignoring its sign."""
    return sum(int(d) for d in str(abs(n)))
''',
        naive='''
def digit_sum(n: int) -> int:
    """Sum of digits."""
    total = 0
    while n > 0:
        total += n % 10
        n //= 10
    return total
''',
        validation="""
if not isinstance(n, int):
    raise ValueError("n must be an integer")
""",
        tests="assert digit_sum(123) == 6\nassert digit_sum(0) == 0\nassert digit_sum(-123) == 6\n"
        "assert digit_sum(9999) == 36\n",
    ),
    Task(
        id="transpose",
        request="Write a function that transposes a matrix given as a list of rows, which need not be square.",
        entry_point="transpose",
        keywords=(r"\btranspos",),
        reference='''
def transpose(matrix: list[list[int]]) -> list[list[int]]:
    """Return the transpose of matrix (rows become columns)."""
    if not matrix:
        return []
    return [[row[i] for row in matrix] for i in range(len(matrix[0]))]
''',
        naive='''
def transpose(matrix: list[list[int]]) -> list[list[int]]:
    """Transpose a square matrix."""
    return [[matrix[j][i] for j in range(len(matrix))] for i in range(len(matrix))]
''',
        tests="assert transpose([[1, 2], [3, 4]]) == [[1, 3], [2, 4]]\n"
        "assert transpose([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]\n"
        "assert transpose([]) == []\n",
    ),
    Task(
        id="rotate_list",
        request="Write a function that rotates a list to the right by k steps, where k may exceed the list's length.",
        entry_point="rotate",
        keywords=(r"\brotates?\b",),
        reference='''
def rotate(items: list[int], k: int) -> list[int]:
    """Return items rotated right by k positions (k may be larger than the length)."""
    if not items:
        return []
    k %= len(items)
    return items[-k:] + items[:-k] if k else list(items)
''',
        naive='''
def rotate(items: list[int], k: int) -> list[int]:
    """Rotate right."""
    return items[-k:] + items[:-k]
''',
        tests="assert rotate([1, 2, 3, 4, 5], 2) == [4, 5, 1, 2, 3]\n"
        "assert rotate([1, 2, 3], 5) == [2, 3, 1]\nassert rotate([], 3) == []\n"
        "assert rotate([1, 2], 0) == [1, 2]\n",
    ),
    Task(
        id="common_prefix",
        request="Write a function that returns the longest common prefix of a list of strings ('' for an empty list).",
        entry_point="longest_common_prefix",
        keywords=(r"common prefix",),
        reference='''
def longest_common_prefix(words: list[str]) -> str:
    """Return the longest string that starts every element of words ('' when words is empty)."""
    if not words:
        return ""
    prefix = words[0]
    for word in words[1:]:
        while not word.startswith(prefix):
            prefix = prefix[:-1]
    return prefix
''',
        naive='''
def longest_common_prefix(words: list[str]) -> str:
    """Common prefix of the first two words."""
    first, second = words[0], words[-1]
    i = 0
    while i < min(len(first), len(second)) and first[i] == second[i]:
        i += 1
    return first[:i]
''',
        tests="assert longest_common_prefix(['flower', 'flow', 'flight']) == 'fl'\n"
        "assert longest_common_prefix(['dog', 'racecar', 'car']) == ''\n"
        "assert longest_common_prefix(['abc', 'x', 'abd']) == ''\n"
        "assert longest_common_prefix([]) == ''\n",
    ),
    Task(
        id="missing_number",
        request="Write a function that finds the missing number in a list of n distinct numbers taken from 0 to n.",
        entry_point="missing_number",
        keywords=(r"missing number",),
        reference='''
def missing_number(nums: list[int]) -> int:
    """Return the one value of 0..len(nums) that nums does not contain."""
    n = len(nums)
    return n * (n + 1) // 2 - sum(nums)
''',
        naive='''
def missing_number(nums: list[int]) -> int:
    """Find the gap."""
    for i, value in enumerate(sorted(nums)):
        if value != i:
            return i
    return 0
''',
        tests="assert missing_number([3, 0, 1]) == 2\nassert missing_number([0, 1]) == 2\n"
        "assert missing_number([1]) == 0\nassert missing_number([0]) == 1\n",
    ),
    Task(
        id="to_binary",
        request="Write a function that converts a non-negative integer to its binary representation as a string, without a '0b' prefix.",
        entry_point="to_binary",
        keywords=(r"binary representation", r"to binary"),
        reference='''
def to_binary(n: int) -> str:
    """Return the base-2 digits of the non-negative integer n ('0' for zero)."""
    if n == 0:
        return "0"
    digits: list[str] = []
    while n:
        digits.append(str(n % 2))
        n //= 2
    return "".join(reversed(digits))
''',
        naive='''
def to_binary(n: int) -> str:
    """Binary digits."""
    digits = ""
    while n > 0:
        digits = str(n % 2) + digits
        n //= 2
    return digits
''',
        validation="""
if not isinstance(n, int) or n < 0:
    raise ValueError("n must be a non-negative integer")
""",
        tests="assert to_binary(5) == '101'\nassert to_binary(0) == '0'\nassert to_binary(1) == '1'\n"
        "assert to_binary(255) == '11111111'\n",
    ),
    Task(
        id="pascal_row",
        request="Write a function that returns row n of Pascal's triangle as a list, where row 0 is [1].",
        entry_point="pascal_row",
        keywords=(r"pascal",),
        reference='''
def pascal_row(n: int) -> list[int]:
    """Return the binomial coefficients C(n, 0..n)."""
    row = [1]
    for _ in range(n):
        row = [1, *(a + b for a, b in zip(row, row[1:])), 1]
    return row
''',
        naive='''
def pascal_row(n: int) -> list[int]:
    """Row n, counting from 1."""
    row = [1]
    for _ in range(n - 1):
        row = [1, *(a + b for a, b in zip(row, row[1:])), 1]
    return row
''',
        validation="""
if not isinstance(n, int) or n < 0:
    raise ValueError("n must be a non-negative integer")
""",
        tests="assert pascal_row(0) == [1]\nassert pascal_row(1) == [1, 1]\n"
        "assert pascal_row(4) == [1, 4, 6, 4, 1]\n",
    ),
    Task(
        id="chunk_list",
        request="Write a function that splits a list into chunks of size n; the last chunk may be shorter.",
        entry_point="chunk",
        keywords=(r"\bchunks?\b",),
        reference='''
def chunk(items: list[int], size: int) -> list[list[int]]:
    """Return consecutive slices of items of length size (the last one may be shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]
''',
        naive='''
def chunk(items: list[int], size: int) -> list[list[int]]:
    """Split into chunks."""
    return [items[i : i + size] for i in range(0, len(items) - size + 1, size)]
''',
        validation="""
if not isinstance(size, int) or size < 1:
    raise ValueError("size must be a positive integer")
""",
        tests="assert chunk([1, 2, 3, 4], 2) == [[1, 2], [3, 4]]\n"
        "assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]\nassert chunk([], 3) == []\n"
        "assert chunk([1, 2], 5) == [[1, 2]]\n",
    ),
    Task(
        id="power_of_two",
        request="Write a function that checks whether an integer is a power of two.",
        entry_point="is_power_of_two",
        keywords=(r"power of (two|2)",),
        reference='''
def is_power_of_two(n: int) -> bool:
    """Return True when n is 1, 2, 4, 8, ... (never for zero or negatives)."""
    return n > 0 and n & (n - 1) == 0
''',
        naive='''
def is_power_of_two(n: int) -> bool:
    """Bit trick."""
    return n & (n - 1) == 0
''',
        tests="assert is_power_of_two(1) is True\nassert is_power_of_two(64) is True\n"
        "assert is_power_of_two(6) is False\nassert is_power_of_two(0) is False\n"
        "assert is_power_of_two(-8) is False\n",
    ),
    Task(
        id="edit_distance",
        request="Write a function that computes the Levenshtein edit distance between two strings.",
        entry_point="edit_distance",
        keywords=(r"levenshtein", r"edit distance"),
        reference='''
def edit_distance(a: str, b: str) -> int:
    """Return the minimum number of insertions, deletions and substitutions turning a into b."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
''',
        naive='''
def edit_distance(a: str, b: str) -> int:
    """Count differing positions."""
    return sum(1 for x, y in zip(a, b) if x != y) + abs(len(a) - len(b))
''',
        tests="assert edit_distance('kitten', 'sitting') == 3\nassert edit_distance('', 'abc') == 3\n"
        "assert edit_distance('flaw', 'lawn') == 2\nassert edit_distance('same', 'same') == 0\n",
    ),
    Task(
        id="ipv4",
        request="Write a function that checks whether a string is a valid IPv4 address in dotted decimal form.",
        entry_point="is_valid_ipv4",
        keywords=(r"ipv4", r"\bip address"),
        reference='''
def is_valid_ipv4(address: str) -> bool:
    """Return True for four dot-separated decimal numbers 0-255 without leading zeros."""
    parts = address.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or not part.isascii() or (len(part) > 1 and part[0] == "0"):
            return False
        if int(part) > 255:
            return False
    return True
''',
        naive='''
def is_valid_ipv4(address: str) -> bool:
    """Four numeric parts."""
    parts = address.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)
''',
        tests="assert is_valid_ipv4('192.168.0.1') is True\nassert is_valid_ipv4('256.1.1.1') is False\n"
        "assert is_valid_ipv4('1.2.3') is False\nassert is_valid_ipv4('01.2.3.4') is False\n"
        "assert is_valid_ipv4('0.0.0.0') is True\n",
    ),
    Task(
        id="most_frequent",
        request="Write a function that returns the most frequent element of a list, the earliest one on ties, or None for an empty list.",
        entry_point="most_frequent",
        keywords=(r"most (frequent|common)",),
        reference='''
def most_frequent(items: list[int]) -> int | None:
    """Return the element occurring most often; on ties, the one seen first; None if empty."""
    counts: dict[int, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    best: int | None = None
    for item in items:
        if best is None or counts[item] > counts[best]:
            best = item
    return best
''',
        naive='''
def most_frequent(items: list[int]) -> int | None:
    """Most common element."""
    return max(set(items), key=items.count)
''',
        tests="assert most_frequent([1, 2, 2, 3]) == 2\nassert most_frequent([3, 1, 1, 3]) == 3\n"
        "assert most_frequent([]) is None\nassert most_frequent([7]) == 7\n",
    ),
    Task(
        id="camel_to_snake",
        request="Write a function that converts an identifier from camelCase or PascalCase to snake_case.",
        entry_point="camel_to_snake",
        keywords=(r"snake[_ ]case", r"camel[_ ]?case"),
        reference='''
def camel_to_snake(name: str) -> str:
    """Return name in snake_case: an underscore before each inner capital, all lower case."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and (name[i - 1].islower() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
''',
        naive='''
def camel_to_snake(name: str) -> str:
    """Underscore before capitals."""
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name)
''',
        tests="assert camel_to_snake('helloWorld') == 'hello_world'\n"
        "assert camel_to_snake('CamelCase') == 'camel_case'\n"
        "assert camel_to_snake('parseHTTPResponse') == 'parse_http_response'\n"
        "assert camel_to_snake('x') == 'x'\n",
    ),
    Task(
        id="intersection",
        request="Write a function that returns the intersection of two lists without duplicates, in the order of the first list.",
        entry_point="intersection",
        keywords=(r"\bintersection\b",),
        reference='''
def intersection(first: list[int], second: list[int]) -> list[int]:
    """Return the values present in both lists, once each, ordered as in first."""
    wanted = set(second)
    out: list[int] = []
    for value in first:
        if value in wanted and value not in out:
            out.append(value)
    return out
''',
        naive='''
def intersection(first: list[int], second: list[int]) -> list[int]:
    """Common values."""
    return [value for value in first if value in second]
''',
        tests="assert intersection([1, 2, 3], [2, 3, 4]) == [2, 3]\n"
        "assert intersection([1, 2, 2, 3], [2, 3, 3]) == [2, 3]\nassert intersection([], [1]) == []\n",
    ),
    Task(
        id="is_sorted",
        request="Write a function that checks whether a list is sorted in non-decreasing order (equal neighbours allowed).",
        entry_point="is_sorted",
        keywords=(r"non-?decreasing", r"\bis sorted\b"),
        reference='''
def is_sorted(items: list[int]) -> bool:
    """Return True when every element is at least as large as the one before it."""
    return all(a <= b for a, b in zip(items, items[1:]))
''',
        naive='''
def is_sorted(items: list[int]) -> bool:
    """Strictly increasing."""
    return all(a < b for a, b in zip(items, items[1:]))
''',
        tests="assert is_sorted([1, 2, 3]) is True\nassert is_sorted([1, 1, 2]) is True\n"
        "assert is_sorted([3, 1]) is False\nassert is_sorted([]) is True\n",
    ),
)
