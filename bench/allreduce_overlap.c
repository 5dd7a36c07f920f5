/* allreduce_overlap.c — would overlapping the gradient all-reduce with the backward pass pay
 * on this machine? Stand-ins for the reference MLP's step: a compute loop of about the
 * backward pass's length on each rank, and its 55,050-float gradient. Three timings, the
 * same iterations interleaved: compute alone; compute then one fused MPI_Allreduce (what
 * kiln does); compute in 4 slices with the gradient in 4 buckets, each MPI_Iallreduce
 * started after its slice, MPI_Testall between slices to drive progress, MPI_Waitall last
 * (what a bucketed, overlapped all-reduce would do at best). Prints the means in us.
 * usage: mpirun -np 2 build/bench/allreduce_overlap [REPS=20] [FLOATS=55050] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static volatile float sink;
static void compute(const float *w, int n, int reps) {
    float s = 0;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n; i++) s += w[i] * 1.0001f;
    sink = s;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int reps = argc > 1 ? atoi(argv[1]) : 20, n = argc > 2 ? atoi(argv[2]) : 55050, iters = 400, w_len = 16384;
    float *g = calloc((size_t)n, sizeof *g), *w = calloc((size_t)w_len, sizeof *w);
    double t_compute = 0, t_fused = 0, t_overlap = 0;
    for (int it = 0; it < iters; it++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        compute(w, w_len, reps * 4);
        t_compute += MPI_Wtime() - t0;

        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        compute(w, w_len, reps * 4);
        MPI_Allreduce(MPI_IN_PLACE, g, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t_fused += MPI_Wtime() - t0;

        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        MPI_Request rq[4];
        int q = n / 4;
        for (int b = 0; b < 4; b++) {
            for (int k = 0; k < 4; k++) {
                compute(w, w_len, reps / 4);
                int flag;
                if (b) MPI_Testall(b, rq, &flag, MPI_STATUSES_IGNORE);
            }
            MPI_Iallreduce(MPI_IN_PLACE, g + b * q, b == 3 ? n - 3 * q : q, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &rq[b]);
        }
        MPI_Waitall(4, rq, MPI_STATUSES_IGNORE);
        t_overlap += MPI_Wtime() - t0;
    }
    if (rank == 0)
        printf("compute %.0f us; compute + fused all-reduce %.0f us; 4 buckets overlapped %.0f us (%d floats)\n",
               t_compute / iters * 1e6, t_fused / iters * 1e6, t_overlap / iters * 1e6, n);
    free(g);
    free(w);
    MPI_Finalize();
    return 0;
}
