import { graphql } from "react-relay";

// The first page of the viewer's tickets; usePaginationFragment(TicketListFragment) loads more.
export const TicketListQuery = graphql`
  query TicketListQuery($count: Int!, $cursor: String) {
    ...TicketList_query @arguments(count: $count, cursor: $cursor)
  }
`;

export const TicketListFragment = graphql`
  fragment TicketList_query on Query
  @argumentDefinitions(count: { type: "Int!" }, cursor: { type: "String" })
  @refetchable(queryName: "TicketListPaginationQuery") {
    tickets(first: $count, after: $cursor) @connection(key: "TicketList_tickets") {
      totalCount
      edges {
        node {
          id
          ...TicketRow_ticket
        }
      }
    }
  }
`;
