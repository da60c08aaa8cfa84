// The live page: four views over the agent's /ui/api/*. Every text from the agent (container names,
// log lines, errors) goes into the page as textContent or an SVG text node, never as HTML.
const SVG = 'http://www.w3.org/2000/svg';
const POLL_MS = 1000;
const TAIL_LINES_SHOWN = 2000;
const TAIL_LINES_HELD_WHILE_PAUSED = 5000;
const EVENTS_SHOWN = 200;

const $ = (selector) => document.querySelector(selector);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined && value !== null) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

/** Sets a text only when it changed: a live region re-announces a text set again. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

async function getJson(path) {
  const response = await fetch(path, { cache: 'no-store', credentials: 'same-origin' });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// ---- formatting ---------------------------------------------------------------------------------

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** An ack lag: hundredths under 10 s, then as a duration. */
const seconds = (s) => (s === null || s === undefined ? '–' : s < 10 ? `${s.toFixed(2)} s` : duration(s));
const number = (n, digits = 1) => (n === null || n === undefined ? '–' : Number(n).toFixed(digits));
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

// ---- views and navigation -----------------------------------------------------------------------

const VIEWS = ['containers', 'pipeline', 'tail', 'events'];
let currentView = 'containers';

function showView() {
  const wanted = location.hash.slice(1);
  currentView = VIEWS.includes(wanted) ? wanted : 'containers';
  for (const view of VIEWS) $(`#view-${view}`).hidden = view !== currentView;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.dataset.view === currentView) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (currentView === 'events') events.connect();
}

// ---- sparklines ---------------------------------------------------------------------------------

