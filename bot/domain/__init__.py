"""The bot's vocabulary, which every layer may import and which imports nothing else of the
project: tasks, users and drafts and their states (records), why a task fails (failures), edit
strengths (modes), what a provider offers (capabilities), and the port the task services speak
to the chat through (delivery)."""
