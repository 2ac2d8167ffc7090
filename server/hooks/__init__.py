"""Memory that works by itself: the clients' hooks (see command.py for the flow)."""
