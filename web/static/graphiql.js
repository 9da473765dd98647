// GraphiQL for this endpoint: queries and mutations over HTTP POST, subscriptions over WebSocket
// (graphql-transport-ws). The headers editor's headers go with every request and, for
// subscriptions, in connection_init (where the server reads "Authorization").
"use strict";

(function () {
  const element = document.getElementById("graphiql");
  const httpUrl = new URL(element.dataset.endpoint, window.location.href);
  const wsUrl = new URL(httpUrl);
  wsUrl.protocol = httpUrl.protocol === "https:" ? "wss:" : "ws:";

  const DEFAULT_QUERY = `# Helpdesk GraphQL API.
#
# Signed-in fields need a token: run
#   .venv/bin/helpdesk token --sub u1 --role customer --name Anna
# and put {"Authorization": "Bearer <token>"} in the Headers tab below.
# Run with Ctrl-Enter.

{
  categories {
    slug
    name(locale: EN)
  }
}
`;

  // Which operation types the document defines, by name: keywords outside braces, parentheses,
  // strings and comments start an operation.
  function operationTypes(source) {
    const text = source
      .replace(/"""[\s\S]*?"""/g, '""')
      .replace(/"(?:[^"\\\n]|\\.)*"/g, '""')
      .replace(/#[^\n\r]*/g, "");
    const types = {};
    let first = null;
    let depth = 0;
    let current = null;
    let awaitingName = false;
    const token = /[{}()]|[_A-Za-z][_0-9A-Za-z]*/g;
    let match;
    while ((match = token.exec(text)) !== null) {
      const word = match[0];
      if (word === "{" || word === "(") {
        if (depth === 0 && word === "{") {
          if (current !== "fragment") first = first || current || "query";
          current = null;
        }
        awaitingName = false;
        depth += 1;
      } else if (word === "}" || word === ")") {
        depth -= 1;
      } else if (depth === 0 && ["query", "mutation", "subscription", "fragment"].includes(word)) {
        current = word;
        awaitingName = true;
      } else if (depth === 0 && awaitingName) {
        types[word] = current;
        awaitingName = false;
      }
    }
    return { types, first: first || "query" };
  }

  function isSubscription(params) {
    const { types, first } = operationTypes(params.query || "");
    const type = params.operationName ? types[params.operationName] : first;
    return type === "subscription";
  }

  async function* subscribe(params, headers) {
    const client = graphqlWs.createClient({
      url: wsUrl.href,
      connectionParams: headers,
      lazy: true,
      retryAttempts: 0,
    });
    try {
      yield* client.iterate({
        query: params.query,
        variables: params.variables || undefined,
        operationName: params.operationName || undefined,
      });
    } finally {
      await client.dispose();
    }
  }

  async function post(params, headers) {
    const response = await fetch(httpUrl, {
      method: "POST",
      headers: {
        ...headers,
        "Content-Type": "application/json",
        Accept: "application/graphql-response+json, application/json",
      },
      body: JSON.stringify(params),
    });
    return response.json();
  }

  function fetcher(params, options) {
    const headers = (options && options.headers) || {};
    return isSubscription(params) ? subscribe(params, headers) : post(params, headers);
  }

  ReactDOM.createRoot(element).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: DEFAULT_QUERY,
      isHeadersEditorEnabled: true,
      // Tokens stay out of localStorage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
    }),
  );
})();
