"""oneapi: an OpenAI-compatible LLM gateway, compatible with One API's database, env variables and admin API."""

__version__ = "0.1.0"
