"""Mail: notifications by SMTP (STARTTLS, SSL or plain, with or without sign-in)."""
