// The page only reads CareerGPT's JSON API: GET /v1/scenario for the last
// outcome, POST /v1/scenario or /v1/steps/{action} to play again.
"use strict";

const LANES = ["careergpt", "identity", "logging", "notification"];
const NAMES = { careergpt: "CareerGPT", identity: "Identity", logging: "Logging", notification: "Notification" };
const EXPLAIN = {
  iss: "Issuer: who vouches for the token. Only Identity, the trust anchor, is trusted.",
  sub: "Subject: who is calling. Logging records it as the source of every entry.",
  aud: "Audience: the one service this token is for. Anywhere else it is refused.",
  exp: "Expiry: after this moment (plus a few seconds of clock-skew leeway) the token is worthless.",
  jti: "Token id: unique per token. Notification remembers it and refuses a second use.",
  iat: "Issued at.",
  nbf: "Not valid before.",
  client_id: "The client that asked Identity for the token.",
  act: "Actor (RFC 8693): who is acting for sub. A token from a token exchange names the caller in sub and the service acting on its behalf here; a nested act is the actors before it.",
  cnf: "Confirmation: the thumbprint (jkt) of the key this token is bound to. It works only with a DPoP proof signed by that key, so a stolen copy is useless even at its own audience.",
  scope: "What the token allows at that service.",
  status: "Status list entry (Token Status List): the index of this token in a list Identity signs and serves. Revoking the token flips its entry; resource servers that check the list refuse it once they refetch it.",
  alg: "Signature algorithm. Verifiers pin it; the token never chooses.",
  typ: "at+jwt marks an access token (RFC 9068), so an ID token cannot pass for one.",
  kid: "Which of the issuer's published keys signed it.",
};
// PROOF_EXPLAIN explains a DPoP proof's members (RFC 9449).
const PROOF_EXPLAIN = {
  typ: "dpop+jwt marks a DPoP proof, so no other JWT can pass for one.",
  alg: "The proof's signature algorithm, asymmetric only.",
  jwk: "The public key that signed the proof. Its thumbprint must be the token's cnf.jkt.",
  htm: "The HTTP method this proof is for.",
  htu: "The URL this proof is for (without query): it works nowhere else.",
  iat: "When the proof was made: only proofs a few seconds old are accepted.",
  jti: "Proof id: Logging remembers it, so a proof works once.",
  ath: "SHA-256 of the access token sent with it: the proof is for that token only.",
};
// WIT_EXPLAIN explains a WIMSE workload identity token's members
// (draft-ietf-wimse-workload-creds-02).
const WIT_EXPLAIN = {
  typ: "wit+jwt marks a Workload Identity Token: never an access token, so a verifier cannot take it for one.",
  alg: "Identity's signature algorithm, as for its access tokens.",
  kid: "Which of Identity's published keys signed it.",
  iss: "Identity, the trust anchor, vouches for the workload.",
  sub: "The workload's URI in its trust domain (wimse://trust-domain/name): who is calling.",
  exp: "Expiry: a WIT lives longer than an access token (30 minutes), since every request proves the key anew.",
  iat: "Issued at.",
  jti: "The WIT's id, for logs.",
  cnf: "The public key the workload proved it holds, with its alg. Every request carries a WPT signed by it; without the key, a copied WIT is useless.",
};
// WPT_EXPLAIN explains a WIMSE workload proof token's members (draft-ietf-wimse-wpt-01).
const WPT_EXPLAIN = {
  typ: "wpt+jwt marks a Workload Proof Token: a proof for one request.",
  alg: "Must be exactly the alg of the WIT's cnf.jwk: the proof cannot choose another.",
  aud: "The request's target URI, without query or fragment: the proof is for this service and this endpoint only, like an access token's aud but for every request.",
  exp: "A few seconds ahead (30 s here): a captured proof dies quickly.",
  iat: "When the proof was made.",
  jti: "Proof id: the receiver remembers it, so a proof works once.",
  wth: "SHA-256 of the WIT sent with it: the proof is for that WIT only.",
  ath: "SHA-256 of the access token sent with it: the proof is for that token only.",
};
const WAITS = { expired: "Waiting for a 1-second token to expire, past the clock-skew leeway (about 7 s)…",
  scenario: "Playing the scenario (the expiry step waits about 7 s)…" };

let steps = [];
let selected = -1;

const $ = (sel) => document.querySelector(sel);
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function load() {
  const resp = await fetch("/v1/scenario");
  if (resp.status === 404) {
    $("#status").textContent = "The scenario has not run yet. Press “Run the whole scenario”.";
    return;
  }
  show(await resp.json());
}

