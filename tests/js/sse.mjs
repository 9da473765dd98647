// Subscribes with the graphql-sse client in distinct connections mode, as a browser app would,
// printing one JSON line per result: {"next": ...}, then {"complete": true} or {"error": ...}.
import { createClient } from "graphql-sse";
import { follow } from "./follow.mjs";

const [url, token, after] = process.argv.slice(2);
const client = createClient({
  url,
  singleConnection: false,
  retryAttempts: 0,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
});
follow(client, after, (error) => error?.response?.status ?? error);
