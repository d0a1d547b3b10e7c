"""Providers of Luma Modify Video, one module each, behind bot.domain.provider.Provider.

They import nothing of the project but the domain and the network toolkit (bot.net); which one
runs, and with which settings, is chosen in bot.wiring.create_provider.
"""
