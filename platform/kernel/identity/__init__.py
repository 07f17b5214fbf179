"""Identity: users, passwords and sign-in sessions shared by every web process."""
