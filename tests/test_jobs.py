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
