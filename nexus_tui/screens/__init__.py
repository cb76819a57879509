"""The dashboard's screens: the run itself, help, confirmation and the final summary."""
