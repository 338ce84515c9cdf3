"""The lossdoctor HTTP service: routes, settings, the job store and the queue client. Never imports torch."""
