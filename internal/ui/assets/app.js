// Digital Embassy dashboard. Every value from the server is put into the
// page with textContent or attributes, never parsed as markup: dataset
// names, disclosure texts and agreement fields may be written by a host.
"use strict";
(() => {
  let csrf = "";
  let me = null;
  let version = -1;
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v; else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const k of kids.flat()) e.append(k instanceof Node ? k : document.createTextNode(k === undefined || k === null ? "" : String(k)));
    return e;
  }
  const svg = (tag, attrs) => { const e = document.createElementNS("http://www.w3.org/2000/svg", tag); for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v)); return e; };
  const when = (t) => t ? new Date(t).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "–";

  async function api(path, opts) {
    const o = Object.assign({ credentials: "same-origin", headers: {} }, opts || {});
    if (o.method && o.method !== "GET") o.headers["X-CSRF-Token"] = csrf;
    const r = await fetch(path, o);
    if (r.status === 401) { showSignin(""); throw new Error("signed out"); }
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  function showSignin(msg) {
    $("signin").hidden = false;
    $("view").replaceChildren();
    $("signin-error").textContent = msg;
  }

  function table(caption, heads, rows) {
    return el("table", {}, el("caption", {}, caption),
      el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows));
  }

  let world = null;
  async function map(sites) {
    const w = 900, h = 460;
    const s = svg("svg", { viewBox: `0 0 ${w} ${h}`, class: "map", role: "img", "aria-labelledby": "map-title" });
    const title = svg("title", { id: "map-title" });
    title.textContent = "Map of host sites: " + sites.map((x) => `${x.name} (${x.jurisdiction}) ${x.healthy ? "healthy" : "unhealthy"}`).join(", ");
    s.append(title);
    if (!window.d3 || !window.topojson) return s;
    if (!world) world = await (await fetch("/vendor/countries-110m.json")).json();
    const land = topojson.feature(world, world.objects.countries);
    const located = sites.filter((x) => x.lat !== undefined && x.lon !== undefined);
    const proj = d3.geoNaturalEarth1();
    if (located.length) {
      const pts = { type: "MultiPoint", coordinates: located.map((x) => [x.lon, x.lat]) };
      proj.fitExtent([[60, 60], [w - 60, h - 60]], located.length > 1 ? pts : d3.geoCircle().center([located[0].lon, located[0].lat]).radius(8)());
    } else proj.fitSize([w, h], land);
    const path = d3.geoPath(proj);
    for (const f of land.features) s.append(svg("path", { d: path(f) || "", class: "land" }));
    for (const x of located) {
      const [cx, cy] = proj([x.lon, x.lat]);
      const c = svg("circle", { cx, cy, r: 7, class: x.healthy ? "ok" : "bad", "data-site": x.name });
      const t = svg("title"); t.textContent = `${x.name} (${x.jurisdiction}): ${x.status}`;
      c.append(t); s.append(c);
      const label = svg("text", { x: cx + 10, y: cy + 4, "font-size": 13, fill: "currentColor" }); label.textContent = x.name; s.append(label);
    }
    return s;
  }

  const views = {
    async overview() {
      const ov = await api("/api/overview");
      const rows = ov.sites.map((x) => el("tr", { "data-site": x.name, class: x.healthy ? "" : "flag" },
        el("th", { scope: "row" }, x.name), el("td", {}, x.jurisdiction), el("td", {}, x.operator || "–"),
        el("td", { class: x.healthy ? "ok site-health" : "bad site-health" }, x.healthy ? "healthy" : "unreachable"),
        el("td", {}, x.status), el("td", {}, when(x.last_proof))));
      const alerts = ov.alerts.map((a) => el("tr", {}, el("td", {}, when(a.time)), el("td", {}, a.kind), el("td", {}, a.site || "–"), el("td", {}, a.why)));
      return [el("h2", {}, "Overview"), el("p", {}, `Home ${ov.home}; transparency log of ${ov.log_size} entries.`), await map(ov.sites),
        table("Host sites", ["Site", "Jurisdiction", "Operator", "Health", "Status", "Last proof"], rows),
        table("Alerts", ["Time", "Kind", "Site", "Why"], alerts.length ? alerts : [el("tr", {}, el("td", { colspan: 4 }, "No alerts."))])];
    },
    async datasets() {
      const ds = await api("/api/datasets");
      return [el("h2", {}, "Datasets"), table("Datasets and their placement", ["Dataset", "Class", "Sites", "Snapshots", "Last snapshot", "Last verified"],
        ds.map((d) => el("tr", {}, el("th", { scope: "row" }, d.name), el("td", {}, d.class || "unlabelled"), el("td", {}, d.sites.join(", ")),
          el("td", {}, d.snapshots), el("td", {}, when(d.last_snapshot)), el("td", {}, when(d.last_verified)))))];
    },
    async log(params) {
      const q = new URLSearchParams(params || {});
      const rows = await api("/api/log?" + q);
      const kind = el("input", { id: "f-kind", name: "kind", value: q.get("kind") || "" });
      const site = el("input", { id: "f-site", name: "site", value: q.get("site") || "" });
      const text = el("input", { id: "f-q", name: "q", type: "search", value: q.get("q") || "" });
      const form = el("form", { class: "filters", role: "search" },
        el("label", { for: "f-kind" }, "Kind", kind), el("label", { for: "f-site" }, "Site", site), el("label", { for: "f-q" }, "Search", text), el("button", { type: "submit" }, "Filter"));
      form.addEventListener("submit", (ev) => { ev.preventDefault(); location.hash = "#/log?" + new URLSearchParams({ kind: kind.value, site: site.value, q: text.value }); });
      const chart = el("div", { id: "log-chart", role: "img", "aria-label": "Entries per day" });
      const body = rows.map((x) => el("tr", {}, el("td", {}, x.index), el("td", {}, when(x.time)), el("td", {}, x.kind), el("td", {}, x.site || "–"),
        el("td", {}, x.actor || "–"), el("td", {}, x.reason || x.object || "–"),
        el("td", {}, el("a", { href: `/api/receipt/${x.index}`, download: `entry-${x.index}.proof` }, "receipt"))));
      setTimeout(() => plot(chart, rows), 0);
      return [el("h2", {}, "Transparency log"), form, chart, table(`${rows.length} entries, newest first`, ["#", "Time", "Kind", "Site", "Actor", "Reason or object", "Receipt"], body)];
    },
    async disclosures() {
      const rep = await api("/api/disclosures");
      const alerts = rep.alerts.map((a) => el("tr", { class: "flag" }, el("td", {}, when(a.time)), el("td", {}, a.kind), el("td", {}, a.site || "–"), el("td", { class: "disclosure-text" }, a.message)));
      const ds = rep.disclosures.map((d) => el("tr", {}, el("td", {}, when(d.at || d.time)), el("td", {}, d.site || "–"), el("td", {}, d.reason), el("td", {}, d.who), el("td", { class: "disclosure-text" }, d.what)));
      return [el("h2", {}, "Access disclosures"),
        table("Unmatched host sessions, key uses and late disclosures", ["Time", "Kind", "Site", "Detail"], alerts.length ? alerts : [el("tr", {}, el("td", { colspan: 4 }, "None."))]),
        table("Disclosures", ["Access at", "Site", "Reason", "Who", "What"], ds.length ? ds : [el("tr", {}, el("td", { colspan: 5 }, "None."))])];
    },
    async agreements() {
      const cards = await api("/api/agreements");
      const print = el("button", { type: "button", id: "print-scorecards" }, "Print scorecards");
      print.addEventListener("click", () => window.print());
      const out = [el("h2", {}, "Agreements"), el("p", {}, "Live scorecards along the five trust dimensions, from the evidence the home holds now ('embassy assess')."), print];
      if (!cards.length) out.push(el("p", {}, "No agreement is installed ('embassy agreement add FILE')."));
      for (const c of cards) {
        const ok = c.passed === c.total;
        const card = el("article", { class: "scorecard", "aria-labelledby": `sc-${c.agreement}` },
          el("h3", { id: `sc-${c.agreement}` }, `${c.title || c.agreement} `, el("span", { class: ok ? "ok" : "bad" }, `${c.passed}/${c.total}`)),
          el("p", {}, `Agreement ${c.agreement}: ${c.sending} with ${c.host}; sites ${(c.sites || []).join(", ") || "none"}; assessed ${when(c.at)}; digest `, el("code", {}, c.digest)));
        for (const d of c.dimensions || []) {
          card.append(table(`${d.name} (${d.score})`, ["Check", "Status", "Basis", "Evidence"],
            (d.checks || []).map((k) => el("tr", { class: k.status === "fail" ? "flag" : "", "data-check": k.id },
              el("th", { scope: "row" }, k.title), el("td", { class: k.status === "pass" ? "ok" : k.status === "fail" ? "bad" : "warn" }, k.status),
              el("td", {}, k.basis), el("td", { class: "evidence" }, k.evidence)))));
        }
        out.push(card);
      }
      return out;
    },
    async continuity() {
      const c = await api("/api/continuity");
      const secs = (v) => v === undefined || v < 0 ? "–" : `${v.toFixed(1)} s`;
      const chart = el("div", { id: "continuity-chart", role: "img", "aria-label": "RTO and RPO of each drill over time, in seconds" });
      setTimeout(() => series(chart, c.drills.map((d) => [d.time, d.rto_seconds, d.rpo_seconds])
        .filter((r) => r[1] >= 0 || r[2] >= 0), [{ label: "RTO (s)", stroke: "#0b57d0" }, { label: "RPO achieved (s)", stroke: "#b3261e" }]), 0);
      const drills = c.drills.slice().reverse().map((d) => el("tr", { class: d.pass ? "" : "flag" }, el("td", {}, when(d.time)), el("th", { scope: "row" }, d.plan || "–"),
        el("td", { class: d.pass ? "ok" : "bad" }, d.pass ? "pass" : "fail"), el("td", {}, `${secs(d.rto_seconds)} / ${d.rto_target_seconds ? d.rto_target_seconds + " s" : "–"}`),
        el("td", {}, `${secs(d.rpo_seconds)} / ${d.rpo_target_seconds ? d.rpo_target_seconds + " s" : "–"}`), el("td", {}, d.failures), el("td", {}, d.source)));
      const sessions = c.sessions.slice().reverse().map((x) => el("tr", {}, el("td", {}, when(x.time)), el("td", {}, x.type), el("td", {}, x.summary), el("td", {}, el("code", {}, (x.sha256 || "").slice(0, 16)))));
      const out = [el("h2", {}, "Continuity"), chart,
        table("Restore drills, newest first", ["Time", "Plan", "Result", "RTO / target", "RPO / target", "Failures", "Source"], drills.length ? drills : [el("tr", {}, el("td", { colspan: 7 }, "No drill yet."))]),
        table("Crisis sessions ('embassy operate')", ["Time", "Step", "Summary", "Signed document"], sessions.length ? sessions : [el("tr", {}, el("td", { colspan: 4 }, "No crisis session."))])];
      const r = c.last_report;
      if (r) {
        const verdict = r.signature_ok && !r.problem ? (r.endorsed_by ? `signature verifies; signer endorsed by home ${r.endorsed_by} (epoch ${r.epoch})${r.home_bound ? ", the key the home id derives from" : ""}` : "signature verifies; signer not endorsed") : `not trusted: ${r.problem || "signature does not verify"}`;
        out.push(el("section", { "aria-labelledby": "last-report" }, el("h3", { id: "last-report" }, `Last signed report (${r.kind || "unknown"})`),
          el("p", { class: r.signature_ok && !r.problem ? "ok" : "bad" }, verdict), el("p", {}, "sha256 ", el("code", {}, r.sha256)),
          el("pre", { class: "report", tabindex: 0, "aria-label": "Body of the signed report" }, r.body ? JSON.stringify(r.body, null, 2) : "")));
      }
      return out;
    },
    async broker() {
      const b = await api("/api/broker");
      const chart = el("div", { id: "broker-chart", role: "img", "aria-label": "Key releases and refusals per day" });
      setTimeout(() => series(chart, b.days.map((d) => [d.day, d.releases, d.refusals]), [{ label: "releases", stroke: "#1b7a3a" }, { label: "refusals", stroke: "#b3261e" }]), 0);
      const reasons = Object.entries(b.refusals_by_reason || {}).map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v)));
      const rows = b.events.map((x) => el("tr", { class: x.released ? "" : "flag" }, el("td", {}, x.index), el("td", {}, when(x.time)),
        el("td", { class: x.released ? "ok" : "bad" }, x.released ? "released" : "refused"), el("td", {}, x.dataset || "–"), el("td", {}, x.site || "–"),
        el("td", {}, x.tee || "–"), el("td", {}, x.workload || "–"), el("td", { class: "evidence" }, x.released ? (x.rule || "–") : `${x.reason}: ${x.detail || ""}`)));
      return [el("h2", {}, "Key broker"), el("p", {}, `${b.releases} releases and ${b.refusals} refusals in the transparency log.`), chart,
        table("Refusals by reason", ["Reason", "Count"], reasons.length ? reasons : [el("tr", {}, el("td", { colspan: 2 }, "None."))]),
        table("Releases and refusals, newest first", ["#", "Time", "Outcome", "Dataset", "Site", "Evidence", "Workload", "Rule or reason"], rows.length ? rows : [el("tr", {}, el("td", { colspan: 8 }, "No release or refusal yet."))])];
    },
  };

  // series draws rows of [time, y1, y2, ...] with uPlot.
  function series(node, rows, lines) {
    if (!window.uPlot || !rows.length || !node.isConnected) return;
    const xs = rows.map((r) => new Date(r[0]).getTime() / 1000);
    const data = [xs, ...lines.map((_, i) => rows.map((r) => (r[i + 1] === undefined || r[i + 1] < 0 ? null : r[i + 1])))];
    // One point (or one day) would stretch the time axis over years: pad it by a day.
    const lo = Math.min(...xs), hi = Math.max(...xs);
    const scales = hi - lo < 86400 ? { x: { time: true, auto: false, range: [lo - 86400, hi + 86400] } } : {};
    new uPlot({ width: Math.min(900, node.clientWidth || 600), height: 200, scales, series: [{}, ...lines.map((l) => Object.assign({ width: 2, points: { show: true, size: 8 } }, l))] }, data, node);
  }

  function plot(node, rows) {
    if (!window.uPlot || !rows.length || !node.isConnected) return;
    const days = new Map();
    for (const r of rows) { const d = Math.floor(new Date(r.time).getTime() / 86400000) * 86400; days.set(d, (days.get(d) || 0) + 1); }
    const xs = [...days.keys()].sort((a, b) => a - b);
    new uPlot({ width: Math.min(900, node.clientWidth || 600), height: 180, series: [{}, { label: "entries", stroke: "#0b57d0", fill: "rgba(11,87,208,.15)" }] }, [xs, xs.map((x) => days.get(x))], node);
  }

  async function render() {
    const [name, query] = (location.hash.replace(/^#\//, "") || "overview").split("?");
    const view = views[name] ? name : "overview";
    for (const a of document.querySelectorAll("nav a")) { if (a.dataset.view === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current"); }
    try {
      const nodes = await views[view](Object.fromEntries(new URLSearchParams(query || "")));
      $("view").replaceChildren(...nodes);
      $("status").textContent = "Updated " + new Date().toLocaleTimeString();
    } catch (e) {
      if (e.message !== "signed out") $("view").replaceChildren(el("p", { role: "alert", class: "bad" }, e.message));
    }
  }

  function live() {
    const es = new EventSource("/api/stream");
    // The first event may announce a change made between the first render
    // and the stream's start: any version other than the last seen renders.
    es.addEventListener("version", (ev) => { const v = Number(ev.data); if (v !== version) { version = v; render(); } });
    es.onerror = () => { $("status").textContent = "Live updates interrupted; retrying"; };
  }

  // Passkeys (WebAuthn): registered after a link sign-in, used alone after.
  async function passkeyRegister() {
    try {
      const opts = await api("/api/passkey/register/begin", { method: "POST" });
      const cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(opts.publicKey) });
      await api("/api/passkey/register/finish", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(cred.toJSON()) });
      $("status").textContent = "Passkey registered: next time, sign in with it.";
    } catch (e) { $("status").textContent = "Passkey not registered: " + e.message; }
  }
  async function passkeySignin() {
    try {
      const r = await fetch("/api/passkey/login/begin", { method: "POST", credentials: "same-origin" });
      const opts = await r.json();
      if (!r.ok) throw new Error(opts.error);
      const cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(opts.publicKey) });
      const f = await fetch("/api/passkey/login/finish", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(cred.toJSON()) });
      const body = await f.json();
      if (!f.ok) throw new Error(body.error);
      await start();
    } catch (e) { $("signin-error").textContent = "Passkey sign-in failed: " + e.message; }
  }

  let started = false;
  async function start() {
    const m = location.hash.match(/^#signin=([0-9a-f]{48})$/);
    if (m) {
      history.replaceState(null, "", location.pathname + "#/overview"); // the token leaves the address bar at once
      const r = await fetch("/api/signin", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: m[1] }) });
      const body = await r.json();
      if (!r.ok) { showSignin(body.error); return; }
    }
    try { const b = await api("/api/me"); me = b.principal; csrf = b.csrf || ""; } catch { return; }
    $("signin").hidden = true;
    $("passkey-register").hidden = !window.PublicKeyCredential || me.via === "certificate";
    $("who").textContent = `${me.name} (${me.role}${me.site ? ", " + me.site : ""})`;
    if (me.role === "operator") for (const v of ["datasets", "continuity"]) document.querySelector(`nav a[data-view="${v}"]`).parentElement.hidden = true;
    if (started) { await render(); return; }
    started = true;
    window.addEventListener("hashchange", render);
    await render();
    live();
  }
  document.addEventListener("DOMContentLoaded", () => {
    $("passkey-signin").addEventListener("click", passkeySignin);
    $("passkey-register").addEventListener("click", passkeyRegister);
    start();
  });
})();
