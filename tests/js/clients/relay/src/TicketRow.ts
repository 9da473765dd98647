import { graphql } from "react-relay";

// A row refreshes alone (useRefetchableFragment): Relay refetches it through node(id:).
export const TicketRowFragment = graphql`
  fragment TicketRow_ticket on Ticket @refetchable(queryName: "TicketRowRefetchQuery") {
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
