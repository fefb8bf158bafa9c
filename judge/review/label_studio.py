"""A small client for Label Studio's REST API: projects, tasks, predictions, annotations, users.

Plain HTTP with httpx (already installed with the OpenAI client) rather than the official `label-studio-sdk`,
which pulls OpenCV and NLTK for the eight endpoints the review loop uses. Authentication takes either kind of
Label Studio API key: a legacy token (`Authorization: Token <key>`), or a personal access token, a JWT refresh
token that is exchanged at `/api/token/refresh/` for a short-lived access token (`Authorization: Bearer ...`)
and exchanged again when the server says it expired. The key is never logged or stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from judge.core.exceptions import MedjudgeError

PAGE_SIZE = 100
"""Tasks fetched per request when listing a project's tasks."""


class LabelStudioError(MedjudgeError):
    """Label Studio could not be reached, refused the key, or answered with an error."""


def is_personal_access_token(key: str) -> bool:
    """Whether `key` is a personal access token (a JWT: dot-separated base64 parts) rather than a legacy token."""
    return key.count(".") >= 1 and key.startswith("eyJ")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict):
        parts = [str(body.get("detail") or "")]
        if body.get("validation_errors"):
            parts.append(str(body["validation_errors"]))
        return " ".join(p for p in parts if p) or str(body)[:300]
    return str(body)[:300]


class LabelStudio:
    """One Label Studio server, called as the user whose API key is given."""

    def __init__(self, url: str, api_key: str, timeout_s: float = 60.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise LabelStudioError(f"--label-studio must be an http(s) URL such as http://localhost:8080, not {url!r}")
        if not api_key:
            raise LabelStudioError("no Label Studio API key: pass --api-key or set LABEL_STUDIO_API_KEY (Account & "
                                   "Settings in Label Studio shows your legacy token or personal access token)")
        self.url = url.rstrip("/")
        self._key = api_key
        self._pat = is_personal_access_token(api_key)
        self._access: str | None = None
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s, follow_redirects=True)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def __enter__(self) -> LabelStudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------------------------
    def _auth(self, refresh: bool = False) -> dict[str, str]:
        if not self._pat:
            return {"Authorization": f"Token {self._key}"}
        if self._access is None or refresh:
            r = self._send("POST", "/api/token/refresh/", json={"refresh": self._key}, auth=False)
            self._access = str(r.json()["access"])
        return {"Authorization": f"Bearer {self._access}"}

    def _send(self, method: str, path: str, auth: bool = True, **kw: Any) -> httpx.Response:
        headers = self._auth() if auth else {}
        try:
            r = self.http.request(method, path, headers=headers, **kw)
            if r.status_code == 401 and auth and self._pat:  # the access token expired: exchange the key again
                r = self.http.request(method, path, headers=self._auth(refresh=True), **kw)
        except httpx.TransportError as e:
            raise LabelStudioError(f"cannot reach Label Studio at {self.url} ({type(e).__name__}: {e}); is it "
                                   "running, and is the URL right?") from e
        if r.status_code in (401, 403):
            kind = "personal access token" if self._pat else "legacy token"
            raise LabelStudioError(
                f"Label Studio at {self.url} refused the API key ({kind}) with HTTP {r.status_code}: {_detail(r)}. "
                "Copy the key from Account & Settings; a legacy token works only when the organisation enables "
                "legacy tokens (Organization > Settings > Access Token Settings)")
        if r.status_code >= 400:
            raise LabelStudioError(f"Label Studio answered {method} {path} with HTTP {r.status_code}: {_detail(r)}")
        return r

    def get(self, path: str, **params: Any) -> Any:
        """GET `path` and return the decoded JSON."""
        return self._send("GET", path, params=params or None).json()

    def post(self, path: str, body: Any, **params: Any) -> Any:
        """POST JSON `body` to `path` and return the decoded JSON."""
        return self._send("POST", path, json=body, params=params or None).json()

    def patch(self, path: str, body: Any) -> Any:
        """PATCH JSON `body` to `path` and return the decoded JSON."""
        return self._send("PATCH", path, json=body).json()

    # -- resources ---------------------------------------------------------------------------------------------
    def whoami(self) -> dict[str, Any]:
        """The user the key belongs to."""
        return dict(self.get("/api/current-user/whoami"))

    def projects(self) -> list[dict[str, Any]]:
        """Every project this user can see."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.get("/api/projects/", page=page, page_size=PAGE_SIZE)
            results = body.get("results", []) if isinstance(body, dict) else body
            out.extend(results)
            if not isinstance(body, dict) or not body.get("next"):
                return out
            page += 1

    def project_by_title(self, title: str) -> dict[str, Any] | None:
        """The project called `title`; LabelStudioError when several are."""
        found = [p for p in self.projects() if p.get("title") == title]
        if len(found) > 1:
            raise LabelStudioError(f"{len(found)} projects are called {title!r} in Label Studio at {self.url} "
                                   f"(ids {[p['id'] for p in found]}); rename all but one")
        return found[0] if found else None

    def create_project(self, title: str, label_config: str, description: str = "") -> dict[str, Any]:
        """Create a project with a labelling interface."""
        return dict(self.post("/api/projects/", {"title": title, "label_config": label_config,
                                                 "description": description}))

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        """Change a project's fields (e.g. label_config)."""
        return dict(self.patch(f"/api/projects/{project_id}/", fields))

    def iter_tasks(self, project_id: int) -> Iterator[dict[str, Any]]:
        """Every task of a project, with its predictions and annotations."""
        page = 1
        while True:
            try:
                body = self.get("/api/tasks/", project=project_id, page=page, page_size=PAGE_SIZE, fields="all")
            except LabelStudioError as e:
                if "HTTP 404" in str(e) and page > 1:  # past the last page
                    return
                raise
            tasks = body.get("tasks", []) if isinstance(body, dict) else body
            yield from tasks
            total = body.get("total") if isinstance(body, dict) else None
            if not tasks or total is None or page * PAGE_SIZE >= int(total):
                return
            page += 1

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Import tasks (with their predictions) into a project; returns the new task ids."""
        if not tasks:
            return []
        body = self.post(f"/api/projects/{project_id}/import", tasks, return_task_ids="true")
        return [int(i) for i in body.get("task_ids", [])]

    def add_prediction(self, task_id: int, result: list[dict[str, Any]], model_version: str,
                       score: float | None = None) -> dict[str, Any]:
        """Attach a prediction (pre-annotation) to a task."""
        return dict(self.post("/api/predictions/", {"task": task_id, "result": result, "model_version": model_version,
                                                    "score": score}))

    def annotate(self, task_id: int, result: list[dict[str, Any]], cancelled: bool = False) -> dict[str, Any]:
        """Submit an annotation of a task as this user."""
        return dict(self.post(f"/api/tasks/{task_id}/annotations/", {"result": result, "was_cancelled": cancelled}))

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """The project's annotated tasks in Label Studio's JSON export format."""
        return list(self.get(f"/api/projects/{project_id}/export", exportType="JSON"))

    def users(self) -> dict[int, dict[str, Any]]:
        """The organisation's users by id."""
        body = self.get("/api/users/")
        rows = body.get("results", []) if isinstance(body, dict) else body
        return {int(u["id"]): u for u in rows}
