# SPDX-License-Identifier: MIT
"""The Harbor inventory source (src/core/inventory/harbor.c), driven through tests/tools/inv-probe
against the fake Harbor of harbor_fake.py: what it lists, Harbor's pagination and name encoding,
the project filter, credentials (users, robots, wrong ones), failures, and how many requests it
keeps in flight."""
import time

import pytest
import requests

from harbor_fake import (ADMIN, ADMIN_PASSWORD, DEV, DEV_PASSWORD, PAGE_SIZE_MAX, ROBOT,
                         ROBOT_SECRET, HarborFake)
from inv_probe import probe

pytest_plugins = ["harbor_fake"]


def rows_of(harbor, *args):
    code, out = probe("harbor", harbor.url, *args)
    assert code == 0, out
    return out["rows"]


def artifact_requests(harbor):
    return [r for r in harbor.requests if r["raw_path"].endswith("/artifacts")]


# -- the fake itself follows the published protocol


def test_fake_pagination_headers(harbor):
    harbor.add_bulk("bulk", 25)
    r = requests.get(harbor.url + "/api/v2.0/projects/bulk/repositories",
                     params={"page": 2, "page_size": 10}, timeout=10)
    assert r.status_code == 200
    assert r.headers["X-Total-Count"] == "25"
    assert r.headers["Link"] == (
        '</api/v2.0/projects/bulk/repositories?page=1&page_size=10>; rel="prev" , '
        '</api/v2.0/projects/bulk/repositories?page=3&page_size=10>; rel="next"')
    assert len(r.json()) == 10 and r.json()[0]["name"].startswith("bulk/")
    last = requests.get(harbor.url + "/api/v2.0/projects/bulk/repositories",
                        params={"page": 3, "page_size": 10}, timeout=10)
    assert 'rel="next"' not in last.headers["Link"] and len(last.json()) == 5
    big = requests.get(harbor.url + "/api/v2.0/projects", params={"page_size": 101}, timeout=10)
    assert big.status_code == 400
    assert big.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_fake_auth_rules(harbor):
    url = harbor.url + "/api/v2.0"
    assert requests.get(url + "/users/current", timeout=10).status_code == 401
    assert requests.get(url + "/users/current", auth=(ADMIN, "wrong"), timeout=10) \
        .status_code == 401
    assert requests.get(url + "/users/current", auth=(ADMIN, ADMIN_PASSWORD), timeout=10) \
        .json()["username"] == ADMIN
    assert requests.get(url + "/users/current", auth=(ROBOT, ROBOT_SECRET), timeout=10) \
        .status_code == 412
    # wrong credentials are anonymous on list endpoints: public projects only
    names = [p["name"] for p in requests.get(url + "/projects", auth=(ADMIN, "wrong"),
                                             timeout=10).json()]
    assert "private-proj" not in names and "library" in names
    # a single-encoded name with '/' is two path segments: no such route
    assert requests.get(url + "/projects/library/repositories/team%2Fapp/artifacts",
                        timeout=10).status_code == 404
    ok = requests.get(url + "/projects/library/repositories/team%252Fapp/artifacts", timeout=10)
    assert ok.status_code == 200 and ok.json()[0]["tags"][0]["name"] == "v1"


# -- listing


def test_lists_what_the_admin_sees(harbor):
    rows = rows_of(harbor, "--user", ADMIN, "--password", ADMIN_PASSWORD)
    assert rows == harbor.expected_rows(ADMIN)
    assert {r["project"] for r in rows} == {"library", "library-extra", "private-proj", "apps"}
    nginx = [r for r in rows if r["repository"] == "nginx"]
    assert [r["tag"] for r in nginx] == ["1.25", "latest", "<none>"]
    assert nginx[0]["digest"] == nginx[1]["digest"] != nginx[2]["digest"]
    assert nginx[0]["size"] == 250000000 and nginx[2]["size"] == 117234567
    assert {r["repository"] for r in rows if r["project"] == "library"} == \
        {"nginx", "team/app", "a/b/c"}
    # the index is one row; its untagged children stay hidden
    assert [(r["repository"], r["tag"]) for r in rows if r["project"] == "apps"] == \
        [("multi", "v2")]
    for r in harbor.requests:
        assert r["auth_sent"] and r["user"] == ADMIN


def test_anonymous_sees_public_projects_only(harbor):
    rows = rows_of(harbor)
    assert rows == harbor.expected_rows(None)
    assert "private-proj" not in {r["project"] for r in rows}
    assert not any(r["auth_sent"] for r in harbor.requests)
    assert not any(r["raw_path"].endswith("/users/current") for r in harbor.requests)


