"""The workers' Redis broker transport: kombu's, with a channel that can close when Redis
has gone.

A worker that loses Redis closes its channel before reconnecting. kombu's redis channel
first reads the reply of a BRPOP still waiting for a message (kombu#1733, so a message
popped at that moment is not lost at a clean shutdown); with Redis gone, that read raises,
and the close stops before it requeues the worker's unacknowledged messages. Celery then
drops the transport and closes the channel again, which requeues them through a transport
with no connection left: ``AttributeError`` out of kombu, "Unrecoverable error", and the
worker's main process exits while its pool finishes what it holds. Nothing is left to
take the runs asked for during the outage. It takes a worker that was waiting for a
message while holding one unacknowledged: one pool process idle beside a run, or a run
waiting in its process for a slot (``tasks.run_loop``), the usual state of a worker.

Here a failed read of that reply ends the wait as an empty one: with the connection gone,
no reply can come (a message BRPOP had just popped is then lost with it, as it would be
anyway; the reaper queues its run again), and the close goes on to requeue what it can.
"""

from __future__ import annotations

from queue import Empty

from kombu.transport import redis


class Channel(redis.Channel):
    def close(self) -> None:
        if self._in_poll:
            try:
                self._brpop_read()
            except (Empty, *self.connection_errors):
                pass  # _brpop_read has cleared _in_poll, so kombu's close won't read again
        super().close()


class Transport(redis.Transport):
    Channel = Channel
