// Runs Apollo Client (the README's setup, apollo.mjs) against a running server and prints one JSON
// line per step. Any console.warn or console.error (Apollo's "Cache data may be lost" and
// missing-field warnings among them) is printed and makes the exit status 1.
//
//   node apollo-check.mjs HTTP_URL WS_URL TOKEN POSSIBLE_TYPES_JSON [full|without-identity]
//
// `without-identity` leaves out the policies for the objects without an id (everything but
// `Query`), to show that the check notices the data loss they prevent.
// First, so that the console is watched before any other module runs.
import { check, say } from "./check.mjs";
import { readFileSync } from "node:fs";
import { ApolloClient, InMemoryCache } from "@apollo/client";
import { loadDevMessages, loadErrorMessages } from "@apollo/client/dev";
import WebSocket from "ws";
import { createApolloClient, typePolicies } from "./apollo.mjs";
import { operation } from "./operations.mjs";

const [httpUrl, wsUrl, token, possibleTypesFile, mode = "full"] = process.argv.slice(2);
loadDevMessages();
loadErrorMessages();

const possibleTypes = JSON.parse(readFileSync(possibleTypesFile, "utf8"));
let client = createApolloClient({
  httpUrl,
  wsUrl,
  getToken: () => token,
  possibleTypes,
  webSocketImpl: WebSocket,
});
if (mode === "without-identity") {
  client = new ApolloClient({
    link: client.link,
    cache: new InMemoryCache({ possibleTypes, typePolicies: { Query: typePolicies.Query } }),
  });
}

function firstResult(observable) {
  return new Promise((resolve, reject) => {
    const subscription = observable.subscribe({
      next: (result) => {
        if (result.dataState === "complete") {
          resolve({ result, subscription });
        }
      },
      error: reject,
    });
  });
}

// The first `count` events; `afterFirst` runs once the first has arrived.
function events(observable, count, afterFirst) {
  const seen = [];
  return new Promise((resolve, reject) => {
    const subscription = observable.subscribe({
      next: ({ data, error }) => {
        if (error) {
          reject(error);
          return;
        }
        seen.push(data.ticketEvents);
        if (seen.length === 1) {
          afterFirst().catch(reject);
        }
        if (seen.length === count) {
          subscription.unsubscribe();
          resolve(seen);
        }
      },
      error: reject,
    });
  });
}

async function main() {
  // A page of tickets, then the next one through relayStylePagination.
  const page = operation("TicketsPage");
  const watched = client.watchQuery({ query: page, variables: { first: 2 } });
  const { result: first, subscription } = await firstResult(watched);
  const firstPage = first.data.tickets;
  say({ firstPage: firstPage.edges.map((e) => e.node.number), hasNextPage: firstPage.pageInfo.hasNextPage });
  await watched.fetchMore({ variables: { after: firstPage.pageInfo.endCursor } });
  const merged = client.readQuery({ query: page, variables: { first: 2 } }).tickets;
  say({
    merged: merged.edges.map((e) => e.node.number),
    hasNextPage: merged.pageInfo.hasNextPage,
    totalCount: merged.totalCount,
  });
  subscription.unsubscribe();

  // One ticket's permissions, twice with different selections: both stay readable.
  const id = merged.edges[0].node.id;
  const replyAndClose = operation("TicketReplyAndClose");
  const replyAndTake = operation("TicketReplyAndTake");
  await client.query({ query: replyAndClose, variables: { id } });
  await client.query({ query: replyAndTake, variables: { id } });
  const cachedClose = client.readQuery({ query: replyAndClose, variables: { id } });
  const cachedTake = client.readQuery({ query: replyAndTake, variables: { id } });
  say({ viewerCan: [cachedClose?.ticket.viewerCan ?? null, cachedTake?.ticket.viewerCan ?? null] });

  // The dashboard figures, twice with different selections.
  const byStatus = operation("StatsByStatus");
  const byCategory = operation("StatsByCategory");
  await client.query({ query: byStatus });
  await client.query({ query: byCategory });
  const statusFigures = client.readQuery({ query: byStatus });
  const categoryFigures = client.readQuery({ query: byCategory });
  say({
    ticketStats: [
      statusFigures?.ticketStats.countsByStatus.length ?? null,
      categoryFigures?.ticketStats.activeByCategory.length ?? null,
    ],
  });

  // The FAQ, twice with different selections: its entries are keyed by slug.
  const questions = operation("FaqQuestions");
  const answers = operation("FaqAnswers");
  await client.query({ query: questions });
  await client.query({ query: answers });
  say({
    faq: [
      client.readQuery({ query: questions })?.faq.length ?? null,
      client.readQuery({ query: answers })?.faq.length ?? null,
    ],
  });

  // The timeline union, read back from the cache through the fragment on TimelineItem.
  const timeline = operation("TicketTimeline");
  await client.query({ query: timeline, variables: { id } });
  const cachedTimeline = client.readQuery({ query: timeline, variables: { id } });
  const entries = cachedTimeline?.ticket.timeline ?? [];
  say({ timeline: entries.map((entry) => [entry.__typename, entry.kind ?? entry.body]) });

  // Subscription: the logged event after `after` first, then a live one.
  const created = entries.findLast((entry) => entry.__typename === "TicketEvent" && entry.id);
  if (!created) {
    throw new Error("the cached timeline has lost its events' fields");
  }
  const reply = operation("Reply");
  const replied = await client.mutate({ mutation: reply, variables: { input: { ticketId: id, body: "logged" } } });
  say({ replyErrors: replied.data.replyToTicket.errors });
  // The replayed event arrives first: the subscription is live from then on, so the reply
  // sent then must arrive too.
  const received = await events(
    client.subscribe({ query: operation("TicketEventsFeed"), variables: { ticketId: id, after: created.id } }),
    2,
    () => client.mutate({ mutation: reply, variables: { input: { ticketId: id, body: "live" } } }),
  );
  say({ events: received.map((event) => [event.kind, event.message?.body, event.ticket?.id === id]) });

  // The live figures land in the cached ticketStats: one TicketStats per cache.
  const live = await new Promise((resolve, reject) => {
    const stats = client.subscribe({ query: operation("StatsLive") }).subscribe({
      next: ({ data }) => {
        stats.unsubscribe();
        resolve(data.ticketStatsChanged);
      },
      error: reject,
    });
  });
  const cachedFigures = client.readQuery({ query: byCategory });
  say({ liveStatsCached: cachedFigures?.ticketStats.computedAt === live.computedAt });
}

await check(main);
