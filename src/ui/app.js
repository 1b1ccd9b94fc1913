// hookgate's web UI (docs/ui.md): Rancher's "API → Webhooks" flow on hookgate's own API.
// It talks to this origin only, with the API key the person enters (kept in this tab's
// session storage). Everything shown is set as text, never parsed as HTML: receiver names
// and Cattle's names are user input.
"use strict";

const API = "/v1-webhooks";
const store = window.sessionStorage;

// Each kind's fields, labelled with Rancher's wording. `value` is used when the schema has
// no default for the field.
const KINDS = {
  scaleService: {
    label: "Scale a Service",
    fields: [
      { name: "action", label: "Action", type: "select",
        options: [["up", "Scale Up"], ["down", "Scale Down"]] },
      { name: "serviceId", label: "Target Service", type: "select", source: "services" },
      { name: "amount", label: "By", type: "number", min: 1, value: 1 },
      { name: "min", label: "Minimum Scale", type: "number", min: 0 },
      { name: "max", label: "Maximum Scale", type: "number", min: 1 },
      { name: "cooldownSeconds", label: "Cooldown (seconds)", type: "number", min: 0,
        help: "After acting, ignore further triggers for this long." },
      { name: "onResolved", label: "When an alert resolves", type: "select",
        options: [["ignore", "Do nothing"], ["reverse", "Undo the step"], ["trigger", "Act again"]] },
    ],
  },
  scaleHost: {
    label: "Scale Hosts",
    fields: [
      { name: "action", label: "Action", type: "select",
        options: [["up", "Add Hosts"], ["down", "Remove Hosts"]] },
      { name: "hostSelector", label: "Host Selector", type: "labels",
        placeholder: "role=worker", help: "Labels the hosts share: key=value, comma separated." },
      { name: "hostTemplateId", label: "Host Template", type: "select", source: "hosttemplates",
        optional: "None" },
      { name: "amount", label: "By", type: "number", min: 1, value: 1 },
      { name: "min", label: "Minimum Hosts", type: "number", min: 0 },
      { name: "max", label: "Maximum Hosts", type: "number", min: 1 },
      { name: "deleteOption", label: "Delete Priority", type: "select",
        options: [["mostRecent", "Most recent first"], ["leastRecent", "Oldest first"]] },
      { name: "cooldownSeconds", label: "Cooldown (seconds)", type: "number", min: 0 },
      { name: "onResolved", label: "When an alert resolves", type: "select",
        options: [["ignore", "Do nothing"], ["reverse", "Undo the step"], ["trigger", "Act again"]] },
    ],
  },
  serviceUpgrade: {
    label: "Upgrade a Service",
    fields: [
      { name: "payloadFormat", label: "Registry", type: "select",
        options: [["dockerhub", "Docker Hub"], ["alicloud", "Alibaba Cloud"], ["azure", "Azure (ACR)"],
                  ["quay", "Quay"], ["harbor", "Harbor"], ["registry", "Docker Registry"]] },
      { name: "addressType", label: "Address Type", type: "select",
        options: [["registry", "Public"], ["registry-internal", "Internal"], ["registry-vpc", "VPC"]] },
      { name: "tag", label: "Tag", type: "text", value: "latest",
        help: "Upgrade when an image is pushed with this tag." },
      { name: "tagPattern", label: "Tag Pattern", type: "text", placeholder: "v1.*",
        help: "Optional: also upgrade on tags matching this pattern (* and ?)." },
      { name: "serviceSelector", label: "Service Selector", type: "labels",
        placeholder: "app=web", help: "Labels of the services to upgrade: key=value, comma separated." },
      { name: "batchSize", label: "Batch Size", type: "number", min: 1 },
      { name: "intervalMillis", label: "Batch Interval (seconds)", type: "number", min: 1 },
      { name: "startFirst", label: "Start new containers before stopping the old", type: "checkbox" },
    ],
  },
  forwardPost: {
    label: "Forward a POST",
    fields: [
      { name: "serviceName", label: "Service", type: "text", placeholder: "stack/service",
        help: "The service in this project that receives the POST." },
      { name: "port", label: "Port", type: "text", placeholder: "8080" },
      { name: "path", label: "Path", type: "text", placeholder: "/hooks/deploy" },
    ],
  },
};

const state = {
  auth: store.getItem("hookgate.auth"),
  who: store.getItem("hookgate.who"),
  project: store.getItem("hookgate.project"),
  projects: [],
  services: [],
  hosttemplates: [],
  receivers: [],
  defaults: {},
};

