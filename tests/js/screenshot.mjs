// Renders the dashboard with demo data to a PNG (the README's picture): a fresh SQLite database
// seeded with `helpdesk seed-demo`, a server on a free port, an agent signed in, a few live changes.
// usage: node tests/js/screenshot.mjs OUTPUT.png   (from the repository root, after make install)
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { launch } from "./chromium.mjs";

const output = resolve(process.argv[2] || "docs/dashboard.png");
const helpdesk = resolve(".venv/bin/helpdesk");
const data = mkdtempSync(join(tmpdir(), "helpdesk-screenshot-"));
const port = await new Promise((done) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const { port } = probe.address();
    probe.close(() => done(port));
  });
});
const env = {
  ...process.env,
  HELPDESK_DATABASE_URL: `sqlite://${join(data, "helpdesk.sqlite3")}`,
  HELPDESK_DATA_DIR: data,
  HELPDESK_PORT: String(port),
  HELPDESK_LOG_LEVEL: "WARNING",
};
const run = (...args) => execFileSync(helpdesk, args, { env, encoding: "utf8" }).trim();
run("migrate");
run("seed-demo", "--tickets", "400", "--customers", "40", "--agents", "5", "--seed", "7");
const server = spawn(helpdesk, ["serve"], { env, stdio: "inherit" });
const base = `http://127.0.0.1:${port}`;
const agent = run("token", "--sub", "screenshot-agent", "--role", "agent", "--name", "Maria (support)");
const customer = run("token", "--sub", "screenshot-customer", "--role", "customer", "--name", "Anna");

async function gql(token, query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const browser = await launch();
try {
  for (let attempt = 0; ; attempt++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    if (attempt > 100) throw new Error("the server did not start");
    await new Promise((done) => setTimeout(done, 100));
  }
  const { page } = browser;
  await page.goto(`${base}/dashboard`);
  await page.locator("#token").fill(agent);
  await page.locator("#sign-in button[type=submit]").click();
  await page.locator('#connection[data-state="live"]').waitFor();
  await page.locator("#status-chart [data-status]").first().waitFor();

  const create = `mutation ($input: CreateTicketInput!) { createTicket(input: $input) { ticket { id } } }`;
  const questions = [
    ["metric-billing", "How is billing per click calculated for campaigns?", true],
    ["system-errors", "The report export fails with error 500", false],
    ["app-help", "How do I invite a colleague to my account?", false],
  ];
  const ids = [];
  for (const [categorySlug, question, urgent] of questions) {
    ids.push((await gql(customer, create, { input: { categorySlug, question, urgent } })).createTicket.ticket.id);
  }
  await gql(agent, `mutation ($id: ID!) { takeTicket(input: {ticketId: $id}) { ticket { id } } }`, { id: ids[0] });
  await gql(
    agent,
    `mutation ($id: ID!) { replyToTicket(input: {ticketId: $id, body: "Which campaign is it?", awaitCustomerReply: true}) { ticket { id } } }`,
    { id: ids[0] },
  );
  await gql(customer, `mutation ($id: ID!) { changeTicketStatus(input: {ticketId: $id, status: CLOSED}) { ticket { id } } }`, { id: ids[2] });
  await page.locator("#feed li").nth(5).waitFor();
  await page.locator('#status-chart [data-status="AWAITING_REPLY"]:not([data-count="0"])').waitFor();
  await page.setViewportSize({ width: 1200, height: 580 });
  await page.screenshot({ path: output, fullPage: true });
  console.log(`wrote ${output}`);
} finally {
  await browser.close();
  server.kill("SIGTERM");
  rmSync(data, { recursive: true, force: true });
}
