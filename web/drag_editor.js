// ComfyUI extension: the drag editor inside "Puppet-Master Drags". The node's `drags` STRING widget stays
// the serialised value (workflow and prompt carry the drag document; without this extension the JSON box
// still works); the editor is mounted over it with addDOMWidget and keeps the two in sync.
import { api } from "../../scripts/api.js";
import { app } from "../../scripts/app.js";
import { DragCanvas } from "./drag_canvas.js";

const NODE = "PuppetMasterDrags";
/** The key of the node's "ui" output naming the image it ran on (not "images": that would add a preview). */
const RUN_IMAGE_KEY = "pm_drag_image";
/** Fallback for image changes no hook sees (an upload replacing the file under the same name, say). */
const POLL_MS = 2000;
const LOADIMAGE_CHANGED = "pm-loadimage-changed";

function viewURL(filename, type, subfolder = "", channel = null) {
  const query = new URLSearchParams({ filename, type, subfolder });
  if (channel) query.set("channel", channel);
  return api.apiURL(`/view?${query}`);
}

/** The node feeding the Drags node's image input (null when unconnected). */
function upstreamNode(node) {
  if (!node.graph) return null;
  const slot = node.inputs?.findIndex((input) => input.name === "image") ?? -1;
  return slot >= 0 ? node.getInputNode(slot) : null;
}

/** Everything upstream of the image input (each node and its widget values): the run's image is stale once
 * this changes. */
function upstreamSignature(node) {
  const seen = new Set();
  const parts = [];
  const visit = (current) => {
    if (!current || seen.has(current.id)) return;
    seen.add(current.id);
    let values;
    try {
      values = JSON.stringify(current.widgets?.map((widget) => widget.value) ?? []);
    } catch {
      values = "?";
    }
    parts.push(`${current.id}:${values}`);
    current.inputs?.forEach((_, slot) => visit(current.getInputNode(slot)));
  };
  visit(upstreamNode(node));
  return parts.length ? parts.join("|") : null;
}

/** What the editor can show before a run: an upstream LoadImage's file as {filename, type, subfolder}. */
function upstreamFile(node) {
  const source = upstreamNode(node);
  if (!source || source.comfyClass !== "LoadImage") return null;
  const value = source.widgets?.find((w) => w.name === "image")?.value;
  if (!value) return null;
  const cut = value.lastIndexOf("/");
  return cut < 0
    ? { filename: value, type: "input", subfolder: "" }
    : { filename: value.slice(cut + 1), type: "input", subfolder: value.slice(0, cut) };
}

/** The LoadImage combo calls its widget's callback on every change (both renderers): tell the editors. */
function listenToLoadImage(source) {
  const widget = source?.comfyClass === "LoadImage" ? source.widgets?.find((w) => w.name === "image") : null;
  if (!widget || widget.pmListened) return;
  widget.pmListened = true;
  const callback = widget.callback;
  widget.callback = function (...args) {
    const result = callback?.apply(this, args);
    window.dispatchEvent(new CustomEvent(LOADIMAGE_CHANGED));
    return result;
  };
}

function load(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`cannot load ${url}`));
    image.src = url;
  });
}

/** Whether the node's output `name` is connected to anything. */
function outputLinked(node, name) {
  return (node.outputs?.find((output) => output.name === name)?.links?.length ?? 0) > 0;
}

/** Why there is no picture yet, in the user's words. */
function missingPictureNote(source) {
  if (!source) return "Connect an image to draw drags on it.";
  const name = source.title || source.comfyClass || source.type;
  return `The picture appears after the next run (Queue): it comes from "${name}", which only a run computes. Only a LoadImage directly upstream is shown at once.`;
}

