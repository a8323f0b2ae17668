// IncidentLog mission dashboard. Plain JavaScript, no build step, no network beyond the node.
//
// Data (docs/DASHBOARD.md): /api/v1/overview (every sector and the mission, freshness, held
// events), /api/v1/sectors/{s} (the selected sector), /api/v1/incidents (the list and the map),
// /api/v1/sectors/{s}?since=D&until=D or /api/v1/overview?since=D&until=D per day (the chart),
// /api/v1/incidents/{id} and /api/v1/events/{id} (the incident page), /api/v1/stream (live).
// The page never reloads: a `view` message of the stream refetches the figures, a stored
// incident event the list, map and the chart's days it touches, and again once a `view` says
// the views have folded it (`stored` comes first: a fetch at once may miss the event); each at
// a bounded rate.
//
// The URL fragment holds the page's place: #scope=east&incident=ID&stale=3600&token=T. A token
// given there is kept in localStorage and taken out of the address bar; it is sent as
// `Authorization: Bearer` (the stream, which cannot send headers, gets `?access_token=`).
//
// Every figure of a view is written by fig(), with data-scope (mission or a sector) and
// data-figure (its path in the view), which Tests/Browser/dashboard_check.py compares with
// `incidentctl sector --json` and `overview --json`. Text from events goes through esc().
'use strict';
(() => {
  const CATEGORIES = ['ied', 'indirect_fire', 'ambush', 'complex_attack', 'suicide_attack', 'armed_clash', 'attack_on_civilians', 'abduction', 'crime', 'protest', 'other'];
  const CATEGORY_COLORS = ['#e5534b', '#f0883e', '#d29922', '#db61a2', '#ff7b72', '#a371f7', '#f778ba', '#79c0ff', '#8b949e', '#56d364', '#6e7681'];
  const GROUPS = ['peacekeepers', 'national_forces', 'civilians', 'armed_groups', 'other'];
  const KINDS = ['killed', 'wounded', 'missing'];
  const KIND_COLORS = { killed: '#e5534b', wounded: '#d29922', missing: '#8b949e' };
  const STATIONS = ['open', 'secured', 'closed', 'could_not_open', 'attacked'];
  const STATION_COLORS = { open: '#3fb27f', secured: '#4fa3e0', closed: '#8b949e', could_not_open: '#d29922', attacked: '#e5534b' };
  const SIGHTINGS = ['possible_ied', 'armed_group_movement', 'suspicious_vehicle', 'other'];
  const SECTOR_COLORS = ['#4fa3e0', '#f0883e', '#3fb27f', '#db61a2', '#d29922', '#a371f7', '#79c0ff'];
  const CHART_DAYS = 14;
  const PAGE = 100;
  const DAY = 86400000;

  const $ = (id) => document.getElementById(id);
  const state = {
    token: null, scope: 'mission', range: 'all', staleSeconds: 3600,
    overview: null, overviewAt: 0, sector: null, sectors: [],
    rows: [], total: 0, cursor: null, filters: {},
    days: new Map(), dirtyDays: new Set(), chartEnd: null,
    stream: null, lastEventId: null, feed: [],
    // Set by a stored incident event: the list, the map and `days` of the chart are fetched
    // again once the views have folded up to `offset` (`refetchAfterFold`).
    afterFold: null,
  };

  // ---- formatting -------------------------------------------------------------------------

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const label = (name) => String(name).replace(/_/g, ' ');
  const num = (v) => (v === null || v === undefined ? '–' : typeof v === 'number' ? String(v) : String(v));
  const at = (obj, path) => path.split('.').reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n) => String(n).padStart(2, '0');
  function when(value) {
    const d = typeof value === 'number' ? new Date(value) : new Date(value);
    if (isNaN(d)) return '–';
    return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}Z`;
  }
  const hlcTime = (hlc) => when(Number(String(hlc).split('-')[0]));
  function age(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 90) return `${s} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))}`;
    return `${Math.floor(s / 86400)} d`;
  }
  const dayKey = (ms) => new Date(ms).toISOString().slice(0, 10);

  /** A figure of the view `body` at `path`, marked for the browser test. */
  function fig(scope, body, path, cls) {
    const v = at(body, path);
    return `<b data-scope="${esc(scope)}" data-figure="${esc(path)}"${cls ? ` class="${cls}"` : ''}>${esc(num(v))}</b>`;
  }

  // ---- the URL fragment and the token ------------------------------------------------------

  function fragment() { return new URLSearchParams(location.hash.slice(1)); }
  function go(changes) {
    const p = fragment();
    for (const [k, v] of Object.entries(changes)) { if (v === null || v === undefined || v === '') p.delete(k); else p.set(k, v); }
    location.hash = p.toString();
  }
  function readFragment() {
    const p = fragment();
    if (p.has('token')) {
      try { localStorage.setItem('incidentlog.token', p.get('token')); } catch (e) { /* private mode: keep it for this page only */ }
      state.token = p.get('token');
      p.delete('token');
      history.replaceState(null, '', `${location.pathname}${location.search}${p.toString() ? '#' + p : ''}`);
    }
    if (!state.token) { try { state.token = localStorage.getItem('incidentlog.token'); } catch (e) { state.token = null; } }
    const stale = Number(p.get('stale'));
    if (stale > 0) state.staleSeconds = stale;
    return p;
  }

  // ---- the API ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) { super(`${code}: ${message}`); this.status = status; this.code = code; }
  }
  async function api(path) {
    const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
    let response;
    try { response = await fetch(path, { headers, cache: 'no-store' }); } catch (e) { throw new ApiError(0, 'unreachable', 'the node does not answer'); }
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok || !body || body.ok !== true) {
      const error = (body && body.error) || {};
      throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || response.statusText);
    }
    return body;
  }
  function rangeQuery() {
    if (state.range === 'all') return '';
    const since = new Date(Date.now() - Number(state.range) * DAY).toISOString().replace(/\.\d+Z$/, 'Z');
    return `since=${encodeURIComponent(since)}`;
  }
  const withQuery = (path, q) => (q ? `${path}?${q}` : path);
  function banner(error) {
    const b = $('banner');
    if (!error) { b.hidden = true; return; }
    b.hidden = false;
    b.textContent = error.status === 401 || error.status === 403
      ? `The node refused the dashboard (${error.code}). Open it with #token=YOUR_TOKEN at the end of the address.`
      : `The node did not answer: ${error.message}`;
  }

  /** Runs `task` at most once per `interval` ms, never twice at once; calls while it runs queue one more run. */
  function throttled(task, interval) {
    let running = false, again = false, last = 0, timer = null;
    async function run() {
      timer = null;
      if (running) { again = true; return; }
      running = true; again = false; last = Date.now();
      try { await task(); banner(null); } catch (e) { banner(e); }
      running = false;
      if (again) kick();
    }
    function kick() {
      if (running) { again = true; return; }
      if (timer) return;
      timer = setTimeout(run, Math.max(0, last + interval - Date.now()));
    }
    return kick;
  }

  // ---- figures: overview and the selected sector -------------------------------------------

  async function loadFigures() {
    const q = rangeQuery();
    const scope = state.scope;
    const [overview, sector] = await Promise.all([
      api(withQuery('/api/v1/overview', q)),
      scope === 'mission' ? null : api(withQuery(`/api/v1/sectors/${encodeURIComponent(scope)}`, q)),
    ]);
    state.overview = overview;
    state.overviewAt = Date.now();
    state.sectors = overview.view.sectors.map((s) => s.sector);
    state.sector = sector;
    renderScopes();
    renderFigures();
    renderFreshness();
    $('asof').textContent = `as of ${when(overview.as_of)}`;
    document.body.dataset.renders = String(Number(document.body.dataset.renders) + 1);
  }

  function scopeBody() {
    if (state.scope === 'mission') return state.overview.view.mission;
    return state.sector ? state.sector.view : null;
  }

  function renderScopes() {
    const nav = $('scopes');
    const names = ['mission', ...state.sectors];
    if (nav.dataset.names !== names.join(',')) {
      nav.innerHTML = names.map((n) => `<button type="button" data-scope-button="${esc(n)}">${esc(n)}</button>`).join('');
      nav.dataset.names = names.join(',');
    }
    for (const b of nav.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.scopeButton === state.scope));
  }

  function renderFigures() {
    const body = scopeBody();
    if (!body) return;
    const s = state.scope;
    const kpi = (path, name, alertWhen) => `<div class="kpi${alertWhen && alertWhen(at(body, path)) ? ' alert' : ''}">${fig(s, body, path)}<span>${name}</span></div>`;
    $('kpis').innerHTML = [
      kpi('incidents.total', 'incidents'), kpi('incidents.open', 'open'),
      kpi('casualties.total.killed', 'killed'), kpi('casualties.total.wounded', 'wounded'), kpi('casualties.total.missing', 'missing'),
      kpi('casualties.disputed_count', 'disputed figures', (v) => v > 0),
      kpi('medevac.open', 'medevacs open', (v) => v > 0),
      kpi('election.consignments.outstanding', 'consignments outstanding'),
      kpi('polling_stations.attacked', 'stations attacked', (v) => v > 0),
      kpi('intel.total', 'sightings'),
    ].join('');

    const cats = CATEGORIES.filter((c) => at(body, `incidents.by_category.${c}.total`) > 0);
    $('by-category').innerHTML = cats.length === 0 ? '<p class="dim">No incidents.</p>' : `<table><thead><tr><th>category</th><th>total</th><th>open</th></tr></thead><tbody>${
      cats.map((c) => `<tr><td><span class="dot" style="background:${CATEGORY_COLORS[CATEGORIES.indexOf(c)]}"></span>${esc(label(c))}</td><td>${fig(s, body, `incidents.by_category.${c}.total`)}</td><td>${fig(s, body, `incidents.by_category.${c}.open`)}</td></tr>`).join('')
    }</tbody></table>`;

    renderCasualties(s, body);
    const m = body.medevac;
    $('medevac').innerHTML = `<div class="figures">
      <div>${fig(s, body, 'medevac.requested')}<span>requested</span></div>
      <div>${fig(s, body, 'medevac.dispatched')}<span>dispatched</span></div>
      <div>${fig(s, body, 'medevac.completed')}<span>completed</span></div>
      <div class="${m.open > 0 ? 'alert' : ''}">${fig(s, body, 'medevac.open')}<span>still open</span></div></div>
      <table><thead><tr><th>request → dispatch</th><th>median</th><th>p90</th><th>max</th><th>of</th></tr></thead>
      <tbody><tr><td>minutes</td><td>${fig(s, body, 'medevac.request_to_dispatch_minutes.median')}</td><td>${fig(s, body, 'medevac.request_to_dispatch_minutes.p90')}</td><td>${fig(s, body, 'medevac.request_to_dispatch_minutes.max')}</td><td>${fig(s, body, 'medevac.request_to_dispatch_minutes.count')}</td></tr></tbody></table>`;

    const e = body.election;
    const items = [...new Set([...Object.keys(e.items_dispatched), ...Object.keys(e.items_delivered)])].sort();
    $('election').innerHTML = `<div class="figures">
      <div>${fig(s, body, 'election.consignments.dispatched')}<span>consignments dispatched</span></div>
      <div>${fig(s, body, 'election.consignments.delivered')}<span>delivered</span></div>
      <div class="${e.consignments.outstanding > 0 ? 'alert' : ''}">${fig(s, body, 'election.consignments.outstanding')}<span>outstanding</span></div>
      <div>${fig(s, body, 'election.personnel_moved.people')}<span>staff moved (${fig(s, body, 'election.personnel_moved.movements')} moves)</span></div></div>
      ${items.length ? `<table><thead><tr><th>item</th><th>dispatched</th><th>delivered</th><th>outstanding</th></tr></thead><tbody>${items.map((i) => {
        const out = Number(e.items_dispatched[i] || 0) - Number(e.items_delivered[i] || 0);
        return `<tr><td>${esc(label(i))}</td><td>${fig(s, body, `election.items_dispatched.${i}`)}</td><td>${fig(s, body, `election.items_delivered.${i}`)}</td><td>${out}</td></tr>`;
      }).join('')}</tbody></table>` : ''}`;

    $('polling').innerHTML = bars(s, body, STATIONS.map((k) => [k, `polling_stations.${k}`, STATION_COLORS[k]]), 'polling_stations.total', 'stations');
    $('intel').innerHTML = bars(s, body, SIGHTINGS.map((k) => [k, `intel.sightings.${k}`, '#4fa3e0']), 'intel.total', 'sightings');
    renderSectors();
  }

  function bars(s, body, rows, totalPath, noun) {
    const max = Math.max(1, ...rows.map(([, p]) => at(body, p) || 0));
    return `<div class="bars">${rows.map(([name, path, color]) => `<span>${esc(label(name))}</span><div class="bar" style="width:${(100 * (at(body, path) || 0)) / max}%;background:${color}"></div>${fig(s, body, path)}`).join('')}</div>
      <p class="dim">${fig(s, body, totalPath)} ${noun} in all</p>`;
  }

  function renderCasualties(s, body) {
    const c = body.casualties;
    const rows = GROUPS.map((g) => `<tr><td>${esc(label(g))}</td>${KINDS.map((k) => `<td>${fig(s, body, `casualties.groups.${g}.${k}`)}</td>`).join('')}</tr>`).join('');
    const disputed = c.disputed.map((d) => `<li><a href="#${esc(new URLSearchParams({ ...Object.fromEntries(fragment()), incident: d.incident_id }))}">${esc(d.incident_id.slice(0, 8))}</a> ${esc(d.sector)}: ${
      d.reports.map((r) => `${esc(r.origin)}: ${esc(KINDS.map((k) => `${GROUPS.reduce((n, g) => n + (r.counts[g] ? r.counts[g][k] : 0), 0)} ${k}`).join(', '))}${r.event === d.figure ? ' (counted)' : ''}`).join(' · ')}</li>`).join('');
    $('casualties').innerHTML = `<table><thead><tr><th>group</th><th>killed</th><th>wounded</th><th>missing</th></tr></thead><tbody>${rows}</tbody>
      <tfoot><tr><th>total</th>${KINDS.map((k) => `<th>${fig(s, body, `casualties.total.${k}`)}</th>`).join('')}</tr></tfoot></table>
      <p class="${c.disputed_count > 0 ? 'disputed' : 'dim'}">${fig(s, body, 'casualties.disputed_count')} incident(s) with disputed figures: the offices' latest reports differ; the latest report overall is counted.</p>
      ${disputed ? `<ul class="disputed">${disputed}</ul>` : ''}`;
    if (charts.casualties) {
      charts.casualties.data.labels = GROUPS.map(label);
      charts.casualties.data.datasets = KINDS.map((k) => ({ label: k, data: GROUPS.map((g) => c.groups[g][k]), backgroundColor: KIND_COLORS[k] }));
      charts.casualties.update('none');
    }
  }

  const SECTOR_ROWS = [
    ['incidents', 'incidents.total'], ['open', 'incidents.open'], ['killed', 'casualties.total.killed'], ['wounded', 'casualties.total.wounded'],
    ['missing', 'casualties.total.missing'], ['disputed', 'casualties.disputed_count'], ['medevac requested', 'medevac.requested'],
    ['medevac open', 'medevac.open'], ['median min to dispatch', 'medevac.request_to_dispatch_minutes.median'],
    ['consignments outstanding', 'election.consignments.outstanding'], ['stations attacked', 'polling_stations.attacked'], ['sightings', 'intel.total'],
  ];
  function renderSectors() {
    const v = state.overview.view;
    const cols = [...v.sectors.map((b) => [b.sector, b]), ['mission', v.mission]];
    $('sectors').innerHTML = `<table><thead><tr><th></th>${cols.map(([n]) => `<th data-scope-button="${esc(n)}">${esc(n)}</th>`).join('')}</tr></thead><tbody>${
      SECTOR_ROWS.map(([name, path]) => `<tr><td>${esc(name)}</td>${cols.map(([n, b]) => `<td>${fig(n, b, path)}</td>`).join('')}</tr>`).join('')
    }</tbody></table>`;
  }

  // ---- freshness ---------------------------------------------------------------------------

  function renderFreshness() {
    const o = state.overview;
    const held = {};
    for (const p of o.provisional || []) {
      const origin = p.id.split(':')[0];
      (held[origin] = held[origin] || []).push(p);
    }
    const origins = Object.keys(o.view.freshness);
    $('stale-note').textContent = `stale after ${age(state.staleSeconds)}`;
    if (origins.length === 0) { $('freshness').innerHTML = '<p class="dim">No events held yet.</p>'; return; }
    const rows = origins.map((name) => {
      const f = o.view.freshness[name];
      return `<tr data-origin="${esc(name)}" class="${held[name] ? 'held' : ''}"><td>${esc(name)}</td><td>${esc(when(f.recorded_at))}</td>
        <td>${fig('overview', o.view, `freshness.${name}.seq`)}</td><td data-age="${Number(o.ages[name]) || 0}"></td></tr>`;
    }).join('');
    const heldText = Object.entries(held).map(([name, h]) => `<li><b>${esc(name)}</b>: ${h.length} event(s) held (${esc([...new Set(h.map((p) => label(p.type)))].join(', '))}), waiting for ${esc(h[0].waiting_for)}</li>`).join('');
    $('freshness').innerHTML = `<table><thead><tr><th>office</th><th>newest event</th><th>seq</th><th>age</th></tr></thead><tbody>${rows}</tbody></table>
      ${heldText ? `<p class="note">Fresh events arrived ahead of their backlog: they are in the feed, but not in the figures until the events before them arrive.</p><ul class="note">${heldText}</ul>` : ''}`;
    tickAges();
  }
  function tickAges() {
    if (!state.overview) return;
    const passed = (Date.now() - state.overviewAt) / 1000;
    for (const td of document.querySelectorAll('#freshness td[data-age]')) {
      const a = Number(td.dataset.age) + passed;
      td.textContent = age(a);
      td.parentElement.classList.toggle('stale', a > state.staleSeconds);
    }
  }

  // ---- the incidents list and the map ------------------------------------------------------

  function listQuery(cursor) {
    const p = new URLSearchParams();
    if (state.scope !== 'mission') p.set('sector', state.scope);
    for (const [k, v] of Object.entries(state.filters)) if (v) p.set(k, v);
    const r = rangeQuery();
    if (r) p.set('since', new URLSearchParams(r).get('since'));
    p.set('limit', String(PAGE));
    if (cursor) p.set('cursor', cursor);
    return p.toString();
  }
  async function loadRows() {
    const answer = await api(`/api/v1/incidents?${listQuery(null)}`);
    state.rows = answer.view.incidents;
    state.total = answer.view.total;
    state.cursor = answer.view.next_cursor;
    renderRows();
    const newest = state.rows.length && !state.filters.category && !state.filters.status && !state.filters.verification ? Date.parse(state.rows[0].occurred_at) : null;
    if (newest && !isNaN(newest)) setChartEnd(newest);
  }
  async function moreRows() {
    if (!state.cursor) return;
    const answer = await api(`/api/v1/incidents?${listQuery(state.cursor)}`);
    state.rows = state.rows.concat(answer.view.incidents);
    state.cursor = answer.view.next_cursor;
    renderRows();
  }

  function killedText(c) {
    if (!c) return '–';
    const best = GROUPS.reduce((n, g) => n + Number(c.figure[g].killed), 0);
    return c.disputed ? `<span class="disputed" title="offices' reports differ">${best} (${Number(c.low.killed)}–${Number(c.high.killed)})</span>` : String(best);
  }
  function renderRows() {
    $('list-note').textContent = `${state.rows.length} of ${state.total}, newest first`;
    $('more').hidden = !state.cursor;
    $('incidents').innerHTML = state.rows.length === 0 ? '<p class="dim">No incidents.</p>' : `<table><thead><tr><th>occurred</th><th>sector</th><th>category</th><th>status</th><th class="n">killed</th><th class="n">wounded</th><th>location</th><th>summary</th></tr></thead><tbody>${
      state.rows.map((r) => `<tr data-incident="${esc(r.incident_id)}"><td>${esc(when(r.occurred_at))}</td><td>${esc(r.sector)}</td><td>${esc(label(r.category))}</td>
        <td><span class="tag ${esc(r.status)}">${esc(r.status)}</span> ${r.verification !== 'unverified' ? `<span class="tag ${esc(r.verification)}">${esc(r.verification)}</span>` : ''}</td>
        <td class="n">${killedText(r.casualties)}</td><td class="n">${r.casualties ? (r.casualties.disputed ? `<span class="disputed">${Number(r.casualties.low.wounded)}–${Number(r.casualties.high.wounded)}</span>` : GROUPS.reduce((n, g) => n + Number(r.casualties.figure[g].wounded), 0)) : '–'}</td>
        <td class="summary">${esc(r.location ? r.location.name : '–')}</td><td class="summary">${esc(r.summary || '')}</td></tr>`).join('')
    }</tbody></table>`;
    renderMarkers();
  }

  const map = { ready: false };
  async function initMap() {
    if (!window.L) { $('map').innerHTML = '<p class="dim">Map unavailable: the node serves no Leaflet (install libjs-leaflet).</p>'; return; }
    const m = L.map('map', { zoomSnap: 0.25, minZoom: 3, maxZoom: 12, attributionControl: true, preferCanvas: true });
    m.attributionControl.setPrefix(false).addAttribution('Outline: Natural Earth (public domain)');
    map.m = m;
    const [outline, sites] = await Promise.all([fetch('/assets/mali.geojson').then((r) => r.json()), fetch('/assets/sites.json').then((r) => r.json())]);
    // A view first: the canvas renderer needs the map's bounds before the first layer.
    map.mali = L.geoJSON(outline.features.filter((f) => f.properties.role === 'mission')).getBounds();
    m.fitBounds(map.mali, { padding: [10, 10], animate: false });
    L.geoJSON(outline, {
      interactive: false,
      style: (f) => f.properties.role === 'mission'
        ? { color: '#7d8c99', weight: 1.5, fillColor: '#1b2631', fillOpacity: 1 }
        : { color: '#3a4652', weight: 1, fillColor: '#121a21', fillOpacity: 1 },
    }).addTo(m);
    map.sites = sites;
    map.sectorColor = {};
    const sectors = [...new Set(sites.map((s) => s.sector))];
    sectors.forEach((s, i) => { map.sectorColor[s] = SECTOR_COLORS[i % SECTOR_COLORS.length]; });
    for (const site of sites) {
      const hq = site.kind === 'sector_hq' || site.kind === 'mission_hq';
      L.circleMarker([site.lat, site.lon], { radius: hq ? 6 : 4, color: '#0e1419', weight: 1, fillColor: map.sectorColor[site.sector], fillOpacity: 1 })
        .bindTooltip(`${esc(site.name)}${hq ? ` (${esc(site.sector)})` : ''}`, { permanent: hq, direction: 'right', className: 'site', offset: [6, 0] })
        .addTo(m);
    }
    map.incidents = L.layerGroup().addTo(m);
    $('map-legend').innerHTML = sectors.map((s) => `<span><span class="dot" style="background:${map.sectorColor[s]}"></span>${esc(s)} sites</span>`).join('')
      + '<span>incidents: colour by category, size by casualties, hollow when closed, dashed when figures are disputed</span>';
    map.ready = true;
    // The grid settles the map's size after the first render; refit whenever it changes.
    if (window.ResizeObserver) new ResizeObserver(() => { m.invalidateSize({ pan: false }); fitScope(); }).observe($('map'));
    fitScope();
    renderMarkers();
  }
  function fitScope() {
    if (!map.ready) return;
    const sites = state.scope === 'mission' ? [] : map.sites.filter((s) => s.sector === state.scope);
    // No animation: a refit while an animated one runs lands between the two.
    if (sites.length > 1) map.m.fitBounds(L.latLngBounds(sites.map((s) => [s.lat, s.lon])).pad(0.6), { animate: false });
    else if (sites.length === 1) map.m.setView([sites[0].lat, sites[0].lon], 7, { animate: false });
    else map.m.fitBounds(map.mali, { padding: [10, 10], animate: false });
  }
  function renderMarkers() {
    if (!map.ready) return;
    map.incidents.clearLayers();
    let placed = 0;
    for (const r of state.rows) {
      const loc = r.location;
      if (!loc || typeof loc.lat !== 'number' || typeof loc.lon !== 'number' || r.status === 'retracted') continue;
      const c = r.casualties;
      const hurt = c ? GROUPS.reduce((n, g) => n + c.figure[g].killed + c.figure[g].wounded, 0) : 0;
      const color = CATEGORY_COLORS[CATEGORIES.indexOf(r.category)] || '#8b949e';
      L.circleMarker([loc.lat, loc.lon], {
        radius: 4 + Math.min(10, 2 * Math.sqrt(hurt)), color, weight: 2, dashArray: c && c.disputed ? '3 3' : null,
        fillColor: color, fillOpacity: r.status === 'open' ? 0.7 : 0,
      }).bindPopup(`<b>${esc(label(r.category))}</b> · ${esc(r.status)}<br>${esc(when(r.occurred_at))} · ${esc(loc.name)}<br>${esc(r.summary || '')}<br>killed ${killedText(c)}<br><a href="#${esc(new URLSearchParams({ ...Object.fromEntries(fragment()), incident: r.incident_id }))}">incident page</a>`)
        .addTo(map.incidents);
      placed += 1;
    }
    $('map-note').textContent = `${placed} of the ${state.rows.length} incidents listed below`;
  }

  // ---- incidents by category over time -----------------------------------------------------

  const charts = {};
  function initCharts() {
    if (!window.Chart) { for (const id of ['chart-incidents', 'chart-casualties']) $(id).parentElement.innerHTML = '<p class="dim">Charts unavailable: the node serves no Chart.js (install libjs-chart.js).</p>'; return; }
    Chart.defaults.color = '#93a1ad';
    Chart.defaults.borderColor = '#2a3642';
    Chart.defaults.font.family = 'system-ui, sans-serif';
    Chart.defaults.animation = false;
    const common = { responsive: true, maintainAspectRatio: false, plugins: { legend: { position: 'bottom', labels: { boxWidth: 10 } } } };
    charts.incidents = new Chart($('chart-incidents'), { type: 'bar', data: { labels: [], datasets: [] }, options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } } });
    charts.casualties = new Chart($('chart-casualties'), { type: 'bar', data: { labels: [], datasets: [] }, options: { ...common, indexAxis: 'y', scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true, ticks: { autoSkip: false } } } } });
  }

  /** The chart ends today, or on the day of the newest incident when that is older than the chart (a log replayed
   * from the past); never after today, so a mistyped date cannot move it. */
  function setChartEnd(ms) {
    const now = Date.now();
    const end = dayKey(ms >= now - CHART_DAYS * DAY ? now : ms);
    if (end === state.chartEnd) return;
    state.chartEnd = end;
    state.days.clear();
    if (document.body.dataset.state === 'ready') kickChart(); // at start, start() loads the chart once
  }
  function chartDays() {
    const end = Date.parse(`${state.chartEnd || dayKey(Date.now())}T00:00:00Z`);
    return Array.from({ length: CHART_DAYS }, (_, i) => dayKey(end - (CHART_DAYS - 1 - i) * DAY));
  }
  async function loadChart() {
    const days = chartDays();
    const scope = state.scope;
    const wanted = days.filter((d) => !state.days.has(`${scope}/${d}`) || state.dirtyDays.has(d));
    state.dirtyDays.clear();
    // One small request per day: the views count incidents per day exactly, whatever the list shows.
    await Promise.all(wanted.map(async (d) => {
      const path = scope === 'mission' ? '/api/v1/overview' : `/api/v1/sectors/${encodeURIComponent(scope)}`;
      const answer = await api(`${path}?since=${d}&until=${d}`);
      const body = scope === 'mission' ? answer.view.mission : answer.view;
      state.days.set(`${scope}/${d}`, body.incidents.by_category);
    }));
    $('chart-note').textContent = `per day, ${days[0]} to ${days[days.length - 1]} (UTC)`;
    if (!charts.incidents) return;
    charts.incidents.data.labels = days.map((d) => when(`${d}T00:00:00Z`).split(' ').slice(0, 2).join(' '));
    charts.incidents.data.datasets = CATEGORIES.map((c, i) => ({
      label: label(c), backgroundColor: CATEGORY_COLORS[i], data: days.map((d) => (state.days.get(`${scope}/${d}`) || {})[c]?.total || 0),
    })).filter((ds) => ds.data.some((n) => n > 0));
    charts.incidents.update('none');
  }

  // ---- the live stream ---------------------------------------------------------------------

  const kickFigures = throttled(loadFigures, 1000);
  const kickRows = throttled(loadRows, 5000);
  const kickChart = throttled(loadChart, 10000);

  /** Fetches again what stored incident events made stale, now that the views hold them. */
  function refetchAfterFold() {
    const after = state.afterFold;
    if (!after) return;
    state.afterFold = null;
    kickRows();
    for (const d of after.days) state.dirtyDays.add(d);
    if (state.dirtyDays.size) kickChart();
  }

  async function openStream() {
    if (!window.EventSource) return;
    let from = state.lastEventId;
    if (from === null) {
      try { from = (await api('/api/v1/status')).events; } catch (e) { setTimeout(openStream, 5000); return; }
      // The feed starts with the newest events already stored, so a wall screen is never blank.
      try {
        const recent = await api(`/api/v1/events?from=${Math.max(0, from - 20)}&limit=20`);
        for (const e of recent.events) feed(e, false);
      } catch (e) { /* the feed fills from the stream */ }
    }
    const p = new URLSearchParams({ from: String(from) });
    if (state.token) p.set('access_token', state.token);
    const source = new EventSource(`/api/v1/stream?${p}`);
    state.stream = source;
    const live = $('live');
    source.onopen = () => { live.textContent = '● live'; live.className = 'open'; document.body.dataset.stream = 'open'; };
    source.addEventListener('stored', (m) => {
      state.lastEventId = m.lastEventId || state.lastEventId;
      let e;
      try { e = JSON.parse(m.data); } catch (err) { return; }
      feed(e);
      if (e.type.startsWith('incident.') || e.type === 'casualties.reported') {
        kickRows();
        const occurred = e.data && (e.data.occurred_at || (e.data.changes && e.data.changes.occurred_at));
        const days = e.type === 'incident.reported' && occurred ? [occurred.slice(0, 10)]
          : e.type !== 'casualties.reported' && e.type !== 'incident.verified' ? chartDays() : [];
        for (const d of days) state.dirtyDays.add(d);
        if (state.dirtyDays.size) kickChart();
        // `stored` comes before the views have folded the event: a fetch made now may miss it.
        // Fetched again once a `view` says they have (its `folded` reaches this event's id).
        const after = state.afterFold || (state.afterFold = { offset: 0, days: new Set() });
        after.offset = Math.max(after.offset, Number(m.lastEventId) || 0);
        for (const d of days) after.days.add(d);
      }
    });
    source.addEventListener('view', (m) => {
      kickFigures();
      let v;
      try { v = JSON.parse(m.data); } catch (err) { return; }
      if (state.afterFold && Number(v.folded) >= state.afterFold.offset) refetchAfterFold();
    });
    source.addEventListener('error', (m) => {
      if (m.data) { // the node dropped this reader (slow_consumer): refetch everything once reconnected
        kickFigures(); kickRows(); for (const d of chartDays()) state.dirtyDays.add(d); kickChart();
      }
      document.body.dataset.stream = 'closed';
      live.textContent = '○ reconnecting'; live.className = '';
      if (source.readyState === EventSource.CLOSED) { state.stream = null; setTimeout(openStream, 5000); }
    });
  }

  const FEED_TEXT = {
    'incident.reported': (d) => `${label(d.category || '')}: ${d.summary || ''}`,
    'incident.updated': (d) => `updated ${Object.keys(d.changes || {}).join(', ')}`,
    'incident.verified': (d) => `verification: ${d.status}`,
    'incident.closed': (d) => `closed${d.reason ? `: ${d.reason}` : ''}`,
    'incident.retracted': (d) => `retracted: ${label(d.reason || '')}`,
    'casualties.reported': (d) => `casualties: ${KINDS.map((k) => `${k} ${GROUPS.reduce((n, g) => n + ((d[g] && d[g][k]) || 0), 0)}`).join(', ')}`,
    'medevac.requested': (d) => `MEDEVAC ${d.priority}: ${d.patients} patient(s) at ${(d.pickup && d.pickup.name) || '?'}`,
    'medevac.dispatched': (d) => `medevac dispatched: ${d.asset}`,
    'medevac.completed': (d) => `medevac ${d.outcome}${d.facility ? ` at ${d.facility}` : ''}`,
    'election.material.dispatched': (d) => `material dispatched to ${(d.to && d.to.name) || '?'}`,
    'election.material.delivered': (d) => `material delivered${d.seals_intact === false ? ', SEALS BROKEN' : ''}`,
    'election.personnel.moved': (d) => `${d.count} staff to ${(d.to && d.to.name) || '?'}`,
    'polling_station.status': (d) => `station ${d.name}: ${label(d.status || '')}`,
    'intel.sighting': (d) => `sighting: ${label(d.kind || '')} (${d.source}) near ${(d.location && d.location.name) || '?'}`,
  };
  function feed(e, fresh = true) {
    const text = (FEED_TEXT[e.type] || (() => e.type))(e.data || {});
    const li = document.createElement('li');
    li.className = `${fresh ? 'new' : ''}${e.type === 'medevac.requested' ? ' medevac' : ''}`;
    li.dataset.type = e.type;
    li.innerHTML = `<span class="dim">${esc(when(e.recorded_at).split(' ').pop())}</span><span><b>${esc(e.origin)}</b> · ${esc(e.sector)} · ${esc(text)}</span>`;
    const list = $('feed');
    list.prepend(li);
    while (list.children.length > 40) list.lastElementChild.remove();
  }

  // ---- the incident page -------------------------------------------------------------------

  function fieldText(name, value) {
    if (value === null || value === undefined) return '–';
    if (name === 'location') return [value.name, typeof value.lat === 'number' ? `${value.lat}, ${value.lon}` : null, value.admin1, value.precision].filter(Boolean).join(' · ');
    if (Array.isArray(value)) return value.join(', ');
    if (name === 'occurred_at') return when(value);
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  const origin = (id) => String(id || '').split(':')[0];
  async function showIncident(id) {
    const page = $('incident-page');
    page.hidden = false;
    $('incident').innerHTML = '<p class="dim">Loading…</p>';
    let v;
    try { v = (await api(`/api/v1/incidents/${encodeURIComponent(id)}`)).view; } catch (e) { $('incident').innerHTML = `<p>${esc(e.message)}</p>`; return; }
    const c = v.casualties;
    const fields = Object.entries(v.fields).map(([name, f]) => `<tr><th>${esc(label(name))}</th><td>${esc(fieldText(name, f.value))}</td><td class="dim">${esc(origin(f.event))} · ${esc(f.event)}</td></tr>`).join('');
    const counts = (k) => GROUPS.map((g) => `<td>${k[g] ? esc(`${k[g].killed} / ${k[g].wounded} / ${k[g].missing}`) : '–'}</td>`).join('');
    const reports = c.reports.map((r) => `<tr class="${c.figure && c.figure.event === r.event ? '' : 'dim'}"><td>${esc(r.origin)}</td><td>${esc(r.event)}</td><td>${esc(hlcTime(r.hlc))}</td>${counts(r.counts)}</tr>`).join('');
    $('incident').innerHTML = `<h2>${esc(label(v.fields.category ? v.fields.category.value : 'incident'))} <small>${esc(v.incident_id)}</small></h2>
      <p>${esc(v.sector || 'sector not known yet')} · <span class="tag ${esc(v.retracted ? 'retracted' : v.status.value)}">${esc(v.retracted ? 'retracted' : v.status.value)}</span> (set by ${esc(v.status.event || '–')})
        · <span class="tag ${esc(v.verification.value)}">${esc(v.verification.value)}</span> (set by ${esc(v.verification.event || '–')})
        · reported by <b>${esc(origin(v.reported_by) || '–')}</b> (${esc(v.reported_by || 'report not held yet')})${v.counted ? '' : ' · <b>not counted</b>'}</p>
      <h3>Fields, and which office set each</h3><table>${fields}</table>
      <h3>Casualties ${c.disputed ? '<span class="tag disputed">disputed: the offices report different figures</span>' : ''}</h3>
      ${c.reports.length ? `<table><thead><tr><th>office</th><th>event</th><th>time</th>${GROUPS.map((g) => `<th>${esc(label(g))}<br><small>k / w / m</small></th>`).join('')}</tr></thead><tbody>${reports}</tbody></table>
        <p class="dim">Counted: the latest report overall (${esc(c.figure ? c.figure.event : '–')}).</p>` : '<p class="dim">No casualty report.</p>'}
      ${v.retractions.length ? `<h3>Retractions</h3><ul>${v.retractions.map((r) => `<li>${esc(r.event)}: ${esc(label(r.reason || ''))}${r.duplicate_of ? ` of <a href="#${esc(new URLSearchParams({ ...Object.fromEntries(fragment()), incident: r.duplicate_of }))}">${esc(r.duplicate_of)}</a>` : ''}</li>`).join('')}</ul>` : ''}
      <h3>History <small>(select an event to read it)</small></h3>
      <table><thead><tr><th>time</th><th>office</th><th>event</th><th>type</th></tr></thead><tbody>${
        v.history.map((h) => `<tr class="event" data-event="${esc(h.id)}"><td>${esc(hlcTime(h.hlc))}</td><td>${esc(origin(h.id))}</td><td>${esc(h.id)}</td><td>${esc(h.type)}</td></tr>`).join('')
      }</tbody></table><pre id="event-json" hidden></pre>`;
  }
  async function showEvent(id) {
    const pre = $('event-json');
    pre.hidden = false;
    try { pre.textContent = JSON.stringify((await api(`/api/v1/events/${encodeURIComponent(id)}`)).event, null, 2); } catch (e) { pre.textContent = e.message; }
  }

  async function download(format) {
    const p = new URLSearchParams({ format });
    if (state.scope !== 'mission') p.set('sector', state.scope);
    const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
    try {
      const response = await fetch(`/api/v1/export?${p}`, { headers });
      if (!response.ok) throw new ApiError(response.status, `http_${response.status}`, response.statusText);
      const a = document.createElement('a');
      a.href = URL.createObjectURL(await response.blob());
      a.download = `incidents-${state.scope}.${format === 'geojson' ? 'geojson' : 'csv'}`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    } catch (e) { banner(e); }
  }

  // ---- routing and start -------------------------------------------------------------------

  function route() {
    const p = readFragment();
    const scope = p.get('scope') || 'mission';
    if (scope !== state.scope) {
      state.scope = scope;
      state.sector = null;
      state.days.clear();
      if (state.overview) { renderScopes(); kickFigures(); kickRows(); kickChart(); fitScope(); }
    }
    const incident = p.get('incident');
    if (incident) showIncident(incident); else $('incident-page').hidden = true;
  }

  /** Loads `path` unless `name` is already defined: Debian's file names differ between releases
   * (Chart.js 4 ships chart.umd.js, Leaflet may come without leaflet.min.js). */
  function ensure(name, path) {
    if (window[name]) return Promise.resolve();
    return new Promise((resolve) => {
      const script = document.createElement('script');
      script.src = path;
      script.onload = script.onerror = () => resolve();
      document.head.append(script);
    });
  }

  async function start() {
    readFragment();
    await Promise.all([ensure('L', '/vendor/leaflet/leaflet.js'), ensure('Chart', '/vendor/chart.js/chart.umd.js')]);
    const select = document.querySelector('#filters select[name=category]');
    select.insertAdjacentHTML('beforeend', CATEGORIES.map((c) => `<option value="${c}">${esc(label(c))}</option>`).join(''));
    initCharts();
    route();
    document.addEventListener('click', (e) => {
      const t = e.target.closest('[data-scope-button],[data-incident],[data-event],[data-export]');
      if (!t) return;
      if (t.dataset.scopeButton) go({ scope: t.dataset.scopeButton === 'mission' ? null : t.dataset.scopeButton, incident: null });
      else if (t.dataset.incident) go({ incident: t.dataset.incident });
      else if (t.dataset.event) showEvent(t.dataset.event);
      else if (t.dataset.export) download(t.dataset.export);
    });
    window.addEventListener('hashchange', route);
    $('close-incident').addEventListener('click', () => go({ incident: null }));
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !$('incident-page').hidden) go({ incident: null }); });
    $('filters').addEventListener('change', (e) => {
      if (e.target.name) { state.filters[e.target.name] = e.target.value; kickRows(); }
    });
    $('range').addEventListener('change', (e) => { state.range = e.target.value; kickFigures(); kickRows(); });
    $('more').addEventListener('click', () => moreRows().catch(banner));
    setInterval(tickAges, 1000);
    // Without the stream (a proxy that buffers it, say), the figures still follow every 30 s; so
    // do what a stored incident event made stale when the views took longer than the stream
    // waits for them (2 s) to fold it, and no `view` said they had.
    setInterval(() => {
      if (document.body.dataset.stream !== 'open') { kickFigures(); kickRows(); }
      else refetchAfterFold();
    }, 30000);
    try {
      await loadFigures();
      await Promise.all([loadRows(), initMap().catch((e) => { $('map').textContent = `Map unavailable: ${e.message}`; })]);
      await loadChart();
      banner(null);
    } catch (e) { banner(e); }
    document.body.dataset.state = 'ready';
    openStream();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
