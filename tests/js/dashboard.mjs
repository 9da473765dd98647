// The dashboard in Chromium, one step per JSON line on stdin, one JSON answer per step on stdout:
// the Python test makes changes through the API between steps and checks what the page shows.
// The page's WebSocket goes through a route, so a step can drop it as a network failure would,
// keep it from reconnecting for a while, and see what the page sends when it comes back.
// usage: node dashboard.mjs BASE_URL
import { createInterface } from "node:readline";
import { emit, launch } from "./chromium.mjs";

const base = process.argv[2];
const browser = await launch();
const { page, seen } = browser;
const sockets = [];
const sent = [];
let blocked = false;

await page.routeWebSocket(
  (url) => url.pathname === "/graphql",
  (ws) => {
    if (blocked) {
      ws.close({ code: 1013, reason: "Try again later" });
      return;
    }
    const server = ws.connectToServer();
    sockets.push({ ws, server });
    ws.onMessage((message) => {
      sent.push(JSON.parse(message));
      server.send(message);
    });
  },
);

const steps = {
  async open() {
    const response = await page.goto(new URL("/dashboard", base).href, { waitUntil: "load" });
    return { status: response.status(), csp: response.headers()["content-security-policy"] };
  },
  async signIn({ token }) {
    await page.locator("#token").fill(token);
    await page.locator("#sign-in button[type=submit]").click();
    return {};
  },
  async wait({ selector }) {
    await page.locator(selector).first().waitFor({ timeout: 20000 });
    return {};
  },
  async mark() {
    await page.evaluate(() => (window.notReloaded = true));
    return {};
  },
  async state() {
    return page.evaluate(() => ({
      url: window.location.href,
      session: Object.fromEntries(Object.entries(sessionStorage)),
      local: Object.keys(localStorage),
      cookies: document.cookie,
      notReloaded: window.notReloaded === true,
      connection: document.getElementById("connection").dataset.state,
      signInShown: document.getElementById("sign-in").checkVisibility(),
      boardShown: document.getElementById("board").checkVisibility(),
      counts: Object.fromEntries(
        [...document.querySelectorAll("#status-chart [data-status]")].map((bar) => [
          bar.dataset.status,
          Number(bar.dataset.count),
        ]),
      ),
      categories: Object.fromEntries(
        [...document.querySelectorAll("#category-chart [data-category]")].map((bar) => [
          bar.dataset.category,
          Number(bar.dataset.count),
        ]),
      ),
      urgent: document.getElementById("urgent-active").textContent,
      oldestOpen: document.getElementById("oldest-open").textContent,
      feed: [...document.querySelectorAll("#feed li")].map((item) => item.dataset.eventId).reverse(),
    }));
  },
  async drop() {
    blocked = true;
    for (const { ws, server } of sockets.splice(0)) {
      ws.close({ code: 1012, reason: "Service restart" });
      server.close();
    }
    await page.locator('#connection[data-state="reconnecting"]').waitFor({ timeout: 20000 });
    return {};
  },
  async reconnect() {
    blocked = false;
    return {};
  },
  async sent() {
    return { messages: sent };
  },
  async seen() {
    return seen;
  },
  async screenshot({ path }) {
    await page.screenshot({ path, fullPage: true });
    return {};
  },
};

emit({ started: true });
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const step = JSON.parse(line);
  if (step.do === "quit") break;
  try {
    emit({ step: step.do, ...(await steps[step.do](step)) });
  } catch (error) {
    emit({ step: step.do, error: String(error) });
  }
}
await browser.close();
process.exit(0);
