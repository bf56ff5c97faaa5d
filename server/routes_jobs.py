"""GET /jobs (?status=a,b&workflow_id=&sort_by=created_at|execution_duration&sort_order=
asc|desc&limit=&offset=) -> {"jobs": [...], "pagination": {offset, limit, total, has_more}};
GET /jobs/{id} -> one job with its outputs and workflow, or 404."""
from __future__ import annotations

import asyncio

from aiohttp import web

from .errors import ApiError
from .jobs import SORT_FIELDS, STATUSES, JobQuery, find_job, list_jobs
from .state import QUEUE


def _whole_number(request: web.Request, name: str):
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ApiError(400, "invalid_request", f"'{name}' must be a whole number") from None


def job_query(request: web.Request) -> JobQuery:
    """The query string checked; a bad value is a 400 that names it."""
    query = request.query
    statuses = tuple(s.strip().lower() for s in query.get("status", "").split(",") if s.strip())
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise ApiError(400, "invalid_request",
                       f"Invalid status value(s): {', '.join(unknown)}. Valid values: {', '.join(STATUSES)}")
    sort_by = query.get("sort_by", "created_at").lower()
    if sort_by not in SORT_FIELDS:
        raise ApiError(400, "invalid_request", "sort_by must be 'created_at' or 'execution_duration'")
    sort_order = query.get("sort_order", "desc").lower()
    if sort_order not in ("asc", "desc"):
        raise ApiError(400, "invalid_request", "sort_order must be 'asc' or 'desc'")
    limit = _whole_number(request, "limit")
    if limit is not None and limit <= 0:
        raise ApiError(400, "invalid_request", "limit must be a positive integer")
    offset = max(_whole_number(request, "offset") or 0, 0)
    return JobQuery(statuses or STATUSES, query.get("workflow_id") or None, sort_by, sort_order == "desc", limit, offset)


async def get_jobs(request: web.Request) -> web.Response:
    query = job_query(request)
    queue = request.app[QUEUE]
    running, pending = queue.snapshot()
    history = await asyncio.to_thread(queue.store.history) if set(query.statuses) - {"pending", "in_progress"} else {}
    jobs, total = list_jobs(running, pending, history, query)
    pagination = {"offset": query.offset, "limit": query.limit, "total": total,
                  "has_more": query.offset + len(jobs) < total}
    return web.json_response({"jobs": jobs, "pagination": pagination})


async def get_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    queue = request.app[QUEUE]
    running, pending = queue.snapshot()
    entry = await asyncio.to_thread(queue.store.history_entry, job_id)
    job = find_job(job_id, running, pending, entry)
    if job is None:
        raise ApiError(404, "not_found", "Job not found")
    return web.json_response(job)


ROUTES = [
    ("GET", "/jobs", get_jobs),
    ("GET", "/jobs/{job_id}", get_job),
]
