"""Test helpers: real servers on loopback (OpenAI-compatible HTTP, SMTP, Secret Service)."""
