// hospital-sim dashboard: renders each server-sent snapshot. No framework, no network but ours.
"use strict";
(function () {
  const L = JSON.parse(document.getElementById("labels").textContent);
  const LANG = L.lang === "pt-BR" ? "pt-BR" : "en";
  // Okabe-Ito: distinguishable with the common colour-vision deficiencies.
  const COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"];
  const nf = new Intl.NumberFormat(LANG, { maximumFractionDigits: 0 });
  const nf1 = new Intl.NumberFormat(LANG, { maximumFractionDigits: 1 });
  const pf = new Intl.NumberFormat(LANG, { style: "percent", maximumFractionDigits: 1 });
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const num = (v) => (v === null || v === undefined ? "–" : nf.format(v));
  const ms = (v) => (v === null || v === undefined ? "–" : nf1.format(v * 1000) + " ms");
  const bytes = (n) => {
    if (n === null || n === undefined) return "–";
    const u = ["B", "kB", "MB", "GB", "TB"]; let i = 0; let v = n;
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? nf1.format(v) : nf.format(v)) + " " + u[i];
  };
  const kpi = (id, label, shown, raw) =>
    `<div><dt>${esc(label)}</dt><dd id="${id}" data-value="${raw === null || raw === undefined ? "" : raw}">${esc(shown)}</dd></div>`;

  $("alerts-h").textContent = L.alerts;
  $("grid").innerHTML = `
    <section class="card wide" aria-labelledby="h-stream"><h2 id="h-stream">${esc(L.stream)}</h2>
      <dl class="kpis" id="stream-kpis"></dl>
      <h3>${esc(L.by_op_chart)}</h3><div id="chart-ops" class="chart" role="img" aria-label="${esc(L.by_op_chart)}"></div>
      <h3>${esc(L.streams)}</h3><div id="stream-table"></div>
      <div id="workers"></div>
    </section>
    <section class="card" aria-labelledby="h-hospital"><h2 id="h-hospital">${esc(L.hospital)}</h2>
      <dl class="kpis" id="hospital-kpis"></dl>
      <div class="bar" aria-hidden="true"><span id="occupancy-bar" style="width:0"></span></div>
      <h3>${esc(L.appointments_today)}</h3><dl class="kpis" id="appointments"></dl>
      <h3>${esc(L.per_hour_chart)}</h3><div id="chart-hours" class="chart" role="img" aria-label="${esc(L.per_hour_chart)}"></div>
      <h3>${esc(L.rows)}</h3><div id="rows"></div>
    </section>
    <section class="card" aria-labelledby="h-cdc"><h2 id="h-cdc">${esc(L.cdc)}</h2>
      <p id="publication"></p>
      <h3>${esc(L.slots)}</h3><div id="slots"></div>
      <h3>${esc(L.verify)}</h3><div id="verify"></div>
    </section>
    <section class="card wide" aria-labelledby="h-feed"><h2 id="h-feed">${esc(L.feed)}</h2>
      <p id="feed-source" class="muted"></p><div id="feed" class="feed"></div></section>`;

  let opsChart = null; let hoursChart = null; let opsNames = [];
  const width = (el) => Math.max(300, el.clientWidth);

  function drawOps(series) {
    const el = $("chart-ops");
    const names = Object.keys(series.ops);
    const xs = series.t;
    // Stack: each drawn line is the sum of its operation and those below it.
    const stacked = []; let acc = xs.map(() => 0);
    for (const n of names) { acc = acc.map((v, i) => v + (series.ops[n][i] || 0)); stacked.push(acc); }
    const data = [xs, ...stacked.slice().reverse()];
    if (!opsChart || opsNames.join() !== names.join()) {
      if (opsChart) opsChart.destroy();
      opsNames = names;
      const rev = names.slice().reverse();
      opsChart = new uPlot({
        width: width(el), height: 220, legend: { live: false },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
        axes: [{}, { label: L.events_per_s }],
        series: [{}, ...rev.map((n) => {
          const c = COLORS[names.indexOf(n) % COLORS.length];
          return { label: n, stroke: c, fill: c + "cc", width: 1, points: { show: false } };
        })],
      }, data, el);
    } else opsChart.setData(data);
  }

  function drawHours(h) {
    const el = $("chart-hours");
    const now = Math.floor(Date.now() / 3600000) * 3600;
    const xs = h.admissions_per_hour.map((_, i) => now - (23 - i) * 3600);
    const data = [xs, h.admissions_per_hour, h.discharges_per_hour];
    if (!hoursChart) {
      const bars = uPlot.paths.bars({ size: [0.4, 40] });
      hoursChart = new uPlot({
        width: width(el), height: 180, legend: { live: false },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
        series: [{},
          { label: L.admissions, stroke: COLORS[0], fill: COLORS[0], paths: bars, points: { show: false } },
          { label: L.discharges, stroke: COLORS[1], fill: COLORS[1], paths: bars, points: { show: false } }],
      }, data, el);
    } else hoursChart.setData(data);
  }

  function stream(s) {
    const t = s.totals;
    const share = t.insert_share === null ? "–" : pf.format(t.insert_share) +
      (t.target_insert_share === null ? "" : ` (${L.target} ${pf.format(t.target_insert_share)})`);
    $("stream-kpis").innerHTML =
      kpi("kpi-rate", L.events_per_s, nf1.format(t.rate), t.rate) +
      kpi("kpi-events-total", L.events_total, num(t.events_total), t.events_total) +
      kpi("kpi-insert-share", L.insert_share, share, t.insert_share) +
      kpi("kpi-p50", L.latency + " p50", ms(t.p50), t.p50) +
      kpi("kpi-p95", "p95", ms(t.p95), t.p95) +
      kpi("kpi-p99", "p99", ms(t.p99), t.p99) +
      kpi("kpi-schedule-lag", L.schedule_lag, t.schedule_lag_s === null ? "–" : nf1.format(t.schedule_lag_s) + " s", t.schedule_lag_s) +
      kpi("kpi-reconnects", L.reconnects, num(t.reconnects), t.reconnects) +
      kpi("kpi-in-doubt", L.in_doubt, num(t.in_doubt), t.in_doubt) +
      kpi("kpi-errors", L.errors, num(t.errors), t.errors) +
      kpi("kpi-substitutions", L.substitutions, num(t.substitutions), t.substitutions);
    if (!s.streams.length) { $("stream-table").innerHTML = `<p class="muted">${esc(L.no_streams)}</p>`; }
    else {
      $("stream-table").innerHTML = `<table><thead><tr><th>${esc(L.url)}</th><th></th><th class="n">${esc(L.events_per_s)}</th>
        <th class="n">${esc(L.events_total)}</th><th class="n">p95</th><th class="n">${esc(L.errors)}</th></tr></thead><tbody>` +
        s.streams.map((x) => `<tr><td>${esc(x.url)}</td><td><span class="badge ${x.ok ? "ok" : "bad"}">${esc(x.ok ? L.up : L.down)}</span></td>
          <td class="n">${x.rate === undefined ? "–" : nf1.format(x.rate)}</td><td class="n">${num(x.events_total)}</td>
          <td class="n">${ms(x.p95)}</td><td class="n">${num(x.errors)}</td></tr>`).join("") + "</tbody></table>";
    }
    workers(s.streams);
    drawOps(s.series);
  }

  function workers(streams) {
    const rows = [];
    for (const x of streams) for (const w of x.workers || []) rows.push([x, w]);
    if (!rows.length) { $("workers").innerHTML = ""; return; }
    const host = (u) => u.replace(/^https?:\/\//, "").replace(/\/metrics$/, "");
    const cell = (w, k, shown) => `<td class="n" data-worker="${esc(w.worker)}" data-figure="${k}" data-value="${w[k]}">${shown}</td>`;
    $("workers").innerHTML = `<h3>${esc(L.workers)}</h3><table><thead><tr><th>${esc(L.url)}</th><th>${esc(L.worker)}</th>
      <th class="n">${esc(L.events_per_s)}</th><th class="n">${esc(L.events_total)}</th><th class="n">${esc(L.errors)}</th>
      <th class="n">${esc(L.reconnects)}</th><th class="n">${esc(L.schedule_lag)}</th></tr></thead><tbody>` +
      rows.map(([x, w]) => `<tr><td>${esc(host(x.url))}</td><td>${esc(w.worker)}</td>${cell(w, "rate", nf1.format(w.rate))}
        ${cell(w, "events_total", num(w.events_total))}${cell(w, "errors", num(w.errors))}
        ${cell(w, "reconnects", num(w.reconnects))}${cell(w, "schedule_lag_s", nf1.format(w.schedule_lag_s) + " s")}</tr>`).join("") +
      "</tbody></table>";
  }

  // A count that reached the cap is shown as "more than" the cap.
  const capped = (h, name, n) => (h.capped || []).includes(name) ? `${L.more_than} ${num(h.count_cap)}` : num(n);

  function hospital(h) {
    if (!h) return;
    $("hospital-kpis").innerHTML =
      kpi("kpi-occupancy", L.occupancy, pf.format(h.occupancy_pct / 100), h.occupancy_pct) +
      kpi("kpi-open-stays", L.open_stays, `${capped(h, "open_stays", h.open_stays)} / ${num(h.beds)} ${L.beds}`, h.open_stays) +
      kpi("kpi-pending-exams", L.pending_exams, capped(h, "pending_exams", h.pending_exams), h.pending_exams);
    $("occupancy-bar").style.width = Math.min(100, h.occupancy_pct) + "%";
    $("appointments").innerHTML = Object.entries(h.appointments_today)
      .map(([k, v]) => kpi("appt-" + k, L[k] || k, num(v), v)).join("") +
      ((h.capped || []).includes("appointments_today") ? `<p class="muted">${esc(L.capped_note)} ${num(h.count_cap + 1)}</p>` : "");
    $("rows").innerHTML = `<table><thead><tr><th>${esc(L.table)}</th><th class="n">${esc(L.row_count)}</th></tr></thead><tbody>` +
      Object.entries(h.rows).map(([t, n]) => `<tr><td>${esc(t)}</td><td class="n" data-table="${esc(t)}" data-value="${n}">${num(n)}</td></tr>`).join("") +
      "</tbody></table>";
    drawHours(h);
  }

  function cdc(c, v) {
    if (c) {
      const p = c.publication;
      $("publication").innerHTML = `${esc(L.publication)} <b>${esc(p.name)}</b>: ` + (!p.exists
        ? `<span class="badge bad">${esc(L.pub_missing)}</span>`
        : p.missing.length ? `<span class="badge bad">${esc(L.missing_tables)} ${esc(p.missing.join(", "))}</span>`
          : `<span class="badge ok">${esc(L.covers_all)}</span>`);
      $("slots").innerHTML = !c.slots.length ? `<p class="muted">${esc(L.no_slots)}</p>` :
        `<table><thead><tr><th>${esc(L.slot)}</th><th></th><th class="n">${esc(L.lag_bytes)}</th><th class="n">${esc(L.lag_s)}</th></tr></thead><tbody>` +
        c.slots.map((s) => `<tr><td>${esc(s.name)} <span class="muted">${esc(s.plugin || "")}</span></td>
          <td><span class="badge ${s.active ? "ok" : "bad"}">${esc(s.active ? L.active : L.inactive)}</span></td>
          <td class="n" data-slot="${esc(s.name)}" data-value="${s.lag_bytes ?? ""}">${bytes(s.lag_bytes)}</td>
          <td class="n">${s.lag_s === null ? "–" : nf1.format(s.lag_s)}</td></tr>`).join("") + "</tbody></table>";
    }
    if (!v) $("verify").innerHTML = `<p class="muted">${esc(L.no_verify)}</p>`;
    else if (!v.ok) $("verify").innerHTML = `<p><span class="badge bad">${esc(v.path)}</span> ${esc(v.error)}</p>`;
    else {
      const t = v.totals;
      $("verify").innerHTML = `<p id="verify-verdict" data-identical="${v.identical}"><span class="badge ${v.identical ? "ok" : "bad"}">${esc(v.identical ? L.identical : L.not_identical)}</span>
        <span class="muted">${esc(v.modified)}</span></p><dl class="kpis">` +
        ["events", "matched", "missing", "extra", "differing", "duplicates"].map((k) =>
          kpi("verify-" + k, k, num(k === "events" ? v.events : t[k]), k === "events" ? v.events : t[k])).join("") + "</dl>";
    }
  }

  const tf = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const shown = (v) => (v === null ? "∅" : String(v));

  // From the streams: {at, worker, table, op, key, columns: [names], values: [...]};
  // from the database (no stream watched): {time, table, op, key, columns: {name: value}}.
  function feedCells(r) {
    if (Array.isArray(r.columns)) {
      const pairs = r.columns.map((c, i) => [c, r.values[i]]);
      const listed = r.op === "INSERT" ? pairs.filter(([c]) => c !== "id").slice(0, 3) : pairs;
      const text = listed.map(([c, v]) => `${c} = ${shown(v)}`).join(" · ") +
        (r.op === "INSERT" ? ` … (${L.new_row}, ${r.columns.length} ${L.columns})` : "");
      return { time: tf.format(new Date(r.at * 1000)), names: r.op === "UPDATE" ? r.columns.join(",") : "", text, who: r.worker };
    }
    return { time: r.time, names: "", text: Object.entries(r.columns).map(([k, v]) => `${k}=${shown(v)}`).join(" · "), who: "" };
  }

  function feed(rows, source) {
    $("feed-source").textContent = source === "streams" ? L.feed_from_streams : L.feed_from_database;
    $("feed").innerHTML = `<table><thead><tr><th>${esc(L.time)}</th><th>${esc(L.table)}</th><th class="n">${esc(L.key)}</th>
      <th>${esc(L.op)}</th><th>${esc(L.changed_columns)}</th><th>${esc(L.worker)}</th></tr></thead><tbody>` +
      rows.map((r) => { const c = feedCells(r); return `<tr data-op="${esc(r.op)}" data-table="${esc(r.table)}" data-key="${r.key}" data-columns="${esc(c.names)}">
        <td>${esc(c.time)}</td><td>${esc(r.table)}</td><td class="n">${r.key}</td><td>${esc(r.op)}</td>
        <td>${esc(c.text)}</td><td>${esc(c.who)}</td></tr>`; }).join("") +
      "</tbody></table>";
  }

  function alerts(list) {
    $("alert-list").innerHTML = !list.length ? `<li class="none">${esc(L.no_alerts)}</li>` :
      list.map((a) => `<li class="${a.level}" data-alert="${esc(a.key)}">${esc(L[a.level])}: ${esc(L[a.key] || a.key)}` +
        `${a.subject ? " " + esc(a.subject) : ""} = ${nf1.format(a.value)} (≥ ${nf1.format(a.threshold)})</li>`).join("");
  }

  function status(state) {
    const el = $("status");
    el.dataset.state = state;
    el.textContent = state === "page" ? L.page_reconnecting : L["db_" + state] || state;
  }

  function render(s) {
    status(s.db.state);
    if (!s.totals) return;
    alerts(s.alerts);
    stream(s);
    hospital(s.hospital);
    cdc(s.cdc, s.verify);
    if (s.db.state === "ok" || s.feed_source === "streams") feed(s.feed, s.feed_source);
    document.body.dataset.updated = String(s.t);
  }

  status("connecting");
  const source = new EventSource("events");
  source.onmessage = (e) => render(JSON.parse(e.data));
  source.onerror = () => status("page");  // EventSource retries by itself
  window.addEventListener("resize", () => {
    if (opsChart) opsChart.setSize({ width: width($("chart-ops")), height: 220 });
    if (hoursChart) hoursChart.setSize({ width: width($("chart-hours")), height: 180 });
  });
})();
