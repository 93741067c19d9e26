// The drag editor component: draw, edit and time drags on an image. Plain DOM + canvas, no ComfyUI,
// so it runs in a test page as it runs inside the node (web/drag_editor.js mounts it there).
import {
  DRAG_COLOURS,
  History,
  MAX_DRAGS,
  clampToImage,
  clientToImage,
  deleteDrag,
  deletePoint,
  emptyDocument,
  hitTest,
  insertPoint,
  letterbox,
  parseDocument,
  positionsAt,
  rescaleDocument,
} from "./drag_logic.js";

const HIT_RADIUS_CSS = 8;
const MIN_DRAG_CSS = 4;
const PLAY_FPS = 7;

function button(label, title, onClick) {
  const element = document.createElement("button");
  element.textContent = label;
  element.title = title;
  element.style.cssText = "font-size:11px;padding:1px 6px;cursor:pointer;white-space:nowrap";
  element.addEventListener("click", (event) => {
    event.stopPropagation();
    onClick();
  });
  return element;
}

export class DragCanvas {
  /** @param {{value?: string|object, frames?: number, onChange?: (value: string) => void}} options */
  constructor({ value = "", frames = 14, onChange = () => {} } = {}) {
    this.onChange = onChange;
    this.frames = frames;
    this.frame = frames - 1;
    this.image = null;
    this.selection = null;
    this.gesture = null;
    this.timer = null;
    this.history = new History(parseDocument(value));
    this.element = document.createElement("div");
    this.element.className = "pm-drag-editor";
    this.element.style.cssText = "display:flex;flex-direction:column;width:100%;height:100%;gap:2px;min-height:160px";
    const toolbar = document.createElement("div");
    toolbar.style.cssText = "display:flex;gap:4px;align-items:center;font:11px sans-serif;color:#ddd";
    this.slider = document.createElement("input");
    this.slider.type = "range";
    this.slider.style.cssText = "flex:1;min-width:24px";
    this.slider.addEventListener("input", () => this.setFrame(Number(this.slider.value)));
    this.frameLabel = document.createElement("span");
    this.frameLabel.style.whiteSpace = "nowrap";
    this.playButton = button("▶", "play the timing preview", () => this.togglePlay());
    toolbar.append(
      button("Clear all", "remove every drag", () => this.commit({ ...this.document, drags: [] })),
      button("Undo", "Ctrl+Z", () => this.undo()),
      button("Redo", "Ctrl+Shift+Z", () => this.redo()),
      this.playButton,
      this.slider,
      this.frameLabel,
      this.keyTarget(),
    );
    this.canvas = document.createElement("canvas");
    this.canvas.style.cssText = "flex:1;width:100%;min-height:0;outline:none;touch-action:none;cursor:crosshair";
    this.message = document.createElement("div");
    this.message.style.cssText = "font:11px sans-serif;color:#ffb340;min-height:14px";
    this.element.append(toolbar, this.canvas, this.message);
    for (const type of ["pointerdown", "pointermove", "pointerup", "pointercancel"]) {
      this.canvas.addEventListener(type, (event) => this.onPointer(event));
    }
    this.canvas.addEventListener("contextmenu", (event) => this.onContextMenu(event));
    new ResizeObserver(() => this.render()).observe(this.canvas);
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
    this.render();
  }

  /** Show an image (HTMLImageElement or null); a document of another size is rescaled proportionally. */
  setImage(image) {
    this.image = image;
    const doc = this.history.current;
    if (image && (image.naturalWidth !== doc.width || image.naturalHeight !== doc.height)) {
      const resized = doc.drags.length
        ? rescaleDocument(doc, image.naturalWidth, image.naturalHeight)
        : emptyDocument(image.naturalWidth, image.naturalHeight);
      this.history.push(resized);
      this.onChange(this.value);
    }
    this.render();
  }

  setFrames(frames) {
    this.frames = Math.max(2, frames | 0);
    this.slider.min = "0";
    this.slider.max = String(this.frames - 1);
    this.setFrame(Math.min(this.frame, this.frames - 1));
  }

  setFrame(frame) {
    this.frame = frame;
    this.slider.value = String(frame);
    this.frameLabel.textContent = `frame ${frame + 1}/${this.frames}`;
    this.render();
  }

