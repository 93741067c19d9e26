// ComfyUI extension: shows the server's "this is a Puppet-Master checkpoint, use Puppet-Master Loader"
// message (nodes/wrong_loader.py) as a toast when a core loader is queued with our weights; core's own
// error ("Could not detect model type") follows, and this toast says what to do about it.
import { api } from "../../scripts/api.js";
import { app } from "../../scripts/app.js";

const EVENT = "puppet_master.wrong_loader";

app.registerExtension({
  name: "PuppetMaster.WrongLoader",
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
