// What the pack shows in the REAL ComfyUI frontend beside its nodes: each node's help page (web/docs/<Node>.md,
// and web/docs/<Node>/zh.md in Chinese)
// in the node info panel, the Chinese locale (locales/zh/main.json), and the example workflows in the template
// browser with their thumbnails. Needs a real ComfyUI server with this pack: COMFYUI_URL (tests/e2e/test_registry.py
// sets it). Screenshots go to tests/js/artifacts/.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { browserSkip, launchChromium } from "./chromium.mjs";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const BASE = process.env.COMFYUI_URL;
const NODES = readdirSync(join(REPO, "web/docs")).filter((name) => name.endsWith(".md")).map((name) => name.slice(0, -3));
const ZH = JSON.parse(readFileSync(join(REPO, "locales/zh/main.json"), "utf8")).nodeDefs;
const TEMPLATES = readdirSync(join(REPO, "example_workflows")).filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5));
const skip = browserSkip("tests/e2e/test_registry.py");

let browser = null;

async function saveSettings(settings) {
  const response = await fetch(`${BASE}/api/settings`, { method: "POST", body: JSON.stringify(settings) });
  assert.ok(response.ok, `POST /api/settings: ${response.status}`);
}

async function open(locale = "en") {
  await saveSettings({
    "Comfy.TutorialCompleted": true,
    "Comfy.Locale": locale,
    "Comfy.VueNodes.Enabled": false,
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(BASE);
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph, null, { timeout: 90_000 });
  await page.evaluate(() => window.app.graph.clear());
  return { page, errors };
}

/** The first sentence of a help page's first paragraph: text the frontend can only show from the .md file. */
function firstWords(node) {
  const page = readFileSync(join(REPO, "web/docs", `${node}.md`), "utf8");
  const paragraph = page.split("\n\n")[1].replace(/\s+/g, " ");
  return paragraph.replace(/[`*[\]]/g, "").split(/[:.(]/)[0].trim();
}

/** The first clause of a Chinese help page's first paragraph (web/docs/<Node>/zh.md). */
function firstChineseWords(node) {
  const page = readFileSync(join(REPO, "web/docs", node, "zh.md"), "utf8");
  return page.split("\n\n")[1].replace(/\s+/g, "").replace(/[`*[\]]/g, "").split(/[，。（]/)[0];
}

/** A new node of `type` alone on the canvas, selected with a click on its title as a user does; its Node Info button. */
async function select(page, type, infoLabel = "Node Info") {
  const [x, y] = await page.evaluate((name) => {
    const graph = window.app.graph;
    graph.clear();
    const node = window.LiteGraph.createNode(name);
    node.pos = [300, 150];
    graph.add(node);
    const canvas = window.app.canvas;
    canvas.setDirty(true, true);
    const [cx, cy] = canvas.ds.convertOffsetToCanvas([node.pos[0] + 40, node.pos[1] - 15]);
    const rect = canvas.canvas.getBoundingClientRect();
    return [rect.left + cx, rect.top + cy];
  }, type);
  const toolbox = page.getByRole("button", { name: infoLabel }); // the selection toolbox's (i)
  for (let attempt = 0; attempt < 4; attempt++) {
    await page.waitForTimeout(400);
    await page.mouse.click(x, y);
    if (await toolbox.waitFor({ timeout: 3000 }).then(() => true, () => false)) return toolbox;
  }
  throw new Error(`no selection toolbox after clicking ${type}`);
}

before(async () => {
  if (skip) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (!skip) await saveSettings({ "Comfy.Locale": "en" }); // the server is shared with the other frontend tests
});

describe("the pack's help pages in the node info panel", { skip }, () => {
  test("every node's web/docs page is what the Info tab shows", async () => {
    const { page, errors } = await open();
    try {
      for (const node of NODES) {
        await (await select(page, node)).click();
        const words = firstWords(node);
        await page.getByText(words, { exact: false }).first().waitFor({ timeout: 20_000 });
        const panel = await page.evaluate(() => document.body.innerText);
        assert.ok(panel.includes("Inputs") && panel.includes("Tip"), `${node}: the page's sections are not shown`);
        if (node === "PuppetMasterSampler") await page.screenshot({ path: join(ARTIFACTS, "registry_help.png") });
      }
      assert.deepEqual(errors, []);
    } catch (error) {
      await page.screenshot({ path: join(ARTIFACTS, "registry_help_failure.png") });
      throw error;
    } finally {
      await page.close();
    }
  });
});

describe("the Chinese locale", { skip }, () => {
  test("the Info tab shows the Chinese help page (web/docs/<Node>/zh.md)", async () => {
    const { page, errors } = await open("zh");
    try {
      for (const node of ["PuppetMasterSampler", "PuppetMasterDrags"]) {
        await (await select(page, node, "节点信息")).click();
        await page.getByText(firstChineseWords(node), { exact: false }).first().waitFor({ timeout: 20_000 });
        const panel = await page.evaluate(() => document.body.innerText);
        assert.ok(panel.includes("提示") && !panel.includes(firstWords(node)), `${node}: not the Chinese page`);
        if (node === "PuppetMasterSampler") await page.screenshot({ path: join(ARTIFACTS, "registry_help_zh.png") });
      }
      assert.deepEqual(errors, []);
    } catch (error) {
      await page.screenshot({ path: join(ARTIFACTS, "registry_help_zh_failure.png") });
      throw error;
    } finally {
      await page.close();
    }
  });


  test("node names, inputs and search results come from locales/zh", async () => {
    const { page, errors } = await open("zh");
    try {
      const node = await page.evaluate(() => {
        const created = window.LiteGraph.createNode("PuppetMasterSampler");
        return { title: created.title, inputs: created.inputs.map((slot) => slot.localized_name ?? slot.label) };
      });
      assert.equal(node.title, ZH.PuppetMasterSampler.display_name);
      assert.ok(node.inputs.includes(ZH.PuppetMasterSampler.inputs.model.name), JSON.stringify(node.inputs));
      await page.evaluate(() => window.app.extensionManager.command.execute("Workspace.SearchBox.Toggle"));
      await page.keyboard.type("puppet", { delay: 40 });
      await page.getByText(ZH.PuppetMasterDrags.display_name).first().waitFor({ timeout: 20_000 });
      await page.waitForTimeout(800);
      await page.screenshot({ path: join(ARTIFACTS, "registry_search_zh.png") }); // Chinese needs a CJK font to read
      await page.keyboard.press("Escape");
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});

describe("the example workflows in the template browser", { skip }, () => {
  test("listed under the pack with their thumbnails, and one opens", async () => {
    const { page, errors } = await open();
    try {
      await page.evaluate(() => window.app.extensionManager.command.execute("Comfy.BrowseTemplates"));
      await page.getByText("ComfyUI-PuppetMaster", { exact: true }).first().click();
      for (const name of TEMPLATES) await page.getByText(name, { exact: true }).first().waitFor({ timeout: 20_000 });
      await page.waitForFunction(
        (count) => {
          const images = [...document.querySelectorAll("[role=dialog] img")]; // the pack's category: its cards only
          return images.length === count && images.every((img) => img.complete && img.naturalWidth === 1100);
        },
        TEMPLATES.length,
        { timeout: 20_000 },
      );
      await page.screenshot({ path: join(ARTIFACTS, "registry_templates.png") });
      await page.getByText("puppet_master_basic", { exact: true }).first().click();
      await page.waitForFunction(() => window.app.graph._nodes.some((n) => n.comfyClass === "PuppetMasterSampler"), null, {
        timeout: 20_000,
      });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