const $ = (sel) => document.querySelector(sel);
// A kind this page knows (receiver data comes from the API: `__proto__` is not a kind).
const kindOf = (driver) => (Object.hasOwn(KINDS, driver) ? KINDS[driver] : null);

// Elements, built without HTML parsing.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `hookgate answered ${status}`);
    this.status = status;
    this.field = body && body.fieldName;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.auth) headers.Authorization = state.auth;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
    referrerPolicy: "no-referrer",
  });
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch (_) {
    data = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

function notice(message) {
  const n = $("#notice");
  n.textContent = message || "";
  n.hidden = !message;
}

function show(section) {
  for (const id of ["signin", "hooks", "editor"]) $("#" + id).hidden = id !== section;
  const signedIn = Boolean(state.auth);
  $("#who").hidden = !signedIn;
  $("#sign-out").hidden = !signedIn;
  $("#who").textContent = signedIn ? `Signed in as ${state.who}` : "";
}

// ---- sign-in and projects ----

async function signIn(event) {
  event.preventDefault();
  const access = $("#access-key").value.trim();
  const secret = $("#secret-key").value;
  const err = $("#signin-error");
  err.textContent = "";
  if (!access || !secret) {
    err.textContent = "Enter both the Access Key and the Secret Key.";
    return;
  }
  state.auth = "Basic " + btoa(unescape(encodeURIComponent(`${access}:${secret}`)));
  try {
    await loadProjects();
  } catch (e) {
    state.auth = null;
    err.textContent = e.status === 401 ? "Rancher did not accept this API key." : e.message;
    return;
  }
  state.who = access;
  store.setItem("hookgate.auth", state.auth);
  store.setItem("hookgate.who", access);
  $("#secret-key").value = "";
  await openList();
}

function signOut() {
  store.clear();
  state.auth = state.who = state.project = null;
  notice("");
  show("signin");
  $("#access-key").focus();
}

async function loadProjects() {
  const doc = await api("GET", `${API}/projects`);
  state.projects = doc.data;
  if (!state.projects.some((p) => p.id === state.project)) {
    state.project = state.projects.length ? state.projects[0].id : null;
  }
  const select = $("#project");
  select.replaceChildren(
    ...state.projects.map((p) =>
      el("option", { value: p.id, selected: p.id === state.project, text: p.name ? `${p.name} (${p.id})` : p.id })
    )
  );
}

async function loadSchemaDefaults() {
  const doc = await api("GET", `${API}/schemas`);
  for (const s of doc.data) {
    const fields = s.resourceFields || {};
    state.defaults[s.id] = Object.fromEntries(
      Object.entries(fields)
        .filter(([, f]) => f && f.default !== undefined)
        .map(([k, f]) => [k, f.default])
    );
  }
}

function q() {
  return `projectId=${encodeURIComponent(state.project)}`;
}

// ---- the list ----

async function openList() {
  notice("");
  show("hooks");
  if (!state.project) {
    notice("This API key reaches no project.");
    return;
  }
  store.setItem("hookgate.project", state.project);
  try {
    const [receivers, services] = await Promise.all([
      api("GET", `${API}/receivers?${q()}`),
      api("GET", `${API}/services?${q()}`),
    ]);
    state.receivers = receivers.data;
    state.services = services.data;
  } catch (e) {
    if (e.status === 401) return signOut();
    notice(e.message);
    return;
  }
  renderList();
}

function serviceName(id) {
  const s = state.services.find((x) => x.id === id);
  return s ? `${s.name || s.id}` : id;
}

function labels(map) {
  return Object.entries(map || {}).map(([k, v]) => (v ? `${k}=${v}` : k)).join(", ");
}

function target(r) {
  const c = r[`${r.driver}Config`] || {};
  const bounds = c.min !== undefined && c.max !== undefined ? ` (${c.min}–${c.max})` : "";
  const way = c.action === "down" ? "down" : "up";
  switch (r.driver) {
    case "scaleService":
      return `${serviceName(c.serviceId)}: ${way} by ${c.amount}${bounds}`;
    case "scaleHost":
      return `hosts ${labels(c.hostSelector) || c.hostTemplateId || ""}: ${way} by ${c.amount}${bounds}`;
    case "serviceUpgrade":
      return `services ${labels(c.serviceSelector)} on push of :${c.tag}`;
    case "forwardPost":
      return `${c.serviceName}:${c.port}${c.path || ""}`;
    default:
      return "";
  }
}

function renderList() {
  const rows = state.receivers
    .slice()
    .sort((a, b) => String(a.name).localeCompare(String(b.name)))
    .map((r) => {
      const name = r.name || r.id;
      const url = el("input", {
        class: "url", readonly: true, value: r.url || "", "aria-label": `Trigger URL of ${name}`,
        onfocus: (e) => e.target.select(),
      });
      const copy = el("button", {
        type: "button", text: "Copy", "aria-label": `Copy the trigger URL of ${name}`,
        onclick: (e) => copyUrl(r.url, e.target),
      });
      return el("tr", { "data-id": r.id },
        el("th", { scope: "row", "data-label": "Name" }, name),
        el("td", { "data-label": "Kind" }, kindOf(r.driver) ? kindOf(r.driver).label : String(r.driver)),
        el("td", { "data-label": "Target" }, target(r)),
        el("td", { "data-label": "Trigger URL", class: "url-cell" }, r.url ? url : "—", r.url ? copy : null),
        el("td", { "data-label": "State" }, el("span", { class: `state state-${r.state || "unknown"}`, text: r.state || "unknown" })),
        el("td", { "data-label": "Options", class: "options" },
          kindOf(r.driver)
            ? el("button", { type: "button", text: "Clone", "aria-label": `Clone ${name}`, onclick: () => openEditor(r) })
            : null,
          el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${name}`, onclick: () => remove(r) })
        )
      );
    });
  $("#list tbody").replaceChildren(...rows);
  $("#list").hidden = rows.length === 0;
  $("#empty").hidden = rows.length !== 0;
}

async function copyUrl(url, button) {
  try {
    await navigator.clipboard.writeText(url);
  } catch (_) {
    // No clipboard permission: leave the URL selected for Ctrl-C.
    const input = button.parentElement.querySelector("input");
    input.focus();
    input.select();
    button.textContent = "Press Ctrl-C";
    return;
  }
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = "Copy"), 2000);
}

async function remove(r) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent =
    `“${r.name || r.id}” will be deleted and its trigger URL stops working. This cannot be undone.`;
  dialog.returnValue = "";
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  if (dialog.returnValue !== "delete") return;
  try {
    await api("DELETE", `${API}/receivers/${encodeURIComponent(r.id)}?${q()}`);
    notice("");
  } catch (e) {
    notice(e.message);
  }
  await openList();
  $("#add").focus();
}

// ---- the form ----

async function openEditor(from) {
  notice("");
  $("#editor-h").textContent = "Add Receiver";
  const form = $("#receiver-form");
  form.reset();
  clearErrors();
  const driver = from && kindOf(from.driver) ? from.driver : "scaleService";
  $("#f-driver").value = driver;
  $("#f-name").value = from ? `${from.name}-copy` : "";
  await renderFields(driver, from ? from[`${driver}Config`] : null);
  show("editor");
  $("#f-name").focus();
}

async function lookups(source) {
  if (source === "services") return state.services;
  if (source === "hosttemplates") {
    try {
      state.hosttemplates = (await api("GET", `${API}/hosttemplates?${q()}`)).data;
    } catch (_) {
      state.hosttemplates = [];
    }
    return state.hosttemplates;
  }
  return [];
}

async function renderFields(driver, config) {
  const kind = kindOf(driver) || KINDS.scaleService;
  const defaults = (Object.hasOwn(state.defaults, driver) && state.defaults[driver]) || {};
  const box = $("#driver-fields");
  const parts = [];
  for (const f of kind.fields) {
    const id = `f-${f.name}`;
    const errId = `e-${f.name}`;
    const given = config && Object.hasOwn(config, f.name) ? config[f.name] : undefined;
    const initial = given !== undefined && given !== null ? given : defaults[f.name] !== undefined ? defaults[f.name] : f.value;
    let input;
    if (f.type === "select") {
      let options = f.options || [];
      if (f.source) {
        const items = await lookups(f.source);
        options = items.map((x) => [x.id, x.name ? `${x.name} (${x.id})` : x.id]);
        if (f.optional) options.unshift(["", f.optional]);
        else if (!options.length) options = [["", "None available"]];
      }
      input = el("select", { id, name: f.name, "aria-describedby": errId },
        ...options.map(([v, text]) => el("option", { value: v, text, selected: String(initial) === v })));
    } else if (f.type === "checkbox") {
      input = el("input", { id, name: f.name, type: "checkbox", checked: Boolean(initial), "aria-describedby": errId });
    } else {
      input = el("input", {
        id, name: f.name, type: f.type === "number" ? "number" : "text",
        min: f.min, step: f.type === "number" ? 1 : undefined, inputmode: f.type === "number" ? "numeric" : undefined,
        placeholder: f.placeholder, spellcheck: "false", "aria-describedby": `${errId}${f.help ? ` h-${f.name}` : ""}`,
        value: f.type === "labels" ? labels(initial) : initial === undefined ? "" : initial,
      });
    }
    parts.push(el("div", { class: f.type === "checkbox" ? "field check" : "field" },
      f.type === "checkbox" ? input : null,
      el("label", { for: id, text: f.label }),
      f.type === "checkbox" ? null : input,
      f.help ? el("p", { id: `h-${f.name}`, class: "help", text: f.help }) : null,
      el("p", { id: errId, class: "error", "data-error-for": f.name, "aria-live": "polite" })
    ));
  }
  box.replaceChildren(el("fieldset", {}, el("legend", { text: kind.label }), ...parts));
}

function parseLabels(text) {
  const out = {};
  for (const part of text.split(",")) {
    const p = part.trim();
    if (!p) continue;
    const at = p.indexOf("=");
    if (at < 0) out[p] = "";
    else out[p.slice(0, at).trim()] = p.slice(at + 1).trim();
  }
  return out;
}

function readForm() {
  const driver = $("#f-driver").value;
  const config = {};
  for (const f of (kindOf(driver) || KINDS.scaleService).fields) {
    const input = document.getElementById(`f-${f.name}`);
    if (!input) continue;
    if (f.type === "checkbox") config[f.name] = input.checked;
    else if (f.type === "number") {
      if (input.value.trim() === "") continue;
      config[f.name] = Number(input.value);
    } else if (f.type === "labels") {
      const m = parseLabels(input.value);
      if (Object.keys(m).length) config[f.name] = m;
    } else if (input.value !== "") config[f.name] = input.value;
  }
  if (driver === "serviceUpgrade" && config.payloadFormat !== "alicloud") delete config.addressType;
  if (driver === "forwardPost") config.projectId = state.project;
  return { name: $("#f-name").value.trim(), driver, [`${driver}Config`]: config };
}

function clearErrors() {
  for (const e of document.querySelectorAll("#receiver-form .error")) e.textContent = "";
  for (const i of document.querySelectorAll("#receiver-form [aria-invalid]")) i.removeAttribute("aria-invalid");
}

function showError(e) {
  // Cattle-style errors name their field; show the message beside it.
  const field = e.field ? String(e.field).split(".").pop() : null;
  const slot = field && document.querySelector(`#receiver-form [data-error-for="${CSS.escape(field)}"]`);
  if (slot) {
    slot.textContent = e.message;
    const input = document.getElementById(`f-${field}`) || document.getElementById(field === "driver" ? "f-driver" : "f-name");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  } else {
    $("#form-error").textContent = e.message;
  }
}

async function create(event) {
  event.preventDefault();
  clearErrors();
  const body = readForm();
  if (!body.name) {
    showError({ field: "name", message: "Name is required." });
    return;
  }
  const button = event.submitter || $("#receiver-form button[type=submit]");
  button.disabled = true;
  try {
    await api("POST", `${API}/receivers?${q()}`, body);
  } catch (e) {
    if (e.status === 401) return signOut();
    showError(e);
    return;
  } finally {
    button.disabled = false;
  }
  await openList();
  const row = [...document.querySelectorAll("#list tbody tr th")].find((th) => th.textContent === body.name);
  if (row) row.parentElement.querySelector("button").focus();
}

// ---- start ----

document.addEventListener("DOMContentLoaded", async () => {
  $("#signin-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#add").addEventListener("click", () => openEditor(null));
  $("#refresh").addEventListener("click", openList);
  $("#cancel").addEventListener("click", () => openList());
  $("#receiver-form").addEventListener("submit", create);
  $("#f-driver").addEventListener("change", (e) => {
    clearErrors();
    renderFields(e.target.value, null);
  });
  $("#project").addEventListener("change", (e) => {
    state.project = e.target.value;
    openList();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("#editor").hidden && !$("#confirm").open) openList();
  });
  try {
    await loadSchemaDefaults();
  } catch (e) {
    notice(`Could not read hookgate's schemas: ${e.message}`);
  }
  if (!state.auth) {
    show("signin");
    $("#access-key").focus();
    return;
  }
  try {
    await loadProjects();
  } catch (e) {
    if (e.status === 401) return signOut();
    notice(e.message);
  }
  await openList();
});
