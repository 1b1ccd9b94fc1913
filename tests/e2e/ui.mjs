// The web UI in a real browser (docs/ui.md): headless Chromium, driven by Playwright,
// against `hookgate demo`. Usage: node ui.mjs <hookgate base> <simulator base> <screenshot dir>
//
// As a Rancher operator would: sign in with alice's key, add a scaleService receiver for
// `web` (after a validation error shown beside its field), copy its trigger URL, fire it
// (from here, as Alertmanager would), see the simulator's scale change, clone it, delete
// the clone. Along the way: a receiver name that is markup stays text, and the page never
// sends a request anywhere but hookgate.

import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const [base, sim, shots] = process.argv.slice(2);
if (!base || !sim || !shots) {
  console.error("usage: node ui.mjs <hookgate base> <simulator base> <screenshot dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const step = (what) => console.log(`ui: ${what}`);
const alice = "Basic " + Buffer.from("alice:alice-secret").toString("base64");

async function scaleOfWeb() {
  const r = await fetch(`${sim}/v2-beta/projects/1a5/services/1s1`, {
    headers: { Authorization: alice },
  });
  return (await r.json()).scale;
}

const profile = mkdtempSync(join(tmpdir(), "hookgate-ui-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
  ],
  viewport: { width: 1280, height: 800 },
});
let failed = false;
try {
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(10_000);
  const elsewhere = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base + "/")) elsewhere.push(r.url());
  });
  const dialogs = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    d.dismiss();
  });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  step("sign in with alice's API key");
  await page.goto(`${base}/`);
  await page.getByLabel("Access Key").fill("alice");
  await page.getByLabel("Secret Key").fill("wrong-secret");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Rancher did not accept this API key.").waitFor();
  await page.getByLabel("Secret Key").fill("alice-secret");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Receiver Hooks" }).waitFor();
  assert.equal(await page.getByLabel("Project").inputValue(), "1a5");

  step("add a scaleService receiver; a bad bound is shown beside its field");
  await page.getByRole("button", { name: "Add Receiver" }).click();
  await page.getByRole("heading", { name: "Add Receiver" }).waitFor();
  await page.getByLabel("Name").fill("scale-web-up");
  await page.getByLabel("Kind").selectOption({ label: "Scale a Service" });
  await page.getByLabel("Action").selectOption({ label: "Scale Up" });
  await page.getByLabel("Target Service").selectOption({ label: "web (1s1)" });
  // The schema's defaults fill the form.
  assert.equal(await page.getByLabel("By").inputValue(), "1");
  assert.equal(await page.getByLabel("Minimum Scale").inputValue(), "1");
  assert.equal(await page.getByLabel("Maximum Scale").inputValue(), "100");
  await page.getByLabel("Minimum Scale").fill("5");
  await page.getByLabel("Maximum Scale").fill("3");
  await page.getByRole("button", { name: "Create" }).click();
  const maxError = page.locator('[data-error-for="max"]');
  await maxError.getByText("Max must be greater than min").waitFor();
  assert.equal(await page.getByLabel("Maximum Scale").getAttribute("aria-invalid"), "true");
  await page.screenshot({ path: join(shots, "form-error.png"), fullPage: true });
  await page.getByLabel("Minimum Scale").fill("1");
  await page.getByLabel("Maximum Scale").fill("10");
  await page.screenshot({ path: join(shots, "form.png"), fullPage: true });
  await page.getByRole("button", { name: "Create" }).click();

  step("see it listed, copy its trigger URL");
  const row = page.getByRole("row", { name: /scale-web-up/ });
  await row.waitFor();
  assert.match(await row.innerText(), /Scale a Service/);
  assert.match(await row.innerText(), /web: up by 1 \(1–10\)/);
  const copy = page.getByRole("button", { name: "Copy the trigger URL of scale-web-up" });
  await copy.click();
  await copy.filter({ hasText: "Copied" }).waitFor();
  const url = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(url, await page.getByRole("textbox", { name: "Trigger URL of scale-web-up" }).inputValue());
  assert.ok(url.startsWith(`${base}/v1-webhooks/endpoint?token=hg1.`), url);

  step("fire it, as Alertmanager would, and see the simulator scale web 2 → 3");
  assert.equal(await scaleOfWeb(), 2);
  const fired = await fetch(url, { method: "POST" });
  assert.equal(fired.status, 200, await fired.text());
  assert.equal(await scaleOfWeb(), 3);

  step("clone it: the form opens pre-filled with a new name");
  await page.getByRole("button", { name: "Clone scale-web-up" }).click();
  await page.getByRole("heading", { name: "Add Receiver" }).waitFor();
  assert.equal(await page.getByLabel("Name").inputValue(), "scale-web-up-copy");
  assert.equal(await page.getByLabel("Target Service").inputValue(), "1s1");
  assert.equal(await page.getByLabel("Maximum Scale").inputValue(), "10");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("row", { name: /scale-web-up-copy/ }).waitFor();
  assert.equal(await page.locator("#list tbody tr").count(), 2);
  await page.screenshot({ path: join(shots, "list.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(shots, "list-phone.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  step("delete the clone, after confirming");
  await page.getByRole("button", { name: "Delete scale-web-up-copy" }).click();
  const confirm = page.getByRole("dialog", { name: "Delete receiver?" });
  await confirm.waitFor();
  await confirm.getByRole("button", { name: "Cancel" }).click();
  assert.equal(await page.locator("#list tbody tr").count(), 2, "cancel keeps it");
  await page.getByRole("button", { name: "Delete scale-web-up-copy" }).click();
  await confirm.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("row", { name: /scale-web-up-copy/ }).waitFor({ state: "detached" });
  assert.equal(await page.locator("#list tbody tr").count(), 1);

  step("a record of a driver the page does not know is listed, not cloneable");
  // A record of a driver this page does not know, named like a JavaScript internal: listed,
  // not cloneable, and no script error.
  const stored = await fetch(`${sim}/v2-beta/projects/1a5/genericobjects`, {
    method: "POST",
    headers: { Authorization: "Basic " + Buffer.from("service:service-secret").toString("base64") },
    body: JSON.stringify({ name: "odd", key: "odd", kind: "webhookReceiver",
      resourceData: { driver: "__proto__", url: "x", config: {} } }),
  });
  assert.equal(stored.status, 201);

  await page.getByRole("button", { name: "Refresh" }).click();
  const odd = page.getByRole("row", { name: /odd/ });
  await odd.waitFor();
  assert.equal(await odd.getByRole("button", { name: "Clone odd" }).count(), 0);

  step("a name that is markup is shown as text");
  const markup = '<img src=x onerror=alert(1)>';
  await page.getByRole("button", { name: "Add Receiver" }).click();
  await page.getByLabel("Name").fill(markup);
  await page.getByLabel("Target Service").selectOption("1s1");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("rowheader", { name: markup }).waitFor();
  assert.equal(await page.locator("#list img").count(), 0);

  step("keyboard only: Tab reaches Add Receiver, Enter opens the form, Escape closes it");
  await page.getByLabel("Project").focus();
  for (let i = 0; i < 5 && !(await page.getByRole("button", { name: "Add Receiver" }).evaluate((b) => b === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Add Receiver" }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), "f-name");
  await page.keyboard.press("Escape");
  await page.getByRole("heading", { name: "Receiver Hooks" }).waitFor();

  assert.deepEqual(dialogs, [], "no script ran from shown data");
  assert.deepEqual(errors, [], "no script errors");
  assert.deepEqual(elsewhere, [], "requests only to hookgate");
  step(`passed; screenshots in ${shots}`);
} catch (e) {
  failed = true;
  console.error("ui: FAILED:", e);
  try {
    await context.pages()[0]?.screenshot({ path: join(shots, "failure.png"), fullPage: true });
  } catch (_) {}
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
