"""Every shell and Python block of the documentation runs as written, so the docs cannot rot.

The blocks run in a copy of the repository after the self-check `scripts/demo.sh` runs (its tiny weights and
demo inputs in outputs/), in document order, each file's blocks sharing that folder. JSON blocks must parse
(a drag document with the library's own parser). A comment on the line before a block changes how it runs:

    <!-- doc-test: skip (why) -->     not run (it installs into ComfyUI, or is the test run); a reason is required
    <!-- doc-test: real weights -->   run with the tiny weights and the demo's inputs put in place of the released files
    <!-- doc-test: tiny -->           run at the tiny model size (a full-size benchmark takes an hour)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from puppet_master import parse_drag_document

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the documented commands are bash with .venv/bin paths")

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "training" / "README.md",
    REPO / "example_workflows" / "README.md",
]
RUNNABLE = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python", "json": "json"}
MARKER = re.compile(r"<!--\s*doc-test:\s*(?P<mode>skip|real weights|tiny)\s*(?P<reason>.*?)\s*-->")
FENCE = re.compile(r"^(?P<indent> *)```(?P<language>[\w-]*)[^\n]*$")
# What a block written for the released weights runs with instead (longest first).
REAL_WEIGHTS = {
    "model.safetensors": "outputs/tiny_puppet_master.safetensors",
    "stable-video-diffusion-img2vid/": "outputs/svd_tiny",
    "cabinet_mask.png": "outputs/demo_mask.png",
    "cabinet.png": "outputs/demo.png",
    "drags.json": "outputs/demo_drags.json",
    "cabinet.mp4": "outputs/cabinet.mp4",
    "--out ": "--size 64 --steps 2 --out ",
}
TINY = {"--size full": "--size tiny --frames 4 --latent 8", "--size mid": "--size tiny --frames 4 --latent 8"}


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    language: str
    mode: str
    reason: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(REPO).as_posix()}:{self.line}"


def blocks(document: Path) -> list[Block]:
    """The fenced blocks of a Markdown file with their doc-test marker (the comment on the line before)."""
    lines = document.read_text(encoding="utf-8").splitlines()
    found, index = [], 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        indent, start = fence["indent"], index
        end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "```")
        body = "\n".join(line[len(indent) :] for line in lines[start + 1 : end])
        previous = lines[start - 1].strip() if start else ""
        marker = MARKER.search(previous)
        found.append(
            Block(
                document=document,
                line=start + 1,
                language=fence["language"],
                mode=marker["mode"] if marker else "run",
                reason=marker["reason"].strip("() ") if marker else "",
                text=body + "\n",
            )
        )
        index = end + 1
    return found


ALL_BLOCKS = [block for document in DOCUMENTS if document.is_file() for block in blocks(document)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository in which `scripts/demo.sh`'s self-check has run (with this .venv)."""
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: run scripts/demo.sh (or scripts/test.sh) first")
    root = tmp_path_factory.mktemp("docs") / "project"
    ignored = shutil.ignore_patterns(".venv", ".git", "node_modules", "outputs", "__pycache__", "*.egg-info")
    shutil.copytree(REPO, root, ignore=ignored)
    (root / ".venv").symlink_to(REPO / ".venv", target_is_directory=True)
    run(["bash", "-c", ".venv/bin/python -m puppet_master selfcheck"], root)
    return root


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUTF8": "1"}
    result = subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=900, encoding="utf-8"
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def substituted(text: str, table: dict[str, str]) -> str:
    for old, new in table.items():
        text = text.replace(old, new)
    return text


def test_every_block_is_runnable_or_says_why_not():
    assert ALL_BLOCKS, "no code blocks found"
    for block in ALL_BLOCKS:
        if block.language in RUNNABLE or block.language in ("", "text"):
            continue
        pytest.fail(f"{block.name}: a ```{block.language} block (run: {', '.join(RUNNABLE)}; not run: text)")
    unexplained = [block.name for block in ALL_BLOCKS if block.mode == "skip" and not block.reason]
    assert not unexplained, f"skipped blocks must say why: {unexplained}"


@pytest.mark.parametrize(
    "block", [b for b in ALL_BLOCKS if b.language in RUNNABLE and b.mode != "skip"], ids=lambda block: block.name
)
def test_block_runs(block: Block, workdir: Path):
    text = block.text
    if block.mode == "real weights":
        text = substituted(text, REAL_WEIGHTS)
    if block.mode == "tiny":
        text = substituted(text, TINY)
    language = RUNNABLE[block.language]
    if language == "json":
        value = json.loads(text)
        if isinstance(value, dict) and "drags" in value:
            parse_drag_document(value)
        return
    script = workdir / f"block_{block.line}.{'py' if language == 'python' else 'sh'}"
    script.write_text(text, encoding="utf-8")
    if language == "python":
        run([str(workdir / ".venv" / "bin" / "python"), script.name], workdir)
    else:
        run(["bash", "-euo", "pipefail", script.name], workdir)


def test_the_readme_is_a_user_guide():
    """Short, with the two set-up commands, and no words about how the project was built."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 260
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme
    for document in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))):
        text = document.read_text(encoding="utf-8")
        for phrase in ("issue 1", "issue 2", "agents", "/tmp scripts", "no GPU was available", "heavily loaded"):
            assert phrase not in text, f"{document.name} says {phrase!r}"
    for link in re.findall(r"\]\(((?!https?://)[^)#]+)\)", readme):
        assert (REPO / link).exists(), f"README links to {link}, which is not in the repository"
