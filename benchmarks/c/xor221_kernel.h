/* Training kernel of xor221.c for one precision; included once per precision with REAL (the
 * scalar type), VEC (its SIMD vector), LANES (its width), TANH and SIGMOID (in place on an
 * array of vectors) and SUFFIX defined. */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)

/* Adds to g S times the gradient of NS samples (from s0) for CHUNK_VECS vectors of seeds, all NS x
 * CHUNK_VECS forward passes side by side. */
INLINE void CAT(samples, SUFFIX)(VEC g[9][CHUNK_VECS], VEC p[9][CHUNK_VECS], const REAL *x,
                                 const REAL *y, int s0, int NS) {
    enum { K = CHUNK_VECS };
    VEC h[2 * MAXV], o[MAXV]; /* h[(u * NS + s) * K + k]: hidden unit u; o[s * K + k] */
    const int m = NS * K;
    _Pragma("GCC unroll 16") for (int s = 0; s < NS; ++s) {
        const REAL x1 = x[2 * (s0 + s)], x2 = x[2 * (s0 + s) + 1];
        _Pragma("GCC unroll 16") for (int k = 0; k < K; ++k) {
            h[s * K + k] = p[0][k] * x1 + p[1][k] * x2 + p[6][k];
            h[m + s * K + k] = p[2][k] * x1 + p[3][k] * x2 + p[7][k];
        }
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < 2 * m; i += GROUP)
        TANH(h + i, 2 * m - i < GROUP ? 2 * m - i : GROUP);
    EACH o[i] = p[4][i % K] * h[i] + p[5][i % K] * h[m + i] + p[8][i % K];
    _Pragma("GCC unroll 16") for (int i = 0; i < m; i += GROUP)
        SIGMOID(o + i, m - i < GROUP ? m - i : GROUP);
    _Pragma("GCC unroll 16") for (int s = 0; s < NS; ++s) {
        const REAL x1 = x[2 * (s0 + s)], x2 = x[2 * (s0 + s) + 1], t = y[s0 + s];
        _Pragma("GCC unroll 16") for (int k = 0; k < K; ++k) {
            const VEC a1 = h[s * K + k], a2 = h[m + s * K + k], a3 = o[s * K + k];
            const VEC d3 = (a3 - t) * a3 * ((REAL)1 - a3); /* x S: scale is in lr */
            const VEC d1 = d3 * p[4][k] * ((REAL)1 - a1 * a1);
            const VEC d2 = d3 * p[5][k] * ((REAL)1 - a2 * a2);
            g[0][k] += d1 * x1;
            g[1][k] += d1 * x2;
            g[2][k] += d2 * x1;
            g[3][k] += d2 * x2;
            g[4][k] += d3 * a1;
            g[5][k] += d3 * a2;
            g[6][k] += d1;
            g[7][k] += d2;
            g[8][k] += d3;
        }
    }
}

/* `steps` steps of gradient descent on CHUNK_VECS vectors of seeds held in p (registers). */
INLINE void CAT(run_steps, SUFFIX)(VEC p[9][CHUNK_VECS], const REAL *x, const REAL *y, int S,
                                   REAL lr, long steps) {
    const REAL step = lr / (REAL)S; /* the mean's 1/S (exact for S = 4) */
    for (long it = 0; it < steps; ++it) {
        VEC g[9][CHUNK_VECS];
        for (int j = 0; j < 9; ++j)
            for (int k = 0; k < CHUNK_VECS; ++k) g[j][k] = (VEC){};
        if (S == 4) /* the XOR data set: all four samples side by side */
            CAT(samples, SUFFIX)(g, p, x, y, 0, 4);
        else
            for (int s = 0; s < S; ++s) CAT(samples, SUFFIX)(g, p, x, y, s, 1);
        for (int j = 0; j < 9; ++j)
            for (int k = 0; k < CHUNK_VECS; ++k) p[j][k] -= step * g[j][k];
    }
}

/* One chunk, P[j * L + lane] (structure of arrays): load to registers, train, store. */
static void CAT(chunk, SUFFIX)(REAL *P, const REAL *x, const REAL *y, int S, REAL lr,
                               long steps) {
    VEC p[9][CHUNK_VECS];
    for (int j = 0; j < 9; ++j)
        for (int k = 0; k < CHUNK_VECS; ++k)
            __builtin_memcpy(&p[j][k], P + (j * CHUNK_VECS + k) * LANES, sizeof(VEC));
    CAT(run_steps, SUFFIX)(p, x, y, S, lr, steps);
    for (int j = 0; j < 9; ++j)
        for (int k = 0; k < CHUNK_VECS; ++k)
            __builtin_memcpy(P + (j * CHUNK_VECS + k) * LANES, &p[j][k], sizeof(VEC));
}

static void CAT(train_all, SUFFIX)(REAL *params, long n, const REAL *x, const REAL *y, int S,
                                   REAL lr, long steps) {
    enum { L = LANES * CHUNK_VECS };
    const long chunks = (n + L - 1) / L;
#pragma omp parallel for schedule(static) num_threads(xor221_max_threads())
    for (long c = 0; c < chunks; ++c) {
        REAL P[9 * L] __attribute__((aligned(64)));
        const long base = c * L;
        const long m = n - base < L ? n - base : L;
        for (long l = 0; l < L; ++l) /* padding lanes of the last chunk train zeros */
            for (int j = 0; j < 9; ++j)
                P[j * L + l] = l < m ? params[(base + l) * 9 + j] : (REAL)0;
        CAT(chunk, SUFFIX)(P, x, y, S, lr, steps);
        for (long l = 0; l < m; ++l)
            for (int j = 0; j < 9; ++j) params[(base + l) * 9 + j] = P[j * L + l];
    }
}

#undef CAT
#undef CAT_
#undef REAL
#undef VEC
#undef LANES
#undef TANH
#undef SIGMOID
#undef SUFFIX
