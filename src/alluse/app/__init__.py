"""The application: one config, the kernel that wires the engines from it, the running system, its summary."""
