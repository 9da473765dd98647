// #region readme
import type { ApolloClient } from "@apollo/client";
import { TicketsPageDocument, type TicketStatus } from "./gql/graphql";

// DateTime arrives as an RFC 3339 string; `status` is one of TicketStatus.
export async function newestTicket(
  client: ApolloClient,
): Promise<{ number: number; createdAt: string; status: TicketStatus } | null> {
  const { data } = await client.query({ query: TicketsPageDocument, variables: { first: 1 } });
  const node = data?.tickets.edges[0]?.node;
  return node ? { number: node.number, createdAt: node.createdAt, status: node.status } : null;
}
// #endregion readme

import { graphql } from "./gql";

// Operations written in code are typed by the generated graphql() too.
export const TicketSummary = graphql(`
  query TicketSummary($id: ID!) {
    ticket(id: $id) {
      id
      status
      createdAt
      timeline(first: 3) {
        __typename
        ... on Message {
          body
        }
        ... on TicketEvent {
          kind
        }
      }
    }
  }
`);

export async function firstEntry(client: ApolloClient, id: string): Promise<string | null> {
  const { data } = await client.query({ query: TicketSummary, variables: { id } });
  const entry = data?.ticket?.timeline[0];
  if (!entry) {
    return null;
  }
  return entry.__typename === "Message" ? entry.body : entry.kind;
}
