"""The Textual terminal app that shows the agent's stream of memories and actions."""
