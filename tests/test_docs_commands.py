"""Every command shown in README.md, docs/*.md and the model cards still exists and parses, without running
anything slow.

The commands are read from the Markdown itself: shell lines of fenced code blocks (``sql``, ``python``,
``yaml`` blocks are not shell) and inline code spans that start with a command. Recognised:

* ``mfer ...`` (any path to it, e.g. ``.venv/bin/mfer``), ``python -m multimodal_fer_flows.cli ...`` and
  ``python -m multimodal_fer.cli ...``: parsed by the real parsers (:func:`multimodal_fer.cli.build_parser`,
  with :func:`multimodal_fer_flows.cli.flow_commands` for ``mfer``), abbreviated options refused. A block line
  must parse as written; an inline span (``mfer run --redact``) or an elided one (``mfer --debug …``) is a
  fragment: its subcommand and every ``--option`` must exist;
* ``python -m MODULE ...``: the module exists (:func:`importlib.util.find_spec`); when it parses its command
  line with argparse, the documented arguments are parsed by its own parser in one subprocess, which stops at
  the parse (nothing is trained, benchmarked or built);
* ``python path/to/script.py ...``: the file exists, then as a module; ``pytest ...`` / ``python -m pytest ...``:
  the test files named exist; ``bash path.sh``: the script exists.

Doc notation accepted: ``[--optional ARGS]`` (brackets dropped), ``face|voice`` (each alternative),
``…`` / ``...`` (the rest elided), placeholders as values (``BUCKET``, ``LABELS.csv``). Third-party commands
(``prefect``, ``dask``, ``chromium``, ``git``) are not checked here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: README, docs/ and the model cards (docs/models.md: each names "the exact command that rebuilds it")
DOC_FILES = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    *sorted((REPO / "multimodal_fer").glob("*/artefacts/MODEL_CARD.md")),
]
SHELL_FENCES = {"", "sh", "bash", "shell", "console"}
#: modules that are ``mfer`` itself (the flow commands composed with the library's) or the library's commands alone
MFER_MODULES = {"multimodal_fer_flows.cli": True, "multimodal_fer.cli": False}
CONTROL = {"&&", "||", ";", "|", "&"}
ELLIPSIS = {"…", "..."}


@dataclass(frozen=True)
class DocCommand:
    where: str  # "docs/face.md:38"
    kind: str  # "mfer" | "module" | "script" | "pytest" | "bash" | "error"
    target: str  # "mfer" / "multimodal_fer.cli" / a module name / a path
    args: tuple[str, ...]
    inline: bool  # from an inline code span in prose (often a fragment: `mfer run --redact`)
    elided: bool  # arguments left out with `…`

    @property
    def fragment(self) -> bool:
        """Check names only (subcommand, options), not a full parse."""
        return self.inline or self.elided

    def __str__(self) -> str:
        return f"{self.where}: {self.target} {shlex.join(self.args)}".rstrip()


def _strip_comment(text: str) -> str:
    """``text`` up to an unquoted ``#`` that starts a word (``file.html#t=6.5`` keeps its ``#``)."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i]
    return text


def _normalise(args: list[str]) -> tuple[list[str], bool]:
    """Doc notation to plain arguments: ``[--x X]`` → ``--x X``; the rest after ``…`` dropped (elided=True)."""
    out = []
    for token in args:
        if token in ELLIPSIS or token.endswith("…"):
            return out, True
        if token.startswith("[") and not token.startswith("[["):
            token = token[1:]
        if token.endswith("]") and "[" not in token:
            token = token[:-1]
        if token in ELLIPSIS:
            return out, True
        if token:
            out.append(token)
    return out, False


def _alternatives(args: list[str]) -> list[list[str]]:
    """``evaluate face|voice X`` → ``evaluate face X`` and ``evaluate voice X``."""
    choices = [t.split("|") if re.fullmatch(r"[\w.-]+(\|[\w.-]+)+", t) else [t] for t in args]
    return [list(c) for c in itertools.product(*choices)]


def _segments(tokens: list[str]) -> list[list[str]]:
    """Simple commands of a shell line: split at control operators, redirections (and their targets) dropped."""
    segments, current, redirected = [], [], False
    for token in tokens:
        if token in CONTROL:
            segments.append(current)
            current, redirected = [], False
        elif re.fullmatch(r"\d*(>>?|<)(&\d+)?", token) or re.fullmatch(r"\d*>&\d+", token):
            redirected = True
        elif not redirected:
            current.append(token)
    segments.append(current)
    return [s for s in segments if s]


