/* Peak FMA rate of this machine, all cores (OpenMP): the honest "hardware limit" of the
 * throughput benchmark.
 *
 *   int peak_measure(int real_bits, int vec_bits, int threads, long iters, double *out);
 *
 * Every thread runs NACC independent chains acc = acc * a + b on vectors of vec_bits (256 or
 * 512) bits of float (real_bits 32) or double (64), `iters` iterations; one iteration is NACC
 * FMA instructions, 2 flops per lane each. NACC = 16 chains cover the FMA latency (4 cycles) of
 * two FMA pipes with room to spare and stay in registers (16 of 32 vector registers). Writes
 * out[0] = wall seconds of the parallel region, out[1] = the sum over threads of their CPU
 * seconds (CLOCK_THREAD_CPUTIME_ID), out[2] = total flops, out[3] = threads used, out[4] = a
 * checksum (keeps the loop alive). Returns 0, or -1 for an unknown (real_bits, vec_bits).
 *
 * Build: gcc -O3 -march=native -fopenmp -shared -fPIC (no -ffast-math, which could reassociate
 * the chains). Zen 4 has two 256-bit FMA pipes and runs 512-bit instructions in two halves, so
 * 256- and 512-bit vectors should give the same rate there: 32 fp32 flops per cycle per core. */

#include <omp.h>
#include <time.h>

#define NACC 16

static volatile double start_value = 1.0; /* read at run time: no constant folding of chains */

typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));
typedef double f64x4 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));

#define DEFINE_LOOP(NAME, V, T, LANES)                                                        \
    static __attribute__((noinline)) double NAME(long iters) {                                \
        V acc[NACC];                                                                          \
        for (int k = 0; k < NACC; ++k) acc[k] = (V){} + (T)(start_value + k * 1e-3);         \
        const V a = (V){} + (T)0.999999, b = (V){} + (T)1e-6; /* acc -> 1, no denormals */  \
        for (long i = 0; i < iters; ++i) {                                                    \
            _Pragma("GCC unroll 16") for (int k = 0; k < NACC; ++k) acc[k] = acc[k] * a + b; \
        }                                                                                     \
        double sum = 0;                                                                       \
        for (int k = 0; k < NACC; ++k)                                                        \
            for (int l = 0; l < LANES; ++l) sum += acc[k][l];                                 \
        return sum;                                                                           \
    }

DEFINE_LOOP(fma_f32x8, f32x8, float, 8)
DEFINE_LOOP(fma_f32x16, f32x16, float, 16)
DEFINE_LOOP(fma_f64x4, f64x4, double, 4)
DEFINE_LOOP(fma_f64x8, f64x8, double, 8)

static double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int peak_measure(int real_bits, int vec_bits, int threads, long iters, double *out) {
    double (*loop)(long) = 0;
    int lanes = 0;
    if (real_bits == 32 && vec_bits == 256) loop = fma_f32x8, lanes = 8;
    if (real_bits == 32 && vec_bits == 512) loop = fma_f32x16, lanes = 16;
    if (real_bits == 64 && vec_bits == 256) loop = fma_f64x4, lanes = 4;
    if (real_bits == 64 && vec_bits == 512) loop = fma_f64x8, lanes = 8;
    if (!loop) return -1;
    if (threads <= 0) threads = omp_get_max_threads();
    double cpu = 0, check = 0, start = 0, stop = 0;
    int used = 0;
#pragma omp parallel num_threads(threads) reduction(+ : cpu, check)
    {
#pragma omp barrier
#pragma omp master
        start = omp_get_wtime();
        const double c0 = thread_cpu_seconds();
        check += loop(iters);
        cpu += thread_cpu_seconds() - c0;
#pragma omp barrier
#pragma omp master
        {
            stop = omp_get_wtime();
            used = omp_get_num_threads();
        }
    }
    out[0] = stop - start;
    out[1] = cpu;
    out[2] = 2.0 * NACC * lanes * (double)iters * used;
    out[3] = used;
    out[4] = check;
    return 0;
}
