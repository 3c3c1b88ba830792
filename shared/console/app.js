// The ops console: a client of the admin API and nothing else (same origin, bearer token kept in
// this tab's sessionStorage). Every value from the API is put in the page as text, never as HTML.
"use strict";

const TOKEN_KEY = "ops-console-token";
const ACTIONS = ["approve", "reject", "reassign", "merge"];
const ATTRIBUTION_KINDS = ["click_coupon_conflict", "disputed_attribution", "account_merge", "self_referral", "unknown_affiliate"];

// ------------------------------------------------------------------ small DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function table(columns, rows, opts = {}) {
  const head = h("tr", {}, columns.map(c => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)));
  const body = rows.map(r => {
    const tr = h("tr", opts.rowAttrs ? opts.rowAttrs(r) : {},
      columns.map(c => h("td", { class: c.num ? "num" : null }, c.value(r))));
    return tr;
  });
  return h("table", {}, h("caption", { class: "muted" }, opts.caption || ""),
    h("thead", {}, head), h("tbody", {}, body.length ? body : [h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, opts.empty || "Nothing here."))]));
}

function dl(pairs) {
  return h("dl", {}, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null || v === undefined || v === "" ? "—" : v)]));
}

const view = () => document.getElementById("view");
function show(...children) {
  const v = view();
  v.replaceChildren(...children);
  v.hidden = false;
  document.getElementById("sign-in").hidden = true;
}

function say(text, kind = "ok") {
  const s = document.getElementById("status");
  s.replaceChildren(text ? h("span", { class: kind }, text) : "");
}

// ------------------------------------------------------------------ the API

class ApiError extends Error {
  constructor(status, body) {
    super(body && (body.message || (body.errors && body.errors.map(e => `${e.field} ${e.message}`).join("; "))) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  let json = null;
  try { json = await res.json(); } catch (_) { /* an empty or non-JSON answer */ }
  if (res.status === 401) {
    signOut(`Not signed in: ${json && json.message ? json.message : "the token was refused"}. Sign in again.`);
    throw new ApiError(401, json);
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

const enc = encodeURIComponent;
// Amounts arrive as exact decimal strings; shown with the currency's minor units by adding zeros
// (`124.9` -> `124.90`), never by rounding or through a float.
const minorUnits = currency => {
  try { return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits; } catch { return null; }
};
const money = (amount, currency) => {
  const text = String(amount);
  const units = minorUnits(currency);
  const m = /^(-?\d+)(?:\.(\d+))?$/.exec(text);
  if (!m || units === null || (m[2] || "").length >= units) return `${text} ${currency}`;
  return `${m[1]}${units ? "." + (m[2] || "").padEnd(units, "0") : ""} ${currency}`;
};
const when = t => (t ? t.replace("T", " ").replace(/\.\d+Z$/, "Z") : "—");
const pct = d => (d === null || d === undefined ? null : Math.round(Number(d) * 1000) / 10);

// ------------------------------------------------------------------ sign in / out

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch (_) {
    return null;
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").textContent = "";
  view().hidden = true;
  document.getElementById("sign-in").hidden = false;
  say(message || "", message ? "error" : "ok");
  document.getElementById("token").focus();
}

function signedIn() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return false;
  const claims = claimsOf(token) || {};
  const role = claims.role || claims["cognito:groups"] || "";
  document.getElementById("who").textContent = `${claims.sub || "?"} (${Array.isArray(role) ? role.join(" ") : role})`;
  document.getElementById("nav").hidden = false;
  document.getElementById("sign-out").hidden = false;
  return true;
}

// ------------------------------------------------------------------ review queue

async function reviewsView(params) {
  const status = params.get("status") || "open";
  const kind = params.get("kind") || "";
  const q = new URLSearchParams({ status, limit: "50" });
  if (kind) q.set("kind", kind);
  if (params.get("cursor")) q.set("cursor", params.get("cursor"));
  const page = await api("GET", `/admin/reviews?${q}`);
  const detail = h("div", { class: "panel", id: "review-detail", "aria-live": "polite" },
    h("p", { class: "muted" }, page.items.length ? "Select an item (click, or focus a row and press Enter)." : "The queue is empty."));
  const rows = page.items;
  const list = table([
    { label: "Kind", value: r => r.kind },
    { label: "Customer", value: r => r.customer_id || "—" },
    { label: "Affiliates", value: r => r.affiliate_ids.join(", ") },
    { label: "Opened", value: r => when(r.opened_at) },
  ], rows, {
    caption: `${status === "open" ? "Open items, oldest first" : "Resolved items, newest first"} (${rows.length}${page.next_cursor ? "+" : ""})`,
    empty: "No items.",
    rowAttrs: r => ({
      class: "pick", tabindex: 0, "data-review": r.review_id, "aria-selected": "false",
      onclick: () => selectReview(r.review_id),
      onkeydown: e => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); selectReview(r.review_id); } },
    }),
  });
  const filters = h("form", { class: "row", onsubmit: e => {
      e.preventDefault();
      const f = new FormData(e.target);
      location.hash = `#/reviews?status=${enc(f.get("status"))}${f.get("kind") ? `&kind=${enc(f.get("kind"))}` : ""}`;
    } },
    h("div", {}, h("label", { for: "f-status" }, "Status"),
      h("select", { id: "f-status", name: "status" }, ["open", "resolved"].map(s => h("option", { value: s, selected: s === status }, s)))),
    h("div", {}, h("label", { for: "f-kind" }, "Kind"),
      h("select", { id: "f-kind", name: "kind" }, h("option", { value: "" }, "any"),
        ["click_coupon_conflict", "disputed_attribution", "account_merge", "self_referral", "unknown_affiliate",
         "conflicting_redelivery", "invalid_reference", "reference_never_arrived", "anomaly"].map(k => h("option", { value: k, selected: k === kind }, k)))),
    h("div", {}, h("button", { type: "submit" }, "Filter")));
  const more = page.next_cursor
    ? h("p", {}, h("a", { href: `#/reviews?status=${enc(status)}${kind ? `&kind=${enc(kind)}` : ""}&cursor=${enc(page.next_cursor)}` }, "Next page"))
    : null;
  show(h("h2", {}, "Review queue"), filters, h("div", { class: "split" }, h("div", {}, list, more), detail));
  if (params.get("id")) selectReview(params.get("id"));
}

