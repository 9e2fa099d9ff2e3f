/* Hand-written C baseline of the default workload: 2-2-1 tanh/sigmoid network on XOR,
 * squared error mean over the S samples of (out - y)^2 / 2, plain gradient descent, one
 * independent network per seed.
 *
 *   void train(float *params, long n, const float *x, const float *y, int S, float lr,
 *              long steps);
 *   void train_f64(double *params, ...);   same, in double
 *   void xor221_set_threads(int t);        OpenMP threads of the next calls (<= 0: the default)
 *   int xor221_max_threads(void);          threads the next call will use
 *
 * params: (n, 9) row-major, updated in place, shared order [w1..w6, b1, b2, b3] (w1: x1->h1,
 * w2: x2->h1, w3: x1->h2, w4: x2->h2, w5: h1->out, w6: h2->out); x: (S, 2); y: (S).
 *
 * Parallel over seeds with OpenMP (schedule(static) over chunks of CHUNK_VECS vectors of seeds),
 * vectorized over seeds with GCC vector extensions (one seed per SIMD lane, vectors of the widest
 * native width: 512 bits with AVX-512, 16 floats / 8 doubles, else 256 bits). A chunk is
 * transposed to registers (9 x CHUNK_VECS vectors), trained for all `steps` steps there, and
 * stored back, so the step loop never leaves L1.
 *
 * Transcendentals, written here so that they vectorize (no libm calls, no -ffast-math):
 *  - float tanh: XLA CPU's / Eigen's fast rational approximation (odd degree-13 numerator over
 *    even degree-6 denominator, input clamped to +-7.90531110763549805, tanh(x) = x for
 *    |x| < 0.0004), the function the JAX engine's float32 tanh uses;
 *  - float exp: Cody-Waite range reduction (x = n ln2 + r, |r| <= ln2/2, ln2 split in two) and
 *    Cephes' expf polynomial (degree 7 in r, about 1 ulp), 2^n built in the exponent bits;
 *  - double exp: the same reduction with fdlibm's ln2 split and the Taylor polynomial of degree
 *    13 (truncation error < 1e-17 relative on |r| <= ln2/2);
 *  - double tanh: -expm1(-2|x|) / (2 + expm1(-2|x|)) with the sign of x, expm1 from the same
 *    reduction (expm1(y) = 2^n expm1(r) + (2^n - 1), expm1(r) by its Taylor polynomial), so it
 *    keeps full relative accuracy near 0;
 *  - sigmoid(z) = 1 / (1 + exp(-z)) in both precisions.
 * Accuracy: float32 within 1e-3 of the engine after 1000 steps, float64 within 1e-8 (checked by
 * benchmarks/throughput.py and tests/test_benchmarks.py).
 *
 * Build: gcc -O3 -march=native -fopenmp -shared -fPIC (no -ffast-math: the code does not need
 * it; GCC's default -ffp-contract=fast fuses a*b+c into FMAs). -DVBYTES=64 or 32 overrides
 * the vector width in bytes. */

#include <omp.h>
#include <stdint.h>

#ifndef CHUNK_VECS
#define CHUNK_VECS 2 /* vectors of seeds per chunk */
#endif
#ifndef GROUP
#define GROUP 4 /* vectors per call of an elementwise function */
#endif

/* Bytes per vector: the widest the CPU has natively (-march=native). GCC splits wider vector
 * types into several registers, which doubles register pressure and spills (on AVX2, 512-bit
 * vectors ran 5x slower than 256-bit ones). */
#ifndef VBYTES
#ifdef __AVX512F__
#define VBYTES 64
#else
#define VBYTES 32
#endif
#endif

typedef float f32v __attribute__((vector_size(VBYTES)));
typedef int32_t i32v __attribute__((vector_size(VBYTES)));
typedef double f64v __attribute__((vector_size(VBYTES)));
typedef int64_t i64v __attribute__((vector_size(VBYTES)));

static int n_threads = 0;

void xor221_set_threads(int t) { n_threads = t; }

int xor221_max_threads(void) { return n_threads > 0 ? n_threads : omp_get_max_threads(); }

/* Every elementwise function below works on an array of m independent vectors, one operation
 * of all m at a time (the loops over i are unrolled): the m dependency chains are interleaved in
 * the instruction stream, so the out-of-order core overlaps their latencies (GCC does not
 * schedule instructions before register allocation on x86, and one chain alone is
 * latency-bound). */
