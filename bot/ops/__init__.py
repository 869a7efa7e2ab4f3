"""Running the assistant: the `bot` command line, the development server (`bot serve`) and the
demo data that `make run` loads."""
