// urql (@urql/core) for the Helpdesk API: queries and mutations over HTTP, subscriptions over
// graphql-ws. The README's "Client setup" shows the region below.
// #region readme
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient } from "graphql-ws";

export function createUrqlClient({ httpUrl, wsUrl, getToken, webSocketImpl }) {
  const ws = createClient({
    url: wsUrl,
    webSocketImpl, // browsers: leave undefined; Node: WebSocket from the `ws` package
    connectionParams: () => ({ Authorization: `Bearer ${getToken()}` }),
  });
  return new Client({
    url: httpUrl,
    fetchOptions: () => ({ headers: { Authorization: `Bearer ${getToken()}` } }),
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({
            unsubscribe: ws.subscribe({ ...request, query: request.query ?? "" }, sink),
          }),
        }),
      }),
    ],
  });
}
// #endregion readme
