"""Windows and macOS are where most ComfyUI users are: every text file is read and written as UTF-8 explicitly.

Python's default text encoding is the locale's (cp1252 on a Western Windows), so `Path.read_text()` of a
Chinese help page or a JSON with a non-ASCII name breaks there. ruff's PLW1514 (pyproject) catches `open()`
and pathlib calls on literal paths; this scan covers every call shape in the repository: builtin `open`,
`.open`, `.read_text`, `.write_text`, temporary files, and `subprocess` runs that decode output as text.
"""

from __future__ import annotations

import ast
from pathlib import Path

from support import REPO

NOT_FILES = {"Image", "av", "tarfile", "zipfile", "gzip", "webbrowser", "request", "os"}
"""Receivers whose `.open` is not a text-file open (images, videos, archives, URLs, file descriptors)."""
SUBPROCESS = {"run", "Popen", "check_output", "check_call"}
SKIPPED_FOLDERS = {".venv", ".git", "node_modules", "__pycache__"}


def _binary(mode: ast.expr | None) -> bool:
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "b" in mode.value


def _mode(call: ast.Call, position: int) -> ast.expr | None:
    named = [keyword.value for keyword in call.keywords if keyword.arg == "mode"]
    return named[0] if named else call.args[position] if len(call.args) > position else None


def opens_text_without_encoding(call: ast.Call) -> bool:
    """Whether `call` reads or writes text with the locale's encoding."""
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    if "encoding" in keywords:
        return False
    function = call.func
    if isinstance(function, ast.Name):
        return function.id == "open" and not _binary(_mode(call, 1))
    if not isinstance(function, ast.Attribute):
        return False
    receiver = function.value.id if isinstance(function.value, ast.Name) else None
    if function.attr in ("read_text", "write_text"):
        return True
    if function.attr == "open":
        return receiver not in NOT_FILES and not _binary(_mode(call, 0))
    if function.attr in ("NamedTemporaryFile", "TemporaryFile"):
        return not _binary(_mode(call, 0)) and _mode(call, 0) is not None
    if receiver == "subprocess" and function.attr in SUBPROCESS:
        text = keywords.get("text", keywords.get("universal_newlines"))
        return isinstance(text, ast.Constant) and bool(text.value)
    return False


def python_files() -> list[Path]:
    return [path for path in sorted(REPO.rglob("*.py")) if not SKIPPED_FOLDERS & set(path.relative_to(REPO).parts)]


def test_every_text_file_is_opened_with_an_explicit_encoding():
    found = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and opens_text_without_encoding(node):
                found.append(f"{path.relative_to(REPO).as_posix()}:{node.lineno}: {ast.unparse(node)[:90]}")
    assert not found, "give encoding='utf-8':\n" + "\n".join(found)


def test_the_scan_finds_what_it_looks_for():
    def flagged(source: str) -> bool:
        return opens_text_without_encoding(ast.parse(source).body[0].value)

    assert flagged("path.read_text()") and flagged("open('x.json')") and flagged("Path('x').open('w')")
    assert flagged("subprocess.run(['x'], capture_output=True, text=True)")
    assert not flagged("path.read_text(encoding='utf-8')") and not flagged("open('x.bin', 'rb')")
    assert not flagged("Image.open('x.png')") and not flagged("av.open(name, mode='w')")
    assert not flagged("subprocess.run(['x'], capture_output=True)")
