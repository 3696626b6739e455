"""Static checks: code extraction, parsing, undefined names, dangerous constructs, style."""

from __future__ import annotations

import ast
import builtins
import html
import re
import textwrap
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from selfheal.core import config

# The default policy; EVALUATOR_DANGEROUS_IMPORTS / EVALUATOR_DANGEROUS_CALLS replace it.
DANGEROUS_IMPORTS = frozenset(config.DANGEROUS_IMPORTS)
DANGEROUS_CALLS = frozenset(config.DANGEROUS_CALLS)

# Markdown fences: ``` or ~~~ (three or more), an info string, the body up to a closing fence
# of the same character at least as long, or to the end of the reply (a cut-off answer).
# Possessive quantifiers keep a reply of 10^5 backticks linear (the body is client input).
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*+)(?P<fence>`{3,}+|~{3,}+)[ \t]*+(?P<info>[^\n`]*+)\n"
    r"(?P<body>.*?)(?:^[ \t]*(?P=fence)[`~]*[ \t]*$|\Z)",
    re.DOTALL | re.MULTILINE,
)
_LATE_FENCE = re.compile(
    r"(?<![`~])(?P<indent>)(?P<fence>`{3,}+|~{3,}+)[ \t]*+(?P<info>[\w+.{}-]*+)[ \t]*+\n"
    r"(?P<body>.*?)(?:(?P=fence)|\Z)",
    re.DOTALL,
)
# <code>, <python>, <pre><code class="language-python">, in any case; a bare <pre> when no
# other tag is there.
_TAG = re.compile(
    r"<(?P<tag>code|python|py|source)\b[^>]*>(?P<body>.*?)(?:</(?P=tag)\s*>|\Z)",
    re.DOTALL | re.IGNORECASE,
)
_PRE = re.compile(r"<(?P<tag>pre)\b[^>]*>(?P<body>.*?)(?:</pre\s*>|\Z)", re.DOTALL | re.IGNORECASE)
MAX_BLOCKS = 100  # a reply with more blocks is not an answer worth reading further
_PYTHON_INFO = frozenset(("", "python", "py", "python3", "py3", "pycon", "ipython", "sage"))
_PROMPT = re.compile(r"^\s*(>>>|\.\.\.)( |$)")
_SHELL = re.compile(r"^\s*(\$ |# |\w+@[\w.-]+[:~]|C:\\|PS )", re.M)
_CODE_LIKE = re.compile(r"^\s*(def |class |import |from \S+ import |return\b|for .+:|if .+:)", re.M)
_DEFINITIONS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Import,
    ast.ImportFrom,
    ast.Assign,
    ast.AnnAssign,
)


@dataclass(slots=True)
class _Block:
    body: str
    info: str  # the fence's language, lower case ("" when none)
    tree: ast.Module | None  # None: does not parse

    @property
    def defined(self) -> set[str]:
        return _top_level_names(self.tree) if self.tree is not None else set()

    @property
    def functions(self) -> int:
        body = self.tree.body if self.tree is not None else []
        return sum(
            isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in body
        )

    @property
    def statements(self) -> int:
        return len(self.tree.body) if self.tree is not None else 0


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _interactive(text: str) -> str | None:
    """A ``>>>`` session turned into the code typed at its prompts (output dropped)."""
    lines = text.splitlines()
    if not any(line.lstrip().startswith(">>>") for line in lines):
        return None
    code = [_PROMPT.sub("", line, count=1) for line in lines if _PROMPT.match(line)]
    return textwrap.dedent("\n".join(code)).strip("\n") + "\n"


