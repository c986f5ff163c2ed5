"""``python -m motherboard.scheduler.service run …`` (the same as ``motherboard scheduler run …``)."""

from motherboard.scheduler.service.cli import app

app()
