"""Every node has a help page (web/docs/<NodeName>.md, shown in the frontend's node info panel) and English and
Chinese entries in locales/<lang>/main.json (display name, description, input and output names and tooltips)
in the schema ComfyUI's frontend reads (`nodeDefs.<Node>.inputs.<input>.tooltip`, `outputs.<index>`).

The English locale repeats the nodes' own texts (the frontend prefers the locale): checked equal, so they never
drift apart. A node added to NODE_CLASS_MAPPINGS needs a page, both locale entries and a tooltip per input.
"""

import json
import re

import pytest

from nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from support import REPO

LANGUAGES = ("en", "zh")
LOCALES = {lang: json.loads((REPO / "locales" / lang / "main.json").read_text()) for lang in LANGUAGES}
CJK = re.compile(r"[\u4e00-\u9fff]")


def inputs_of(node: str) -> dict[str, tuple]:
    spec = NODE_CLASS_MAPPINGS[node].INPUT_TYPES()
    return {**spec.get("required", {}), **spec.get("optional", {})}


def outputs_of(node: str) -> list[str]:
    cls = NODE_CLASS_MAPPINGS[node]
    return list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES))


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("node", sorted(NODE_CLASS_MAPPINGS))
def test_node_declares_a_description_and_a_tooltip_for_every_input_and_output(node):
    cls = NODE_CLASS_MAPPINGS[node]
    assert getattr(cls, "DESCRIPTION", "").strip(), f"{node} has no DESCRIPTION"
    for name, value in inputs_of(node).items():
        options = value[1] if len(value) > 1 else {}
        assert options.get("tooltip"), f"{node} input {name!r} has no tooltip"
    assert len(getattr(cls, "OUTPUT_TOOLTIPS", ())) == len(outputs_of(node)), f"{node}: one OUTPUT_TOOLTIPS each"


@pytest.mark.parametrize("node", sorted(NODE_CLASS_MAPPINGS))
def test_help_page_covers_the_node(node):
    path = REPO / "web" / "docs" / f"{node}.md"
    assert path.is_file(), f"write {path.relative_to(REPO)} (what it does, inputs, outputs, a tip)"
    page = path.read_text()
    assert page.startswith(f"# {NODE_DISPLAY_NAME_MAPPINGS[node]}\n")
    for section in ("## Inputs", "## Outputs", "## Tip"):
        assert section in page, f"{path.name} lacks {section}"
    inputs_section = page.split("## Inputs", 1)[1].split("## Outputs", 1)[0]
    for name in inputs_of(node):
        assert f"`{name}`" in inputs_section, f"{path.name} does not describe input {name!r}"
    outputs_section = page.split("## Outputs", 1)[1].split("\n## ", 1)[0]
    for name in outputs_of(node):
        assert f"`{name}`" in outputs_section, f"{path.name} does not describe output {name!r}"


def test_pages_of_nodes_that_use_the_weights_state_their_licence():
    for node in ("PuppetMasterLoader", "PuppetMasterSampler"):
        assert "CC-BY-NC-SA-4.0" in (REPO / "web" / "docs" / f"{node}.md").read_text()


def test_no_help_page_without_a_node():
    pages = {path.stem for path in (REPO / "web" / "docs").glob("*.md")}
    assert pages <= set(NODE_CLASS_MAPPINGS)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("node", sorted(NODE_CLASS_MAPPINGS))
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


@pytest.mark.parametrize("node", sorted(NODE_CLASS_MAPPINGS))
def test_english_locale_is_the_nodes_own_text(node):
    cls = NODE_CLASS_MAPPINGS[node]
    entry = LOCALES["en"]["nodeDefs"][node]
    assert entry["display_name"] == NODE_DISPLAY_NAME_MAPPINGS[node]
    assert entry["description"] == one_line(cls.DESCRIPTION)
    for name, value in inputs_of(node).items():
        assert entry["inputs"][name] == {"name": name, "tooltip": value[1]["tooltip"]}
    for index, (name, tooltip) in enumerate(zip(outputs_of(node), cls.OUTPUT_TOOLTIPS, strict=True)):
        assert entry["outputs"][str(index)] == {"name": name, "tooltip": tooltip}


def test_locales_hold_only_known_nodes_and_the_category():
    for lang, locale in LOCALES.items():
        assert set(locale["nodeDefs"]) == set(NODE_CLASS_MAPPINGS), lang
        segments = {part for cls in NODE_CLASS_MAPPINGS.values() for part in cls.CATEGORY.split("/")}
        assert set(locale["nodeCategories"]) == segments, lang  # the frontend translates each path segment
