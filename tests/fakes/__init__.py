"""Stand-ins for the outside world that speak its real wire protocol (ARCHITECTURE rule 11)."""
