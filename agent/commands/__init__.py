"""One module per `phiwall` subcommand; thin layers over the agent's packages."""