def test_member_and_robot_see_the_private_project(harbor):
    assert rows_of(harbor, "--user", DEV, "--password", DEV_PASSWORD) == \
        harbor.expected_rows(DEV)
    harbor.reset_record()
    rows = rows_of(harbor, "--user", ROBOT, "--password", ROBOT_SECRET)
    assert rows == harbor.expected_rows(ROBOT)
    assert ("private-proj", "secret-app", "1.0") in \
        {(r["project"], r["repository"], r["tag"]) for r in rows}
    current = [r for r in harbor.requests if r["raw_path"].endswith("/users/current")]
    assert [r["status"] for r in current] == [412]
    assert all(r["user"] == ROBOT for r in harbor.requests)


def test_repository_names_are_double_encoded(harbor):
    rows_of(harbor)
    paths = {r["raw_path"] for r in artifact_requests(harbor)}
    assert "/api/v2.0/projects/library/repositories/team%252Fapp/artifacts" in paths
    assert "/api/v2.0/projects/library/repositories/a%252Fb%252Fc/artifacts" in paths
    assert all(r["status"] == 200 for r in harbor.requests)
    for r in artifact_requests(harbor):
        assert r["query"]["with_tag"] == ["true"]


# -- the project filter


def test_project_filter_is_exact(harbor):
    rows = rows_of(harbor, "--project", "library")
    assert rows == harbor.expected_rows(None, project="library")
    assert {r["project"] for r in rows} == {"library"}  # not library-extra
    lookups = [r for r in harbor.requests if r["raw_path"] == "/api/v2.0/projects/library"]
    assert len(lookups) == 1 and lookups[0]["resource_name"] == "true"
    assert not any(r["raw_path"] == "/api/v2.0/projects" for r in harbor.requests)
    assert not any("name" in r["query"] or "q" in r["query"] for r in harbor.requests)


def test_project_filter_with_a_numeric_name(harbor):
    """A project named like an ID is found by name (X-Is-Resource-Name), not as ID 1."""
    numeric = harbor.add_project("1")
    harbor.add_artifact(harbor.add_repo(numeric, "app"), tags=["n"], size=7)
    rows = rows_of(harbor, "--project", "1")
    assert [(r["project"], r["repository"], r["tag"]) for r in rows] == [("1", "app", "n")]


def test_missing_project_is_enoent(harbor):
    code, out = probe("harbor", harbor.url, "--project", "libr")
    assert code == 1 and out["error"]["code"] == "ENOENT"
    assert "'libr'" in out["error"]["message"] and harbor.url in out["error"]["message"]


def test_private_project_without_access_is_eacces(harbor):
    code, out = probe("harbor", harbor.url, "--project", "private-proj")
    assert code == 1 and out["error"]["code"] == "EACCES"
    rows = rows_of(harbor, "--project", "private-proj", "--user", DEV, "--password", DEV_PASSWORD)
    assert rows == harbor.expected_rows(DEV, project="private-proj")


# -- credentials and failures


@pytest.mark.parametrize("user", [ADMIN, ROBOT, "nobody"])
def test_wrong_credentials_are_refused(harbor, user):
    code, out = probe("harbor", harbor.url, "--user", user, "--password", "not-the-password")
    assert code == 1
    assert out["error"]["code"] == "EACCES"
    assert harbor.url in out["error"]["message"]
    assert "not-the-password" not in out["error"]["message"]
    current = [r for r in harbor.requests if r["raw_path"] == "/api/v2.0/users/current"]
    assert [r["status"] for r in current] == [401]


def test_unreachable_harbor_is_econnrefused():
    with HarborFake() as h:
        url = h.url
    code, out = probe("harbor", url)
    assert code == 1 and out["error"]["code"] == "ECONNREFUSED"
    assert url in out["error"]["message"] and "\n" not in out["error"]["message"]


def test_slow_harbor_is_etimedout(harbor):
    harbor.delay = 1.5
    code, out = probe("harbor", harbor.url, "--timeout-ms", "200")
    assert code == 1 and out["error"]["code"] == "ETIMEDOUT"
    assert harbor.url in out["error"]["message"]


def test_empty_url_is_incomplete_configuration():
    code, out = probe("harbor", "")
    assert code == 1 and out["error"]["code"] == "EINVAL"
    assert out["error"]["message"] == "Harbor configuration incomplete"


def test_url_with_credentials_is_refused_without_echoing_them():
    code, out = probe("harbor", "http://admin:s3cret@127.0.0.1:1")
    assert code == 1 and out["error"]["code"] == "EINVAL"
    assert "s3cret" not in out["error"]["message"]


