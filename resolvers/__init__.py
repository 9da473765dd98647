"""Thin resolvers: GraphQL input → one service call → GraphQL types."""
