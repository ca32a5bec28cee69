"""ist's random streams (include/ist/core/rng.hpp) in Python, bit for bit: mix64, derive_seed and ist::Rng
(xoshiro256** seeded through SplitMix64-style mixing; below() is Lemire's unbiased multiply-and-reject; shuffle()
is Fisher-Yates from the back). The one home of this port for the bench scripts that replay ist's draws
(resist_port.py, image_folder_match.py, cluster_gcn_pytorch.py)."""

M64 = (1 << 64) - 1


def mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def derive_seed(seed, ids):
    h = mix64(seed & M64)
    for i in ids:
        h = mix64(h ^ mix64((i + 0x632BE59BD9B4E019) & M64))
    return h


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class IstRng:
    """ist::Rng: IstRng(seed), or IstRng(seed, ids) = IstRng(derive_seed(seed, ids))."""

    def __init__(self, seed=0, ids=None):
        if ids is not None:
            seed = derive_seed(seed, ids)
        self.s = [mix64((seed + i * 0x9E3779B97F4A7C15) & M64) for i in range(4)]

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    __call__ = next

    def below(self, n):
        m = self.next() * n
        low = m & M64
        if low < n:
            threshold = ((1 << 64) - n) % n
            while low < threshold:
                m = self.next() * n
                low = m & M64
        return m >> 64

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

    def shuffle(self, v):
        """In place; returns v."""
        for i in range(len(v), 1, -1):
            j = self.below(i)
            v[i - 1], v[j] = v[j], v[i - 1]
        return v