async function play(action) {
  const buttons = document.querySelectorAll(".actions button");
  buttons.forEach((b) => (b.disabled = true));
  $("#status").textContent = WAITS[action] || "Running…";
  try {
    const url = action === "scenario" ? "/v1/scenario" : "/v1/steps/" + action;
    const resp = await fetch(url, { method: "POST" });
    if (!resp.ok) throw new Error((await resp.json()).error_description || resp.statusText);
    show(await resp.json());
  } catch (err) {
    $("#status").textContent = "Could not run it: " + err.message;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

function show(outcome) {
  steps = outcome.steps || [];
  selected = -1;
  const refused = steps.filter((s) => s.result === "refused").length;
  $("#status").textContent = (outcome.passed ? "Every step ended as it should: " : "Some steps did not end as expected: ") +
    `${steps.length} requests, ${refused} refused.`;
  const list = $("#steps");
  list.replaceChildren(...steps.map(renderStep));
  renderRefusals(steps);
  $("#detail").replaceChildren(el("h2", { id: "detail-title" }, "Step details"),
    el("p", { class: "hint" }, "Select a step to see its token decoded and the checks the receiving service made."));
}

// renderRefusals counts the run's refusals by service and reason code, as
// the services' metrics count them.
function renderRefusals(steps) {
  const counts = new Map();
  for (const s of steps.filter((s) => s.result === "refused")) {
    const key = `${s.to}\u0000${s.code || "invalid_token"}`;
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  const rows = [...counts.entries()].sort().map(([key, n]) => {
    const [lane, code] = key.split("\u0000");
    return el("tr", { "data-refusal": `${lane}:${code}` }, el("th", { scope: "row" }, NAMES[lane] || lane), el("td", {}, code), el("td", {}, String(n)));
  });
  $("#refusals tbody").replaceChildren(...rows);
}

function renderStep(step, i) {
  const from = LANES.indexOf(step.from), to = LANES.indexOf(step.to);
  const arrow = el("div", { class: to < from ? "arrow leftward" : "arrow" },
    el("span", { class: "route" }, `${NAMES[step.from]} → ${NAMES[step.to]}`),
    el("span", { class: "title" }, step.title),
    el("span", { class: "badge " + step.result }, step.result),
    step.passed ? "" : el("span", { class: "unexpected" }, ` (expected ${step.expect})`),
    step.reason ? el("span", { class: "reason" }, step.reason) : "");
  arrow.style.marginLeft = (12.5 + 25 * Math.min(from, to)) + "%";
  arrow.style.marginRight = (100 - (12.5 + 25 * Math.max(from, to))) + "%";
  const button = el("button", { type: "button", class: "step", "aria-pressed": "false",
    "data-step": step.id, "aria-label": `${NAMES[step.from]} to ${NAMES[step.to]}: ${step.title}, ${step.result}${step.reason ? ": " + step.reason : ""}` }, arrow);
  button.addEventListener("click", () => select(i));
  return el("li", { "data-from": step.from, "data-to": step.to, "data-result": step.result }, button);
}

function select(i) {
  selected = i;
  document.querySelectorAll(".step").forEach((b, j) => b.setAttribute("aria-pressed", String(j === i)));
  const s = steps[i];
  const parts = [el("h2", { id: "detail-title" }, s.title),
    el("p", {}, s.story),
    el("p", {}, el("strong", {}, `${NAMES[s.from]} → ${NAMES[s.to]}: `), `${s.request} → ${s.status || "no answer"} `,
      el("span", { class: "badge " + s.result }, s.result), s.reason ? ` — ${s.reason}` : "")];
  if (s.detail) parts.push(el("p", {}, s.detail));
  if (s.trace_id) {
    parts.push(el("p", { class: "hint", "data-trace": s.trace_id },
      `Trace ${s.trace_id}: every service this step reached continued it, and its log lines name it.`));
  }
  if (s.checks && s.checks.length) {
    parts.push(el("h3", {}, `Checks at ${NAMES[s.to]}`),
      el("ul", { class: "checks" }, ...s.checks.map((c) =>
        el("li", { class: c.ok ? "pass" : "fail", "aria-label": (c.ok ? "passed: " : "failed: ") + c.name }, c.name))),
      el("p", { class: "hint" }, `As CareerGPT can tell from the token, Identity's published keys and ${NAMES[s.to]}'s answer.`));
  }
  if (s.token) {
    parts.push(el("h3", {}, "Token header"), table(s.token.header), el("h3", {}, "Token claims"), table(s.token.claims),
      el("p", { class: "hint" }, `jti ${s.token.jti || "(none)"} — the signature is not shown.`));
  }
  if (s.wit) {
    parts.push(el("h3", {}, "Workload identity token (WIT) header"), table(s.wit.header, WIT_EXPLAIN, "wit-"),
      el("h3", {}, "WIT claims"), table(s.wit.claims, WIT_EXPLAIN, "wit-"),
      el("p", { class: "hint" }, "Sent in the Workload-Identity-Token header; the signature is not shown."));
  }
  if (s.proof && s.proof.header.typ === "wpt+jwt") {
    parts.push(el("h3", {}, "Workload proof token (WPT) header"), table(s.proof.header, WPT_EXPLAIN, "wpt-"),
      el("h3", {}, "WPT claims"), table(s.proof.claims, WPT_EXPLAIN, "wpt-"),
      el("p", { class: "hint" }, "Signed by the key the WIT names, for this request only, in the Workload-Proof-Token header."));
  } else if (s.proof) {
    parts.push(el("h3", {}, "DPoP proof header"), table(s.proof.header, PROOF_EXPLAIN, "proof-"),
      el("h3", {}, "DPoP proof claims"), table(s.proof.claims, PROOF_EXPLAIN, "proof-"),
      el("p", { class: "hint" }, "The proof, signed by the caller's DPoP key, goes with the token in the DPoP header."));
  }
  $("#detail").replaceChildren(...parts);
}

function table(obj, explain = EXPLAIN, prefix = "") {
  const rows = Object.entries(obj || {}).map(([k, v]) => {
    let value = typeof v === "string" ? v : JSON.stringify(v);
    if ((k === "exp" || k === "iat" || k === "nbf") && typeof v === "number") {
      value = `${v} (${new Date(v * 1000).toISOString().replace(".000", "")})`;
    }
    return el("tr", { "data-claim": prefix + k }, el("th", { scope: "row" }, k),
      el("td", {}, value, explain[k] ? el("span", { class: "explain" }, explain[k]) : ""));
  });
  return el("table", {}, el("tbody", {}, ...rows));
}

document.querySelectorAll(".actions button").forEach((b) => b.addEventListener("click", () => play(b.dataset.action)));
load().catch((err) => ($("#status").textContent = "Could not load the scenario: " + err.message));
