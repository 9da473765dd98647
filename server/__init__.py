"""The aiohttp application: configuration, authentication, HTTP/WebSocket endpoints and CLI."""