function entriesTable(entries, caption) {
  return table([
    { label: "Entry", value: e => e.entry_id },
    { label: "Affiliate", value: e => h("a", { href: `#/affiliates/${enc(e.affiliate_id)}` }, e.affiliate_id) },
    { label: "Kind", value: e => e.kind },
    { label: "Amount", num: true, value: e => money(e.amount, e.currency) },
    { label: "Status", value: e => e.status },
    { label: "Reason", value: e => e.reason },
  ], entries, { caption, empty: "No ledger entries." });
}

async function selectReview(id) {
  for (const tr of document.querySelectorAll("tr[data-review]")) tr.setAttribute("aria-selected", String(tr.dataset.review === id));
  const pane = document.getElementById("review-detail");
  pane.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  const d = await api("GET", `/admin/reviews/${enc(id)}`);
  const r = d.review;
  const parts = [
    h("h3", { id: "review-title", tabindex: -1 }, `${r.kind} · ${r.review_id}`),
    dl([["Status", r.status], ["Customer", r.customer_id ? h("a", { href: `#/customers/${enc(r.customer_id)}` }, r.customer_id) : null],
        ["Affiliates", r.affiliate_ids.join(", ")], ["Opened", when(r.opened_at)], ["Event", r.event_id]]),
    h("h3", {}, "Evidence"),
    dl(Object.entries(r.evidence)),
  ];
  if (d.event) {
    parts.push(h("h3", {}, "The event"),
      dl([["Type", d.event.event_type], ["Occurred", when(d.event.occurred_at)], ["Outcome", d.event.outcome], ["Reason", d.event.reason]]),
      entriesTable(d.event.entries, "Entries it posted"));
  }
  if (r.resolution) {
    const x = r.resolution;
    parts.push(h("h3", {}, "Resolution"),
      dl([["Action", x.action + (x.affiliate_id ? ` → ${x.affiliate_id}` : "") + (x.into_customer_id ? ` → ${x.into_customer_id}` : "")],
          ["By", x.by], ["At", when(x.at)], ["Why", x.reason]]),
      entriesTable(d.resolution_entries, "Entries it posted"));
  } else {
    parts.push(resolveForm(r));
  }
  pane.replaceChildren(...parts);
  document.getElementById("review-title").focus();
}