def _is_session(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and lines[0].lstrip().startswith(">>>")


def _blocks(output: str) -> tuple[list[_Block], str | None]:
    """The reply's code blocks, from fences or (when there are none) tags, and how found."""
    found: list[tuple[str, str]] = []
    # A fence opened after prose on the same line ("Sure! ```python") still opens one.
    matches = list(_FENCE.finditer(output)) or list(_LATE_FENCE.finditer(output))
    del matches[MAX_BLOCKS:]
    for match in matches:
        info = match["info"].strip().lower().lstrip("{.").split()
        lang = info[0].rstrip("}") if info else ""
        indent = match["indent"]
        body = match["body"]
        if indent:
            body = "\n".join(
                line[len(indent) :] if line.startswith(indent) else line
                for line in body.splitlines()
            )
        found.append((lang, body))
    how = "fenced"
    if not found:
        how = "tagged"
        tags = list(_TAG.finditer(output)) or list(_PRE.finditer(output))
        for match in tags[:MAX_BLOCKS]:
            body = match["body"]
            classes = re.search(r"(?:language|lang)-(\w+)", match.group(0)[:200], re.IGNORECASE)
            lang = classes.group(1).lower() if classes else ""
            if match["tag"].lower() in ("python", "py"):
                lang = "python"
            if "&lt;" in body or "&gt;" in body or "&amp;" in body:
                body = html.unescape(body)
            found.append((lang, body))
    blocks = [
        _Block(textwrap.dedent(body).strip("\n") + "\n", lang, None)
        for lang, body in found
        if lang in _PYTHON_INFO and body.strip()
    ]
    for block in blocks:
        block.tree = _parse(block.body)
    return blocks, (how if found else None)


def _is_tests(block: _Block) -> bool:
    assert block.tree is not None
    imports = {
        a.name.split(".")[0] for n in block.tree.body if isinstance(n, ast.Import) for a in n.names
    }
    imports |= {
        (n.module or "").split(".")[0] for n in block.tree.body if isinstance(n, ast.ImportFrom)
    }
    functions = [
        n.name
        for n in block.tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    named_tests = bool(functions) and all(f.lower().startswith("test") for f in functions)
    return bool(imports & {"pytest", "unittest", "hypothesis"}) or named_tests


def _choose(blocks: list[_Block], entry_point: str | None) -> _Block | None:
    """The block that defines the entry point (the last one: models revise), else the one
    with the most code; shell transcripts, ``>>>`` sessions and output are never it."""
    code = [
        b
        for b in blocks
        if b.tree is not None
        and not _is_session(b.body)
        and any(isinstance(n, _DEFINITIONS) for n in b.tree.body)
    ]
    if entry_point:
        defining = [b for b in code if entry_point in b.defined]
        if defining:
            return defining[-1]
    # A block of tests for the answer (pytest/unittest, only test_* functions) is not it.
    answers = [b for b in code if not _is_tests(b)] or code
    if answers:
        # Ties go to the later block (a revision comes after the first try).
        return max(reversed(answers), key=lambda b: (b.functions, b.statements, len(b.body)))
    return None


def _with_helpers(chosen: _Block, blocks: list[_Block]) -> str:
    """The chosen block, preceded by the definitions it uses from the reply's other blocks
    (an imports block, a helper defined separately)."""
    assert chosen.tree is not None
    if len(blocks) == 1:
        return chosen.body
    used = {n.id for n in ast.walk(chosen.tree) if isinstance(n, ast.Name)}
    missing = used - chosen.defined - set(dir(builtins))
    parts: list[str] = []
    for block in blocks:
        if block is chosen or block.tree is None or not missing:
            continue
        for node in block.tree.body:
            if not isinstance(node, _DEFINITIONS):
                continue
            names = _top_level_names(ast.Module(body=[node], type_ignores=[]))
            if names & missing:
                segment = ast.get_source_segment(block.body, node)
                if segment:
                    parts.append(segment)
                    missing -= names
    return "\n\n".join([*parts, chosen.body.strip("\n")]) + "\n"


def _bare(text: str, *, strict: bool = False) -> str | None:
    """Unfenced code: the whole reply, or the run of lines between prose that parses.
    ``strict``: only code that defines something, never a broken guess."""
    tree = _parse(text) if text else None
    if tree is not None and strict:
        return text + "\n" if any(isinstance(n, _DEFINITIONS) for n in tree.body) else None
    if tree is not None:
        substantive = any(
            isinstance(
                node,
                ast.FunctionDef
                | ast.AsyncFunctionDef
                | ast.ClassDef
                | ast.Import
                | ast.ImportFrom
                | ast.Assign
                | ast.Call
                | ast.Return,
            )
            for node in ast.walk(tree)
        )
        return text + "\n" if substantive else None
    # Prose around the code: start at the first line that begins code, and cut at the first
    # line that does not parse (a closing remark), a few times over.
    lines = text.splitlines()
    starts = [
        i for i, line in enumerate(lines) if _CODE_LIKE.match(line) and not line[:1].isspace()
    ]
    for start in starts[:3]:
        end = len(lines)
        for _ in range(10):
            chunk = "\n".join(lines[start:end]).strip("\n")
            try:
                tree = ast.parse(chunk)
            except SyntaxError as exc:
                if not exc.lineno or exc.lineno <= 1:
                    break
                end = start + exc.lineno - 1
                continue
            except (ValueError, RecursionError, MemoryError):
                break
            if any(isinstance(n, _DEFINITIONS) for n in tree.body):
                return chunk + "\n"
            break
    return text + "\n" if not strict and _CODE_LIKE.search(text) else None


def extract_code(output: str, *, entry_point: str | None = None) -> tuple[str | None, str | None]:
    """The code in a model reply and how it was found: ``fenced``, ``tagged``,
    ``interactive``, ``bare`` or None.

    Fences (````` ``` `````, ``~~~``, with or without a language, unterminated at the end)
    or else tags (``<code>``, ``<python>``... in any case); of several blocks, the one that
    defines ``entry_point`` or holds the most code, plus the helpers it uses from the
    others. Shell output and ``>>>`` sessions are not code, unless a session is all there
    is: then the code typed at its prompts is."""
    output = output.replace("\r\n", "\n")
    blocks, how = _blocks(output)
    if how is not None:
        chosen = _choose(blocks, entry_point)
        if chosen is not None:
            return _with_helpers(chosen, blocks), how
        for block in blocks:
            session = _interactive(block.body) if _is_session(block.body) else None
            if session and _parse(session) is not None:
                return session, "interactive"
        # Python-looking blocks that do not parse are still the answer: a syntax error.
        broken = [
            b
            for b in blocks
            if b.tree is None
            and not _is_session(b.body)
            and (b.info or _CODE_LIKE.search(b.body))
            and not _SHELL.match(b.body)
        ]
        if broken:
            return max(broken, key=lambda b: len(b.body)).body, how
        if blocks and how == "fenced" and any(b.tree is not None for b in blocks):
            plain = [b for b in blocks if b.tree is not None and b.info in ("python", "py")]
            if plain:
                return plain[-1].body, how
    text = output.strip()
    if not text:
        return None, None
    if how is None and _is_session(text):
        session = _interactive(text)
        if session and _parse(session) is not None:
            return session, "interactive"
    if how is not None:
        # The blocks hold no code (``<code>len()</code>`` in prose, a shell command): the
        # code may stand outside them, unfenced.
        for pattern in (_FENCE, _LATE_FENCE, _TAG, _PRE):
            text = pattern.sub("\n", text)
        code = _bare(text.strip(), strict=True)
        return (code, "bare") if code else (None, None)
    code = _bare(text)
    return (code, "bare") if code else (None, None)


@dataclass(slots=True)
class StaticReport:
    syntax_ok: bool
    syntax_error: str | None = None
    functions: list[str] = field(default_factory=list)
    undefined_names: list[str] = field(default_factory=list)
    dangerous: list[str] = field(default_factory=list)
    docstring: bool = False
    type_hints: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it refers to (``import os as o`` -> o: os; ``from os import fork``)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _resolve(name: str | None, aliases: dict[str, str]) -> str | None:
    if name is None:
        return None
    head, _, rest = name.partition(".")
    if head in aliases:
        return aliases[head] + ("." + rest if rest else "")
    return name


def analyse_code(
    code: str,
    *,
    dangerous_imports: Iterable[str] = DANGEROUS_IMPORTS,
    dangerous_calls: Iterable[str] = DANGEROUS_CALLS,
) -> StaticReport:
    """Parse ``code`` and report structure, undefined names, policy hits and style signals."""
    dangerous_imports, dangerous_calls = frozenset(dangerous_imports), frozenset(dangerous_calls)
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return StaticReport(syntax_ok=False, syntax_error=f"{exc.msg} (line {exc.lineno})")
    except (ValueError, RecursionError, MemoryError) as exc:
        return StaticReport(syntax_ok=False, syntax_error=type(exc).__name__)
    report = StaticReport(syntax_ok=True)
    aliases = _aliases(tree)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    report.functions = [f.name for f in functions]
    all_funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    report.docstring = bool(all_funcs) and all(ast.get_docstring(f) for f in all_funcs)
    report.type_hints = bool(all_funcs) and all(
        f.returns is not None or any(a.annotation is not None for a in f.args.args)
        for f in all_funcs
    )
    bound: set[str] = set(dir(builtins)) | {"__name__", "__file__", "__doc__"}
    loaded: dict[str, int] = {}
    danger: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.setdefault(node.id, node.lineno)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif (isinstance(node, ast.ExceptHandler) and node.name) or (
            isinstance(node, ast.MatchAs | ast.MatchStar) and node.name
        ):
            bound.add(node.name)
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                if module.split(".")[0] in dangerous_imports:
                    danger.append(f"import {module}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            resolved = _resolve(name, aliases)
            # ``from re import compile``: compile() is re.compile, not the builtin.
            imported = name is not None and name.partition(".")[0] in aliases
            if resolved in dangerous_calls or (name in dangerous_calls and not imported):
                danger.append(f"{resolved}()")
    report.undefined_names = sorted(n for n in loaded if n not in bound)
    report.dangerous = sorted(set(danger))
    return report
