// The drag editor inside the REAL ComfyUI frontend, with real mouse input, in the classic canvas and in the
// Vue nodes mode, at two zoom levels. With COMFYUI_URL set (tests/e2e/test_comfyui_server.py sets it) the
// page is a real ComfyUI server with this pack installed; otherwise tests/e2e/standin_server.py serves the
// frontend from PyPI's comfyui-frontend-package with a stand-in API (ComfyUI's core is not on PyPI).
// Either way the test loads the example workflow, draws two drags on the node, queues it and checks that
// the server received exactly the document the widget shows; then keyboard editing beside ComfyUI's own
// shortcuts, the frames input, workflow round trip, and where the picture comes from.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const PYTHON = process.env.PYTHON ?? join(REPO, ".venv/bin/python");
const WORKFLOW = JSON.parse(readFileSync(join(REPO, "example_workflows/puppet_master_basic.json"), "utf8"));
let playwright = null;
try {
  playwright = await import("playwright-core");
} catch {
  playwright = null;
}

function standinSkip() {
  if (process.env.COMFYUI_URL) return false;
  if (!existsSync(PYTHON)) return `no Python at ${PYTHON} (run scripts/env.sh, or set PYTHON)`;
  const probe = spawn(PYTHON, ["-c", "import aiohttp, comfyui_frontend_package"], { stdio: "ignore" });
  return new Promise((resolve) =>
    probe.on("exit", (code) =>
      resolve(code === 0 ? false : "aiohttp or comfyui-frontend-package missing (pip install -r requirements-dev.txt)"),
    ),
  );
}