#define MAXV 32
#define EACH _Pragma("GCC unroll 32") for (int i = 0; i < m; ++i)
#define INLINE static inline __attribute__((always_inline))

/* min and max with a constant, and select(a < b, x, y): single AVX-512 instructions where
 * available, bit masks otherwise. */
#if defined(__AVX512F__) && VBYTES == 64
#include <immintrin.h>
INLINE f32v min_f32(f32v a, float b) { return (f32v)_mm512_min_ps((__m512)a, _mm512_set1_ps(b)); }
INLINE f32v max_f32(f32v a, float b) { return (f32v)_mm512_max_ps((__m512)a, _mm512_set1_ps(b)); }
INLINE f32v sel_lt_f32(f32v a, float b, f32v x, f32v y) {
    return (f32v)_mm512_mask_blend_ps(_mm512_cmp_ps_mask((__m512)a, _mm512_set1_ps(b), _CMP_LT_OQ),
                                      (__m512)y, (__m512)x);
}
INLINE f64v min_f64(f64v a, double b) {
    return (f64v)_mm512_min_pd((__m512d)a, _mm512_set1_pd(b));
}
INLINE f64v max_f64(f64v a, double b) {
    return (f64v)_mm512_max_pd((__m512d)a, _mm512_set1_pd(b));
}
#else
INLINE f32v sel_lt_f32(f32v a, float b, f32v x, f32v y) {
    const i32v m = a < b;
    return (f32v)((m & (i32v)x) | (~m & (i32v)y));
}
INLINE f32v min_f32(f32v a, float b) { return sel_lt_f32(a, b, a, (f32v){} + b); }
INLINE f32v max_f32(f32v a, float b) { return sel_lt_f32(a, b, (f32v){} + b, a); }
INLINE f64v min_f64(f64v a, double b) {
    const i64v m = a < b;
    return (f64v)((m & (i64v)a) | (~m & (i64v)((f64v){} + b)));
}
INLINE f64v max_f64(f64v a, double b) {
    const i64v m = a > b;
    return (f64v)((m & (i64v)a) | (~m & (i64v)((f64v){} + b)));
}
#endif

/* -- float32 ------------------------------------------------------------------------------- */
INLINE void tanh_f32(f32v *v, int m) {
    f32v x[MAXV], x2[MAXV], p[MAXV], q[MAXV];
    EACH x[i] = min_f32(max_f32(v[i], -7.90531110763549805f), 7.90531110763549805f);
    EACH x2[i] = x[i] * x[i];
    EACH p[i] = x2[i] * -2.76076847742355e-16f + 2.00018790482477e-13f;
    EACH q[i] = x2[i] * 1.19825839466702e-06f + 1.18534705686654e-04f;
    EACH p[i] = p[i] * x2[i] + -8.60467152213735e-11f;
    EACH q[i] = q[i] * x2[i] + 2.26843463243900e-03f;
    EACH p[i] = p[i] * x2[i] + 5.12229709037114e-08f;
    EACH q[i] = q[i] * x2[i] + 4.89352518554385e-03f;
    EACH p[i] = p[i] * x2[i] + 1.48572235717979e-05f;
    EACH p[i] = p[i] * x2[i] + 6.37261928875436e-04f;
    EACH p[i] = p[i] * x2[i] + 4.89352455891786e-03f;
    EACH p[i] = p[i] * x[i] / q[i];
    EACH v[i] = sel_lt_f32((f32v)((i32v)v[i] & 0x7fffffff), 0.0004f, v[i], p[i]);
}

/* v <- 1 / (1 + exp(-v)) */
INLINE void sigmoid_f32(f32v *v, int m) {
    const float shifter = 0x1.8p23f; /* t = x log2(e) + shifter holds round(x log2(e)) */
    f32v x[MAXV], t[MAXV], r[MAXV], p[MAXV];
    EACH x[i] = min_f32(max_f32(-v[i], -87.3f), 88.3f); /* 2^n stays a normal float */
    EACH t[i] = x[i] * 1.44269504088896341f + shifter;
    EACH r[i] = x[i] - (t[i] - shifter) * 0.693359375f;
    EACH r[i] = r[i] - (t[i] - shifter) * -2.12194440e-4f;
    EACH p[i] = r[i] * 1.9875691500e-4f + 1.3981999507e-3f;
    EACH p[i] = p[i] * r[i] + 8.3334519073e-3f;
    EACH p[i] = p[i] * r[i] + 4.1665795894e-2f;
    EACH p[i] = p[i] * r[i] + 1.6666665459e-1f;
    EACH p[i] = p[i] * r[i] + 5.0000001201e-1f;
    EACH p[i] = (p[i] * (r[i] * r[i]) + r[i]) + 1.0f; /* exp(r) */
    EACH v[i] = 1.0f / (1.0f + p[i] * (f32v)(((i32v)t[i] + 127) << 23));
}

