// Real mouse input on the drag editor in headless Chromium (Debian's /usr/bin/chromium, playwright-core).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { browserSkip, launchChromium } from "./chromium.mjs";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const skip = browserSkip();

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".json": "application/json" };
let server;
let browser;
let page;
let origin;

before(async () => {
  if (skip) return;
  server = createServer((request, response) => {
    const path = normalize(join(REPO, decodeURIComponent(new URL(request.url, "http://x").pathname)));
    if (!path.startsWith(REPO) || !existsSync(path)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "Content-Type": TYPES[extname(path)] ?? "application/octet-stream" });
    response.end(readFileSync(path));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 700, height: 560 } });
  await page.goto(`${origin}/tests/js/harness.html`);
  await page.waitForFunction(() => window.ready === true);
});

after(async () => {
  await browser?.close();
  server?.close();
});

const documentNow = () => page.evaluate(() => JSON.parse(window.editor.value));
const at = (x, y) => page.evaluate(([ix, iy]) => window.editor.imageToClient(ix, iy), [x, y]);

async function drag(from, to) {
  const [x0, y0] = await at(...from);
  const [x1, y1] = await at(...to);
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  await page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, { steps: 4 });
  await page.mouse.move(x1, y1, { steps: 4 });
  await page.mouse.up();
}

const near = (actual, expected, tolerance = 1.5) =>
  assert.ok(Math.hypot(actual[0] - expected[0], actual[1] - expected[1]) <= tolerance, `${actual} vs ${expected}`);

test("draw, curve, refuse a 6th, delete, undo, redo, context menu, timing", { skip }, async () => {
  let doc = await documentNow();
  assert.deepEqual([doc.width, doc.height, doc.drags.length], [320, 240, 0]);

  await drag([120, 100], [200, 60]);
  doc = await documentNow();
  assert.equal(doc.drags.length, 1);
  near(doc.drags[0].points[0], [120, 100]);
  near(doc.drags[0].points[1], [200, 60]);

  await drag([160, 80], [170, 120]);
  doc = await documentNow();
  assert.equal(doc.drags[0].points.length, 3, "clicking the path inserts a point");
  near(doc.drags[0].points[1], [170, 120]);

  for (const [from, to] of [[[60, 200], [100, 210]], [[250, 200], [280, 150]], [[20, 30], [60, 40]], [[300, 20], [260, 60]]]) {
    await drag(from, to);
  }
  assert.equal((await documentNow()).drags.length, 5);
  await drag([150, 220], [180, 230]);
  assert.equal((await documentNow()).drags.length, 5, "a 6th drag is refused");
  assert.match(await page.locator(".pm-drag-editor div").last().textContent(), /At most 5 drags/);

  const [ex, ey] = await at(260, 60);
  await page.mouse.click(ex, ey);
  await page.keyboard.press("Delete");
  doc = await documentNow();
  assert.equal(doc.drags.length, 4, "deleting an end point of a 2-point drag removes the drag");
  await page.keyboard.press("Control+z");
  assert.equal((await documentNow()).drags.length, 5);
  await page.keyboard.press("Control+Shift+z");
  assert.equal((await documentNow()).drags.length, 4);

  const [mx, my] = await at(80, 205);
  await page.mouse.click(mx, my, { button: "right" });
  await page.getByText("Delete drag 2").click();
  doc = await documentNow();
  assert.equal(doc.drags.length, 3);
  near(doc.drags[1].points[0], [250, 200]);

  await page.locator(".pm-drag-editor input[type=range]").fill("0");
  const positions = await page.evaluate(() => window.editor.frame);
  assert.equal(positions, 0);
  assert.equal(await page.evaluate(() => window.parentPointerEvents), 0, "pointer events never reach the node");
  assert.ok((await page.evaluate(() => window.changes.length)) >= 8);

  await page.locator(".pm-drag-editor input[type=range]").fill("13");
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}/drag_editor.png`, clip: { x: 30, y: 20, width: 500, height: 440 } });
});
