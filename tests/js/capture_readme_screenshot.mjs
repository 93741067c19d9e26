// Writes docs/comfyui_running.png, the README's first picture: the mask + paste-back example workflow in the real
// frontend while it runs (the Drags editor with its drags over the picture, the painted mask hatched; the Sampler
// running). A dev tool, run by scripts/capture_docs.py (which starts the server it needs), or alone:
//   COMFYUI_URL=http://127.0.0.1:8188 node tests/js/capture_readme_screenshot.mjs
// against a ComfyUI with this pack, weights named as below (MODELS) and `example.png` in its input folder with
// the object painted transparent (as the mask editor saves it).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { launchChromium } from "./chromium.mjs";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const BASE = process.env.COMFYUI_URL;
const MODELS = { unet_name: process.env.PM_UNET ?? "tiny.safetensors", svd_folder: process.env.PM_SVD ?? "svd_tiny" };

if (!BASE) {
  console.error("set COMFYUI_URL to a running ComfyUI with this pack installed");
  process.exit(2);
}
const workflow = JSON.parse(readFileSync(join(REPO, "example_workflows/puppet_master_mask_paste_back.json"), "utf8"));
for (const node of workflow.nodes) {
  if (node.type === "PuppetMasterLoader") node.widgets_values[0] = MODELS.unet_name;
  if (node.type === "PuppetMasterSVDEncoders") node.widgets_values[0] = MODELS.svd_folder;
}
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  await page.goto(BASE);
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph, null, { timeout: 120_000 });
  await page.evaluate(() => window.app.extensionManager.setting.set("Comfy.TutorialCompleted", true));
  await page.evaluate((graph) => window.app.loadGraphData(graph), workflow);
  await page.waitForFunction(() => document.querySelector(".pm-drag-editor")?.dataset.picture, null, { timeout: 60_000 });
  await page.evaluate(() => window.app.extensionManager.command.execute("Comfy.Canvas.FitView"));
  await page.evaluate(async () => {
    window.app.api.addEventListener("progress", ({ detail }) => (window.pmSamplerStep = detail.value));
    const { output, workflow } = await window.app.graphToPrompt();
    await window.app.api.queuePrompt(0, { output, workflow });
  });
  // A few denoising steps in: the Drags node has run (its editor shows the run's picture), the Sampler shows its
  // progress. (A whole run of 50 steps takes minutes on a loaded CPU even with tiny weights.)
  await page.waitForFunction(() => window.pmSamplerStep >= 3, null, { timeout: 900_000, polling: 1000 });
  await page.waitForTimeout(2000);
  const path = join(REPO, "docs/comfyui_running.png");
  await page.screenshot({ path });
  console.log(`wrote ${path}`);
} finally {
  await browser.close();
}
