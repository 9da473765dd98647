// Subscribes with the graphql-ws client exactly as a browser app would, printing one JSON line
// per message: {"next": ...} for each event, {"error": ...} or {"closed": code} at the end.
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { follow } from "./follow.mjs";

const [url, token, after] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
  on: { closed: (event) => console.log(JSON.stringify({ closed: event.code })) },
});
follow(client, after, (error) => error?.code ?? error);