  togglePlay() {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
      this.playButton.textContent = "▶";
      return;
    }
    this.playButton.textContent = "■";
    this.timer = setInterval(() => this.setFrame((this.frame + 1) % this.frames), 1000 / PLAY_FPS);
  }

  commit(doc) {
    this.history.push(doc);
    this.onChange(this.value);
    this.render();
  }

  undo() {
    this.history.undo();
    this.selection = null;
    this.onChange(this.value);
    this.render();
  }

  redo() {
    this.history.redo();
    this.selection = null;
    this.onChange(this.value);
    this.render();
  }

  say(text) {
    this.message.textContent = text;
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
    if (!this.gesture) return;
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
    const hit = hitTest(doc, point, HIT_RADIUS_CSS / scale);
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
    this.render();
  }

  moveGesture(point) {
    const { drag, point: index } = this.gesture;
    const live = this.gesture.live;
    const drags = live.drags.map((d, i) =>
      i === drag ? { ...d, points: d.points.map((p, j) => (j === index ? point : p)) } : d,
    );
    this.gesture.live = { ...live, drags };
    this.gesture.moved = true;
    this.render();
  }

  endGesture(cancelled) {
    const gesture = this.gesture;
    this.gesture = null;
    if (cancelled || !gesture.moved) {
      if (gesture.creating) this.selection = null;
      this.render();
      return;
    }
    if (gesture.creating) {
      const end = gesture.live.drags[gesture.drag].points[1];
      const { scale } = this.layout();
      if (Math.hypot(end[0] - gesture.start[0], end[1] - gesture.start[1]) * scale < MIN_DRAG_CSS) {
        this.selection = null;
        this.render();
        return;
      }
    }
    this.commit(gesture.live);
  }

  /** Delete the selected point (a drag left with one point goes too), or with `wholeDrag` its drag. */
  deleteSelection(wholeDrag) {
    if (!this.selection) return;
    const { drag, point } = this.selection;
    this.selection = null;
    this.commit(wholeDrag ? deleteDrag(this.document, drag) : deletePoint(this.document, drag, point));
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
    const hit = hitTest(doc, this.pointerToImage(event), HIT_RADIUS_CSS / scale);
    const entries = [];
    if (hit?.kind === "point") {
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

  render() {
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
    if (this.image) {
      context.drawImage(this.image, 0, 0, doc.width * scale, doc.height * scale);
    } else {
      context.fillStyle = "#4a4a4a";
      context.fillRect(0, 0, doc.width * scale, doc.height * scale);
    }
    const positions = positionsAt(doc, this.frames, this.frame);
    doc.drags.forEach((drag, index) => this.drawDrag(context, drag, index, scale, positions[index]));
  }

  drawDrag(context, drag, index, scale, current) {
    const colour = DRAG_COLOURS[index % DRAG_COLOURS.length];
    const points = drag.points.map(([x, y]) => [x * scale, y * scale]);
    context.lineWidth = 2;
    context.strokeStyle = colour;
    context.beginPath();
    points.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    context.stroke();
    const [ex, ey] = points[points.length - 1];
    const [px, py] = points[points.length - 2];
    const angle = Math.atan2(ey - py, ex - px);
    context.fillStyle = colour;
    context.beginPath();
    context.moveTo(ex, ey);
    context.lineTo(ex - 10 * Math.cos(angle - 0.4), ey - 10 * Math.sin(angle - 0.4));
    context.lineTo(ex - 10 * Math.cos(angle + 0.4), ey - 10 * Math.sin(angle + 0.4));
    context.fill();
    points.forEach(([x, y], i) => {
      const selected = this.selection?.drag === index && this.selection?.point === i;
      context.beginPath();
      context.arc(x, y, selected ? 6 : 4, 0, 2 * Math.PI);
      context.fillStyle = i === 0 ? colour : "#ffffff";
      context.fill();
      context.strokeStyle = colour;
      context.stroke();
    });
    context.font = "bold 12px sans-serif";
    context.lineWidth = 3;
    context.strokeStyle = "#000000";
    context.strokeText(String(index + 1), points[0][0] + 7, points[0][1] - 7);
    context.fillStyle = "#ffffff";
    context.fillText(String(index + 1), points[0][0] + 7, points[0][1] - 7);
    if (current) {
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
