// Apollo Client 4 for the Helpdesk API: the cache policies, the persisted-query HTTP link and the
// WebSocket link for subscriptions. The README's "Client setup" shows the region below.
// #region readme
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition, relayStylePagination } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";

export const typePolicies = {
  Query: {
    fields: {
      // One cached list per filter and order; fetchMore({ variables: { after } }) appends.
      tickets: relayStylePagination(["filter", "orderBy"]),
    },
  },
  // What the viewer may do with a ticket: a value of its ticket (no id of its own, since it is
  // only true for this viewer); queries selecting different permissions merge into one object.
  TicketPermissions: { merge: true },
  Permission: { merge: true },
  // Dashboard figures over what the viewer may see: one per cache (a cache serves one viewer),
  // so `ticketStats` and the `ticketStatsChanged` subscription update the same object.
  TicketStats: { keyFields: [] },
  // FAQ entries have no id; their slug is their stable name.
  FaqEntry: { keyFields: ["slug"] },
  // A ticket's service level (staff only) is a value of its ticket, like its permissions.
  TicketSla: { merge: true },
};

// SHA-256 of the query text, as hex: Web Crypto (browsers, Node 20+).
async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function createApolloClient({ httpUrl, wsUrl, getToken, possibleTypes, webSocketImpl }) {
  const auth = new SetContextLink((context) => ({
    headers: { ...context.headers, Authorization: `Bearer ${getToken()}` },
  }));
  const http = ApolloLink.from([
    auth,
    new PersistedQueryLink({ sha256 }),
    new HttpLink({ uri: httpUrl }),
  ]);
  const ws = new GraphQLWsLink(
    createClient({
      url: wsUrl,
      webSocketImpl, // browsers: leave undefined; Node: WebSocket from the `ws` package
      connectionParams: () => ({ Authorization: `Bearer ${getToken()}` }),
    }),
  );
  const isSubscription = ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === "OperationDefinition" && definition.operation === "subscription";
  };
  return new ApolloClient({
    link: ApolloLink.split(isSubscription, ws, http),
    // possibleTypes: written by `helpdesk possible-types --output possibleTypes.json`
    cache: new InMemoryCache({ possibleTypes, typePolicies }),
  });
}
// #endregion readme
