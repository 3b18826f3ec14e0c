"""servicekit: the one shared library of the platform's services.

Settings, database, token verification, problem+json errors, pagination and change feeds,
idempotency, ETags and If-Match, audit, the people replica follower, health and metrics, the app
factory and test helpers. It never imports a service.
"""
