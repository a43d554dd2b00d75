"""A local Tinker-compatible emulator: a real HTTP server backed by a small numpy language model."""
