// The GraphQL-over-HTTP audit suite of graphql-http, run against a live server.
// usage: node audit.mjs URL  →  one JSON array of {id, name, status, reason} on stdout
import { auditServer } from "graphql-http";

const url = process.argv[2];
const results = await auditServer({ url });
const summary = results.map((r) => ({
  id: r.id,
  name: r.name,
  status: r.status,
  reason: r.status === "ok" ? undefined : r.reason,
}));
process.stdout.write(JSON.stringify(summary) + "\n");
