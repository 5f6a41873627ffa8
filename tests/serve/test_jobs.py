"""The server's job table: stages in order, results and errors kept, running and kept jobs bounded."""

import asyncio

import pytest

pytest.importorskip("fastapi")

from speechgrade.serve.jobs import Jobs  # noqa: E402
from speechgrade.serve.pool import ApiError  # noqa: E402


def test_stages_result_error_and_bounds():
    async def main():
        jobs = Jobs(max_running=2, max_kept=3, keep_s=600)
        gate = asyncio.Event()

        async def work(on_stage):
            for s in ("decoding", "transcribing", "transcribing", "scoring"):
                on_stage(s)
            await gate.wait()
            return {"score": 3.5}

        async def failing(on_stage):
            on_stage("decoding")
            raise ApiError(422, "unreadable_audio", "x.wav: not audio")

        a, _ = jobs.start("a.wav", work), jobs.start("b.wav", work)
        await asyncio.sleep(0)
        with pytest.raises(ApiError) as full:
            jobs.start("c.wav", work)
        assert full.value.status == 503 and jobs.get(a.id).stage == "scoring"
        gate.set()
        await asyncio.sleep(0.01)
        done = jobs.get(a.id).to_dict()
        assert done["result"] == {"score": 3.5}
        assert [s["stage"] for s in done["stages"]] == ["queued", "decoding", "transcribing", "scoring", "done"]
        bad = jobs.start("x.wav", failing)
        await asyncio.sleep(0.01)
        assert jobs.get(bad.id).to_dict()["error"]["code"] == "unreadable_audio" and bad.stage == "failed"
        for _ in range(3):  # more finished jobs than max_kept: the oldest are forgotten
            jobs.start("d.wav", work)
            await asyncio.sleep(0.01)
        with pytest.raises(ApiError) as gone:
            jobs.get(a.id)
        assert gone.value.status == 404 and len(jobs) == 3
        jobs.keep_s = 0  # expired: forgotten on the next look
        with pytest.raises(ApiError):
            jobs.get(bad.id)

    asyncio.run(main())


def test_one_table_for_every_process_and_jobs_of_a_dead_process_end(tmp_path):
    """Two tables on one file (two server processes) see each other's jobs, count each other's running jobs
    against the limit, and a job whose process died is marked failed instead of running forever."""
    import sqlite3

    async def main():
        here, there = Jobs(tmp_path / "jobs.sqlite", max_running=2), Jobs(tmp_path / "jobs.sqlite", max_running=2)
        gate = asyncio.Event()

        async def work(on_stage):
            on_stage("scoring")
            await gate.wait()
            return {"score": 2.0}

        a = here.start("a.wav", work)
        await asyncio.sleep(0)
        assert there.get(a.id).stage == "scoring" and there.running == 1
        there.start("b.wav", work)
        with pytest.raises(ApiError) as full:  # the limit is the server's, not one process's
            here.start("c.wav", work)
        assert full.value.status == 503
        gate.set()
        await asyncio.sleep(0.05)
        assert there.get(a.id).to_dict()["result"] == {"score": 2.0} and here.running == 0
        gone = _dead_pid()
        orphan = here.start("d.wav", lambda on_stage: asyncio.sleep(60))
        with sqlite3.connect(tmp_path / "jobs.sqlite") as db:  # as if another process, now dead, ran it
            db.execute("UPDATE jobs SET owner = ? WHERE id = ?", (gone, orphan.id))
        ended = there.get(orphan.id).to_dict()
        assert ended["stage"] == "failed" and ended["error"]["code"] == "server_restarted"
        here.cancel_all()
        await asyncio.sleep(0)

    asyncio.run(main())


def _dead_pid() -> int:
    """The id of a process that has exited."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
