"""Event handlers (schedules, SQS, SNS): decode the event, call a service. Registered in app.py.

Lambda runs each of them by its module's path (the template's `Handler` is e.g.
`chalicelib.jobs.email.deliver_emails`, not `app.<name>`), so a cold start imports this package and
never `app.py` by itself. The app's middleware (observability.instrument: the correlation id, the
Lambda context on log lines, the X-Ray segment, the metrics flushed) reaches a blueprint's handlers
only once app.py has registered the blueprint; importing `app` here does that for every function.
Either order works: when app.py is imported first, this finds it already (partly) in sys.modules.
"""
import app  # noqa: F401 - registers the blueprints and the middleware (see above)