/** An SVG sparkline of `values` (nulls skipped); data-points says how many points it draws. */
function sparkline(values, label, max) {
  const width = 72, height = 20;
  const chart = svg('svg', { class: 'spark', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label });
  const points = values.map((v, i) => [i, v]).filter(([, v]) => v !== null && v !== undefined);
  chart.dataset.points = String(points.length);
  if (points.length === 0) return chart;
  const top = Math.max(max ?? 0, ...points.map(([, v]) => v), 1e-9);
  const span = Math.max(values.length - 1, 1);
  const xy = points.map(([i, v]) => [(i / span) * (width - 2) + 1, height - 1 - (v / top) * (height - 2)]);
  if (xy.length === 1) chart.append(svg('circle', { cx: xy[0][0], cy: xy[0][1], r: 1.5 }));
  else chart.append(svg('polyline', { points: xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ') }));
  return chart;
}

// ---- containers ---------------------------------------------------------------------------------

const table = { key: 'name', direction: 1, rows: [] };

function sortValue(row, key) {
  const v = row[key];
  return v === null || v === undefined ? -Infinity : v;
}

function renderContainers() {
  const filter = $('#filter').value.trim().toLowerCase();
  const shown = table.rows
    .filter((c) => !filter || [c.name, c.image, c.state, c.health, c.id.slice(0, 12)].some((text) => text.toLowerCase().includes(filter)))
    .sort((a, b) => {
      const x = sortValue(a, table.key), y = sortValue(b, table.key);
      return (typeof x === 'string' && typeof y === 'string' ? x.localeCompare(y) : x < y ? -1 : x > y ? 1 : 0) * table.direction;
    });
  const body = $('#containers tbody');
  body.replaceChildren(...shown.map(containerRow));
  setText($('#container-count'), `${shown.length} of ${table.rows.length} containers`);
}

function containerRow(c) {
  const history = c.history;
  const memory = c.memory_limit_bytes ? `${bytes(c.memory_bytes)} / ${bytes(c.memory_limit_bytes)}` : bytes(c.memory_bytes);
  const follow = el('button', { type: 'button', 'aria-label': `Tail the log of ${c.name}` }, 'Tail');
  follow.addEventListener('click', () => { tail.select(c.id); location.hash = 'tail'; });
  return el('tr', { 'data-id': c.id, 'data-name': c.name },
    el('td', {}, c.name),
    el('td', {}, c.image),
    el('td', { class: `state-${c.state}` }, c.state),
    el('td', { class: `health-${c.health}` }, c.health),
    el('td', { class: 'num' }, duration(c.uptime_seconds)),
    el('td', { class: 'num' }, c.restarts),
    el('td', { class: 'num' }, c.oom_kills),
    el('td', { class: 'num' }, el('span', { class: 'cell' }, sparkline(history.map((p) => p.cpu), `CPU of ${c.name}, last 15 minutes`), number(c.cpu_percent))),
    el('td', { class: 'num' }, el('span', { class: 'cell' }, sparkline(history.map((p) => p.mem), `memory of ${c.name}, last 15 minutes`), memory)),
    el('td', { class: 'num' }, el('span', { class: 'cell' }, sparkline(history.map((p) => p.lines), `log lines per second of ${c.name}, last 15 minutes`), number(c.log_lines_per_second))),
    el('td', {}, follow),
  );
}

function setupSorting() {
  for (const th of document.querySelectorAll('#containers th[data-key]')) {
    th.querySelector('button').addEventListener('click', () => {
      const key = th.dataset.key;
      table.direction = table.key === key ? -table.direction : 1;
      table.key = key;
      for (const other of document.querySelectorAll('#containers th[data-key]')) other.removeAttribute('aria-sort');
      th.setAttribute('aria-sort', table.direction === 1 ? 'ascending' : 'descending');
      renderContainers();
    });
  }
  $('#filter').addEventListener('input', renderContainers);
}

/** Each container's points, kept here: each poll asks only for the points numbered after the last it got. */
const histories = { points: new Map(), seq: 0, epoch: 0 };

function mergeHistories(answer) {
  const known = new Set();
  for (const c of answer.containers) {
    known.add(c.id);
    const merged = (answer.full ? [] : histories.points.get(c.id) ?? []).concat(c.history);
    if (merged.length > answer.history_points) merged.splice(0, merged.length - answer.history_points);
    histories.points.set(c.id, merged);
    c.history = merged;
  }
  for (const id of histories.points.keys()) if (!known.has(id)) histories.points.delete(id);
  histories.seq = answer.seq;
  histories.epoch = answer.epoch;
}

async function refreshContainers() {
  const answer = await getJson(`/ui/api/containers?since=${histories.seq}&epoch=${histories.epoch}`);
  mergeHistories(answer);
  const containers = answer.containers;
  table.rows = containers;
  renderContainers();
  tail.updateChoices(containers);
}

// ---- pipeline -----------------------------------------------------------------------------------

let previousPipeline;

function rate(now, before, pick) {
  if (!before) return null;
  const seconds = (now.time - before.time) / 1000;
  if (seconds <= 0) return null;
  const a = pick(now), b = pick(before);
  return a === undefined || b === undefined ? null : Math.max(0, (a - b) / seconds);
}

function renderReadiness(p) {
  const banner = $('#readiness');
  banner.className = `readiness ${p.ready ? 'ok' : 'bad'}`;
  setText(banner, p.ready ? 'Ready' : `Not ready: ${p.not_ready.map((n) => n.component).join(', ')}`);
  const reason = $('#ready-reason');
  reason.className = `reason ${p.ready ? 'ok' : 'bad'}`;
  setText(reason, p.ready_reason);
}

function renderPipeline(p, before) {
  const find = (list, id) => list?.find((x) => x.id === id);
  const exporterRows = p.exporters.map((e) => {
    const lanes = Object.entries(e.lanes).map(([kind, l]) => `${kind}: ${l.queued}${l.capacity ? `/${l.capacity}` : ''}${l.queued_bytes !== null ? ` (${bytes(l.queued_bytes)})` : ''}${l.spill_bytes ? `, spilled ${bytes(l.spill_bytes)}` : ''}, lag ${seconds(l.ack_lag_seconds)}`).join('; ');
    return el('tr', { 'data-exporter': e.id },
      el('th', { scope: 'row' }, e.id),
      el('td', { class: e.healthy ? 'ok' : 'bad' }, e.healthy ? 'healthy' : `not healthy: ${e.reason}`),
      el('td', { class: 'num' }, number(rate(p, before, (x) => find(x.exporters, e.id)?.records_in))),
      el('td', { class: 'num' }, number(rate(p, before, (x) => find(x.exporters, e.id)?.records_out))),
      el('td', {}, lanes),
      el('td', { class: 'num' }, e.in_flight),
      el('td', { class: 'num' }, e.retries),
      el('td', { class: 'num' }, e.dead_lettered),
      el('td', { class: 'num' }, e.dropped),
      el('td', {}, e.last_error ?? '–'),
    );
  });
  $('#exporters tbody').replaceChildren(...exporterRows);
  $('#collectors tbody').replaceChildren(...p.collectors.map((c) => el('tr', {},
    el('th', { scope: 'row' }, c.id),
    el('td', {}, c.kinds.join(', ') || '–'),
    el('td', { class: c.running ? 'ok' : 'bad' }, c.running ? 'running' : c.status.reason ?? c.status.failed ?? 'not running'),
    el('td', { class: 'num' }, number(rate(p, before, (x) => find(x.collectors, c.id)?.emitted))),
    el('td', {}, c.last_error ?? '–'),
  )));
  $('#ack-lag').textContent = p.ack_lag_seconds === null ? 'no logs collector' : `${number(p.ack_lag_seconds, 2)} s`;
  drawGraph(p, before);
}

/** Collectors on the left, one box per exporter lane in the middle, exporters on the right. */
function drawGraph(p, before) {
  const graph = $('#graph');
  const title = graph.querySelector('title');
  graph.replaceChildren(title);
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#555' }));
  defs.append(marker);
  graph.append(defs);

  const boxW = 300, boxH = 80, gap = 14, columns = [20, 400, 780];
  const lanes = p.exporters.flatMap((e) => Object.entries(e.lanes).map(([kind, lane]) => ({ exporter: e, kind, lane })));
  const rows = Math.max(p.collectors.length, lanes.length, p.exporters.length, 1);
  const height = rows * (boxH + gap) + gap;
  graph.setAttribute('viewBox', `0 0 1100 ${height}`);
  const y = (i, count) => gap + i * (boxH + gap) + ((rows - count) * (boxH + gap)) / 2;
  const find = (list, id) => list?.find((x) => x.id === id);

  const node = (x, top, classes, lines, id) => {
    const g = svg('g', { class: `node ${classes}`, transform: `translate(${x},${top})`, ...(id ? { 'data-node': id } : {}) });
    const tip = svg('title');
    tip.textContent = lines.filter(Boolean).join('\n');
    g.append(tip, svg('rect', { width: boxW, height: boxH, rx: 6 }));
    lines.forEach((text, i) => {
      const t = svg('text', { x: 10, y: 18 + i * 16, class: i === 0 ? 'title' : '' });
      t.textContent = text.length > 44 ? `${text.slice(0, 43)}…` : text;
      g.append(t);
    });
    graph.append(g);
    return { x, top };
  };
  const edge = (from, to) => graph.insertBefore(svg('path', { class: 'edge', d: `M${from.x + boxW},${from.top + boxH / 2} C${from.x + boxW + 50},${from.top + boxH / 2} ${to.x - 50},${to.top + boxH / 2} ${to.x - 2},${to.top + boxH / 2}` }), defs.nextSibling);

  const collectorAt = new Map();
  p.collectors.forEach((c, i) => {
    const out = rate(p, before, (x) => find(x.collectors, c.id)?.emitted);
    collectorAt.set(c.id, { c, at: node(columns[0], y(i, p.collectors.length), c.running ? (c.kinds.length ? '' : 'idle') : 'idle', [`collector ${c.id}`, c.kinds.length ? `${c.kinds.join(', ')} · out ${number(out)}/s` : String(c.status.reason ?? 'not run'), c.last_error ? `error: ${c.last_error}` : ''], `collector:${c.id}`) });
  });
  const exporterAt = new Map();
  p.exporters.forEach((e, i) => {
    const out = rate(p, before, (x) => find(x.exporters, e.id)?.records_out);
    const inRate = rate(p, before, (x) => find(x.exporters, e.id)?.records_in);
    exporterAt.set(e.id, node(columns[2], y(i, p.exporters.length), e.healthy ? '' : 'bad', [
      `exporter ${e.id}`,
      `${e.healthy ? 'healthy' : 'NOT HEALTHY'} · in ${number(inRate)}/s · out ${number(out)}/s`,
      `retries ${e.retries} · dead letters ${e.dead_lettered} · dropped ${e.dropped}`,
      e.healthy ? '' : e.reason,
    ], `exporter:${e.id}`));
  });
  lanes.forEach(({ exporter, kind, lane }, i) => {
    const failing = lane.consecutive_failures > 0;
    const laneBefore = (x) => find(x.exporters, exporter.id)?.lanes[kind];
    const laneIn = rate(p, before, (x) => laneBefore(x)?.records_in);
    const laneOut = rate(p, before, (x) => laneBefore(x)?.records_out);
    const at = node(columns[1], y(i, lanes.length), failing ? 'bad' : '', [
      `${exporter.id} · ${kind} lane`,
      `in ${number(laneIn)}/s · out ${number(laneOut)}/s${failing ? ` · ${lane.consecutive_failures} failures` : ''}`,
      `queued ${lane.queued}${lane.capacity ? `/${lane.capacity}` : ''}${lane.queued_bytes !== null ? ` · ${bytes(lane.queued_bytes)}` : ''} · in flight ${lane.in_flight}${lane.spill_bytes ? ` · spilled ${bytes(lane.spill_bytes)}` : ''}`,
      `ack lag ${seconds(lane.ack_lag_seconds)}`,
    ], `lane:${exporter.id}:${kind}`);
    for (const { c, at: from } of collectorAt.values()) if (c.kinds.includes(kind)) edge(from, at);
    edge(at, exporterAt.get(exporter.id));
  });
}

async function refreshPipeline() {
  const p = await getJson('/ui/api/pipeline');
  renderReadiness(p);
  renderPipeline(p, previousPipeline);
  previousPipeline = p;
}

// ---- live tail ----------------------------------------------------------------------------------

/** A batch as the agent sends it ({t, m: messages, e: indexes of stderr lines}) as lines. */
function unpackLines(batch) {
  const stderr = new Set(batch.e);
  return batch.m.map((message, i) => ({ t: batch.t, stream: stderr.has(i) ? 'stderr' : 'stdout', message }));
}

const tail = {
  source: undefined,
  container: '',
  paused: false,
  held: [],
  skipped: 0,

  updateChoices(containers) {
    const select = $('#tail-container');
    const known = new Set([...select.options].map((o) => o.value));
    for (const c of containers) {
      if (!known.has(c.id)) select.append(el('option', { value: c.id }, `${c.name} (${c.state})`));
    }
    if (this.container && select.value !== this.container) select.value = this.container;
  },

  select(id) {
    $('#tail-container').value = id;
    this.follow(id);
  },

  follow(id) {
    this.source?.close();
    this.source = undefined;
    this.container = id;
    this.held = [];
    this.skipped = 0;
    $('#tail').replaceChildren();
    if (!id) { this.status('Choose a container to follow its log.'); return; }
    const source = new EventSource(`/ui/api/tail?container=${encodeURIComponent(id)}`);
    this.source = source;
    source.addEventListener('open', () => this.status(this.paused ? 'Paused' : 'Following: new lines appear as the agent reads them.'));
    source.addEventListener('lines', (message) => this.receive(unpackLines(JSON.parse(message.data))));
    source.addEventListener('dropped', (message) => {
      source.close();
      this.note(`The agent stopped this tail: ${JSON.parse(message.data).reason}`);
      this.status('Stopped (this page fell behind). Choose the container again to follow.');
    });
    source.addEventListener('error', () => { if (source.readyState === EventSource.CONNECTING) this.status('Connection lost; reconnecting…'); });
  },

  receive(lines) {
    if (this.paused) {
      this.held.push(...lines);
      const over = this.held.length - TAIL_LINES_HELD_WHILE_PAUSED;
      if (over > 0) { this.held.splice(0, over); this.skipped += over; }
      this.status(`Paused: ${this.held.length} lines held${this.skipped ? `, ${this.skipped} skipped` : ''}.`);
      return;
    }
    this.show(lines);
  },

  show(lines) {
    const list = $('#tail');
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    const fragment = document.createDocumentFragment();
    for (const line of lines) {
      const item = el('li', { class: line.stream }, el('time', { datetime: new Date(Number(line.t)).toISOString() }, clock(Number(line.t))));
      item.append(document.createTextNode(line.message));
      fragment.append(item);
    }
    list.append(fragment);
    while (list.childElementCount > TAIL_LINES_SHOWN) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  },

  note(text) {
    $('#tail').append(el('li', { class: 'note' }, text));
  },

  togglePause() {
    this.paused = !this.paused;
    const button = $('#tail-pause');
    button.setAttribute('aria-pressed', String(this.paused));
    button.textContent = this.paused ? 'Resume' : 'Pause';
    if (!this.paused) {
      if (this.skipped) this.note(`${this.skipped} lines skipped while paused`);
      this.show(this.held.splice(0));
      this.skipped = 0;
      this.status(this.container ? 'Following.' : '');
    } else this.status('Paused.');
  },

  status(text) {
    setText($('#tail-state'), text);
  },
};

// ---- events -------------------------------------------------------------------------------------

const events = {
  source: undefined,
  connect() {
    if (this.source) return;
    this.source = new EventSource('/ui/api/events');
    this.source.addEventListener('events', (message) => this.add(JSON.parse(message.data)));
  },
  add(list) {
    const body = $('#events tbody');
    for (const e of list) {
      body.prepend(el('tr', {}, el('td', {}, el('time', { datetime: new Date(e.t).toISOString() }, clock(e.t))), el('td', {}, e.type), el('td', {}, e.action), el('td', {}, e.name), el('td', {}, e.id.slice(0, 12))));
    }
    while (body.childElementCount > EVENTS_SHOWN) body.lastElementChild.remove();
  },
};

// ---- start --------------------------------------------------------------------------------------

async function poll() {
  if (document.visibilityState !== 'hidden') {
    const results = await Promise.allSettled([refreshContainers(), refreshPipeline()]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      const banner = $('#readiness');
      banner.className = 'readiness unknown';
      setText(banner, `Cannot read the agent: ${failed.reason.message}`);
    }
  }
  setTimeout(poll, POLL_MS);
}

function start() {
  setupSorting();
  $('#tail-container').addEventListener('change', (e) => tail.follow(e.target.value));
  $('#tail-pause').addEventListener('click', () => tail.togglePause());
  $('#tail-clear').addEventListener('click', () => $('#tail').replaceChildren());
  window.addEventListener('hashchange', showView);
  showView();
  events.connect();
  poll();
}

start();
