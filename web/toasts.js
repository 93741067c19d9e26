// ComfyUI extension: the pack's messages for the person at the browser, as toasts (nodes/toasts.py sends them
// over the server's websocket): a Puppet-Master checkpoint queued in a core loader (nodes/wrong_loader.py; core's
// own error "Could not detect model type" follows, the toast says what to do), and the warnings the library
// logs while a node runs (drags stretched onto an image of another shape, a video without any drag).
import { api } from "../../scripts/api.js";
import { app } from "../../scripts/app.js";

const EVENT = "puppet_master.toast";

app.registerExtension({
  name: "PuppetMaster.Toasts",
  setup() {
    api.addEventListener(EVENT, ({ detail }) => {
      app.extensionManager?.toast?.add({
        severity: "warn",
        summary: "Puppet-Master",
        detail: detail.message,
        life: 20000,
      });
    });
  },
});
