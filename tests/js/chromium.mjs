// The one place the browser tests find and start Chromium: Debian's /usr/bin/chromium (or CHROMIUM_PATH),
// driven by playwright-core from tests/js/node_modules; it never downloads a browser.
import { existsSync } from "node:fs";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
let playwright = null;
try {
  playwright = await import("playwright-core");
} catch {
  playwright = null;
}

/** Why the browser tests cannot run here, or false. `serverSetBy` names the tests that set COMFYUI_URL when
 * the test needs a real ComfyUI server. */
export function browserSkip(serverSetBy = null) {
  if (serverSetBy && !process.env.COMFYUI_URL) {
    return `set COMFYUI_URL to a real ComfyUI server with this pack (${serverSetBy} does)`;
  }
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (!playwright) return "playwright-core is not installed (npm install --prefix tests/js)";
  return false;
}

/** A headless Chromium with the flags this machine's closed network needs. */
export function launchChromium() {
  return playwright.chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}
