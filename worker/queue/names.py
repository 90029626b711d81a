"""Queue and task names: what the watcher sends and the workers run."""

QUEUE = "newsingest"
TASK_PROCESS_FILE = "newsingest.process_file"
TASK_PROCESS_CHUNK = "newsingest.process_chunk"
TASK_REENRICH = "newsingest.reenrich"
