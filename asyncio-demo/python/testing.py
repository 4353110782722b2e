"""Python twin of `asyncio-demo testing`: the retry test, as unittest.IsolatedAsyncioTestCase.

    python3 testing.py [--attempts 3] [--timeout 0.5] [--pause 0.1]

A call that never answers is tried `attempts` times, `timeout` seconds each, with `pause`
seconds between; the test asserts that it gives up after
attempts * timeout + (attempts - 1) * pause seconds of the loop's clock. asyncio's clock is
the real one (the standard library has no paused clock), so the test waits that long.

Prints one JSON line:
    wall_s     the test run, start to end, in real time
    waited_s   the time the test measured with loop.time(): what Rust's test simulates
"""
import argparse
import asyncio
import io
import json
import time
import unittest


async def with_retries(call, attempts, timeout, pause):
    for attempt in range(1, attempts + 1):
        try:
            return await asyncio.wait_for(call(), timeout)
        except asyncio.TimeoutError:
            if attempt < attempts:
                await asyncio.sleep(pause)
    return None


async def never_answers():
    await asyncio.get_running_loop().create_future()  # nobody ever sets it


def retry_test(attempts, timeout, pause, waited):
    expected = attempts * timeout + (attempts - 1) * pause

    class RetryTest(unittest.IsolatedAsyncioTestCase):
        async def test_gives_up_after_every_timeout(self):
            loop = asyncio.get_running_loop()
            start = loop.time()
            answer = await with_retries(never_answers, attempts, timeout, pause)
            self.assertIsNone(answer)
            waited.append(loop.time() - start)
            self.assertAlmostEqual(waited[0], expected, delta=0.05 + expected / 10)

    return RetryTest


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--pause", type=float, default=0.1)
    args = parser.parse_args()
    waited = []
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(
        retry_test(args.attempts, args.timeout, args.pause, waited)
    )
    out = io.StringIO()
    start = time.perf_counter()
    result = unittest.TextTestRunner(stream=out, verbosity=0).run(suite)
    wall = time.perf_counter() - start
    assert result.wasSuccessful() and result.testsRun == 1, out.getvalue()
    print(json.dumps({
        "model": "unittest.IsolatedAsyncioTestCase, asyncio.wait_for on the loop's real clock",
        "job": {"attempts": args.attempts, "timeout": args.timeout, "pause": args.pause},
        "wall_s": wall,
        "waited_s": waited[0],
    }))