function resolveForm(r) {
  const aboutAttribution = ATTRIBUTION_KINDS.includes(r.kind) && r.customer_id;
  const actions = aboutAttribution ? ACTIONS : ["approve", "reject"];
  const target = h("div", { id: "target" });
  const renderTarget = action => {
    if (action === "reassign") {
      target.replaceChildren(h("label", { for: "r-affiliate" }, "New affiliate"),
        h("input", { id: "r-affiliate", name: "affiliate_id", required: true, autocomplete: "off", list: "affiliate-ids" }));
    } else if (action === "merge") {
      target.replaceChildren(h("label", { for: "r-into" }, "Merge into customer"),
        h("input", { id: "r-into", name: "into_customer_id", required: true, autocomplete: "off", value: r.evidence.other_customer_id || "" }));
    } else {
      target.replaceChildren();
    }
  };
  const form = h("form", { id: "resolve-form", onsubmit: async e => {
      e.preventDefault();
      const f = new FormData(form);
      const body = { action: f.get("action"), reason: (f.get("reason") || "").trim() };
      if (body.action === "reassign") body.affiliate_id = f.get("affiliate_id");
      if (body.action === "merge") body.into_customer_id = f.get("into_customer_id");
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const res = await api("POST", `/admin/reviews/${enc(r.review_id)}/resolution`, body);
        const posted = res.entries.map(x => `${x.kind} ${money(x.amount, x.currency)} (${x.affiliate_id})`).join(", ") || "no entries";
        say(`Resolved ${r.review_id}: ${res.review.resolution.action}. Posted: ${posted}.`);
        await reviewsView(new URLSearchParams(location.hash.split("?")[1] || ""));
      } catch (err) {
        button.disabled = false;
        if (err.status !== 401) say(`Not resolved: ${err.message}`, "error");
      }
    } },
    h("h3", {}, "Resolve"),
    h("fieldset", {}, h("legend", {}, "Action"),
      actions.map((a, i) => [h("input", { type: "radio", id: `a-${a}`, name: "action", value: a, checked: i === 0,
        onchange: () => renderTarget(a) }), h("label", { for: `a-${a}` }, a)])),
    target,
    h("label", { for: "r-reason" }, "Reason (recorded with your name)"),
    h("textarea", { id: "r-reason", name: "reason", rows: 2, required: true, maxlength: 500 }),
    h("p", {}, h("button", { type: "submit" }, "Resolve")));
  return form;
}

// ------------------------------------------------------------------ customers

async function customersView(id) {
  const search = h("form", { class: "row", onsubmit: e => {
      e.preventDefault();
      location.hash = `#/customers/${enc(new FormData(e.target).get("customer").trim())}`;
    } },
    h("div", {}, h("label", { for: "c-id" }, "Customer id"), h("input", { id: "c-id", name: "customer", required: true, value: id || "" })),
    h("div", {}, h("button", { type: "submit" }, "Open")));
  if (!id) return show(h("h2", {}, "Customers"), search);
  const t = await api("GET", `/admin/customers/${enc(id)}?limit=100`);
  const a = t.attribution;
  const attribution = dl([["State", a.state], ["Affiliate", a.affiliate_id ? h("a", { href: `#/affiliates/${enc(a.affiliate_id)}` }, a.affiliate_id) : null],
    ["Source", a.source], ["Click", a.click_id], ["Coupon", a.coupon_code], ["Decided by", a.decided_by_event],
    ["Window", a.starts_at ? `${when(a.starts_at)} → ${when(a.window_ends_at)}` : null], ["In review", a.review_id]]);
  const events = t.events.map(e => h("section", { class: "panel spaced" },
    h("h3", {}, `${e.event_type} · ${e.event_id}`),
    dl([["Occurred", when(e.occurred_at)], ["Outcome", e.outcome], ["Reason", e.reason], ["Reviews", e.review_ids.join(", ")]]),
    e.entries.length ? entriesTable(e.entries, "") : null));
  const reviews = table([
    { label: "Review", value: r => h("a", { href: `#/reviews?status=${r.status}&id=${enc(r.review_id)}` }, r.review_id) },
    { label: "Status", value: r => r.status },
    { label: "Resolution", value: r => (r.resolution ? `${r.resolution.action} by ${r.resolution.by}: ${r.resolution.reason}` : "—") },
  ], t.reviews, { empty: "No review items." });
  show(h("h2", {}, `Customer ${t.customer_id}`), search, h("h3", {}, "Attribution"), attribution,
    h("h3", {}, "Reviews"), reviews, h("h3", {}, `Events (${t.events.length}${t.next_cursor ? "+" : ""}), in the order applied`), events);
}