/* -- float64 ------------------------------------------------------------------------------- */
/* r + r^2 (1/2! + r/3! + ... + r^11/13!): expm1(r) for |r| <= ln2/2. */
INLINE void expm1_poly_f64(f64v *out, const f64v *r, int m) {
    f64v p[MAXV];
    EACH p[i] = r[i] * (1.0 / 6227020800.0) + 1.0 / 479001600.0;
    EACH p[i] = p[i] * r[i] + 1.0 / 39916800.0;
    EACH p[i] = p[i] * r[i] + 1.0 / 3628800.0;
    EACH p[i] = p[i] * r[i] + 1.0 / 362880.0;
    EACH p[i] = p[i] * r[i] + 1.0 / 40320.0;
    EACH p[i] = p[i] * r[i] + 1.0 / 5040.0;
    EACH p[i] = p[i] * r[i] + 1.0 / 720.0;
    EACH p[i] = p[i] * r[i] + 1.0 / 120.0;
    EACH p[i] = p[i] * r[i] + 1.0 / 24.0;
    EACH p[i] = p[i] * r[i] + 1.0 / 6.0;
    EACH p[i] = p[i] * r[i] + 0.5;
    EACH out[i] = p[i] * (r[i] * r[i]) + r[i];
}

/* x = n ln2 + r (Cody-Waite, fdlibm's split of ln2): r, and 2^n in s. */
INLINE void reduce_f64(f64v *r, f64v *s, const f64v *x, int m) {
    const double shifter = 0x1.8p52; /* t = x log2(e) + shifter holds round(x log2(e)) */
    f64v t[MAXV];
    EACH t[i] = x[i] * 1.44269504088896340736 + shifter;
    EACH r[i] = x[i] - (t[i] - shifter) * 6.93147180369123816490e-01;
    EACH r[i] = r[i] - (t[i] - shifter) * 1.90821492927058770002e-10;
    EACH s[i] = (f64v)(((i64v)t[i] + 1023) << 52);
}

INLINE void tanh_f64(f64v *v, int m) {
    const i64v sign_bit = (i64v){} + INT64_MIN;
    f64v y[MAXV], r[MAXV], s[MAXV], em[MAXV];
    EACH y[i] = max_f64(2.0 * (f64v)((i64v)v[i] | sign_bit), -40.0); /* -2|v|; tanh(20) = 1 */
    reduce_f64(r, s, y, m);
    expm1_poly_f64(em, r, m);
    EACH em[i] = s[i] * em[i] + (s[i] - 1.0); /* expm1(-2|v|) in [-1, 0] */
    EACH v[i] = (f64v)((i64v)(-em[i] / (em[i] + 2.0)) | ((i64v)v[i] & sign_bit));
}

/* v <- 1 / (1 + exp(-v)) */
INLINE void sigmoid_f64(f64v *v, int m) {
    f64v x[MAXV], r[MAXV], s[MAXV], e[MAXV];
    EACH x[i] = min_f64(max_f64(-v[i], -708.0), 709.0); /* n in [-1021, 1023] */
    reduce_f64(r, s, x, m);
    expm1_poly_f64(e, r, m);
    EACH v[i] = 1.0 / (1.0 + (e[i] + 1.0) * s[i]);
}

/* -- the training kernel, once per precision ----------------------------------------------- */
#define REAL float
#define VEC f32v
#define LANES (VBYTES / 4)
#define TANH tanh_f32
#define SIGMOID sigmoid_f32
#define SUFFIX f32
#include "xor221_kernel.h"

#define REAL double
#define VEC f64v
#define LANES (VBYTES / 8)
#define TANH tanh_f64
#define SIGMOID sigmoid_f64
#define SUFFIX f64
#include "xor221_kernel.h"

void train(float *params, long n, const float *x, const float *y, int S, float lr, long steps) {
    train_all_f32(params, n, x, y, S, lr, steps);
}

void train_f64(double *params, long n, const double *x, const double *y, int S, double lr,
               long steps) {
    train_all_f64(params, n, x, y, S, lr, steps);
}
