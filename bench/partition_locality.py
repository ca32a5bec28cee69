#!/usr/bin/python3
"""How much of a graph a Cluster-GCN batch sees: for an ISTGRAPH file and one of its METIS partition caches
(ISTPART, written by gist-gcn --partitions P next to the graph), the share of the edges inside parts and the edge
homophily inside parts, on the cut edges and overall (docs/graphs.md, "Communities").

    /usr/bin/python3 bench/partition_locality.py arxiv-like.istg arxiv-like.istg.metis-p100-s0.istpart

Reads both files with numpy.memmap (the formats: include/ist/data/csr_graph_format.hpp and graph_partition.hpp);
checks their magics and that they count the same nodes and entries (not the graph checksum: gist-gcn
checks that)."""
import argparse
import struct
import sys

import numpy as np


def fail(msg):
    sys.exit(f"partition_locality.py: {msg}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graph", help="an ISTGRAPH file")
    ap.add_argument("partition", help="an ISTPART file of that graph")
    a = ap.parse_args()

    g = np.memmap(a.graph, dtype=np.uint8, mode="r")
    if bytes(g[:8]) != b"ISTGRAPH":
        fail(f"{a.graph}: expected the magic ISTGRAPH, found {bytes(g[:8])!r}")
    n, m = struct.unpack_from("<QQ", g, 16)
    sections = [struct.unpack_from("<QQ", g, 64 + 16 * i) for i in range(5)]
    offsets = np.frombuffer(g, dtype=np.int64, count=n + 1, offset=sections[0][0])
    columns = np.frombuffer(g, dtype=np.int32, count=m, offset=sections[1][0])
    labels = np.frombuffer(g, dtype=np.int32, count=n, offset=sections[3][0])

    p = np.memmap(a.partition, dtype=np.uint8, mode="r")
    if bytes(p[:8]) != b"ISTPART\0":
        fail(f"{a.partition}: expected the magic ISTPART, found {bytes(p[:8])!r}")
    parts, pn, pm = struct.unpack_from("<IQQ", p, 12)
    if (pn, pm) != (n, m):
        fail(f"{a.partition}: expected a partition of {n} nodes and {m} adjacency entries ({a.graph}), "
             f"found {pn} and {pm}")
    part = np.frombuffer(p, dtype=np.int32, count=n, offset=64)

    rows = np.repeat(np.arange(n, dtype=np.int32), np.diff(offsets))
    labelled = (labels[rows] >= 0) & (labels[columns] >= 0)
    inside = part[rows] == part[columns]
    same = labels[rows] == labels[columns]

    def homophily(mask):
        mask = mask & labelled
        return same[mask].mean() if mask.any() else float("nan")

    print(f"{a.graph}: {n} nodes, {m // 2} edges; {a.partition}: {parts} parts")
    print(f"edges inside parts: {inside.mean():.4f}")
    print(f"homophily: inside parts {homophily(inside):.4f}, cut edges {homophily(~inside):.4f}, "
          f"all edges {homophily(np.ones_like(inside)):.4f}")


if __name__ == "__main__":
    main()
