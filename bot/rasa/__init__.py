"""Everything that plugs into Rasa itself (policies; channels and NLU components will move here):
the only part of `bot/` besides bot/channels and bot/nlu that imports Rasa."""
