"""The admin REST API under /api, with One API's paths, verbs and ``{success, message, data}`` envelope."""