def commands_in(text: str, where: str, *, inline: bool) -> list[DocCommand]:
    """The project commands in one shell line (or inline code span); [] when it holds none."""
    text = _strip_comment(text).strip()
    if text.startswith("$ "):
        text = text[2:]
    if not re.search(r"(^|[\s/=])(mfer|python3?|pytest|bash)(\s|$)", text):
        return []
    try:
        tokens = shlex.split(text)
    except ValueError as exc:  # unbalanced quotes: a command that a shell could not run either
        head = re.sub(r"^([A-Za-z_]\w*=\S*\s+)*", "", text).split(" ", 1)[0]
        if Path(head).name in {"mfer", "python", "python3", "pytest", "bash"}:
            return [DocCommand(where, "error", text, (str(exc),), inline, False)]
        return []
    found = []
    for seg in _segments(tokens):
        while seg and re.fullmatch(r"[A-Za-z_]\w*=.*", seg[0]):  # VAR=value prefixes
            seg = seg[1:]
        if not seg:
            continue
        head, rest = Path(seg[0]).name, seg[1:]
        if head == "mfer":
            kind, target = "mfer", "mfer"
        elif head in {"python", "python3"} and len(rest) >= 2 and rest[0] == "-m":
            target, rest = rest[1], rest[2:]
            kind = "mfer" if target in MFER_MODULES else "pytest" if target == "pytest" else "module"
        elif head in {"python", "python3"} and rest and rest[0].endswith(".py"):
            kind, target, rest = "script", rest[0], rest[1:]
        elif head == "pytest":
            kind, target = "pytest", "pytest"
        elif head == "bash" and rest and rest[0].endswith(".sh"):
            kind, target, rest = "bash", rest[0], rest[1:]
        else:
            continue
        args, elided = _normalise(rest)
        for variant in _alternatives(args):
            found.append(DocCommand(where, kind, target, tuple(variant), inline, elided))
    return found


def _inline_commands(paragraph: list[tuple[int, str]], rel: str) -> list[DocCommand]:
    """Commands in the inline code spans of one paragraph (a span may wrap onto the next line)."""
    text = "\n".join(line for _, line in paragraph)
    found = []
    for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text):
        lineno = paragraph[0][0] + text[: m.start()].count("\n")
        found.extend(commands_in(m.group(1).replace("\n", " "), f"{rel}:{lineno}", inline=True))
    return found


def file_commands(path: Path) -> list[DocCommand]:
    """The commands of one Markdown file, in order: shell lines of fenced blocks and inline code spans."""
    rel = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name
    found: list[DocCommand] = []
    fence, pending, pending_at = None, "", 0
    paragraph: list[tuple[int, str]] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            found.extend(_inline_commands(paragraph, rel))
            paragraph = []
            fence = line.strip()[3:].strip().lower() if fence is None else None
        elif fence is None:
            if line.strip():
                paragraph.append((lineno, line))
            else:
                found.extend(_inline_commands(paragraph, rel))
                paragraph = []
        elif fence in SHELL_FENCES:
            if not pending:
                pending_at = lineno
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
            else:
                found.extend(commands_in(pending + line, f"{rel}:{pending_at}", inline=False))
                pending = ""
    return found + _inline_commands(paragraph, rel)


def doc_commands(files: list[Path] = DOC_FILES) -> list[DocCommand]:
    """Every command of README.md and docs/*.md, in order."""
    return [command for path in files for command in file_commands(path)]


COMMANDS = doc_commands()


def _of_kind(*kinds: str) -> list[DocCommand]:
    return [c for c in COMMANDS if c.kind in kinds]


def test_the_docs_show_commands_of_every_kind():
    """The extraction itself works: a broken reader would make every other test here pass vacuously."""
    counts = {k: len(_of_kind(k)) for k in ("mfer", "module", "script", "pytest", "bash")}
    assert counts["mfer"] >= 30 and counts["module"] >= 10 and counts["script"] >= 8, counts
    assert counts["pytest"] >= 2 and counts["bash"] >= 2, counts
    assert not _of_kind("error"), [str(c) for c in _of_kind("error")]


