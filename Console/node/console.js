// The node console: renders the node's status report and its applied changes, both from the
// server-sent events of /events (EventSource reconnects by itself). No framework, no other host.
"use strict";

const MAX_CHANGES = 200;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

let last = null; // the last status report, and when it arrived (to age its timestamps)
let receivedAt = 0;

function text(id, value) {
  const element = $(id);
  if (element.textContent !== String(value)) element.textContent = String(value);
}

// Milliseconds on the node's clock now: the report carries the node's time.
function nodeNow() {
  return last ? last.time + (Date.now() - receivedAt) : Date.now();
}

function age(sinceMillis) {
  if (sinceMillis == null) return "—";
  let seconds = Math.max(0, Math.round((nodeNow() - sinceMillis) / 1000));
  if (seconds < 60) return seconds + " s";
  const minutes = Math.floor(seconds / 60);
  seconds %= 60;
  if (minutes < 60) return minutes + " min " + seconds + " s";
  return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
}

function clock(millis) {
  return new Date(millis).toLocaleTimeString();
}

function shortID(id) {
  return id.length > 12 ? id.slice(0, 8) + "…" : id;
}

function renderStatus(status) {
  last = status;
  receivedAt = Date.now();
  text("node-id", status.nodeId);
  document.title = "SyncLayer node " + shortID(status.nodeId);

  const up = status.link === "connected";
  const linkState = $("link-state");
  linkState.dataset.state = up ? "connected" : "disconnected";
  linkState.dataset.link = status.link;
  text("link-state", up ? "connected" : "disconnected");
  text("link-detail", up ? "" : "(" + status.link + ")");
  text("server-url", status.serverUrl || "none");
  text("dialect", status.backend ? status.backend.protocol + (status.backend.transport ? ", " + status.backend.transport : "") : "—");

  text("outbox-count", status.outbox + (status.outbox === 1 ? " change" : " changes"));
  $("outbox").dataset.count = status.outbox;

  const rows = $("collection-rows");
  rows.replaceChildren(...Object.entries(status.collections).map(([name, c]) => {
    const row = document.createElement("tr");
    row.className = "collection";
    row.dataset.collection = name;
    row.dataset.count = c.count;
    row.dataset.digest = c.digest;
    for (const [value, cls] of [[name, ""], [c.count, ""], [c.digest.slice(0, 16), "digest"]]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      if (cls) { cell.className = cls; cell.title = c.digest; }
      row.append(cell);
    }
    return row;
  }));
  renderMesh(status);
  renderAges();
}

function renderMesh(status) {
  const mesh = status.mesh;
  const peers = mesh ? mesh.peers : [];
  $("mesh").dataset.peers = peers.length;
  text("mesh-summary", mesh
    ? "team " + mesh.team + ", listening on port " + mesh.port + ", discovery " + mesh.discovery + ", " +
      peers.length + (peers.length === 1 ? " peer" : " peers")
    : "not on a mesh");

  $("peer-rows").replaceChildren(...peers.map((peer) => {
    const row = document.createElement("tr");
    row.className = "peer";
    row.dataset.nodeId = peer.nodeId;
    row.dataset.uplink = peer.uplink;
    row.dataset.encrypted = peer.encrypted;
    row.dataset.since = peer.since;
    const cells = [peer.nodeId, peer.address + " (" + peer.direction + ")", "", peer.encrypted ? "yes" : "no",
                   peer.uplink ? "reaches the server" : "no uplink", peer.changesSent, peer.changesReceived];
    cells.forEach((value, index) => {
      const cell = document.createElement("td");
      cell.textContent = value;
      if (index === 0) cell.className = "mono";
      if (index === 2) cell.className = "link-age";
      row.append(cell);
    });
    return row;
  }));
  drawGraph(status, peers);
}

// The mesh as this node sees it: itself in the middle, its peers around it, the server on top,
// a dashed line from each that reaches the server.
function drawGraph(status, peers) {
  const svg = $("mesh-graph");
  const width = 400, height = 300, cx = 200, cy = 175, radius = 95;
  const server = { x: cx, y: 30 };
  const self = { x: cx, y: cy };
  const spots = peers.map((peer, index) => {
    const angle = Math.PI / 2 + (2 * Math.PI * (index + 0.5)) / Math.max(peers.length, 1);
    return { peer, x: cx + radius * 1.6 * Math.cos(angle), y: cy + radius * 0.9 * Math.sin(angle) };
  });
  const parts = [];
  const line = (a, b, cls) => `<line class="${cls}" x1="${a.x}" y1="${a.y}" x2="${b.x}" y2="${b.y}"/>`;
  if (status.link === "connected") parts.push(line(self, server, "uplink"));
  for (const spot of spots) {
    if (spot.peer.uplink) parts.push(line(spot, server, "uplink"));
    parts.push(line(self, spot, "edge" + (spot.peer.encrypted ? " encrypted" : "")));
  }
  parts.push(`<g class="server" data-up="${status.link === "connected"}"><rect x="${server.x - 40}" y="${server.y - 14}" width="80" height="28" rx="4"/>` +
             `<text x="${server.x}" y="${server.y + 4}">server</text></g>`);
  for (const spot of spots) {
    parts.push(`<g class="peer-node" data-node-id="${escapeXML(spot.peer.nodeId)}"><circle cx="${spot.x}" cy="${spot.y}" r="22"/>` +
               `<text x="${spot.x}" y="${spot.y + 36}">${escapeXML(shortID(spot.peer.nodeId))}</text></g>`);
  }
  parts.push(`<g class="self"><circle cx="${self.x}" cy="${self.y}" r="30"/><text x="${self.x}" y="${self.y + 4}">this node</text></g>`);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.innerHTML = parts.join("");
}

function escapeXML(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// The parts that only age: redrawn every second without a new report.
function renderAges() {
  if (!last) return;
  text("link-since", age(last.linkSince) + " (" + clock(last.linkSince) + ")");
  text("outbox-oldest", last.outboxOldest == null ? "—" : age(last.outboxOldest) + " old");
  for (const row of document.querySelectorAll("#peer-rows .peer")) {
    const cell = row.querySelector(".link-age");
    const value = age(Number(row.dataset.since));
    if (cell.textContent !== value) cell.textContent = value;
  }
}

function addChange(change) {
  const item = document.createElement("li");
  item.className = "change";
  item.dataset.origin = change.origin;
  item.dataset.source = change.source;
  item.dataset.collection = change.collection;
  item.dataset.recordId = change.id;
  item.dataset.kind = change.kind;
  for (const [value, cls] of [[clock(change.time), "time"], [change.kind, "kind"],
                              [change.collection + "/" + change.id, "record"], [change.origin, "origin"]]) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = value;
    item.append(span);
  }
  const list = $("change-list");
  list.prepend(item);
  while (list.children.length > MAX_CHANGES) list.lastElementChild.remove();
}

function setFeed(state, label) {
  const feed = $("feed-state");
  feed.dataset.state = state;
  feed.textContent = label;
}

const events = new EventSource("/events");
events.addEventListener("open", () => setFeed("live", "live"));
events.addEventListener("error", () => setFeed("lost", "node unreachable, retrying…"));
events.addEventListener("status", (event) => renderStatus(JSON.parse(event.data)));
events.addEventListener("change", (event) => addChange(JSON.parse(event.data)));
setInterval(renderAges, 1000);
