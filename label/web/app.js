// rlhf label: the single-page ranking app. Every piece of text from the
// server is put into the page with textContent, never as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const FLAGS = [["harmful", "Harmful"], ["not_following", "Does not follow the instruction"], ["made_up_facts", "Makes up facts"]];

const state = {
  token: sessionStorage.getItem("rlhf-token") || "",
  name: sessionStorage.getItem("rlhf-name") || "",
  role: sessionStorage.getItem("rlhf-role") || "",
  task: null,
  tiers: [], // answer ids, best tier first; a tier of several ids is a tie
  tieNext: false,
  busy: false, // a submit, skip or undo request is running
};

function show(view) {
  for (const v of ["signin", "task", "done", "dashboard"]) {
    $("#" + v + "-view").hidden = v !== view;
  }
  const signedIn = view !== "signin";
  $("#signout").hidden = !signedIn;
  $("#to-dashboard").hidden = !(signedIn && state.role === "admin" && view !== "dashboard");
  $("#to-task").hidden = view !== "dashboard";
  $("#who").textContent = signedIn ? state.name + (state.role === "admin" ? " (admin: your rankings are gold)" : "") : "";
}

function showError(msg) {
  const e = $("#error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

// request is fetch with a clear message when the server cannot be reached
// (fetch itself only says "Failed to fetch").
async function request(path, opts) {
  try {
    return await fetch(path, opts);
  } catch (_) {
    throw new Error("Cannot reach the label server: nothing was saved. Your work on this page is kept; " +
      "check your network connection and that the server (rlhf label serve) is running, then try again.");
  }
}

async function api(method, path, body) {
  const opts = { method, headers: { "Authorization": "Bearer " + state.token } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await request(path, opts);
  let data = {};
  try { data = await res.json(); } catch (_) { /* empty body */ }
  if (res.status === 401) {
    signOut();
    throw new Error(data.error || "please sign in");
  }
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function signOut() {
  sessionStorage.clear();
  state.token = state.name = state.role = "";
  show("signin");
}

async function signIn(ev) {
  ev.preventDefault();
  showError("");
  const name = $("#name").value.trim(), token = $("#token").value.trim();
  try {
    const res = await request("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name, token }) });
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    state.token = token; state.name = data.name; state.role = data.role;
    sessionStorage.setItem("rlhf-token", token);
    sessionStorage.setItem("rlhf-name", data.name);
    sessionStorage.setItem("rlhf-role", data.role);
    $("#token").value = "";
    await loadTask();
  } catch (e) { showError(e.message); }
}

function rankOf(id) {
  for (let i = 0; i < state.tiers.length; i++) if (state.tiers[i].includes(id)) return i + 1;
  return 0;
}

function pick(id, tie) {
  if (rankOf(id)) return;
  if ((tie || state.tieNext) && state.tiers.length) state.tiers[state.tiers.length - 1].push(id);
  else state.tiers.push([id]);
  state.tieNext = false;
  renderRanks();
}

function unpickLast() {
  const last = state.tiers[state.tiers.length - 1];
  if (!last) return;
  last.pop();
  if (!last.length) state.tiers.pop();
  renderRanks();
}

function renderRanks() {
  const t = state.task;
  let all = true;
  for (const card of document.querySelectorAll(".answer")) {
    const r = rankOf(card.dataset.id);
    card.classList.toggle("ranked", r > 0);
    card.querySelector(".badge").textContent = r ? "Rank " + r : "unranked";
    card.querySelector(".pick").disabled = r > 0;
    card.querySelector(".tie").disabled = r > 0 || state.tiers.length === 0;
    if (!r) all = false;
  }
  $("#submit").disabled = state.busy || !(t && all);
  $("#progress").textContent = t ? "done " + t.done + " · left " + t.remaining : "";
}

function renderTask() {
  const t = state.task;
  state.tiers = [];
  state.started = Date.now();
  // The item's language, so Chinese is drawn with Chinese glyph forms.
  $("#prompt").lang = t.lang || "";
  $("#prompt").textContent = t.prompt;
  // The system message and earlier turns of a conversation, in order.
  const turns = $("#turns");
  turns.replaceChildren();
  (t.history || []).forEach((m) => {
    const p = document.createElement("div");
    p.className = "turn text";
    p.lang = t.lang || "";
    const who = document.createElement("strong");
    who.textContent = m.role + ": ";
    p.append(who, document.createTextNode(m.content));
    turns.append(p);
  });
  $("#history").hidden = !(t.history && t.history.length);
  const box = $("#answers");
  box.replaceChildren();
  t.answers.forEach((a, i) => {
    const card = document.createElement("article");
    card.className = "answer";
    card.dataset.id = a.id;
    const head = document.createElement("div");
    head.className = "head";
    const title = document.createElement("strong");
    title.textContent = "Answer " + (i + 1);
    const badge = document.createElement("span");
    badge.className = "badge";
    const pickBtn = document.createElement("button");
    pickBtn.type = "button"; pickBtn.className = "pick"; pickBtn.textContent = "Rank next";
    pickBtn.addEventListener("click", () => pick(a.id, false));
    const tieBtn = document.createElement("button");
    tieBtn.type = "button"; tieBtn.className = "tie"; tieBtn.textContent = "Tie with previous";
    tieBtn.addEventListener("click", () => pick(a.id, true));
    head.append(title, badge, pickBtn, tieBtn);
    const text = document.createElement("div");
    text.className = "text";
    text.lang = t.lang || "";
    text.textContent = a.text;
    const meta = document.createElement("div");
    meta.className = "meta";
    const ql = document.createElement("label");
    ql.textContent = "Quality (1-7) ";
    const sel = document.createElement("select");
    sel.className = "quality";
    for (const v of ["", "1", "2", "3", "4", "5", "6", "7"]) {
      const o = document.createElement("option");
      o.value = v; o.textContent = v === "" ? "–" : v;
      sel.append(o);
    }
    sel.addEventListener("change", () => sel.blur()); // give the keys back to the page
    ql.append(sel);
    meta.append(ql);
    for (const [flag, text] of FLAGS) {
      const l = document.createElement("label");
      const cb = document.createElement("input");
      cb.type = "checkbox"; cb.className = "flag"; cb.dataset.flag = flag;
      l.append(cb, " " + text);
      meta.append(l);
    }
    card.append(head, text, meta);
    box.append(card);
  });
  renderRanks();
}

async function loadTask() {
  showError("");
  try {
    const t = await api("GET", "/api/task");
    state.task = t.group_id ? t : null;
    $("#progress").textContent = "done " + t.done + " · left " + t.remaining;
    if (!state.task) { show("done"); return; }
    show("task");
    renderTask();
  } catch (e) { showError(e.message); }
}

// runAction runs one task action (submit, skip, undo) at a time: its
// buttons are disabled while its request runs, and a click or key meanwhile
// does nothing.
async function runAction(action) {
  if (state.busy) return;
  setBusy(true);
  try { await action(); } catch (e) { showError(e.message); } finally { setBusy(false); }
}

function setBusy(busy) {
  state.busy = busy;
  for (const id of ["#skip", "#undo", "#undo-done"]) $(id).disabled = busy;
  if (state.task) renderRanks(); else $("#submit").disabled = true;
}

async function submit() {
  const t = state.task;
  if (!t || state.busy || $("#submit").disabled) return;
  const ranks = {}, ratings = {};
  for (const card of document.querySelectorAll(".answer")) {
    const id = card.dataset.id;
    ranks[id] = rankOf(id);
    const q = card.querySelector(".quality").value;
    const flags = [...card.querySelectorAll(".flag:checked")].map((cb) => cb.dataset.flag);
    if (q || flags.length) ratings[id] = { quality: q ? Number(q) : 0, flags };
  }
  await runAction(async () => {
    await api("POST", "/api/submit", { group_id: t.group_id, ranks, ratings, shown: t.answers.map((a) => a.id) });
    await loadTask();
  });
}

async function skip() {
  const t = state.task;
  if (!t) return;
  await runAction(async () => { await api("POST", "/api/skip", { group_id: t.group_id }); await loadTask(); });
}

async function undo() {
  await runAction(async () => { await api("POST", "/api/undo", {}); await loadTask(); });
}

function fmt(x) { return x === null || x === undefined ? "–" : x.toFixed(2); }

function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

async function loadDashboard() {
  showError("");
  try {
    const s = await api("GET", "/api/stats");
    show("dashboard");
    $("#summary").textContent = s.items + " items, " + s.ranked_items + " ranked, " + s.gold_items + " gold; overlap " + s.overlap +
      "; Krippendorff's alpha " + fmt(s.alpha) + " over " + s.alpha_units + " answer pairs; warning below " + s.threshold;
    $("#overlap").value = s.overlap;
    const lb = $("#labelers tbody");
    lb.replaceChildren();
    for (const l of s.labelers || []) {
      const tr = document.createElement("tr");
      if (l.warnings && l.warnings.length) tr.className = "warn";
      tr.append(cell(l.name), cell(l.tasks), cell(l.skips), cell(l.mean_seconds.toFixed(1)),
        cell(fmt(l.gold_agreement) + " (" + l.gold_pairs + " pairs)"), cell(fmt(l.peer_agreement) + " (" + l.peer_pairs + " pairs)"),
        cell(fmt(l.peer_kappa)), cell((l.warnings || []).join("; ")));
      lb.append(tr);
    }
    const pb = $("#pairs tbody");
    pb.replaceChildren();
    for (const p of s.pairs || []) {
      const tr = document.createElement("tr");
      tr.append(cell(p.a), cell(p.b), cell(p.items), cell(p.pairs), cell(fmt(p.agreement)), cell(fmt(p.kappa)));
      pb.append(tr);
    }
  } catch (e) { showError(e.message); }
}

async function saveOverlap(ev) {
  ev.preventDefault();
  try { await api("POST", "/api/admin/overlap", { rate: Number($("#overlap").value) }); await loadDashboard(); } catch (e) { showError(e.message); }
}

// takesText reports whether el is a field keys type into (text boxes, not
// checkboxes or menus).
function takesText(el) {
  if (el instanceof HTMLTextAreaElement || (el instanceof HTMLElement && el.isContentEditable)) return true;
  return el instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit", "reset"].includes(el.type);
}

document.addEventListener("keydown", (ev) => {
  if ($("#task-view").hidden || !state.task) return;
  if (ev.ctrlKey || ev.altKey || ev.metaKey) return; // the browser's and the system's shortcuts
  if (takesText(ev.target)) return;
  // Digits and Enter work with a flag checkbox or the quality menu focused;
  // the menu gives up the focus so it does not take a digit as a quality.
  const m = /^Digit([1-9])$/.exec(ev.code);
  if ((m || ev.key === "Enter") && ev.target instanceof HTMLSelectElement) ev.target.blur();
  if (m) {
    const a = state.task.answers[Number(m[1]) - 1];
    if (a) { pick(a.id, ev.shiftKey); ev.preventDefault(); }
    return;
  }
  if (ev.key === "Backspace") { unpickLast(); ev.preventDefault(); }
  else if (ev.key === "Enter") { submit(); ev.preventDefault(); }
  else if (ev.key === "s") skip();
  else if (ev.key === "u") undo();
});

$("#signin-form").addEventListener("submit", signIn);
$("#submit").addEventListener("click", submit);
$("#skip").addEventListener("click", skip);
$("#undo").addEventListener("click", undo);
$("#undo-done").addEventListener("click", undo);
$("#clear").addEventListener("click", () => { state.tiers = []; renderRanks(); });
$("#signout").addEventListener("click", signOut);
$("#to-dashboard").addEventListener("click", loadDashboard);
$("#to-task").addEventListener("click", loadTask);
$("#overlap-form").addEventListener("submit", saveOverlap);

if (state.token) loadTask(); else show("signin");
