"""Every node has a help page (web/docs/<NodeName>.md, shown in the frontend's node info panel), a Chinese one
(web/docs/<NodeName>/zh.md, which the frontend loads first when its language is Chinese), and English and
Chinese entries in locales/<lang>/main.json (display name, description, input and output names and tooltips)
in the schema ComfyUI's frontend reads (`nodeDefs.<Node>.inputs.<input>.tooltip`, `outputs.<index>`).

The English locale repeats the nodes' own texts (the frontend prefers the locale): checked equal, so they never
drift apart. A node added to nodes.NODES needs a page, both locale entries and a tooltip per input.
"""

import json
import re
from pathlib import Path

import pytest

from nodes import NODES_BY_ID
from support import REPO

LANGUAGES = ("en", "zh")
LOCALES = {lang: json.loads((REPO / "locales" / lang / "main.json").read_text(encoding="utf-8")) for lang in LANGUAGES}
CJK = re.compile(r"[\u4e00-\u9fff]")


def inputs_of(node: str) -> dict[str, tuple]:
    spec = NODES_BY_ID[node].INPUT_TYPES()
    return {**spec.get("required", {}), **spec.get("optional", {})}


def outputs_of(node: str) -> list[str]:
    cls = NODES_BY_ID[node]
    return list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES))


def display_name(node: str) -> str:
    return NODES_BY_ID[node].GET_SCHEMA().display_name


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("node", sorted(NODES_BY_ID))
def test_node_declares_a_description_and_a_tooltip_for_every_input_and_output(node):
    cls = NODES_BY_ID[node]
    assert getattr(cls, "DESCRIPTION", "").strip(), f"{node} has no DESCRIPTION"
    for name, value in inputs_of(node).items():
        options = value[1] if len(value) > 1 else {}
        assert options.get("tooltip"), f"{node} input {name!r} has no tooltip"
    assert len(getattr(cls, "OUTPUT_TOOLTIPS", ())) == len(outputs_of(node)), f"{node}: one OUTPUT_TOOLTIPS each"


def assert_describes_every_socket(page: str, path: Path, node: str, sections: tuple[str, str, str]) -> None:
    """The help page has the (inputs, outputs, tip) sections, and names every input and output in its section."""
    where = path.relative_to(REPO)
    for section in sections:
        assert section in page, f"{where} lacks {section}"
    inputs_heading, outputs_heading, _ = sections
    inputs_section = page.split(inputs_heading, 1)[1].split(outputs_heading, 1)[0]
    for name in inputs_of(node):
        assert f"`{name}`" in inputs_section, f"{where} does not describe input {name!r}"
    outputs_section = page.split(outputs_heading, 1)[1].split("\n## ", 1)[0]
    for name in outputs_of(node):
        assert f"`{name}`" in outputs_section, f"{where} does not describe output {name!r}"


@pytest.mark.parametrize("node", sorted(NODES_BY_ID))
def test_help_page_covers_the_node(node):
    path = REPO / "web" / "docs" / f"{node}.md"
    assert path.is_file(), f"write {path.relative_to(REPO)} (what it does, inputs, outputs, a tip)"
    page = path.read_text(encoding="utf-8")
    assert page.startswith(f"# {display_name(node)}\n")
    assert_describes_every_socket(page, path, node, ("## Inputs", "## Outputs", "## Tip"))


@pytest.mark.parametrize("node", sorted(NODES_BY_ID))
def test_chinese_help_page_covers_the_node(node):
    """The frontend asks for docs/<Node>/<locale>.md first, then docs/<Node>.md."""
    path = REPO / "web" / "docs" / node / "zh.md"
    assert path.is_file(), f"write {path.relative_to(REPO)} (the Chinese help page)"
    page = path.read_text(encoding="utf-8")
    assert page.startswith(f"# {LOCALES['zh']['nodeDefs'][node]['display_name']}\n") and CJK.search(page)
    assert_describes_every_socket(page, path, node, ("## 输入", "## 输出", "## 提示"))


@pytest.mark.parametrize("node", sorted(NODES_BY_ID))
def test_help_pages_say_which_inputs_are_advanced(node):
    """Advanced inputs are hidden until the user shows them: the pages say so where they describe them."""
    advanced = [item.id for item in NODES_BY_ID[node].define_schema().inputs if item.advanced]
    pages = ((f"{node}.md", "## Inputs", "## Outputs", "Advanced"), (f"{node}/zh.md", "## 输入", "## 输出", "高级"))
    for page, start, end, word in pages:
        inputs_section = (REPO / "web" / "docs" / page).read_text(encoding="utf-8").split(start, 1)[1].split(end, 1)[0]
        lines = {line.split("`")[1]: line for line in inputs_section.splitlines() if line.startswith("- `")}
        for name in advanced:
            assert word in lines[name], f"web/docs/{page}: say that {name!r} is an advanced input"


def test_pages_of_nodes_that_use_the_weights_state_their_licence():
    for node in ("PuppetMasterLoader", "PuppetMasterSampler"):
        assert "CC-BY-NC-SA-4.0" in (REPO / "web" / "docs" / f"{node}.md").read_text(encoding="utf-8")
        assert "CC-BY-NC-SA-4.0" in (REPO / "web" / "docs" / node / "zh.md").read_text(encoding="utf-8")


def test_no_help_page_without_a_node():
    pages = {path.stem for path in (REPO / "web" / "docs").glob("*.md")}
    folders = {path.name for path in (REPO / "web" / "docs").iterdir() if path.is_dir()}
    assert pages <= set(NODES_BY_ID) and folders <= set(NODES_BY_ID)
    assert {path.name for path in (REPO / "web" / "docs").glob("*/*")} == {"zh.md"}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("node", sorted(NODES_BY_ID))
def test_locale_names_and_explains_every_input_and_output(lang, node):
    entry = LOCALES[lang]["nodeDefs"].get(node)
    assert entry is not None, f"locales/{lang}/main.json has no nodeDefs.{node}"
    assert entry["display_name"] and entry["description"]
    assert set(entry["inputs"]) == set(inputs_of(node))
    for name, text in entry["inputs"].items():
        assert text["name"] and text["tooltip"], (lang, node, name)
    assert set(entry["outputs"]) == {str(index) for index in range(len(outputs_of(node)))}
    for index, text in entry["outputs"].items():
        assert text["name"] and text["tooltip"], (lang, node, index)
    if lang == "zh":
        assert CJK.search(entry["display_name"]) and CJK.search(entry["description"]), f"{node} is not translated"


@pytest.mark.parametrize("node", sorted(NODES_BY_ID))
def test_english_locale_is_the_nodes_own_text(node):
    cls = NODES_BY_ID[node]
    entry = LOCALES["en"]["nodeDefs"][node]
    assert entry["display_name"] == display_name(node)
    assert entry["description"] == one_line(cls.DESCRIPTION)
    for name, value in inputs_of(node).items():
        assert entry["inputs"][name] == {"name": name, "tooltip": value[1]["tooltip"]}
    for index, (name, tooltip) in enumerate(zip(outputs_of(node), cls.OUTPUT_TOOLTIPS, strict=True)):
        assert entry["outputs"][str(index)] == {"name": name, "tooltip": tooltip}


def test_locales_hold_only_known_nodes_and_the_category():
    for lang, locale in LOCALES.items():
        assert set(locale["nodeDefs"]) == set(NODES_BY_ID), lang
        segments = {part for cls in NODES_BY_ID.values() for part in cls.CATEGORY.split("/")}
        assert set(locale["nodeCategories"]) == segments, lang  # the frontend translates each path segment
