// The notifications panel: turn push notifications on or off for this device, choose
// which events notify, and quiet mode (delivered without sound or vibration).

import { esc } from "../dom.js";
import { PUSH_EVENTS } from "../protocol.js";
import { disablePush, enablePush, pushSupported, saveSettings } from "../push.js";

const LABELS = {
  permission: "A permission request waits for an answer (with Allow and Deny)",
  turn: "The agent finished a turn",
  ended: "A session ended or crashed",
};

export class NotificationsPanel {
  // state: { relay, device (the relay's record of this device, or null) }
  constructor(box, state, onChange) {
    this.box = box;
    this.state = state;
    this.onChange = onChange;
    this.message = "";
    this.busy = false;
    box.addEventListener("click", this.onClick);
    box.addEventListener("change", this.onSettings);
  }

  render() {
    const device = this.state.device;
    let body;
    if (!pushSupported()) {
      body = `<p>This browser cannot receive push notifications here. On a phone, install
      tether to the home screen (Share → Add to Home Screen on iOS) over HTTPS, then open it from there.</p>`;
    } else if (!device) {
      body = `<p>Get notified on this device even when tether is closed.</p>
      <button type="button" class="btn primary" data-push="on"${this.busy ? " disabled" : ""}>Turn on notifications</button>`;
    } else {
      const checks = PUSH_EVENTS.map((e) => `<label class="check"><input type="checkbox" name="event" value="${esc(e)}"${device.events.includes(e) ? " checked" : ""}> ${esc(LABELS[e] || e)}</label>`).join("");
      body = `<fieldset><legend>Notify me when</legend>${checks}</fieldset>
      <label class="check"><input type="checkbox" name="quiet"${device.quiet ? " checked" : ""}> Quiet: no sound or vibration</label>
      <button type="button" class="btn small" data-push="off"${this.busy ? " disabled" : ""}>Turn off on this device</button>`;
    }
    this.box.innerHTML = `<h2>Notifications</h2>${body}
    <p class="push-message" role="status">${esc(this.message)}</p>
    <button type="button" class="btn small" data-push="close">Close</button>`;
  }

  async act(work) {
    this.busy = true;
    this.message = "";
    this.render();
    try {
      await work();
    } catch (err) {
      this.message = err.message || String(err);
    }
    this.busy = false;
    this.render();
    this.onChange(this.state.device);
  }

  onClick = (e) => {
    const button = e.target.closest("[data-push]");
    if (!button) return;
    const what = button.dataset.push;
    const relay = this.state.relay;
    if (what === "close") this.box.hidden = true;
    else if (what === "on") this.act(async () => { this.state.device = await enablePush(relay); });
    else if (what === "off") this.act(async () => { await disablePush(relay); this.state.device = null; });
  };

  onSettings = () => {
    const device = this.state.device;
    if (!device) return;
    const events = [...this.box.querySelectorAll("input[name=event]:checked")].map((i) => i.value);
    const quiet = this.box.querySelector("input[name=quiet]").checked;
    this.act(async () => { this.state.device = await saveSettings(this.state.relay, device, { events, quiet }); this.message = "Saved."; });
  };
}