// ------------------------------------------------------------------ affiliates

async function affiliatesView(id) {
  if (!id) {
    const list = await api("GET", "/admin/affiliates");
    return show(h("h2", {}, "Affiliates"), table([
      { label: "Affiliate", value: a => h("a", { href: `#/affiliates/${enc(a.affiliate_id)}` }, a.affiliate_id) },
      { label: "Plan", value: a => `${a.plan_id} v${a.plan_version}` },
      { label: "Quality tier", value: a => a.quality_tier || "—" },
      { label: "Own accounts", num: true, value: a => a.own_customer_ids.length + a.own_email_count },
      { label: "Changed", value: a => (a.updated_by ? `${when(a.updated_at)} by ${a.updated_by}` : "—") },
    ], list.affiliates));
  }
  const p = await api("GET", `/admin/affiliates/${enc(id)}`);
  const a = p.affiliate;
  const balances = h("div", { class: "cards", id: "balances" }, p.activity.balances.length
    ? p.activity.balances.map(b => [
      h("div", { class: "card" }, h("div", { class: "muted" }, `Payable (${b.currency})`), h("div", { class: "value", "data-balance": "payable" }, b.payable)),
      h("div", { class: "card" }, h("div", { class: "muted" }, "Pending"), h("div", { class: "value" }, b.pending)),
      h("div", { class: "card" }, h("div", { class: "muted" }, "On hold"), h("div", { class: "value", "data-balance": "on_hold" }, b.on_hold)),
      h("div", { class: "card" }, h("div", { class: "muted" }, "Paid out"), h("div", { class: "value", "data-balance": "paid" }, b.paid))])
    : h("p", { class: "muted" }, "No commissions yet."));
  const byMonth = table([
    { label: "Month", value: l => l.month },
    { label: "Status", value: l => l.status },
    { label: "Commissions", num: true, value: l => l.commissions },
    { label: "Amount", num: true, value: l => money(l.amount, l.currency) },
  ], p.activity.commissions_by_month, { caption: "Commissions by month (of the original entry) and current status" });
  const chart = h("figure", { id: "quality-chart" },
    h("figcaption", {}, "Pass, refund and chargeback rates (%) and commission cost by month"));
  const quality = table([
    { label: "Month", value: q => q.month },
    { label: "Purchases", num: true, value: q => q.score.purchases },
    { label: "Pass rate", num: true, value: q => (pct(q.score.pass_rate) ?? "—") },
    { label: "Refund rate", num: true, value: q => (pct(q.score.refund_rate) ?? "—") },
    { label: "Chargeback rate", num: true, value: q => (pct(q.score.chargeback_rate) ?? "—") },
    { label: "Commission cost", num: true, value: q => Object.entries(q.score.money || {}).map(([c, m]) => money(m.commission_cost, c)).join(", ") || "—" },
  ], p.activity.quality_by_month, { caption: "Partner quality by month (the chart's data)", empty: "No activity scored yet." });
  const history = table([
    { label: "Version", num: true, value: c => c.version },
    { label: "Action", value: c => c.action },
    { label: "By", value: c => c.by },
    { label: "At", value: c => when(c.at) },
    { label: "Why", value: c => c.reason },
    { label: "After", value: c => h("code", {}, JSON.stringify(c.after)) },
  ], p.history, { empty: "No recorded changes." });
  show(h("h2", {}, `Affiliate ${a.affiliate_id}`),
    dl([["Plan", p.plan ? `${a.plan_id} v${a.plan_version}` : `${a.plan_id} v${a.plan_version} (not published!)`], ["Quality tier", a.quality_tier],
        ["Own customer ids", a.own_customer_ids.join(", ")], ["Own emails (hashed)", a.own_email_count]]),
    h("h3", {}, "Balance"), balances, byMonth, h("h3", {}, "Quality"), chart, quality, h("h3", {}, "History"), history);
  drawChart(chart, p.activity.quality_by_month);
}

