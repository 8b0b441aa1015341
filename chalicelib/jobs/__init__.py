"""Event handlers (schedules, SQS): decode the event, call a service. Registered in app.py."""
