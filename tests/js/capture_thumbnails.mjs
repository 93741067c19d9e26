// Writes example_workflows/<name>.jpg, the thumbnails ComfyUI's template browser shows, as screenshots of each
// workflow in the real frontend (classic canvas). A dev tool, run by scripts/capture_docs.py (which starts the
// server it needs), or alone:
//   COMFYUI_URL=http://127.0.0.1:8188 node tests/js/capture_thumbnails.mjs [NAME ...]
// against a ComfyUI with this pack installed and `example.png` in its input folder (any picture of an object);
// NAMEs (e.g. puppet_master_sam3) write only those thumbnails, none writes all.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { launchChromium } from "./chromium.mjs";

const BASE = process.env.COMFYUI_URL;
const EXAMPLES = fileURLToPath(new URL("../../example_workflows/", import.meta.url));
const ONLY = process.argv.slice(2);

if (!BASE) {
  console.error("set COMFYUI_URL to a running ComfyUI with this pack installed");
  process.exit(2);
}
const browser = await launchChromium();
try {
  // A large page (the whole graph at a readable zoom), scaled down to a 1100x640 picture.
  // The classic canvas, and no first-run template browser over the graph.
  const classic = { "Comfy.VueNodes.Enabled": false, "Comfy.TutorialCompleted": true };
  await fetch(`${BASE}/api/settings`, { method: "POST", body: JSON.stringify(classic) });
  const page = await browser.newPage({ viewport: { width: 2200, height: 1280 } });
  await page.goto(BASE);
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph, null, { timeout: 120_000 });
  const command = (id) => page.evaluate((name) => window.app.extensionManager.command.execute(name), id);
  await page.evaluate(async () => {
    const settings = window.app.extensionManager.setting;
    await settings.set("Comfy.RightSidePanel.IsOpen", false);
    await settings.set("Comfy.Graph.CanvasInfo", false);
    await settings.set("Comfy.Graph.CanvasMenu", false);
    await settings.set("LiteGraph.Canvas.LowQualityRenderingZoomThreshold", 0.1); // text and pictures at any zoom
  });
  await command("Workspace.ToggleFocusMode"); // the graph alone: no menus, side bars or minimap
  const files = readdirSync(EXAMPLES).filter((name) => name.endsWith(".json") && (!ONLY.length || ONLY.includes(name.slice(0, -5))));
  for (const file of files.sort()) {
    const workflow = JSON.parse(readFileSync(join(EXAMPLES, file), "utf8"));
    await page.evaluate((graph) => window.app.loadGraphData(graph), workflow);
    await command("Comfy.Canvas.FitView");
    await page.waitForTimeout(2500); // the LoadImage preview and the drag editor draw their pictures
    const path = join(EXAMPLES, file.replace(/\.json$/, ".jpg"));
    const full = await page.locator("#graph-canvas").screenshot({ type: "png" });
    const jpeg = await page.evaluate(async (png) => {
      const image = new Image();
      image.src = `data:image/png;base64,${png}`;
      await image.decode();
      const canvas = Object.assign(document.createElement("canvas"), { width: image.width / 2, height: image.height / 2 });
      canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
      return canvas.toDataURL("image/jpeg", 0.85).split(",")[1];
    }, full.toString("base64"));
    writeFileSync(path, Buffer.from(jpeg, "base64"));
    console.log(`wrote ${path}`);
  }
} finally {
  await browser.close();
}
