// Subscribes with the graphql-sse client in distinct connections mode, as a browser app would,
// printing one JSON line per result: {"next": ...}, then {"complete": true} or {"error": ...}.
import { createClient } from "graphql-sse";

const [url, token, after] = process.argv.slice(2);
const client = createClient({
  url,
  singleConnection: false,
  retryAttempts: 0,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
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
    error: (error) => console.log(JSON.stringify({ error: String(error?.response?.status ?? error) })),
    complete: () => console.log(JSON.stringify({ complete: true })),
  },
);
