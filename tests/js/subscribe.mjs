// Subscribes with the graphql-ws client exactly as a browser app would, printing one JSON line
// per message: {"next": ...} for each event, {"error": ...} or {"closed": code} at the end.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, after] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
  on: { closed: (event) => console.log(JSON.stringify({ closed: event.code })) },
});
console.log(JSON.stringify({ started: true }));
client.subscribe(
  {
    query: `subscription ($after: String) {
      ticketEvents(after: $after) { id kind ticket { number } message { body } }
    }`,
    variables: { after: after || null },
  },
  {
    next: (value) => console.log(JSON.stringify({ next: value })),
    error: (error) => console.log(JSON.stringify({ error: String(error?.code ?? error) })),
    complete: () => console.log(JSON.stringify({ complete: true })),
  },
);
