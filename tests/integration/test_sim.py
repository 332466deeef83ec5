"""cameo-sim: replays a trace through the cache engine and prints its misses.

LRU is unambiguous, so an independent model here must agree with it to the
request; S3-FIFO must beat it on a trace built to show scan resistance.
"""
import collections
import gzip
import os
import random
import subprocess

import pytest

SIM = os.environ.get("CAMEO_SIM") or os.path.join(os.path.dirname(__file__), "..", "..", "build", "cameo-sim")


def run_sim(*args):
    p = subprocess.run([SIM, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def parse(out):
    fields = dict(kv.split("=") for kv in out.split())
    return int(fields["requests"]), int(fields["misses"]), float(fields["miss_ratio"])


def lru_misses(keys, capacity):
    cache, misses = collections.OrderedDict(), 0
    for k in keys:
        if k in cache:
            cache.move_to_end(k)
        else:
            misses += 1
            cache[k] = True
            if len(cache) > capacity:
                cache.popitem(last=False)
    return misses


def zipf_trace(n, universe, seed):
    rnd = random.Random(seed)
    weights = [1.0 / (i + 1) ** 0.9 for i in range(universe)]
    return [str(k) for k in rnd.choices(range(universe), weights=weights, k=n)]


@pytest.fixture
def trace(tmp_path):
    keys = zipf_trace(20000, 3000, seed=7)
    plain = tmp_path / "t.keys"
    plain.write_text("\n".join(keys) + "\n")
    gz = tmp_path / "t.keys.gz"
    with gzip.open(gz, "wt") as f:
        f.write("\n".join(keys) + "\n")
    return keys, str(plain), str(gz)


@pytest.mark.parametrize("capacity", [1, 30, 300, 2999])
def test_lru_matches_an_independent_model_to_the_request(trace, capacity):
    keys, plain, _ = trace
    rc, out, err = run_sim("--capacity", str(capacity), "--policy", "lru", plain)
    assert rc == 0, err
    requests, misses, ratio = parse(out)
    assert requests == len(keys)
    assert misses == lru_misses(keys, capacity)
    assert abs(ratio - misses / requests) < 1e-6


def test_gzip_and_plain_traces_give_the_same_result(trace):
    _, plain, gz = trace
    a = run_sim("--capacity", "300", plain)
    b = run_sim("--capacity", "300", gz)
    assert a[0] == b[0] == 0
    assert a[1] == b[1]


def test_s3fifo_keeps_a_hot_set_through_a_scan_that_flushes_lru(tmp_path):
    # 50 hot keys read over and over, interrupted by scans of 100 one-hit
    # wonders: LRU (capacity 100) loses the whole hot set at every scan and
    # misses 150 per round; S3-FIFO keeps it in main and misses only the scan
    # (100 per round, after a first round that learns the hot set).
    keys, wonder = [], 0
    for _ in range(40):
        for _ in range(5):
            keys += ["hot%d" % i for i in range(50)]
        keys += ["scan%d" % (wonder + i) for i in range(100)]
        wonder += 100
    path = tmp_path / "scan.keys"
    path.write_text("\n".join(keys) + "\n")
    _, lru, _ = parse(run_sim("--capacity", "100", "--policy", "lru", str(path))[1])
    _, s3, _ = parse(run_sim("--capacity", "100", "--policy", "s3fifo", str(path))[1])
    assert lru == lru_misses(keys, 100)
    assert s3 < 0.75 * lru, (s3, lru)


@pytest.mark.parametrize("args,flag", [
    (["--capacity", "0", "x"], "--capacity"),
    (["--capacity", "ten", "x"], "--capacity"),
    (["--capacity", "5", "--policy", "mru", "x"], "--policy"),
    (["--capacity", "5", "--bogus", "x"], "--bogus"),
    (["x"], "--capacity"),
])
def test_bad_usage_is_one_line_naming_the_flag_and_exit_2(args, flag):
    rc, out, err = run_sim(*args)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], err


def test_unreadable_trace_is_exit_1(tmp_path):
    rc, out, err = run_sim("--capacity", "5", str(tmp_path / "missing.keys"))
    assert rc == 1
    assert "missing.keys" in err