function drawChart(figure, months) {
  if (!months.length || typeof uPlot === "undefined") return;
  const xs = months.map((_, i) => i);
  // One cost line per currency (amounts in different currencies are never added). The chart's
  // points are floats for drawing only; the table below shows the exact amounts.
  const currencies = [...new Set(months.flatMap(q => Object.keys(q.score.money || {})))].sort();
  const costs = currencies.map(c => months.map(q => (q.score.money && q.score.money[c] ? Number(q.score.money[c].commission_cost) : null)));
  const data = [xs, months.map(q => pct(q.score.pass_rate)), months.map(q => pct(q.score.refund_rate)),
    months.map(q => pct(q.score.chargeback_rate)), ...costs];
  const costColours = ["#065f46", "#6b21a8", "#0f766e", "#374151"];
  const opts = {
    width: Math.min(900, figure.clientWidth || 900), height: 260,
    scales: { x: { time: false, range: [-0.5, Math.max(xs.length - 0.5, 0.5)] }, pct: { range: [0, 100] }, money: {} },
    axes: [
      { splits: () => xs, values: (_, ticks) => ticks.map(t => (months[t] ? months[t].month : "")) },
      { scale: "pct", label: "%" },
      { scale: "money", side: 1, label: `commission cost${currencies.length === 1 ? ` (${currencies[0]})` : ""}`, grid: { show: false }, size: 70 },
    ],
    series: [
      {},
      { label: "pass rate %", scale: "pct", stroke: "#1d4ed8", width: 2 },
      { label: "refund rate %", scale: "pct", stroke: "#b45309", width: 2 },
      { label: "chargeback rate %", scale: "pct", stroke: "#991b1b", width: 2 },
      ...currencies.map((c, i) => ({ label: `commission cost ${c}`, scale: "money", stroke: costColours[i % costColours.length], width: 2, dash: [6, 4] })),
    ],
  };
  new uPlot(opts, data, figure);
}

// ------------------------------------------------------------------ directory

function writeForm(title, id, fields, submit) {
  const form = h("form", { id, class: "panel spaced", onsubmit: async e => {
      e.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        say(await submit(new FormData(form)));
        await directoryView();
      } catch (err) {
        button.disabled = false;
        if (err.status !== 401) say(`Not saved: ${err.message}`, "error");
      }
    } }, h("h3", {}, title), fields, h("p", {}, h("button", { type: "submit" }, "Save")));
  return form;
}

const field = (id, label, attrs = {}) => [h("label", { for: id }, label), h(attrs.rows ? "textarea" : "input", { id, name: id, autocomplete: "off", ...attrs })];
const lines = text => (text || "").split(/[\n,]/).map(s => s.trim()).filter(Boolean);

