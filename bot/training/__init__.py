"""Tools for trainers (issue 13): learn from real conversations, see what the model gets wrong,
and change the training data safely. Framework-free: reads the tracker store's tables directly."""
