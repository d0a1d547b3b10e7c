"""The throughput bench's parts (bench/throughput.py runs them): the fake Telegram's process and
the loads it queues (fake), the bot and the bare echo bot it is measured against (bots), and one
measurement of either (measure)."""
