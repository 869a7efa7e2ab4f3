"""Text messages to merchants' phones: the gateway interface and its development outbox
(`gateway`), the Yunpian provider (`yunpian`) and the wording of every SMS the bot sends (`texts`)."""
