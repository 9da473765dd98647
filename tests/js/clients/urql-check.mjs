// Runs urql (the README's setup, urql.mjs) against a running server: a page of tickets, then a
// ticket's events over the WebSocket (the logged one after `after`, then a live one). Prints one
// JSON line per step; any console.warn or console.error makes the exit status 1.
//
//   node urql-check.mjs HTTP_URL WS_URL TOKEN
// First, so that the console is watched before any other module runs.
import { check, say } from "./check.mjs";
import WebSocket from "ws";
import { operation } from "./operations.mjs";
import { createUrqlClient } from "./urql.mjs";

const [httpUrl, wsUrl, token] = process.argv.slice(2);
const client = createUrqlClient({ httpUrl, wsUrl, getToken: () => token, webSocketImpl: WebSocket });

async function run(source) {
  const result = await source.toPromise();
  if (result.error) {
    throw result.error;
  }
  return result.data;
}

async function main() {
  const page = await run(client.query(operation("TicketsPage"), { first: 2 }));
  say({ page: page.tickets.edges.map((edge) => edge.node.number) });
  const id = page.tickets.edges[0].node.id;
  const { ticket } = await run(client.query(operation("TicketTimeline"), { id }));
  const created = ticket.timeline.findLast((entry) => entry.__typename === "TicketEvent");
  const reply = operation("Reply");
  await run(client.mutation(reply, { input: { ticketId: id, body: "logged" } }));

  const seen = [];
  await new Promise((resolve, reject) => {
    const subscription = client
      .subscription(operation("TicketEventsFeed"), { ticketId: id, after: created.id })
      .subscribe((result) => {
        if (result.error) {
          reject(result.error);
          return;
        }
        seen.push(result.data.ticketEvents);
        if (seen.length === 1) {
          // The logged event came first: the subscription is live, the next reply arrives too.
          run(client.mutation(reply, { input: { ticketId: id, body: "live" } })).catch(reject);
        } else {
          subscription.unsubscribe();
          resolve();
        }
      });
  });
  say({ events: seen.map((event) => [event.kind, event.message?.body, event.ticket?.id === id]) });
}

await check(main);