app.registerExtension({
  name: "PuppetMaster.DragEditor",
  async nodeCreated(node) {
    if (node.comfyClass !== NODE) return;
    const text = node.widgets.find((w) => w.name === "drags");
    const frames = node.widgets.find((w) => w.name === "frames");
    const editor = new DragCanvas({
      value: text.value,
      frames: frames?.value ?? 14,
      onChange: (value) => {
        text.value = value;
        node.setDirtyCanvas(true);
      },
    });
    node.addDOMWidget("drag_editor", "PM_DRAG_EDITOR", editor.element, {
      serialize: false,
      getValue: () => editor.value,
      setValue: (value) => editor.setValue(value),
      getMinHeight: () => 260,
    });
    // The wheel zooms the graph over the editor too, as over ComfyUI's own text widgets. In the classic
    // canvas the DOM widget lies outside the graph canvas, so the event is handed over; a Vue node does it.
    editor.element.addEventListener(
      "wheel",
      (event) => {
        if (app.extensionManager?.setting?.get("Comfy.VueNodes.Enabled")) return;
        event.preventDefault();
        app.canvas.processMouseWheel(event);
      },
      { passive: false },
    );
    // The JSON box stays the value but is hidden: `hidden` for the classic canvas, `options.hidden` for Vue nodes.
    text.hidden = true;
    text.options.hidden = true;
    text.computeSize = () => [0, -4];
    if (text.element) text.element.style.display = "none";
    const textCallback = text.callback;
    text.callback = (value, ...rest) => {
      editor.setValue(value);
      return textCallback?.call(text, value, ...rest);
    };
    if (frames) {
      const framesCallback = frames.callback;
      frames.callback = (value, ...rest) => {
        editor.setFrames(value);
        return framesCallback?.call(frames, value, ...rest);
      };
    }

    // What is shown: the upstream LoadImage's file (RGB, its alpha as the mask overlay), else the image the
    // node ran on, as long as nothing upstream changed since (nodes, links, widget values); else a note.
    let shown = null;
    let lastRun = null;
    const sourceKey = () => upstreamSignature(node);
    const show = async (key, picture) => {
      shown = key;
      try {
        const [image, alpha] = await Promise.all([load(picture.rgb), picture.alpha ? load(picture.alpha) : null]);
        if (shown !== key) return;
        editor.setImage(image, { alpha });
        editor.element.dataset.picture = key.slice(0, key.indexOf(":"));
      } catch (error) {
        if (shown !== key) return;
        editor.setImage(null, { note: error.message });
        editor.element.dataset.picture = "none";
      }
    };
    const refresh = () => {
      editor.setStartPointsLinked(outputLinked(node, "start_points")); // its points prompt SAM3 Detect: marked
      const source = upstreamNode(node);
      listenToLoadImage(source);
      const file = upstreamFile(node);
      if (file) {
        const key = `file:${JSON.stringify(file)}`;
        if (key === shown) return;
        const { filename, type, subfolder } = file;
        show(key, { rgb: viewURL(filename, type, subfolder, "rgb"), alpha: viewURL(filename, type, subfolder, "a") });
      } else if (lastRun && lastRun.source === sourceKey()) {
        const key = `run:${JSON.stringify(lastRun.image)}`;
        if (key === shown) return;
        const { filename, type, subfolder } = lastRun.image;
        show(key, { rgb: viewURL(filename, type, subfolder) });
      } else {
        const key = `none:${source?.id ?? ""}`;
        if (key === shown) return;
        shown = key;
        editor.setImage(null, { note: missingPictureNote(source) });
        editor.element.dataset.picture = "none";
      }
    };
    const onConnectionsChange = node.onConnectionsChange;
    node.onConnectionsChange = function (...args) {
      const result = onConnectionsChange?.apply(this, args);
      refresh();
      return result;
    };
    window.addEventListener(LOADIMAGE_CHANGED, refresh);
    const poll = setInterval(refresh, POLL_MS);
    const onRemoved = node.onRemoved;
    node.onRemoved = function (...args) {
      clearInterval(poll);
      window.removeEventListener(LOADIMAGE_CHANGED, refresh);
      editor.destroy();
      return onRemoved?.apply(this, args);
    };
    const onExecuted = node.onExecuted;
    node.onExecuted = function (message) {
      const image = message?.[RUN_IMAGE_KEY]?.[0];
      if (image) {
        lastRun = { image, source: sourceKey() };
        refresh();
      }
      return onExecuted?.apply(this, arguments);
    };
    const onConfigure = node.onConfigure;
    node.onConfigure = function (...args) {
      const result = onConfigure?.apply(this, args);
      editor.setValue(text.value);
      if (frames) editor.setFrames(frames.value);
      return result;
    };
    node.pmDragEditor = editor;
    refresh();
  },
});
