"""Where people take over from the bot: opening a handoff ticket (`handoff`), handing the
conversation back (`handback`) and the read-only views agents and scripts read (`views`)."""
