// Headless Chromium (the Debian package) driven by playwright-core, for the browser tests.
// Every request the page makes is recorded; names outside 127.0.0.1 do not even resolve.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "helpdesk-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  const seen = { requests: [], sockets: [], problems: [] };
  page.on("request", (request) => seen.requests.push(request.url()));
  page.on("websocket", (socket) => seen.sockets.push(socket.url()));
  page.on("pageerror", (error) => seen.problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") seen.problems.push(`console: ${message.text()}`);
  });
  page.on("requestfailed", (request) =>
    seen.problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`),
  );
  async function close() {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  return { context, page, seen, close };
}

export function emit(value) {
  process.stdout.write(JSON.stringify(value) + "\n");
}
