// The devices panel: this device's comparison code, and sharing the encrypted sessions
// this device can open with another paired device (one paired later cannot read them
// until a device or the host that holds their keys shares them).
//
// The relay lists the devices and their public keys, and a hostile relay could list a
// key of its own under another device's name. So a share goes only to a key whose code
// the person has compared with the code the other device shows from the key it holds
// itself (docs/encryption.md, "A device grants another").

import { esc, plural } from "../dom.js";
import { fingerprint } from "../e2e.js";

export class DevicesPanel {
  // store: the page's Store (its relay, its vault with this device's key, who we are)
  constructor(box, store) {
    this.box = box;
    this.store = store;
    this.devices = [];
    this.codes = new Map(); // device id -> its code, from the key the relay lists
    this.mine = "";
    this.comparing = null; // the device id whose code is being compared
    this.message = "";
    this.busy = false;
    box.addEventListener("click", this.onClick);
  }

  get device() { return this.store.vault.device; }

  get canShare() { return ["client", "admin"].includes(this.store.me?.scope); }

  async open() {
    this.comparing = null;
    this.message = "";
    this.box.hidden = false;
    this.render();
    try {
      const { devices } = await this.store.relay.call("GET", "/devices");
      this.devices = devices.filter((d) => d.public_key && !d.revoked_at);
      for (const d of this.devices) this.codes.set(d.id, await fingerprint(d.public_key));
      this.mine = this.device ? await fingerprint(this.device.publicKey) : "";
    } catch (err) {
      this.message = `Could not list the devices: ${err.message}`;
    }
    this.render();
  }

  render() {
    const me = this.device;
    const others = this.devices.filter((d) => !me || d.id !== me.id);
    let body;
    if (!me) {
      body = `<p>This browser was signed in with a token, not paired with <code>tether pair</code>:
      it holds no device key, so it has no sessions to share and none can be shared with it.</p>`;
    } else {
      const name = this.devices.find((d) => d.id === me.id)?.name || "this device";
      body = `<p>This device is <strong>${esc(name)}</strong>. Its code:</p>
      <p><code class="device-code" id="my-code">${esc(this.mine)}</code></p>
      <p class="muted">A device that shares its sessions with this one shows the same code for it; compare the two.</p>`;
      if (this.comparing) body += this.confirmation(this.devices.find((d) => d.id === this.comparing));
      else if (others.length) {
        const rows = others.map((d) => `<li class="device-row" data-device="${esc(d.id)}">
          <span>${esc(d.name)} <span class="muted">(${esc(d.scope)})</span></span>
          ${this.canShare ? `<button type="button" class="btn small" data-share="${esc(d.id)}"${this.busy ? " disabled" : ""}>Share sessions</button>` : ""}
        </li>`).join("");
        body += `<h3>Other paired devices</h3><ul class="device-list">${rows}</ul>`;
        if (!this.canShare) body += `<p class="muted">A viewer token cannot share sessions.</p>`;
      }
    }
    this.box.innerHTML = `<h2>Devices</h2>${body}
    <p class="devices-message" role="status">${esc(this.message)}</p>
    <button type="button" class="btn small" data-devices="close">Close</button>`;
  }

  confirmation(device) {
    if (!device) return "";
    return `<div class="share-confirm" data-for="${esc(device.id)}">
      <p>On <strong>${esc(device.name)}</strong>, open Devices. Share only if it shows exactly this code:</p>
      <p><code class="device-code" data-code-for="${esc(device.id)}">${esc(this.codes.get(device.id) || "")}</code></p>
      <p class="muted">A different code means the key the relay lists under that name is not the
      device's own: do not share, and pair it again.</p>
      <button type="button" class="btn primary" data-confirm="${esc(device.id)}"${this.busy ? " disabled" : ""}>The codes match: share</button>
      <button type="button" class="btn small" data-cancel>Cancel</button>
    </div>`;
  }

  async share(device) {
    this.busy = true;
    this.message = "Sharing…";
    this.render();
    try {
      const done = await this.store.vault.grantTo(this.store.relay, device);
      const bits = [`Shared ${plural(done.granted.length, "session")} with ${device.name}`];
      if (done.had.length) bits.push(`${done.had.length} it could already open`);
      if (done.skipped.length) bits.push(`${done.skipped.length} this device cannot open`);
      this.message = `${bits.join("; ")}.`;
      this.comparing = null;
    } catch (err) {
      this.message = `Sharing failed: ${err.message}`;
    }
    this.busy = false;
    this.render();
  }

  onClick = (e) => {
    const button = e.target.closest("button");
    if (!button || this.busy) return;
    if (button.dataset.devices === "close") this.box.hidden = true;
    else if (button.dataset.share) { this.comparing = button.dataset.share; this.message = ""; this.render(); }
    else if ("cancel" in button.dataset) { this.comparing = null; this.render(); }
    else if (button.dataset.confirm) {
      const device = this.devices.find((d) => d.id === button.dataset.confirm);
      if (device) this.share(device);
    }
  };
}
