"""Celery configuration that holds for every deployment: serialisation, reliability, routes.

What depends on the deployment (broker, queues, beat schedule, memory limit) comes from its
Settings, applied by orchestrator.celery_app.create_celery; nothing here reads the environment.
"""
result_expires = 3600
broker_connection_retry_on_startup = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

# A task is acknowledged only once it finished, and put back if its worker dies,
# so a killed worker never loses a step.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

# Flower and the metrics need task events.
worker_send_task_events = True
# No task-sent event per publish: it doubled the broker writes of every request that starts
# an operation (bench/profile_paths.py), and Flower shows each task from its task-received.
task_send_sent_event = False
task_track_started = True

task_default_queue = "provisioning"
task_default_routing_key = "provisioning"
task_routes = {
    "orchestrator.ops.poll_job": {"queue": "polling", "routing_key": "polling"},
    "orchestrator.events.*": {"queue": "events", "routing_key": "events"},
    "orchestrator.periodic.*": {"queue": "periodic", "routing_key": "periodic"},
    "orchestrator.ops.*": {"queue": "provisioning", "routing_key": "provisioning"},
}