def test_the_reader_understands_doc_notation(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text(
        "Run `mfer run --redact` or `OMP_NUM_THREADS=1 .venv/bin/python -m training.face`, not `mfer`s output.\n"
        "A span may wrap: `python benchmarks/performance.py\n--minutes 1`.\n\n"
        "```\n"
        "$ .venv/bin/mfer evaluate face|voice LABELS.csv [--root DIR]   # comment with `mfer sql`\n"
        "0 2 * * *  cd /opt && .venv/bin/mfer run /data/b --db x.duckdb >> /var/log/m.log 2>&1\n"
        ".venv/bin/mfer run s3://b \\\n    --dask tcp://s:8786\n"
        "mfer --debug …\n"
        "Query it yourself: mfer sql 'select 1'\n"
        "← mfer sql / mfer status\n"
        "bash scripts/demo.sh && .venv/bin/pytest tests/test_x*.py -m 'not slow'\n"
        "```\n"
        "```sql\nselect 'mfer run'\n```\n",
        encoding="utf-8",
    )
    got = [(c.where, c.kind, c.target, c.args, c.inline, c.elided) for c in file_commands(doc)]
    assert got == [
        ("x.md:1", "mfer", "mfer", ("run", "--redact"), True, False),
        ("x.md:1", "module", "training.face", (), True, False),
        ("x.md:1", "mfer", "mfer", (), True, False),
        ("x.md:2", "script", "benchmarks/performance.py", ("--minutes", "1"), True, False),
        ("x.md:6", "mfer", "mfer", ("evaluate", "face", "LABELS.csv", "--root", "DIR"), False, False),
        ("x.md:6", "mfer", "mfer", ("evaluate", "voice", "LABELS.csv", "--root", "DIR"), False, False),
        ("x.md:7", "mfer", "mfer", ("run", "/data/b", "--db", "x.duckdb"), False, False),
        ("x.md:8", "mfer", "mfer", ("run", "s3://b", "--dask", "tcp://s:8786"), False, False),
        ("x.md:10", "mfer", "mfer", ("--debug",), False, True),
        ("x.md:13", "bash", "scripts/demo.sh", (), False, False),
        ("x.md:13", "pytest", "pytest", ("tests/test_x*.py", "-m", "not slow"), False, False),
    ]


# --- mfer -------------------------------------------------------------------------------------------------


def _strict(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """No abbreviated options: a doc's ``--face-crop`` must not pass as ``--face-crops``."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _strict(sub)
    return parser


def _mfer_parser(flows: bool) -> argparse.ArgumentParser:
    from multimodal_fer import cli
    from multimodal_fer_flows.cli import flow_commands

    return _strict(cli.build_parser(flow_commands if flows else None))


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _check_fragment(parser: argparse.ArgumentParser, args: list[str]) -> str | None:
    """Names only: global options, the subcommand and each ``--option`` of it exist."""
    args = [a for a in args if a not in {"-h", "--help"}]
    current, subs = parser, _subcommands(parser)
    for token in args:
        if token.startswith("-"):
            if token.split("=", 1)[0] not in current._option_string_actions:
                return f"unknown option {token!r} for {current.prog!r}"
        elif current is parser:
            if token not in subs:
                return f"unknown subcommand {token!r} (mfer has {', '.join(subs)})"
            current = subs[token]
    return None


def _check_full(parser: argparse.ArgumentParser, args: list[str]) -> str | None:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(args)
    except SystemExit as exc:
        return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {exc.code}"
    return None


@pytest.mark.parametrize("command", _of_kind("mfer"), ids=str)
def test_mfer_command_parses(command: DocCommand):
    parser = _mfer_parser(flows=command.target != "multimodal_fer.cli")
    args = list(command.args)
    fragment = command.fragment or "-h" in args or "--help" in args
    problem = _check_fragment(parser, args) if fragment else _check_full(parser, args)
    assert problem is None, f"{command}: {problem}"


# --- python -m MODULE, python SCRIPT.py, pytest, bash ----------------------------------------------------


def _module_source(name: str) -> Path | None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    spec = importlib.util.find_spec(name)
    return Path(spec.origin) if spec is not None and spec.origin else None


@pytest.mark.parametrize("command", _of_kind("module", "script", "bash", "pytest"), ids=str)
def test_module_or_file_exists(command: DocCommand):
    if command.kind == "module":
        assert _module_source(command.target) is not None, f"{command}: no module {command.target!r}"
    elif command.kind == "pytest":
        paths = [a.split("::")[0] for a in command.args if a.startswith("tests/")]
        for pattern in paths:
            assert list(REPO.glob(pattern)), f"{command}: no test file {pattern}"
    else:
        assert (REPO / command.target).is_file(), f"{command}: no file {command.target}"


#: run in one fresh interpreter: each command's module up to its argparse parse, then stop
_PARSE_ONLY = r"""
import argparse, contextlib, io, json, runpy, sys

class Parsed(BaseException):
    pass

_parse = argparse.ArgumentParser.parse_args

def _strict(parser):
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _strict(sub)

def parse_args(self, args=None, namespace=None):
    _strict(self)
    _parse(self, args, namespace)
    raise Parsed

argparse.ArgumentParser.parse_args = parse_args
results = []
for kind, target, args in json.loads(sys.argv[1]):
    sys.argv = [target, *args]
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            if kind == "module":
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(target, run_name="__main__")
        results.append("ran to its end without parsing its arguments")
    except Parsed:
        results.append(None)
    except SystemExit as exc:
        helped = exc.code in (0, None) and ("-h" in args or "--help" in args)
        results.append(None if helped else (err.getvalue().strip() or f"exit {exc.code}").splitlines()[-1])
    except Exception as exc:
        results.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(results))
"""


def _parses_its_arguments(command: DocCommand) -> bool:
    source = _module_source(command.target) if command.kind == "module" else REPO / command.target
    return source is not None and source.is_file() and "parse_args(" in source.read_text(encoding="utf-8")


def test_modules_and_scripts_parse_their_documented_arguments():
    """``python -m training.face``, ``python benchmarks/av_ablation.py --cache DIR --out X`` ...: each module's
    own parser accepts the documented arguments (one subprocess; every module stops right after its parse)."""
    checked = [c for c in _of_kind("module", "script") if not c.elided and _parses_its_arguments(c)]
    unique = list(dict.fromkeys((c.kind, c.target, c.args) for c in checked))
    assert len(unique) >= 15, unique
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-c", _PARSE_ONLY, json.dumps(unique)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    problems = {}
    for command in checked:
        problem = results[unique.index((command.kind, command.target, command.args))]
        if problem is not None:
            problems[str(command)] = problem
    assert not problems, problems
