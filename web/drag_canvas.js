// The drag editor component: draw, edit and time drags on an image. Plain DOM + canvas, no ComfyUI,
// so it runs in a test page as it runs inside the node (web/drag_editor.js mounts it there).
import {
  DRAG_COLOURS,
  EASINGS,
  EXCESS_COLOUR,
  History,
  MAX_DRAGS,
  clampToImage,
  clientToImage,
  deleteDrag,
  deletePoint,
  dragTiming,
  emptyDocument,
  excessDrags,
  hitTest,
  insertPoint,
  isZeroLength,
  letterbox,
  movePoint,
  parseDocument,
  positionsAt,
  rescaleDocument,
  retimeDrag,
  startPoints,
  timesFor,
} from "./drag_logic.js";

const HIT_RADIUS_CSS = 8;
const MIN_DRAG_CSS = 4;
const PLAY_FPS = 7;
const MASK_TINT = "#00d5ff";
/** The SAM points' marker (a yellow diamond): a colour no drag, the mask hatch or the selection uses. */
const SAM_COLOUR = "#ffd60a";
const SAM_MARKER_CSS = 11;
const CONTROL_STYLE = "font-size:11px;padding:1px 6px;cursor:pointer;white-space:nowrap";

function button(label, title, onClick) {
  const element = document.createElement("button");
  element.textContent = label;
  element.title = title;
  element.style.cssText = CONTROL_STYLE;
  element.addEventListener("click", (event) => {
    event.stopPropagation();
    onClick();
  });
  return element;
}

/** The transparent part of `alpha` (an image whose alpha channel is the picture's) as a canvas that is
 * opaque there, or null when the picture is opaque everywhere (nothing to show). */
