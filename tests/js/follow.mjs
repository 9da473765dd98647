// What the subscribing scripts share: the events feed from `after`, printed one JSON line per
// result: {"started": true} first, then {"next": ...} per event, {"complete": true} or
// {"error": errorOf(error)} at the end.
export function follow(client, after, errorOf) {
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
      error: (error) => console.log(JSON.stringify({ error: String(errorOf(error)) })),
      complete: () => console.log(JSON.stringify({ complete: true })),
    },
  );
}
