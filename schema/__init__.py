"""GraphQL schema: Strawberry types, inputs, payloads and enums. Describes; does no I/O."""