function maskOverlay(alpha) {
  const canvas = document.createElement("canvas");
  canvas.width = alpha.naturalWidth ?? alpha.width;
  canvas.height = alpha.naturalHeight ?? alpha.height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(alpha, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let transparent = false;
  for (let i = 3; i < pixels.length && !transparent; i += 4) transparent = pixels[i] < 255;
  if (!transparent) return null;
  context.globalCompositeOperation = "source-out";
  context.fillStyle = "#000000";
  context.fillRect(0, 0, canvas.width, canvas.height);
  return canvas;
}

/** Thin diagonal stripes: the mask is hatched, so the picture under it keeps its colours. */
function hatch(context) {
  const tile = document.createElement("canvas");
  tile.width = tile.height = 8;
  const t = tile.getContext("2d");
  t.fillStyle = `${MASK_TINT}26`;
  t.fillRect(0, 0, 8, 8);
  t.strokeStyle = MASK_TINT;
  t.lineWidth = 1.5;
  t.beginPath();
  t.moveTo(-2, 10);
  t.lineTo(10, -2);
  t.moveTo(-2, 2);
  t.lineTo(2, -2);
  t.moveTo(6, 10);
  t.lineTo(10, 6);
  t.stroke();
  return context.createPattern(tile, "repeat");
}

/** Frame number (1-based) of a time fraction, and back. */
const frameOf = (time, frames) => Math.round(time * (frames - 1)) + 1;
const timeOf = (frame, frames) => (Math.min(Math.max(frame, 1), frames) - 1) / (frames - 1);

export class DragCanvas {
  /** @param {{value?: string|object, frames?: number, onChange?: (value: string) => void}} options */
  constructor({ value = "", frames = 14, onChange = () => {} } = {}) {
    this.onChange = onChange;
    this.frames = frames;
    this.frame = frames - 1;
    this.image = null;
    this.overlay = null;
    this.showMask = true;
    this.showStartPoints = false;
    this.startPointsLinked = false;
    this.note = "";
    this.selection = null;
    this.gesture = null;
    this.timer = null;
    this.frameRequest = 0;
    this.history = new History(parseDocument(value));
    this.element = document.createElement("div");
    this.element.className = "pm-drag-editor";
    this.element.style.cssText = "display:flex;flex-direction:column;width:100%;height:100%;gap:2px;min-height:160px";
    const toolbar = document.createElement("div");
    toolbar.style.cssText = "display:flex;gap:4px;align-items:center;font:11px sans-serif;color:#ddd";
    this.slider = document.createElement("input");
    this.slider.type = "range";
    this.slider.title = "frame of the timing preview";
    this.slider.style.cssText = "flex:1;min-width:24px";
    this.slider.addEventListener("input", () => this.setFrame(Number(this.slider.value)));
    this.frameLabel = document.createElement("span");
    this.frameLabel.style.whiteSpace = "nowrap";
    this.frameLabel.title = "frame shown / frames in the video";
    this.playButton = button("▶", "play the timing preview", () => this.togglePlay());
    this.maskButton = button("▨ mask", "the hatched part is the mask (where the picture is transparent): show or hide it", () =>
      this.toggleMask(),
    );
    this.maskButton.hidden = true;
    this.startPointsButton = button(
      "◇ SAM points",
      "the yellow diamonds: where each drag starts, the points the start_points output gives SAM3 Detect (positive_coords) " +
        "to segment the object; shown while start_points is connected, this button shows or hides them",
      () => this.toggleStartPoints(),
    );
    this.startPointsButton.classList.add("pm-sam-points");
    this.paintStartPointsButton();
    toolbar.append(
      button("Clear", "remove every drag", () => this.commit({ ...this.document, drags: [] })),
      button("Undo", "Ctrl+Z", () => this.undo()),
      button("Redo", "Ctrl+Shift+Z", () => this.redo()),
      this.maskButton,
      this.startPointsButton,
      this.keyTarget(),
    );
    const timeline = document.createElement("div");
    timeline.className = "pm-drag-timeline";
    timeline.style.cssText = toolbar.style.cssText;
    timeline.append(this.playButton, this.slider, this.frameLabel);
    this.canvas = document.createElement("canvas");
    this.canvas.style.cssText = "flex:1;width:100%;min-height:0;outline:none;touch-action:none;cursor:crosshair";
    this.list = document.createElement("div");
    this.list.className = "pm-drag-list";
    this.list.style.cssText = "display:flex;flex-wrap:wrap;gap:3px;align-items:center;height:18px;overflow:hidden;font:11px sans-serif;color:#ddd";
    this.timing = document.createElement("div");
    this.timing.className = "pm-drag-timing";
    this.timing.style.cssText = "display:flex;gap:4px;align-items:center;height:20px;white-space:nowrap;overflow:hidden;font:11px sans-serif;color:#ddd";
    this.message = document.createElement("div");
    this.message.className = "pm-drag-message";
    this.message.style.cssText = "font:11px sans-serif;color:#ffb340;height:28px;overflow:hidden";
    this.element.append(toolbar, this.canvas, timeline, this.list, this.timing, this.message);
    for (const type of ["pointerdown", "pointermove", "pointerup", "pointercancel"]) {
      this.canvas.addEventListener(type, (event) => this.onPointer(event));
    }
    for (const row of [timeline, this.list, this.timing]) row.addEventListener("pointerdown", (event) => event.stopPropagation());
    this.canvas.addEventListener("contextmenu", (event) => this.onContextMenu(event));
    this.resizeObserver = new ResizeObserver(() => this.render());
    this.resizeObserver.observe(this.canvas);
    this.setFrames(frames);
  }

  /** The element that takes the keyboard while the editor is in use: a read-only input, because ComfyUI's
   * window-level shortcuts (graph undo on Ctrl+Z, delete node) run in the capture phase, before any handler
   * of ours, and stand aside only while an input has the focus. */
  keyTarget() {
    this.keys = document.createElement("input");
    this.keys.readOnly = true;
    this.keys.setAttribute("aria-label", "drag editor: Delete removes the selection, Ctrl+Z undoes, Ctrl+Shift+Z redoes");
    this.keys.style.cssText = "width:0;height:0;padding:0;margin:0;border:0;opacity:0";
    this.keys.addEventListener("keydown", (event) => this.onKey(event));
    this.keys.addEventListener("focus", () => (this.canvas.style.outline = "1px solid #0a84ff"));
    this.keys.addEventListener("blur", () => (this.canvas.style.outline = "none"));
    return this.keys;
  }

  get document() {
    return this.gesture?.live ?? this.history.current;
  }

  get value() {
    return JSON.stringify(this.history.current);
  }

  /** Replace the document (a workflow being loaded): not an undoable edit. The echo of our own change
   * (ComfyUI calls the text widget's callback when onChange sets its value) keeps the undo history. */
  setValue(value) {
    if (value === this.value) return;
    const size = [this.history.current.width, this.history.current.height];
    this.history = new History(parseDocument(value, size));
    this.selection = null;
    this.refreshRows();
  }

  /** Show a picture (an image element, its RGB) with `alpha` (an image whose alpha channel is the picture's)
   * tinted over its transparent part, or, with no picture, `note` saying when one will appear. A document
   * drawn for another size is rescaled proportionally. */
  setImage(image, { alpha = null, note = "" } = {}) {
    this.image = image;
    this.overlay = image && alpha ? maskOverlay(alpha) : null;
    this.maskButton.hidden = !this.overlay;
    this.note = image ? "" : note;
    const doc = this.history.current;
    if (image && (image.naturalWidth !== doc.width || image.naturalHeight !== doc.height)) {
      const resized = doc.drags.length
        ? rescaleDocument(doc, image.naturalWidth, image.naturalHeight)
        : emptyDocument(image.naturalWidth, image.naturalHeight);
      this.history.push(resized);
      this.onChange(this.value);
    }
    this.refreshRows();
  }

  setFrames(frames) {
    this.frames = Math.max(2, frames | 0);
    this.slider.min = "0";
    this.slider.max = String(this.frames - 1);
    this.setFrame(Math.min(this.frame, this.frames - 1));
    this.refreshRows();
  }

  setFrame(frame) {
    this.frame = frame;
    this.slider.value = String(frame);
    this.frameLabel.textContent = `${frame + 1}/${this.frames}`;
    this.render();
  }

  togglePlay() {
    if (this.timer) {
      this.stopPlaying();
      return;
    }
    this.playButton.textContent = "■";
    this.timer = setInterval(() => this.setFrame((this.frame + 1) % this.frames), 1000 / PLAY_FPS);
  }

  stopPlaying() {
    clearInterval(this.timer);
    this.timer = null;
    this.playButton.textContent = "▶";
  }

  toggleMask() {
    this.showMask = !this.showMask;
    this.render();
  }

  /** Whether the node's start_points output is connected: the SAM points are marked when it becomes so, and
   * unmarked when it is disconnected (the button overrides either until the next change). */
  setStartPointsLinked(linked) {
    if (linked === this.startPointsLinked) return;
    this.startPointsLinked = linked;
    this.showStartPoints = linked;
    this.showStartPointsState();
  }

  toggleStartPoints() {
    this.showStartPoints = !this.showStartPoints;
    this.showStartPointsState();
  }

  showStartPointsState() {
    this.paintStartPointsButton();
    this.hovered = "";
    this.showMessage();
    this.render();
  }

  paintStartPointsButton() {
    const button = this.startPointsButton;
    button.setAttribute("aria-pressed", String(this.showStartPoints));
    button.style.color = this.showStartPoints ? "#000000" : SAM_COLOUR;
    button.style.background = this.showStartPoints ? SAM_COLOUR : "";
  }

  /** Stop everything that outlives the element (the node was removed). */
  destroy() {
    this.stopPlaying();
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frameRequest);
    this.frameRequest = 0;
    this.menu?.remove();
    this.destroyed = true;
  }

  commit(doc) {
    if (JSON.stringify(doc) !== this.value) {
      this.history.push(doc); // an edit that changes nothing is no undo step
      this.onChange(this.value);
    }
    this.refreshRows();
  }

  undo() {
    this.history.undo();
    this.afterHistoryMove();
  }

  redo() {
    this.history.redo();
    this.afterHistoryMove();
  }

  afterHistoryMove() {
    if (this.selection && this.selection.drag >= this.history.current.drags.length) this.selection = null;
    this.onChange(this.value);
    this.refreshRows();
  }

  say(text) {
    this.transient = text;
    this.showMessage();
  }

  showMessage() {
    const excess = excessDrags(this.history.current);
    const count = this.history.current.drags.length;
    this.message.textContent = excess
      ? `${count} drags, the model takes at most ${MAX_DRAGS}: remove ${excess} (grey, dashed, marked ✕ below).`
      : this.transient || this.hovered || "";
  }

  /** Under the pointer, a point's drag and index, where it is (pixels and percent) and when it is reached. */
  hover(point) {
    const doc = this.history.current;
    const hit = hitTest(doc, point, HIT_RADIUS_CSS / this.layout().scale, this.selection?.drag ?? null);
    let text = "";
    if (hit?.kind === "point") {
      const drag = doc.drags[hit.drag];
      const [x, y] = drag.points[hit.point];
      const time = (drag.times ?? timesFor(drag.points))[hit.point];
      const percent = (value, size) => ((100 * value) / size).toFixed(1);
      text =
        `drag ${hit.drag + 1}, point ${hit.point + 1} of ${drag.points.length}: ${Math.round(x)}, ${Math.round(y)} px ` +
        `(${percent(x, doc.width)}%, ${percent(y, doc.height)}%), reached at frame ${Math.round(time * (this.frames - 1)) + 1}`;
      const sam = this.showStartPoints && hit.point === 0 ? startPoints(doc)[hit.drag] : null;
      if (sam) text += `; SAM point ${sam.x}, ${sam.y} px`;
    }
    if (text !== (this.hovered ?? "")) {
      this.hovered = text;
      this.showMessage();
    }
  }

  layout() {
    const rect = this.canvas.getBoundingClientRect();
    const doc = this.history.current;
    return { rect, ...letterbox(rect.width, rect.height, doc.width, doc.height) };
  }

  /** Client coordinates of an image pixel (used by tests and menus). */
  imageToClient(x, y) {
    const { rect, scale, offsetX, offsetY } = this.layout();
    return [rect.left + offsetX + x * scale, rect.top + offsetY + y * scale];
  }

  pointerToImage(event) {
    const doc = this.history.current;
    return clientToImage(event.clientX, event.clientY, this.canvas.getBoundingClientRect(), doc.width, doc.height);
  }

  onPointer(event) {
    event.stopPropagation();
    if (event.type === "pointerdown") {
      if (event.button !== 0) return;
      event.preventDefault();
      this.keys.focus({ preventScroll: true });
      this.canvas.setPointerCapture?.(event.pointerId);
      this.startGesture(this.pointerToImage(event));
      return;
    }
    if (!this.gesture) {
      if (event.type === "pointermove") this.hover(this.pointerToImage(event));
      return;
    }
    const doc = this.history.current;
    const point = clampToImage(this.pointerToImage(event), doc.width, doc.height);
    if (event.type === "pointermove") {
      this.moveGesture(point);
    } else {
      this.endGesture(event.type === "pointercancel");
    }
  }

  startGesture(point) {
    const doc = this.history.current;
    const { scale } = this.layout();
    const hit = hitTest(doc, point, HIT_RADIUS_CSS / scale, this.selection?.drag ?? null);
    this.say("");
    if (hit?.kind === "point") {
      this.selection = { drag: hit.drag, point: hit.point };
      this.gesture = { live: doc, drag: hit.drag, point: hit.point, moved: false };
    } else if (hit?.kind === "segment") {
      const live = insertPoint(doc, hit.drag, hit.segment, point);
      this.selection = { drag: hit.drag, point: hit.segment + 1 };
      this.gesture = { live, drag: hit.drag, point: hit.segment + 1, moved: true };
    } else if (doc.drags.length >= MAX_DRAGS) {
      this.say(`At most ${MAX_DRAGS} drags: delete one (select it, Delete) before adding another.`);
      this.selection = null;
    } else {
      const inside = clampToImage(point, doc.width, doc.height);
      const live = { ...doc, drags: [...doc.drags, { points: [inside, inside] }] };
      this.selection = { drag: doc.drags.length, point: 1 };
      this.gesture = { live, drag: doc.drags.length, point: 1, moved: false, creating: true, start: inside };
    }
    this.refreshRows();
  }

  moveGesture(point) {
    const { drag, point: index, creating, start } = this.gesture;
    if (creating && !this.gesture.moved) {
      // A press that barely moves stays a held point (a zero-length drag) until it clearly becomes a drag.
      const { scale } = this.layout();
      if (Math.hypot(point[0] - start[0], point[1] - start[1]) * scale < MIN_DRAG_CSS) return;
    }
    this.gesture.live = movePoint(this.gesture.live, drag, index, point);
    this.gesture.moved = true;
    this.render();
  }

  endGesture(cancelled) {
    const gesture = this.gesture;
    this.gesture = null;
    if (cancelled || (!gesture.moved && !gesture.creating)) {
      if (cancelled && gesture.creating) this.selection = null;
      this.refreshRows();
      return;
    }
    this.commit(gesture.live);
  }

  /** Delete the selected point (a drag left with one point goes too), or with `wholeDrag` its drag. */
  deleteSelection(wholeDrag) {
    if (!this.selection) return;
    const { drag, point } = this.selection;
    this.selection = null;
    const whole = wholeDrag || point === null;
    this.commit(whole ? deleteDrag(this.document, drag) : deletePoint(this.document, drag, point));
  }

  selectDrag(drag) {
    this.selection = { drag, point: null };
    this.keys.focus({ preventScroll: true });
    this.refreshRows();
  }

  onKey(event) {
    const key = event.key.toLowerCase();
    const modifier = event.ctrlKey || event.metaKey;
    if (key === "delete" || key === "backspace") {
      this.deleteSelection(event.shiftKey);
    } else if (modifier && key === "z") {
      if (event.shiftKey) this.redo();
      else this.undo();
    } else if (modifier && key === "y") {
      this.redo();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  onContextMenu(event) {
    event.preventDefault();
    event.stopPropagation();
    const doc = this.history.current;
    const { scale } = this.layout();
    const hit = hitTest(doc, this.pointerToImage(event), HIT_RADIUS_CSS / scale, this.selection?.drag ?? null);
    const entries = [];
    if (hit?.kind === "point" && doc.drags[hit.drag].points.length > 2) {
      entries.push([`Delete point ${hit.point + 1} of drag ${hit.drag + 1}`, () => this.commit(deletePoint(doc, hit.drag, hit.point))]);
    }
    if (hit) entries.push([`Delete drag ${hit.drag + 1}`, () => this.commit(deleteDrag(doc, hit.drag))]);
    entries.push(["Clear all", () => this.commit({ ...doc, drags: [] })]);
    this.showMenu(event.clientX, event.clientY, entries);
  }

  showMenu(x, y, entries) {
    this.menu?.remove();
    const menu = document.createElement("div");
    menu.className = "pm-drag-menu";
    menu.style.cssText = `position:fixed;left:${x}px;top:${y}px;z-index:10000;background:#222;border:1px solid #555;font:12px sans-serif`;
    for (const [label, action] of entries) {
      const item = document.createElement("div");
      item.textContent = label;
      item.style.cssText = "padding:4px 10px;color:#eee;cursor:pointer";
      item.addEventListener("pointerdown", (event) => {
        event.stopPropagation();
        menu.remove();
        action();
      });
      menu.append(item);
    }
    document.body.append(menu);
    this.menu = menu;
    const close = (event) => {
      if (!menu.contains(event.target)) menu.remove();
      document.removeEventListener("pointerdown", close, true);
    };
    document.addEventListener("pointerdown", close, true);
  }

  /** The rows under the canvas (one chip per drag, the selected drag's timing) and the message follow the
   * document; then the canvas is redrawn. */
  refreshRows() {
    const doc = this.history.current;
    this.list.replaceChildren();
    doc.drags.forEach((drag, index) => this.list.append(this.chip(drag, index)));
    this.timing.replaceChildren();
    const selected = this.selection ? doc.drags[this.selection.drag] : null;
    if (!selected) this.selection = null;
    else if (this.selection.point !== null && this.selection.point >= selected.points.length) this.selection.point = null;
    if (selected && this.selection.point !== null) this.timing.append(...this.pointControls(selected, this.selection));
    else if (selected) this.timing.append(...this.timingControls(selected, this.selection.drag));
    else if (doc.drags.length) this.timing.append("Click a drag's number below to time it, a point to place it.");
    else this.timing.append("Drag on the picture to add a drag; a click holds a point.");
    this.showMessage();
    this.render();
  }

  chip(drag, index) {
    const excess = index >= MAX_DRAGS;
    const colour = excess ? EXCESS_COLOUR : DRAG_COLOURS[index];
    const selected = this.selection?.drag === index;
    const chip = document.createElement("span");
    chip.className = "pm-drag-chip";
    chip.dataset.drag = String(index);
    chip.title = excess ? `drag ${index + 1}: one too many for the model, remove it` : `drag ${index + 1}: select it to time it`;
    chip.style.cssText = `display:inline-flex;align-items:center;gap:2px;padding:0 2px 0 5px;border-radius:8px;cursor:pointer;border:1px solid ${colour};${selected ? `background:${colour}55;` : ""}${excess ? "text-decoration:line-through;" : ""}`;
    const { start, end } = dragTiming(drag);
    const held = isZeroLength(drag) ? " held" : "";
    const timed = start > 0 || end < 1 ? ` ${frameOf(start, this.frames)}→${frameOf(end, this.frames)}` : "";
    const label = document.createElement("span");
    label.className = "pm-drag-label";
    label.textContent = `${index + 1}${held}${timed}`;
    chip.append(label);
    chip.addEventListener("click", () => this.selectDrag(index));
    const remove = document.createElement("button");
    remove.className = "pm-drag-remove";
    remove.textContent = "✕";
    remove.title = `remove drag ${index + 1}`;
    remove.style.cssText = "font-size:10px;padding:0 3px;cursor:pointer;background:none;border:none;color:inherit";
    remove.addEventListener("click", (event) => {
      event.stopPropagation();
      this.selection = null;
      this.commit(deleteDrag(this.history.current, index));
    });
    chip.append(remove);
    return chip;
  }

  /** The selected point's place in pixels, typed exactly; each change is one undoable edit. */
  pointControls(drag, { drag: index, point }) {
    const doc = this.history.current;
    const [x, y] = drag.points[point];
    const coordinate = (name, value, size) => {
      const input = document.createElement("input");
      input.type = "number";
      input.name = name;
      input.min = "0";
      input.max = String(size);
      input.step = "any";
      input.value = String(Math.round(value * 100) / 100);
      input.title = `${name} in pixels, 0..${size}`;
      input.style.cssText = "width:52px;font-size:11px";
      input.addEventListener("change", () => {
        const position = clampToImage([Number(xInput.value), Number(yInput.value)], doc.width, doc.height);
        if (position.every(Number.isFinite)) this.commit(movePoint(this.history.current, index, point, position));
      });
      return input;
    };
    const xInput = coordinate("x", x, doc.width);
    const yInput = coordinate("y", y, doc.height);
    const label = (text) => Object.assign(document.createElement("span"), { textContent: text });
    return [label(`drag ${index + 1}, point ${point + 1}: x`), xInput, label("y"), yInput, label("px")];
  }

  /** Start frame, end frame and easing of the selected drag; each change is one undoable edit. */
  timingControls(drag, index) {
    const timing = dragTiming(drag);
    const frames = this.frames;
    const number = (label, value, name) => {
      const input = document.createElement("input");
      input.type = "number";
      input.min = "1";
      input.max = String(frames);
      input.value = String(value);
      input.name = name;
      input.title = `${label} (1..${frames})`;
      input.style.cssText = "width:38px;font-size:11px";
      input.addEventListener("change", () => apply());
      return input;
    };
    const startInput = number("frame where it starts moving", frameOf(timing.start, frames), "start");
    const endInput = number("frame where it arrives", frameOf(timing.end, frames), "end");
    const easing = document.createElement("select");
    easing.name = "easing";
    easing.title = "how it speeds up and slows down between the two";
    easing.style.cssText = "font-size:11px;min-width:0;flex:1";
    for (const name of timing.easing === "custom" ? [...EASINGS, "custom"] : EASINGS) easing.append(new Option(name, name));
    easing.value = timing.easing;
    easing.addEventListener("change", () => apply());
    const apply = () => {
      const chosen = easing.value === "custom" ? "linear" : easing.value;
      const start = timeOf(Number(startInput.value), frames);
      const end = timeOf(Number(endInput.value), frames);
      this.commit(retimeDrag(this.history.current, index, { start, end, easing: chosen }));
    };
    const label = (text) => Object.assign(document.createElement("span"), { textContent: text });
    return [label(`drag ${index + 1} moves in frames`), startInput, label("–"), endInput, easing];
  }

  /** Where every drag is at the previewed frame (the filled markers), by its timing. */
  positions() {
    return positionsAt(this.document, this.frames, this.frame);
  }

  /** Draw on the next animation frame (many changes in one frame draw once). */
  render() {
    if (this.frameRequest || this.destroyed) return;
    this.frameRequest = requestAnimationFrame(() => {
      this.frameRequest = 0;
      this.draw();
    });
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const context = canvas.getContext("2d");
    const doc = this.document;
    const { scale, offsetX, offsetY } = letterbox(canvas.clientWidth, canvas.clientHeight, doc.width, doc.height);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.fillStyle = "#1e1e1e";
    context.fillRect(0, 0, canvas.clientWidth, canvas.clientHeight);
    context.translate(offsetX, offsetY);
    const [w, h] = [doc.width * scale, doc.height * scale];
    if (this.image) {
      context.drawImage(this.image, 0, 0, w, h);
      if (this.overlay && this.showMask) context.drawImage(this.hatchedMask(w, h), 0, 0, w, h);
    } else {
      context.fillStyle = "#4a4a4a";
      context.fillRect(0, 0, w, h);
      if (this.note) this.drawNote(context, w, h);
    }
    const positions = this.positions();
    doc.drags.forEach((drag, index) => this.drawDrag(context, drag, index, scale, positions[index]));
    if (this.showStartPoints) this.drawStartPoints(context, doc, scale);
  }

  /** A yellow diamond (black-edged) around each SAM point, at the whole pixel start_points sends. */
  drawStartPoints(context, doc, scale) {
    const r = SAM_MARKER_CSS;
    for (const { x, y } of startPoints(doc)) {
      const [cx, cy] = [x * scale, y * scale];
      context.beginPath();
      context.moveTo(cx, cy - r);
      context.lineTo(cx + r, cy);
      context.lineTo(cx, cy + r);
      context.lineTo(cx - r, cy);
      context.closePath();
      context.lineWidth = 4;
      context.strokeStyle = "#000000";
      context.stroke();
      context.lineWidth = 2;
      context.strokeStyle = SAM_COLOUR;
      context.stroke();
    }
  }

  /** The mask at the shown size, hatched (a scratch canvas reused between frames). */
  hatchedMask(w, h) {
    this.scratch ??= document.createElement("canvas");
    const scratch = this.scratch;
    scratch.width = Math.max(1, Math.ceil(w));
    scratch.height = Math.max(1, Math.ceil(h));
    const context = scratch.getContext("2d");
    context.drawImage(this.overlay, 0, 0, w, h);
    context.globalCompositeOperation = "source-in";
    context.fillStyle = hatch(context);
    context.fillRect(0, 0, w, h);
    context.globalCompositeOperation = "source-over";
    return scratch;
  }

  drawNote(context, w, h) {
    context.fillStyle = "#e6e6e6";
    context.font = "12px sans-serif";
    context.textAlign = "center";
    const words = this.note.split(" ");
    const lines = [];
    for (const word of words) {
      const line = lines.length ? `${lines[lines.length - 1]} ${word}` : word;
      if (lines.length && context.measureText(line).width <= w - 16) lines[lines.length - 1] = line;
      else lines.push(word);
    }
    lines.forEach((line, i) => context.fillText(line, w / 2, h / 2 + (i - (lines.length - 1) / 2) * 15));
    context.textAlign = "start";
  }

  drawDrag(context, drag, index, scale, current) {
    const excess = index >= MAX_DRAGS;
    const colour = excess ? EXCESS_COLOUR : DRAG_COLOURS[index];
    const points = drag.points.map(([x, y]) => [x * scale, y * scale]);
    const [sx, sy] = points[0];
    context.lineWidth = 2;
    context.strokeStyle = colour;
    context.setLineDash(excess ? [5, 4] : []);
    if (isZeroLength(drag)) {
      // A held point: a ring with a cross, so a click without moving is visible.
      context.beginPath();
      context.arc(sx, sy, 9, 0, 2 * Math.PI);
      context.moveTo(sx - 13, sy);
      context.lineTo(sx + 13, sy);
      context.moveTo(sx, sy - 13);
      context.lineTo(sx, sy + 13);
      context.stroke();
    } else {
      context.beginPath();
      points.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
      context.stroke();
      const [ex, ey] = points[points.length - 1];
      const [lx, ly] = drag.points[drag.points.length - 1];
      const before = drag.points.findLastIndex(([x, y]) => x !== lx || y !== ly);
      const [px, py] = points[before];
      const angle = Math.atan2(ey - py, ex - px);
      context.fillStyle = colour;
      context.beginPath();
      context.moveTo(ex, ey);
      context.lineTo(ex - 10 * Math.cos(angle - 0.4), ey - 10 * Math.sin(angle - 0.4));
      context.lineTo(ex - 10 * Math.cos(angle + 0.4), ey - 10 * Math.sin(angle + 0.4));
      context.fill();
    }
    context.setLineDash([]);
    points.forEach(([x, y], i) => {
      const selected = this.selection?.drag === index && (this.selection.point === i || this.selection.point === null);
      context.beginPath();
      context.arc(x, y, selected ? 6 : 4, 0, 2 * Math.PI);
      context.fillStyle = i === 0 ? colour : "#ffffff";
      context.fill();
      context.strokeStyle = colour;
      context.stroke();
    });
    const label = excess ? `${index + 1} ✕` : String(index + 1);
    context.font = "bold 12px sans-serif";
    context.lineWidth = 3;
    context.strokeStyle = "#000000";
    context.strokeText(label, sx + 8, sy - 8);
    context.fillStyle = excess ? "#ff6961" : "#ffffff";
    context.fillText(label, sx + 8, sy - 8);
    if (current && !isZeroLength(drag)) {
      context.beginPath();
      context.arc(current[0] * scale, current[1] * scale, 7, 0, 2 * Math.PI);
      context.strokeStyle = "#ffffff";
      context.lineWidth = 3;
      context.stroke();
      context.fillStyle = colour;
      context.fill();
    }
  }
}
