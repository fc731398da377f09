// An incremental Server-Sent Events parser (the text/event-stream format), for streams
// read with fetch(). Unlike EventSource it reports each event's own `id:` (null when the
// event has none), because the relay's pings and pending-request snapshot carry no cursor.

export class SSEParser {
  constructor() {
    this.buffer = "";
    this.reset();
  }

  reset() {
    this.event = "message";
    this.data = [];
    this.id = null;
    this.hasFields = false;
  }

  // Feed decoded text; returns the events completed by it: [{event, data, id}].
  push(text) {
    this.buffer += text;
    const out = [];
    const breaks = /\r\n|\r|\n/g;
    let start = 0;
    let match;
    while ((match = breaks.exec(this.buffer)) !== null) {
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (match[0] === "\r" && match.index + 1 === this.buffer.length) break;
      this.line(this.buffer.slice(start, match.index), out);
      start = match.index + match[0].length;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  line(line, out) {
    if (line === "") {
      if (this.hasFields && this.data.length) {
        out.push({ event: this.event, data: this.data.join("\n"), id: this.id });
      }
      this.reset();
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    this.hasFields = true;
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
  }
}
