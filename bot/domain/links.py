"""Why a link the bot was given cannot be fetched safely (bot.net.netguard says which; the texts
say it to the user)."""

from __future__ import annotations

from enum import StrEnum


class LinkRefusal(StrEnum):
    NOT_VALID = "not a valid web address"
    NOT_WEB = "not an http or https address"
    BAD_PORT = "port not from 1 to 65535"
    BAD_REDIRECT = "redirects to an address that is not valid"
    TOO_MANY_REDIRECTS = "too many redirects"
    NO_DNS_ENTRY = "no DNS entry"
    PRIVATE_NETWORK = "points into a private or local network"
