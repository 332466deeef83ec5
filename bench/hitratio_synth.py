#!/usr/bin/python3
"""hitratio_synth.py - writes the synthetic key traces bench/hitratio.sh runs
next to the real ones, to check that a policy tuned on the real traces does
not lose to LRU on other workload shapes. Deterministic: fixed seeds, Python's
own Mersenne Twister (the same bytes on every run and machine).

usage: bench/hitratio_synth.py OUTDIR
Writes three plain-text traces (one decimal key per line):

  synth-recency.keys  250,000 requests, LRU-friendly: each request re-uses the
                      key last used d distinct keys ago, d drawn from a
                      heavy-tailed (Pareto, alpha 1.2) stack-distance law, or
                      with probability 0.2 asks for a brand-new key. Stack
                      depth is capped at 20,000 (deeper keys never return).
                      Under this model recency is all there is: LRU is close
                      to optimal and frequency only misleads.
  synth-shift.keys    250,000 requests in 10 phases; each phase draws from a
                      Zipf(0.9) hot set of 5,000 keys, half of which are new
                      in that phase (the other half carried over from the
                      previous one, with their ranks reshuffled). Old
                      favourites go cold: a frequency filter must age.
  synth-zipf.keys     500,000 requests, Zipf(0.9) over 100,000 keys, ranks
                      scattered over the key space. Stationary popularity:
                      frequency helps here.
"""
import bisect
import itertools
import os
import random
import sys


def zipf_cdf(n, s):
    weights = [1.0 / (r**s) for r in range(1, n + 1)]
    return list(itertools.accumulate(weights))


def zipf_draw(rng, cdf):
    return bisect.bisect_left(cdf, rng.random() * cdf[-1])


def recency(path):
    rng = random.Random(20240501)
    stack = []  # most recent last
    next_key = 0
    with open(path, "w") as f:
        for _ in range(250_000):
            if not stack or rng.random() < 0.2:
                key = next_key
                next_key += 1
            else:
                d = int(rng.paretovariate(1.2))  # 1, 2, ... heavy tail
                d = min(d, len(stack))
                key = stack.pop(len(stack) - d)
            stack.append(key)
            if len(stack) > 20_000:
                del stack[0]
            f.write(f"{key}\n")


def shift(path):
    rng = random.Random(20240502)
    cdf = zipf_cdf(5_000, 0.9)
    hot = list(range(5_000))
    next_key = 5_000
    with open(path, "w") as f:
        for _phase in range(10):
            for _ in range(25_000):
                f.write(f"{hot[zipf_draw(rng, cdf)]}\n")
            keep = hot[:]
            rng.shuffle(keep)
            hot = keep[:2_500] + list(range(next_key, next_key + 2_500))
            next_key += 2_500
            rng.shuffle(hot)


def zipf(path):
    rng = random.Random(20240503)
    n = 100_000
    cdf = zipf_cdf(n, 0.9)
    keys = list(range(n))
    rng.shuffle(keys)
    with open(path, "w") as f:
        for _ in range(500_000):
            f.write(f"{keys[zipf_draw(rng, cdf)]}\n")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: hitratio_synth.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, gen in (("synth-recency", recency), ("synth-shift", shift), ("synth-zipf", zipf)):
        path = os.path.join(out, name + ".keys")
        gen(path + ".tmp")
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
