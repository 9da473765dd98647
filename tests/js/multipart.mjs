// Subscribes with Apollo Client's HttpLink (multipart subscriptions), printing one JSON line per
// result: {"next": {data, errors}}, then {"complete": true} or {"error": ...}.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";

const [url, token, after] = process.argv.slice(2);
const client = new ApolloClient({
  link: new HttpLink({ uri: url, headers: token ? { Authorization: `Bearer ${token}` } : {} }),
  cache: new InMemoryCache(),
});
console.log(JSON.stringify({ started: true }));
client
  .subscribe({
    query: gql`
      subscription Events($after: String) {
        ticketEvents(after: $after) { id kind ticket { id number } message { id body } }
      }
    `,
    variables: { after: after || null },
  })
  .subscribe({
    next: ({ data, error }) =>
      console.log(JSON.stringify({ next: { data, errors: error?.errors ?? error?.message } })),
    error: (error) => console.log(JSON.stringify({ error: String(error?.message ?? error) })),
    complete: () => console.log(JSON.stringify({ complete: true })),
  });