def test_transient_errors_are_retried(harbor):
    harbor.inject("/repositories/nginx/artifacts", 503, times=2)
    assert rows_of(harbor) == harbor.expected_rows(None)
    statuses = [r["status"] for r in artifact_requests(harbor)
                if r["raw_path"].endswith("/nginx/artifacts")]
    assert statuses == [503, 503, 200]


def test_server_errors_are_eproto_with_harbor_message(harbor):
    harbor.inject("/api/v2.0/projects", 500, times=1)
    code, out = probe("harbor", harbor.url)
    assert code == 1 and out["error"]["code"] == "EPROTO"
    assert "HTTP 500" in out["error"]["message"] and "injected by the test" in \
        out["error"]["message"]


def test_trailing_slash_in_url(harbor):
    assert rows_of(harbor, "--project", "apps") == \
        [dict(r) for r in harbor.expected_rows(None, project="apps")]
    code, out = probe("harbor", harbor.url + "/", "--project", "apps")
    assert code == 0 and out["rows"] == harbor.expected_rows(None, project="apps")


# -- pagination and concurrency


def test_pagination_follows_every_page(harbor):
    """Page size 2: projects, repositories and artifacts all span several pages."""
    many = harbor.add_project("many")
    repo = harbor.add_repo(many, "tags")
    for i in range(7):
        harbor.add_artifact(repo, tags=[f"t{i}"], size=100 + i)
    rows = rows_of(harbor, "--user", ADMIN, "--password", ADMIN_PASSWORD, "--page-size", "2")
    assert rows == harbor.expected_rows(ADMIN)
    pages = sorted(int(r["query"]["page"][0]) for r in artifact_requests(harbor)
                   if "/many/" in r["raw_path"])
    assert pages == [1, 2, 3, 4]
    project_pages = sorted(int(r["query"]["page"][0]) for r in harbor.requests
                           if r["raw_path"] == "/api/v2.0/projects")
    assert project_pages == [1, 2, 3]


def test_page_size_never_exceeds_100(harbor):
    harbor.add_bulk("bulk", 150)
    big = harbor.add_project("big")
    repo = harbor.add_repo(big, "history")
    for i in range(130):
        harbor.add_artifact(repo, tags=[f"v{i}"] if i % 3 else [], size=i)
    rows = rows_of(harbor, "--page-size", "1000")
    assert rows == harbor.expected_rows(None)
    assert len([r for r in rows if r["project"] == "bulk"]) == 150
    sizes = [int(r["query"]["page_size"][0]) for r in harbor.requests if "page_size" in r["query"]]
    assert sizes and max(sizes) == PAGE_SIZE_MAX
    assert all(r["status"] == 200 for r in harbor.requests)
    history = [r for r in artifact_requests(harbor) if "/history/" in r["raw_path"]]
    assert sorted(int(r["query"]["page"][0]) for r in history) == [1, 2]


@pytest.mark.parametrize("parallel,repos", [(1, 30), (8, 200)])
def test_concurrency_is_bounded(harbor, parallel, repos):
    """Many repositories, 20 ms per request: their artifact listings overlap, never more than
    --parallel at once."""
    harbor.add_bulk("bulk", repos)
    harbor.delay = 0.02
    rows = rows_of(harbor, "--parallel", parallel)
    assert rows == harbor.expected_rows(None)
    assert len(artifact_requests(harbor)) >= repos
    assert harbor.max_in_flight <= parallel
    if parallel > 1:
        assert harbor.max_in_flight > 1
        # the overlap is visible in the record too: some artifact listing started before
        # another one had ended
        arts = sorted(artifact_requests(harbor), key=lambda r: r["start"])
        assert any(b["start"] < a["end"] for a, b in zip(arts, arts[1:]))
    else:
        assert harbor.max_in_flight == 1


def test_concurrency_with_credentials_keeps_the_bound(harbor):
    harbor.add_bulk("bulk", 60)
    harbor.delay = 0.01
    rows = rows_of(harbor, "--user", ADMIN, "--password", ADMIN_PASSWORD, "--parallel", 4)
    assert rows == harbor.expected_rows(ADMIN)
    assert 1 < harbor.max_in_flight <= 4


def test_many_repositories_are_not_serial(harbor):
    """Recorded for information only (timing is not asserted): 200 × 20 ms serial would be 4 s."""
    harbor.add_bulk("bulk", 200)
    harbor.delay = 0.02
    t0 = time.monotonic()
    rows_of(harbor, "--parallel", 8)
    print(f"200 repositories × 20 ms with 8 in flight: {time.monotonic() - t0:.2f} s, "
          f"max in flight {harbor.max_in_flight}")
    assert 1 < harbor.max_in_flight <= 8
