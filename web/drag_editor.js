// ComfyUI extension: the drag editor inside "Puppet-Master Drags". The node's `drags` STRING widget stays
// the serialised value (workflow and prompt carry the drag document; without this extension the JSON box
// still works); the editor is mounted over it with addDOMWidget and keeps the two in sync.
import { api } from "../../scripts/api.js";
import { app } from "../../scripts/app.js";
import { DragCanvas } from "./drag_canvas.js";

const NODE = "PuppetMasterDrags";

function viewURL(filename, type, subfolder = "") {
  const query = new URLSearchParams({ filename, type, subfolder });
  return api.apiURL(`/view?${query}`);
}

/** URL of the image the node sees without running: an upstream LoadImage's file, else null. */
function upstreamImageURL(node) {
  if (!node.graph) return null;
  const slot = node.inputs?.findIndex((input) => input.name === "image") ?? -1;
  const source = slot >= 0 ? node.getInputNode(slot) : null;
  if (!source || source.comfyClass !== "LoadImage") return null;
  const value = source.widgets?.find((w) => w.name === "image")?.value;
  if (!value) return null;
  const cut = value.lastIndexOf("/");
  return cut < 0 ? viewURL(value, "input") : viewURL(value.slice(cut + 1), "input", value.slice(0, cut));
}

function loadImage(editor, url) {
  const image = new Image();
  image.onload = () => editor.setImage(image);
  image.src = url;
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
      getMinHeight: () => 240,
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
    text.hidden = true;
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

    let shownURL = null;
    const refresh = () => {
      const url = upstreamImageURL(node);
      if (url && url !== shownURL) {
        shownURL = url;
        loadImage(editor, url);
      }
    };
    const onConnectionsChange = node.onConnectionsChange;
    node.onConnectionsChange = function (...args) {
      refresh();
      return onConnectionsChange?.apply(this, args);
    };
    // The upstream image can change in many ways (combo, upload, paste, another workflow); no single hook
    // sees them all in both the classic canvas and the Vue nodes mode, so the cheap lookup runs twice a second.
    const poll = setInterval(refresh, 500);
    const onRemoved = node.onRemoved;
    node.onRemoved = function (...args) {
      clearInterval(poll);
      return onRemoved?.apply(this, args);
    };
    const onExecuted = node.onExecuted;
    node.onExecuted = function (message) {
      const image = message?.images?.[0];
      if (image && !upstreamImageURL(node)) {
        shownURL = viewURL(image.filename, image.type, image.subfolder);
        loadImage(editor, shownURL);
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
    refresh();
  },
});
