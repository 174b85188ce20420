"""Aisle for the programs that call it: `aisle.client` (the typed HTTP client), `aisle.tools`
(the agent tools: search, similar, complete the look, product, catalogs; as MCP or OpenAI
function tools) and `aisle.mcp_server` (`aisle mcp`). Nothing here imports the server (app/);
docs/integrations.md."""
