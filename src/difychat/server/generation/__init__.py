"""The generation runtime: tasks that outlive requests, stop signals, event delivery."""