async function directoryView() {
  const [plans, affiliates, coupons] = await Promise.all([api("GET", "/admin/plans"), api("GET", "/admin/affiliates"), api("GET", "/admin/coupons")]);
  const ids = h("datalist", { id: "affiliate-ids" }, affiliates.affiliates.map(a => h("option", { value: a.affiliate_id })));
  const planTable = table([
    { label: "Plan", value: p => `${p.plan.plan_id} v${p.plan.version}` },
    { label: "Currency", value: p => p.plan.currency },
    { label: "Window (days)", num: true, value: p => p.plan.attribution_window_days },
    { label: "Cooling-off (h)", num: true, value: p => p.plan.cooling_off_hours },
    { label: "Published", value: p => (p.published_by ? `${when(p.published_at)} by ${p.published_by}` : "—") },
    { label: "Document", value: p => h("details", {}, h("summary", {}, "show"), h("pre", {}, JSON.stringify(p.plan, null, 2))) },
  ], plans.plans, { caption: "Published plans (a version is never edited: publish the next one)" });
  const couponTable = table([
    { label: "Code", value: c => c.coupon_code },
    { label: "Affiliate", value: c => h("a", { href: `#/affiliates/${enc(c.affiliate_id)}` }, c.affiliate_id) },
    { label: "Changed", value: c => (c.updated_by ? `${when(c.updated_at)} by ${c.updated_by}` : "—") },
  ], coupons.coupons, { caption: "Coupon codes" });
  const publish = writeForm("Publish a plan version", "publish-plan", [
    field("plan", "Plan document (JSON, docs/plans.md)", { rows: 8, required: true }),
    field("reason", "Reason", { required: true, maxlength: 500 })], async f => {
      let plan;
      try { plan = JSON.parse(f.get("plan")); } catch (e) { throw new ApiError(400, { message: `the plan is not JSON: ${e.message}` }); }
      const r = await api("POST", "/admin/plans", { plan, reason: f.get("reason") });
      return `Published ${r.plan.plan.plan_id} v${r.plan.plan.version}.`;
    });
  const create = writeForm("Create an affiliate", "create-affiliate", [
    h("div", { class: "row" }, h("div", {}, field("affiliate_id", "Affiliate id", { required: true })),
      h("div", {}, field("plan_id", "Plan id", { required: true })), h("div", {}, field("plan_version", "Plan version", { required: true, type: "number", min: 1 })),
      h("div", {}, field("quality_tier", "Quality tier (optional)"))),
    field("own_customer_ids", "Own customer ids (comma separated)"),
    field("own_emails", "Own emails (comma separated; stored only as keyed hashes)"),
    field("reason", "Reason", { required: true, maxlength: 500 })], async f => {
      const body = { affiliate_id: f.get("affiliate_id"), plan_id: f.get("plan_id"), plan_version: Number(f.get("plan_version")),
        own_customer_ids: lines(f.get("own_customer_ids")), own_emails: lines(f.get("own_emails")), reason: f.get("reason") };
      if (f.get("quality_tier")) body.quality_tier = f.get("quality_tier");
      const r = await api("POST", "/admin/affiliates", body);
      return `Created ${r.affiliate.affiliate_id}.`;
    });
  const move = writeForm("Move an affiliate to a plan version", "move-affiliate", [
    h("div", { class: "row" }, h("div", {}, field("m_affiliate", "Affiliate id", { required: true, list: "affiliate-ids" })),
      h("div", {}, field("m_plan", "Plan id", { required: true })), h("div", {}, field("m_version", "Plan version", { required: true, type: "number", min: 1 })),
      h("div", {}, field("m_tier", "Quality tier (empty: none)"))),
    field("m_reason", "Reason", { required: true, maxlength: 500 })], async f => {
      const r = await api("PATCH", `/admin/affiliates/${enc(f.get("m_affiliate"))}`, { plan_id: f.get("m_plan"), plan_version: Number(f.get("m_version")),
        quality_tier: f.get("m_tier") || null, reason: f.get("m_reason") });
      return `${r.affiliate.affiliate_id} is on ${r.affiliate.plan_id} v${r.affiliate.plan_version}.`;
    });
  const coupon = writeForm("Assign a coupon code", "assign-coupon", [
    h("div", { class: "row" }, h("div", {}, field("code", "Code", { required: true })), h("div", {}, field("c_affiliate", "Affiliate id", { required: true, list: "affiliate-ids" }))),
    field("c_reason", "Reason", { required: true, maxlength: 500 })], async f => {
      const r = await api("PUT", `/admin/coupons/${enc(f.get("code"))}`, { affiliate_id: f.get("c_affiliate"), reason: f.get("c_reason") });
      return r.change ? `${r.coupon.coupon_code} → ${r.coupon.affiliate_id}.` : `${r.coupon.coupon_code} already belongs to ${r.coupon.affiliate_id}.`;
    });
  show(h("h2", {}, "Directory"), ids, planTable, couponTable, h("div", { class: "split" }, h("div", {}, publish), h("div", {}, create, move, coupon)));
}

// ------------------------------------------------------------------ routing

async function route() {
  if (!signedIn()) return signOut();
  const [path, query] = (location.hash.slice(1) || "/reviews").split("?");
  const params = new URLSearchParams(query || "");
  const [, section, id] = path.split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === section) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  try {
    if (section === "customers") await customersView(id);
    else if (section === "affiliates") await affiliatesView(id);
    else if (section === "directory") await directoryView();
    else await reviewsView(params);
  } catch (err) {
    if (err.status !== 401) say(`Could not load: ${err.message}`, "error");
  }
}

document.getElementById("sign-in-form").addEventListener("submit", e => {
  e.preventDefault();
  const token = document.getElementById("token").value.trim().replace(/^Bearer\s+/i, "");
  if (!claimsOf(token)) return say("That is not a token (a JWT has three dot-separated parts).", "error");
  sessionStorage.setItem(TOKEN_KEY, token);
  document.getElementById("token").value = "";
  say("");
  route().then(() => document.getElementById("main").focus());
});
document.getElementById("sign-out").addEventListener("click", () => signOut());
// The skip link moves focus without touching the hash, which is the router's.
document.querySelector("a.skip").addEventListener("click", e => {
  e.preventDefault();
  document.getElementById("main").focus();
});
window.addEventListener("hashchange", () => { say(""); route(); });
route();
