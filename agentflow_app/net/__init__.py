"""HTTP for user-supplied URLs: ``guard`` decides which addresses may be reached,
``client.GuardedClient`` connects only to addresses it has just checked (SPEC §11)."""
