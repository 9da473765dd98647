import { graphql } from "react-relay";

export const TicketRowFragment = graphql`
  fragment TicketRow_ticket on Ticket {
    number
    summary
    status
    createdAt
    viewerCan {
      reply {
        allowed
        reason
      }
    }
    timeline(first: 5) {
      __typename
      ... on Message {
        id
        body
      }
      ... on TicketEvent {
        id
        kind
        at
      }
    }
  }
`;
