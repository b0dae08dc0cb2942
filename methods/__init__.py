"""Research methods as plain libraries; nothing here imports agents, memory, tools or tui."""
