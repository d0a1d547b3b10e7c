"""The tracking bench's parts (bench/tracking.py runs them): the bot's instrumented process
(child), the load put in front of it (load), the run that ties them (run), the figures taken
from the fakes (figures), and their report (report)."""
