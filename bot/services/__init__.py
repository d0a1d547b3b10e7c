"""The services: what the bot does, between the handlers above and the domain and storage below."""
