"""Running prompts on a pool of worker processes on Ray (`main.py serve --ray ...`).

The server keeps the queue, the history and the WebSocket; each worker is a Ray actor with
its own executor, output cache and model manager, and streams a prompt's events back as
they happen. Ray is an optional dependency (requirements-ray.txt): nothing here is
imported unless a pool is asked for.
"""
