"""Prompts as "jobs", the one list (running, pending, finished) that ComfyUI's newer
frontend reads for its queue and history panels instead of /queue and /history.

A job: {"id", "status", "priority", "create_time", "outputs_count", "workflow_id",
and for finished ones "execution_start_time", "execution_end_time", "execution_error",
"preview_output", "previewable_outputs_count"}; one job asked for by id also carries
"outputs", "execution_status" and "workflow": {"prompt", "extra_data"}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED = "pending", "in_progress", "completed", "failed", "cancelled"
STATUSES = (PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED)
SORT_FIELDS = ("created_at", "execution_duration")
PREVIEW_MEDIA = frozenset({"images", "video", "audio"})
MODEL_3D = (".obj", ".fbx", ".gltf", ".glb")


@dataclass(frozen=True)
class JobQuery:
    statuses: tuple[str, ...] = STATUSES
    workflow_id: Optional[str] = None
    sort_by: str = "created_at"
    descending: bool = True
    limit: Optional[int] = None
    offset: int = 0


def _without_none(job: dict) -> dict:
    return {key: value for key, value in job.items() if value is not None}


def _origin(extra_data: Any) -> tuple[Optional[int], Optional[str]]:
    """(create_time, workflow id) from a prompt's extra data."""
    if not isinstance(extra_data, dict):
        return None, None
    workflow = (extra_data.get("extra_pnginfo") or {}).get("workflow") if isinstance(extra_data.get("extra_pnginfo"), dict) else None
    workflow_id = workflow.get("id") if isinstance(workflow, dict) else None
    return extra_data.get("create_time"), workflow_id


def queued_job(item: list, status: str) -> dict:
    """A running or pending prompt, from its /queue row [number, id, prompt, extra, outputs]."""
    create_time, workflow_id = _origin(item[3])
    return _without_none({
        "id": item[1], "status": status, "priority": item[0], "create_time": create_time,
        "outputs_count": 0, "previewable_outputs_count": 0, "workflow_id": workflow_id,
    })


def _previewable(media_type: str, item: dict) -> bool:
    fmt = str(item.get("format", ""))
    name = str(item.get("filename", "")).lower()
    return media_type in PREVIEW_MEDIA or fmt.startswith(("video/", "audio/")) or name.endswith(MODEL_3D)


def outputs_summary(outputs: Any) -> tuple[int, int, Optional[dict]]:
    """(outputs, previewable outputs, the one to preview: a saved file before a temp one)."""
    count = previewable = 0
    saved = fallback = None
    for node_id, node_outputs in (outputs.items() if isinstance(outputs, dict) else ()):
        if not isinstance(node_outputs, dict):
            continue
        for media_type, items in node_outputs.items():
            if media_type == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    continue
                count += 1
                if not _previewable(media_type, item):
                    continue
                previewable += 1
                shown = {**item, "nodeId": node_id, "mediaType": media_type}
                if item.get("type") == "output" and saved is None:
                    saved = shown
                elif fallback is None:
                    fallback = shown
    return count, previewable, saved or fallback


def finished_job(prompt_id: str, entry: dict, full: bool = False) -> dict:
    """A prompt from the history; `full` adds its outputs, status and workflow."""
    row = entry.get("prompt") or [None, prompt_id, {}, {}, []]
    create_time, workflow_id = _origin(row[3])
    status_info = entry.get("status") or {}
    started = ended = error = None
    interrupted = False
    for message in status_info.get("messages") or []:
        if not (isinstance(message, (list, tuple)) and len(message) >= 2 and isinstance(message[1], dict)):
            continue
        kind, data = message[0], message[1]
        if kind == "execution_start":
            started = data.get("timestamp")
        elif kind in ("execution_success", "execution_error", "execution_interrupted"):
            ended = data.get("timestamp")
            error = data if kind == "execution_error" else error
            interrupted = interrupted or kind == "execution_interrupted"
    if status_info.get("status_str") == "error":
        status = CANCELLED if interrupted else FAILED
    else:
        status = COMPLETED
    count, previewable, preview = outputs_summary(entry.get("outputs"))
    job = _without_none({
        "id": prompt_id, "status": status, "priority": row[0], "create_time": create_time,
        "execution_start_time": started, "execution_end_time": ended, "execution_error": error,
        "outputs_count": count, "previewable_outputs_count": previewable, "preview_output": preview,
        "workflow_id": workflow_id,
    })
    if full:
        job["outputs"] = entry.get("outputs") or {}
        job["execution_status"] = status_info
        job["workflow"] = {"prompt": row[2], "extra_data": row[3]}
    return job


def _number(value: Any) -> float:
    """A time stamp as a number; anything else (an old or odd entry) sorts as 0."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _sort_key(sort_by: str):
    if sort_by == "execution_duration":
        def duration(job: dict) -> float:
            start, end = _number(job.get("execution_start_time")), _number(job.get("execution_end_time"))
            return end - start if start and end else 0
        return duration
    return lambda job: _number(job.get("create_time"))


def list_jobs(running: list, pending: list, history: dict, query: JobQuery) -> tuple[list[dict], int]:
    """The jobs `query` asks for, sorted and paged, and how many there are in all."""
    wanted = set(query.statuses)
    jobs: list[dict] = []
    if IN_PROGRESS in wanted:
        jobs += [queued_job(item, IN_PROGRESS) for item in running]
    if PENDING in wanted:
        jobs += [queued_job(item, PENDING) for item in pending]
    if wanted & {COMPLETED, FAILED, CANCELLED}:
        finished: Iterable[dict] = (finished_job(pid, entry) for pid, entry in history.items())
        jobs += [job for job in finished if job["status"] in wanted]
    if query.workflow_id:
        jobs = [job for job in jobs if job.get("workflow_id") == query.workflow_id]
    jobs.sort(key=_sort_key(query.sort_by), reverse=query.descending)
    total = len(jobs)
    end = None if query.limit is None else query.offset + query.limit
    return jobs[query.offset:end], total


def find_job(prompt_id: str, running: list, pending: list, history_entry: Optional[dict]) -> Optional[dict]:
    if history_entry is not None:
        return finished_job(prompt_id, history_entry, full=True)
    for rows, status in ((running, IN_PROGRESS), (pending, PENDING)):
        for item in rows:
            if item[1] == prompt_id:
                return queued_job(item, status)
    return None
