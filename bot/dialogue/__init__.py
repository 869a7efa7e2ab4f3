"""Turn-taking in the forms, framework-free: does a merchant's message answer the question just
asked, interrupt it, or need a clarification (`turns`)? Which earlier value does a correction name
(`corrections`)? The Rasa adapters in actions/ and bot/rasa/ apply these decisions."""
