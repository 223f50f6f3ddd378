"""Request scheduling: admission control, micro-batching and the model worker thread."""

from flashtts.scheduler.admission import Admission, QueueFullError
from flashtts.scheduler.microbatch import MicroBatcher
from flashtts.scheduler.worker import ModelWorker

__all__ = ["Admission", "QueueFullError", "MicroBatcher", "ModelWorker"]
