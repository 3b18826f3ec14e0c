"""Sign-in security: password hashing and policy, TOTP, secret hashing, throttling of failed guesses."""
