"""Why a link the bot was given cannot be fetched safely (bot.net.netguard says which; the texts
say it to the user)."""

from __future__ import annotations

from enum import StrEnum


class LinkRefusal(StrEnum):
    """Each value reads after "the link" (in logs, and in the sandbox's own refusals)."""

    NOT_VALID = "is not a valid web address"
    NOT_WEB = "is not an http or https address"
    BAD_PORT = "has a port outside 1 to 65535"
    BAD_REDIRECT = "redirects to an address that is not valid"
    TOO_MANY_REDIRECTS = "redirects too many times"
    NO_DNS_ENTRY = "names a host with no DNS entry"
    PRIVATE_NETWORK = "points into a private or local network"