const skip = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`
  : !playwright
    ? "playwright-core is not installed (npm install --prefix tests/js)"
    : await standinSkip();

let base = process.env.COMFYUI_URL;
let standin = null;
let root = null;
let browser = null;

async function startStandin() {
  root = mkdtempSync(join(tmpdir(), "pm-standin-"));
  standin = spawn(PYTHON, [join(REPO, "tests/e2e/standin_server.py"), "--port", "0", "--root", root], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    standin.stdout.on("data", (chunk) => {
      output += chunk;
      const match = output.match(/listening on (http:\S+)/);
      if (match) resolve(match[1]);
    });
    standin.on("exit", (code) => reject(new Error(`stand-in server exited with ${code}: ${output}`)));
  });
}

before(async () => {
  if (skip) return;
  base ??= await startStandin();
  browser = await playwright.chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
  standin?.kill();
  if (root) rmSync(root, { recursive: true, force: true });
});

async function openComfyUI(vueNodes) {
  // The stand-in knows only the core nodes the example workflows use: no warning about the default graph.
  const settings = { "Comfy.TutorialCompleted": true, "Comfy.Workflow.ShowMissingNodesWarning": false, "Comfy.VueNodes.Enabled": vueNodes };
  const response = await fetch(`${base}/api/settings`, { method: "POST", body: JSON.stringify(settings) });
  assert.ok(response.ok, `POST /api/settings: ${response.status}`);
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error" && /PuppetMaster|drag_/i.test(message.text())) errors.push(message.text());
  });
  await page.goto(base);
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph, null, { timeout: 90_000 });
  await page.evaluate((workflow) => window.app.loadGraphData(workflow), WORKFLOW);
  return { page, errors };
}

/** Put the Drags node at a fixed place on the screen at `scale`, and pick the first model names on offer. */
async function frame(page, scale) {
  await page.evaluate((zoom) => {
    const graph = window.app.graph;
    for (const node of graph._nodes) {
      for (const widget of node.widgets ?? []) {
        const values = widget.options?.values;
        if (Array.isArray(values) && values.length && !values.includes(widget.value) && widget.name !== "image") {
          widget.value = values[0];
        }
      }
      if (node.comfyClass === "PuppetMasterSampler") node.widgets.find((w) => w.name === "steps").value = 2;
    }
    const node = graph._nodes.find((n) => n.comfyClass === "PuppetMasterDrags");
    const canvas = window.app.canvas;
    canvas.ds.scale = zoom;
    canvas.ds.offset = [140 / zoom - node.pos[0], 140 / zoom - node.pos[1]];
    canvas.setDirty(true, true);
  }, scale);
  await page.waitForTimeout(600);
}

const dragsNode = (page) =>
  page.evaluate(() => {
    const node = window.app.graph._nodes.find((n) => n.comfyClass === "PuppetMasterDrags");
    return { pos: [...node.pos], value: node.widgets.find((w) => w.name === "drags").value };
  });

const currentDocument = async (page) => JSON.parse((await dragsNode(page)).value);

/** Wait until the document has taken an image of this width (images load asynchronously). */
const documentWidth = (page, width) =>
  page.waitForFunction((expected) => {
    const node = window.app.graph._nodes.find((n) => n.comfyClass === "PuppetMasterDrags");
    return JSON.parse(node.widgets.find((w) => w.name === "drags").value).width === expected;
  }, width);

/** Client coordinates of image pixels on the editor canvas, mapped with the pack's own letterbox rule. */
async function toClient(page, points) {
  return page.evaluate(async (imagePoints) => {
    const extensions = await (await fetch("api/extensions")).json();
    const logic = await import(extensions.find((path) => path.endsWith("/drag_logic.js")));
    const node = window.app.graph._nodes.find((n) => n.comfyClass === "PuppetMasterDrags");
    const doc = JSON.parse(node.widgets.find((w) => w.name === "drags").value);
    const rect = document.querySelector(".pm-drag-editor canvas").getBoundingClientRect();
    const { scale, offsetX, offsetY } = logic.letterbox(rect.width, rect.height, doc.width, doc.height);
    return imagePoints.map(([x, y]) => [rect.left + offsetX + x * scale, rect.top + offsetY + y * scale]);
  }, points);
}

async function mouseDrag(page, from, to) {
  const [[x0, y0], [x1, y1]] = await toClient(page, [from, to]);
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  await page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, { steps: 5 });
  await page.mouse.move(x1, y1, { steps: 5 });
  await page.mouse.up();
}

const near = (actual, expected, tolerance) =>
  assert.ok(Math.hypot(actual[0] - expected[0], actual[1] - expected[1]) <= tolerance, `${actual} vs ${expected}`);

/** Queue the graph; return the drags input of the Drags node in the prompt the server stored. */
async function queueAndReadBack(page) {
  const posted = page.waitForResponse((r) => r.url().endsWith("/api/prompt") && r.request().method() === "POST");
  await page.evaluate(() => window.app.queuePrompt(0, 1));
  const { prompt_id: promptId, node_errors: nodeErrors } = await (await posted).json();
  assert.deepEqual(nodeErrors, {}, "the server refused the prompt");
  for (let attempt = 0; attempt < 600; attempt++) {
    const history = await (await fetch(`${base}/api/history/${promptId}`)).json();
    if (history[promptId]) {
      const prompt = history[promptId].prompt[2];
      const drags = Object.values(prompt).find((node) => node.class_type === "PuppetMasterDrags");
      return drags.inputs.drags;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`prompt ${promptId} never reached /history`);
}

for (const [mode, vueNodes, scale] of [["classic", false, 1.25], ["vue-nodes", true, 0.8]]) {
  describe(`drag editor in the ComfyUI frontend (${mode}, zoom ${scale})`, { skip }, () => {
    let page;
    let errors;
    before(async () => {
      ({ page, errors } = await openComfyUI(vueNodes));
      await frame(page, scale);
    });
    after(() => page?.close());

    test("mounts on the node with the upstream LoadImage picture, without running", async () => {
      assert.equal(await page.locator(".pm-drag-editor").count(), 1);
      await documentWidth(page, 96);
      const doc = await currentDocument(page);
      assert.deepEqual([doc.width, doc.height], [96, 80], "the document takes the image's size");
      assert.deepEqual(doc.drags[0].points, [[48, 46.875], [48, 31.25]], "the workflow's drag is rescaled from 512x512");
    });

    test("two mouse drags become exactly the document the server receives", async () => {
      await page.locator(".pm-drag-editor button", { hasText: "Clear all" }).click();
      assert.equal((await currentDocument(page)).drags.length, 0);
      const before = await dragsNode(page);
      await mouseDrag(page, [40, 50], [70, 35]);
      await mouseDrag(page, [20, 70], [10, 60]);
      const doc = await currentDocument(page);
      assert.equal(doc.drags.length, 2);
      near(doc.drags[0].points[0], [40, 50], 1);
      near(doc.drags[0].points[1], [70, 35], 1);
      near(doc.drags[1].points[0], [20, 70], 1);
      near(doc.drags[1].points[1], [10, 60], 1);
      assert.deepEqual((await dragsNode(page)).pos, before.pos, "drawing does not move the node");

      const received = await queueAndReadBack(page);
      assert.equal(received, (await dragsNode(page)).value, "the prompt carries the widget's document unchanged");
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, `comfyui_${mode}.png`) });
    });

    test("Delete and Ctrl+Z act on the focused editor, not on the graph", async () => {
      const nodes = () => page.evaluate(() => window.app.graph._nodes.length);
      const nodeCount = await nodes();
      const before = await currentDocument(page);
      const [[x, y]] = await toClient(page, [before.drags[1].points[1]]);
      await page.mouse.click(x, y);
      await page.keyboard.press("Delete");
      assert.equal((await currentDocument(page)).drags.length, 1, "the selected drag end is deleted");
      assert.equal(await nodes(), nodeCount, "the selected node is not deleted");
      await page.keyboard.press("Control+z");
      assert.deepEqual(await currentDocument(page), before, "undo restores the drag");
      await page.keyboard.press("Control+Shift+z");
      assert.equal((await currentDocument(page)).drags.length, 1, "redo deletes it again");
      await page.keyboard.press("Control+z");
      assert.deepEqual(await currentDocument(page), before);
      assert.equal(await nodes(), nodeCount, "ComfyUI's graph undo stayed out of it");
    });

    test("right-click opens the editor's menu, not ComfyUI's", async () => {
      const before = await currentDocument(page);
      const [[x, y]] = await toClient(page, [before.drags[1].points[0]]);
      await page.mouse.click(x, y, { button: "right" });
      assert.equal(await page.locator(".litecontextmenu").count(), 0);
      await page.getByText("Delete drag 2").click();
      assert.equal((await currentDocument(page)).drags.length, 1);
      await page.locator(".pm-drag-editor button", { hasText: "Undo" }).click();
      assert.deepEqual(await currentDocument(page), before);
    });

    test("the wheel over the editor zooms the graph exactly as over the empty canvas", async () => {
      const zoom = () => page.evaluate(() => window.app.canvas.ds.scale);
      const box = await page.locator(".pm-drag-editor canvas").boundingBox();
      const start = await zoom();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.wheel(0, -100);
      const overEditor = (await zoom()) / start;
      await page.mouse.move(1200, 820);
      await page.mouse.wheel(0, -100);
      const overCanvas = (await zoom()) / start / overEditor;
      assert.ok(overEditor > 1.01, `zoom factor over the editor: ${overEditor}`);
      assert.ok(Math.abs(overEditor - overCanvas) < 1e-6, `${overEditor} vs ${overCanvas}`);
      await frame(page, scale);
    });

    test("the timing slider follows the node's frames", async () => {
      await page.evaluate(() => {
        const node = window.app.graph._nodes.find((n) => n.comfyClass === "PuppetMasterDrags");
        const frames = node.widgets.find((w) => w.name === "frames");
        frames.value = 8;
        frames.callback?.(frames.value);
      });
      assert.equal(await page.locator(".pm-drag-editor input[type=range]").getAttribute("max"), "7");
    });

    test("a saved workflow restores the document exactly", async () => {
      const value = (await dragsNode(page)).value;
      const saved = await page.evaluate(() => window.app.graph.serialize());
      await page.evaluate(() => window.app.graph.clear());
      await page.evaluate((workflow) => window.app.loadGraphData(workflow), saved);
      await frame(page, scale);
      assert.equal((await dragsNode(page)).value, value);
      assert.equal(await page.locator(".pm-drag-editor").count(), 1);
    });

    test("choosing another upstream image rescales the points proportionally", async () => {
      const before = await currentDocument(page);
      const size = () => page.evaluate(() => [...window.app.graph._nodes.find((n) => n.comfyClass === "PuppetMasterDrags").size]);
      const sizeBefore = await size();
      await page.evaluate(() => {
        const load = window.app.graph._nodes.find((n) => n.comfyClass === "LoadImage");
        const widget = load.widgets.find((w) => w.name === "image");
        widget.value = "example_wide.png";
        widget.callback?.(widget.value);
      });
      await documentWidth(page, 192);
      const after = await currentDocument(page);
      assert.equal(after.height, 80);
      after.drags.forEach((drag, i) =>
        drag.points.forEach(([x, y], j) => near([x, y], [before.drags[i].points[j][0] * 2, before.drags[i].points[j][1]], 1e-9)),
      );
      assert.deepEqual(await size(), sizeBefore, "the node is not resized to the image");
    });

    test("without an upstream LoadImage, the image the node returned on its last run is shown", async () => {
      await page.evaluate(async () => {
        const { api } = await import("./scripts/api.js");
        const node = window.app.graph._nodes.find((n) => n.comfyClass === "PuppetMasterDrags");
        node.disconnectInput(node.inputs.findIndex((input) => input.name === "image"));
        const output = { images: [{ filename: "example.png", subfolder: "", type: "input" }] };
        api.dispatchCustomEvent("executed", { node: String(node.id), display_node: String(node.id), output });
      });
      await documentWidth(page, 96);
      assert.deepEqual(errors, []);
    });

    test("a copied and pasted node gets its own editor with the same drags", async () => {
      const values = await page.evaluate(async () => {
        const canvas = window.app.canvas;
        canvas.selectItems([window.app.graph._nodes.find((n) => n.comfyClass === "PuppetMasterDrags")]);
        canvas.copyToClipboard();
        canvas.pasteFromClipboard();
        await new Promise((resolve) => setTimeout(resolve, 500));
        const nodes = window.app.graph._nodes.filter((n) => n.comfyClass === "PuppetMasterDrags");
        return nodes.map((n) => n.widgets.find((w) => w.name === "drags").value);
      });
      assert.equal(values.length, 2);
      assert.equal(values[1], values[0]);
      assert.equal(await page.locator(".pm-drag-editor").count(), 2);
      assert.deepEqual(errors, []);
    });
  });
}

describe("example workflows in the ComfyUI frontend", { skip }, () => {
  let page;
  before(async () => {
    ({ page } = await openComfyUI(false));
  });
  after(() => page?.close());

  for (const name of ["puppet_master_basic", "puppet_master_mask_paste_back", "puppet_master_svd_checkpoint"]) {
    test(`${name}.json queues exactly ${name}.api.json (drags rescaled to the image)`, async () => {
      const workflow = JSON.parse(readFileSync(join(REPO, `example_workflows/${name}.json`), "utf8"));
      const expected = JSON.parse(readFileSync(join(REPO, `example_workflows/api/${name}.api.json`), "utf8"));
      await page.evaluate((graph) => window.app.loadGraphData(graph), workflow);
      await documentWidth(page, 96);
      const prompt = await page.evaluate(async () => (await window.app.graphToPrompt()).output);
      assert.deepEqual(Object.keys(prompt).sort(), Object.keys(expected).sort());
      for (const [id, node] of Object.entries(expected)) {
        assert.equal(prompt[id].class_type, node.class_type);
        if (node.class_type !== "PuppetMasterDrags") {
          assert.deepEqual(prompt[id].inputs, node.inputs, `node ${id} (${node.class_type})`);
          continue;
        }
        const { drags, ...inputs } = prompt[id].inputs;
        const { drags: expectedDrags, ...expectedInputs } = node.inputs;
        assert.deepEqual(inputs, expectedInputs, `node ${id} (${node.class_type})`);
        const [got, want] = [JSON.parse(drags), JSON.parse(expectedDrags)];
        const [sx, sy] = [got.width / want.width, got.height / want.height];
        assert.deepEqual([got.width, got.height], [96, 80]);
        assert.deepEqual(got.drags.map((d) => d.points), want.drags.map((d) => d.points.map(([x, y]) => [x * sx, y * sy])));
      }
    });
  }
});
