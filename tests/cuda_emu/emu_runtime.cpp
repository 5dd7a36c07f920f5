/* emu_runtime.cpp — the CUDA runtime API calls kiln makes, emulated on the CPU
 * (libkn_cuda_emu.so), with the semantics kiln's CUDA backend relies on and checks a GPU
 * would only show as wrong numbers or a crash:
 *
 *  - Device memory: cudaMalloc places each allocation at the end of its own mapping, just
 *    before an inaccessible page (an overrun past the allocation's 256-byte rounding
 *    faults), and fills it with 0xff bytes (NaN floats), as uninitialized memory may be.
 *    Every copy's device side and every pointer a kernel receives must lie inside a live
 *    allocation when it runs, or the run faults (a host pointer handed to a kernel, a use
 *    after free). Pinned host memory (cudaMallocHost) is tracked too.
 *  - Streams run later, not at the call: kernels, copies, memsets and queued host work wait
 *    in their stream until something synchronizes it (cudaStreamSynchronize,
 *    cudaDeviceSynchronize, cudaFree, a synchronous cudaMemcpy on a stream that waits for
 *    the legacy stream). So a host that reads a result before it synchronized, or rewrites
 *    a pinned buffer a queued copy still has to read, sees what it would on a GPU. A copy
 *    to or from pageable memory is staged at the call (the driver's documented
 *    behaviour: the source is consumed when cudaMemcpyAsync returns) but still lands in
 *    stream order. A non-blocking stream does not wait for the legacy stream.
 *  - Capture: between cudaStreamBeginCapture and cudaStreamEndCapture a stream's work is
 *    recorded, not run; cudaGraphLaunch queues the recording again (kernels with the
 *    argument values of their capture; copies reading their pointers when they run).
 *    Synchronizing a capturing stream, or a copy of pageable memory into a capture,
 *    invalidates the capture, as the runtime does.
 *  - Launches: a block of more than 1024 threads, a grid past 2^31-1 x 65535 x 65535, or
 *    a zero dimension is cudaErrorInvalidConfiguration from cudaGetLastError. A kernel's
 *    blocks run one after another; each thread on its own fiber (a small stack of its own),
 *    switched at __syncthreads and the warp shuffles. A barrier some threads of the block
 *    never reach (a divergent __syncthreads, or one after some threads returned) is a
 *    fault naming the kernel, as is a shuffle with a lane that exited before it (a lane
 *    that made the shuffle may exit before the others read it: its slot holds).
 *  - Cooperative launches (KN_LAUNCH_COOP): every block's threads have fibers at once; the
 *    blocks run one at a time up to each grid barrier (kn__grid_sync), forward and backward
 *    in alternate phases (run_cooperative). A grid barrier some threads never reach, or one
 *    in a launch that is not cooperative, is a fault. The device holds KILN_CUDA_EMU_SMS
 *    (default 2) x KILN_CUDA_EMU_BLOCKS_PER_SM (default 2, or as many as 2048 threads
 *    allow if fewer) blocks at once (cudaDeviceGetAttribute,
 *    cudaOccupancyMaxActiveBlocksPerMultiprocessor); a cooperative launch of more is
 *    cudaErrorCooperativeLaunchTooLarge from cudaGetLastError, and never runs.
 *  - A persistent kernel (device.cuh's kn__door_wait): a cooperative launch runs on the
 *    scheduler's own stack; when its threads wait at a doorbell the host has not rung (or at
 *    barriers, or have exited), a cudaStreamQuery parks it and answers cudaErrorNotReady,
 *    and the stream's next query or synchronization resumes it. A synchronization it would
 *    wait on forever is a fault, as is another stream's work while one is parked.
 *  - KILN_CUDA_EMU_PROFILE=1 prints, at exit, each kernel's runs, threads and CPU time.
 *  - KILN_CUDA_EMU_REVERSE=1 runs blocks, and a block's threads between barriers, last
 *    first (a cooperative launch's first phase backward), so that a result that depends
 *    on the order shows as a difference.
 *  - A fault (reported here or by queued work, kn_emu_fault) prints its reason and is
 *    sticky, like a GPU's: cudaGetLastError and every synchronization return
 *    cudaErrorLaunchFailure from then on.
 *
 *  - __shared__ memory (rewrite_launches.pl makes each declaration a kn_emu_shared_slot
 *    call): every block has its own, from the block's start to the launch's end, filled
 *    with 0xff bytes (NaN floats) as uninitialized shared memory may be; kept across grid
 *    barriers, as a GPU keeps a resident block's.
 *  - Data races, when the program is built with ThreadSanitizer (make test-emu-race;
 *    this file itself is not instrumented, it tells ThreadSanitizer what orders what):
 *    every thread of a kernel runs on a ThreadSanitizer fiber of its own, and only what a
 *    GPU orders is ordered: a thread's own program, __syncthreads within its block, a
 *    shuffle within its warp, kn__grid_sync within the grid, atomics (emu_device.h's, with
 *    seq_cst order), stream order between launches (a kernel launched with programmatic
 *    dependence is ordered after the one before only from its kn__pdl_wait), and the
 *    host's synchronizations. Two blocks of one launch are not ordered, however the
 *    emulator runs them; so a write and another access to the same bytes by threads not
 *    ordered so is reported with both stacks, as compute-sanitizer's racecheck would on a
 *    GPU, whether or not it changed a result here.
 *
 * Not emulated: concurrency between streams (each runs in order when synchronized), events,
 * more than one device's memory (KILN_CUDA_EMU_DEVICES only changes the count). */
#include "emu_api.h"
#include "emu_device.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

__thread kn_emu_coords kn_emu_at __attribute__((tls_model("initial-exec")));

namespace {

/* ------------------------------------------------------------------ faults */

std::recursive_mutex big_lock; /* one API call at a time; queued work runs under it */
cudaError_t last_error = cudaSuccess; /* the launch error cudaGetLastError returns and clears */
bool faulted = false;                 /* sticky: a kernel or copy faulted */

void fault(const char *fmt, va_list ap) {
    fprintf(stderr, "cuda-emu: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    faulted = true;
}

void faultf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void faultf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fault(fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ memory */

struct region {
    size_t bytes;     /* as asked */
    void *map;        /* the mapping (device) or malloc block (pinned) */
    size_t map_bytes;
    bool device;
    bool mapped;      /* pinned with cudaHostAllocMapped: kernels may read and write it */
};
std::map<uintptr_t, region> regions; /* by start address */
size_t device_bytes = 0;
const size_t total_bytes = (size_t)80 << 30; /* what cudaMemGetInfo reports */

const region *find_region(const void *p, uintptr_t *start) {
    uintptr_t a = (uintptr_t)p;
    auto it = regions.upper_bound(a);
    if (it == regions.begin()) return nullptr;
    --it;
    if (a >= it->first + (it->second.bytes ? it->second.bytes : 1)) return nullptr;
    if (start) *start = it->first;
    return &it->second;
}

bool device_range(const void *p, size_t bytes) {
    uintptr_t start;
    const region *r = find_region(p, &start);
    return r && r->device && (uintptr_t)p + bytes <= start + (r->bytes ? r->bytes : 1);
}

bool pinned(const void *p) {
    const region *r = find_region(p, nullptr);
    return r && !r->device;
}

/* ------------------------------------------------------------------ fibers */

/* ThreadSanitizer's fiber and annotation interface (sanitizer/tsan_interface.h), present
 * when the program was linked with -fsanitize=thread (make test-emu-race), else null. */
extern "C" {
void *__tsan_get_current_fiber(void) __attribute__((weak));
void *__tsan_create_fiber(unsigned flags) __attribute__((weak));
void __tsan_switch_to_fiber(void *fiber, unsigned flags) __attribute__((weak));
void __tsan_acquire(void *addr) __attribute__((weak));
void __tsan_release(void *addr) __attribute__((weak));
void __tsan_ignore_thread_begin(void) __attribute__((weak));
void __tsan_ignore_thread_end(void) __attribute__((weak));
}
const unsigned tsan_no_sync = 1; /* __tsan_switch_to_fiber_no_sync */
bool tsan_on() { return __tsan_create_fiber != nullptr; }
void tsan_acquire(void *sync) {
    if (tsan_on()) __tsan_acquire(sync);
}
void tsan_release(void *sync) {
    if (tsan_on()) __tsan_release(sync);
}
/* What ThreadSanitizer should not see (the emulator's own allocations of shared memory):
 * memory allocated in between starts with no history. */
struct tsan_ignored {
    tsan_ignored() {
        if (tsan_on()) __tsan_ignore_thread_begin();
    }
    ~tsan_ignored() {
        if (tsan_on()) __tsan_ignore_thread_end();
    }
};
/* A new ThreadSanitizer fiber. Made by a fiber of its own (the nursery, made at load),
 * never by the host: a thread starts ordered after what its creator did, and the host's
 * work after a launch is not ordered before the launch's threads. */
void *tsan_nursery;
__attribute__((constructor)) void make_tsan_nursery(void) {
    if (tsan_on()) tsan_nursery = __tsan_create_fiber(0);
}
void *new_tsan_fiber(void) {
    void *me = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(tsan_nursery, tsan_no_sync);
    void *f = __tsan_create_fiber(0);
    __tsan_switch_to_fiber(me, tsan_no_sync);
    return f;
}
char kernel_end_sync; /* released by every thread as it exits; acquired where the stream orders after a kernel */
char grid_sync;       /* kn__grid_sync's */
void *item_start_sync; /* what the running stream item's threads are ordered after (order_item) */

/* One thread of a block: its stack, saved stack pointer, coordinates and where it waits;
 * sync: the addresses of the block barrier's objects when it is a block's first thread,
 * one per set (below; never moved).
 *
 * Under ThreadSanitizer a warp is one thread to it (a fiber of its own): its lanes' order
 * is the emulator's, so a race between lanes of one warp goes unseen, but ThreadSanitizer
 * stays exact between warps and blocks, where its clocks have a slot for each thread and
 * it has 256 (a block of 1024 threads alone would exceed them). The warps of a plain
 * launch take two sets in turn, block by block (tsan_set), so that consecutive blocks are
 * different threads to it; a cooperative launch's blocks are different warps of the first
 * set. Each warp owns the stacks of its lanes, so that a stack's frames belong to one
 * thread only. Copies, memsets and host work run as one-thread kernels of a third set. */
enum { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, AT_GRID_BARRIER, AT_DOOR, EXITED };
struct fiber {
    void *sp;
    char *stack;
    uint3 idx;
    int state;
    void *tsan;       /* its warp's ThreadSanitizer fiber (null without ThreadSanitizer) */
    int set;          /* the set its warp is of */
    bool fresh;       /* not yet entered in this run: its first entry is ordered after the host */
    char *sync;
    const uint32_t *door; /* AT_DOOR: the doorbell it waits on, holding door_seen (kn_emu_door_wait) */
    uint32_t door_seen;
    unsigned shuffles; /* the shuffles it has made in this run (its exchange slot: the count's parity) */
};
struct tsan_warp {
    void *fiber;
    char *stacks[32];
};
std::vector<tsan_warp> tsan_warps[3]; /* by set (2: host work), then the warp's number in the launch (in the block: a plain launch) */
int tsan_set;                         /* the set the next block takes */
void *scheduler_tsan;                 /* the host's fiber, to switch back to */

const size_t fiber_stack = 256 * 1024;
std::vector<fiber> fibers;
void *scheduler_sp;
int current;                       /* the running fiber */
int block_base;                    /* the running block's first fiber (0 but in a cooperative launch) */
const std::function<void()> *body; /* the kernel call the fibers run */
std::vector<uint64_t> exchange;    /* the warp shuffles' values, two slots per thread (kn_emu_warp_exchange) */
const char *kernel_name;
bool block_failed;
bool coop_launch; /* the running launch is cooperative (KN_LAUNCH_COOP): kn__grid_sync allowed */
unsigned cluster_launch; /* the running launch's cluster size (KN_LAUNCH_CLUSTER), or 0 */
bool pdl_launch;  /* the running launch has programmatic dependence (every block must wait) */
/* Whether each block with fibers called kn__pdl_wait: one entry (the running block's) in a
 * plain launch, one per block in a cooperative one; running_block indexes it. */
std::vector<char> pdl_waited;
size_t running_block;
/* KILN_CUDA_EMU_REVERSE=1: blocks, and threads between barriers, run last first. A kernel
 * whose result depends on the order (a shared-memory read without the barrier before it,
 * blocks that read what other blocks write) then gives another answer than in the
 * default order: make test-emu runs test_cuda_ops both ways. */
bool reverse = getenv("KILN_CUDA_EMU_REVERSE") && getenv("KILN_CUDA_EMU_REVERSE")[0] == '1';

extern "C" void kn_emu_switch(void **save_sp, void *to_sp);
#if defined(__x86_64__)
/* Saves the callee-saved registers on the current stack, stores its pointer in *save_sp,
 * switches to to_sp and restores what was saved there (System V x86-64). */
__asm__(".text\n"
        ".globl kn_emu_switch\n"
        ".type kn_emu_switch,@function\n"
        "kn_emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size kn_emu_switch, .-kn_emu_switch\n");
#else
#error "the CUDA emulator's fiber switch is written for x86-64"
#endif

/* The object a thread's wait in `state` releases and, once the wait is over, acquires: a
 * shuffle's none (it exchanges values, not memory: lanes that share memory need
 * __syncwarp or __syncthreads, on a GPU as here). */
void *wait_sync(int state) {
    const fiber &f = fibers[current];
    switch (state) {
    case AT_BLOCK_BARRIER: return fibers[block_base].sync + f.set;
    case AT_GRID_BARRIER: return &grid_sync;
    case EXITED: return &kernel_end_sync;
    default: return nullptr;
    }
}

void yield_to_scheduler(int state) {
    fiber &f = fibers[current];
    f.state = state;
    void *sync = nullptr;
    if (tsan_on()) {
        if ((sync = wait_sync(state))) __tsan_release(sync);
        __tsan_switch_to_fiber(scheduler_tsan, tsan_no_sync);
    }
    kn_emu_switch(&f.sp, scheduler_sp);
    if (sync) __tsan_acquire(sync); /* resumed: every thread it waited for has released */
}

/* Enters fiber i from the scheduler, until it waits or exits. */
void enter_fiber(int i) {
    fiber &f = fibers[i];
    current = i;
    kn_emu_at.thread = f.idx;
    if (tsan_on()) {
        /* its first entry in this run orders it after what its item is ordered after (the
         * host's work before the launch, the stream's before it: order_item); later ones
         * order nothing: only its barriers order it after other threads */
        __tsan_switch_to_fiber(f.tsan, tsan_no_sync);
        if (f.fresh) __tsan_acquire(item_start_sync);
        f.fresh = false;
    }
    kn_emu_switch(&scheduler_sp, f.sp);
}

extern "C" void fiber_entry(void) {
    (*body)();
    yield_to_scheduler(EXITED);
    abort(); /* never resumed */
}

char *map_stack(void);

/* The saved stack pointer of a fresh stack (fiber_stack bytes at stack) whose first switch
 * "returns" into entry as if it had been called (entry never returns); its top color cache
 * lines below the stack's end. */
void *entry_stack(char *stack, void (*entry)(void), int color = 0) {
    uint64_t *sp = (uint64_t *)(((uintptr_t)stack + fiber_stack - (size_t)(color % 64) * 64) & ~(uintptr_t)15);
    *--sp = 0;                              /* entry's return address (it never returns) */
    *--sp = (uint64_t)(uintptr_t)entry;     /* kn_emu_switch's ret */
    for (int i = 0; i < 6; i++) *--sp = 0;  /* rbp rbx r12 r13 r14 r15 */
    return sp;
}

/* A fresh stack whose first switch "returns" into fiber_entry as if it had been called.
 * thread: its number in the block, warp: its warp's in the launch (ThreadSanitizer's
 * fiber and stack, of tsan_set). */
void fiber_start(fiber &f, int thread, size_t warp) {
    f.fresh = true;
    f.shuffles = 0;
    if (tsan_on()) {
        std::vector<tsan_warp> &set = tsan_warps[tsan_set];
        while (set.size() <= warp) set.push_back(tsan_warp{new_tsan_fiber(), {}});
        tsan_warp &w = set[warp];
        char *&stack = w.stacks[thread % 32];
        if (!stack) stack = map_stack();
        f.stack = stack;
        f.tsan = w.fiber;
        f.set = tsan_set;
    }
    /* (the stacks' tops staggered by a cache line a thread: at the same offset in their pages,
     * a warp's 32 hot stack tops would share one L1 set, a miss at every switch) */
    f.sp = entry_stack(f.stack, fiber_entry, thread);
    f.state = RUNNABLE;
}

char *map_stack(void) {
    void *m = mmap(nullptr, fiber_stack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        fprintf(stderr, "cuda-emu: cannot map a fiber stack\n");
        abort();
    }
    mprotect(m, 4096, PROT_NONE); /* a guard page below the stack */
    return (char *)m;
}

void ensure_fibers(size_t n) {
    while (fibers.size() < n) {
        fiber f{};
        if (!tsan_on()) f.stack = map_stack(); /* (else its warp's, at each start) */
        f.sync = (char *)calloc(2, 1);
        fibers.push_back(f);
    }
    if (exchange.size() < 2 * n) exchange.resize(2 * n);
}

const char *state_name(int s) {
    return s == RUNNABLE           ? "running"
           : s == AT_BLOCK_BARRIER ? "at __syncthreads"
           : s == AT_WARP_BARRIER  ? "in a shuffle"
           : s == AT_GRID_BARRIER  ? "at kn__grid_sync"
           : s == AT_DOOR          ? "at its doorbell"
                                   : "exited";
}

/* " 0:exited 128:at __syncthreads": where the block's threads [base, base + n) are, by runs
 * of the same state, numbered within the block. */
std::string thread_states(int base, int n) {
    std::string states;
    for (int i = 0; i < n; i++)
        if (i == 0 || fibers[base + i].state != fibers[base + i - 1].state)
            states += " " + std::to_string(i) + ":" + state_name(fibers[base + i].state);
    return states;
}

/* Shared memory: each block's own, per declaration (kn_emu_shared_slot), from its start to
 * the launch's end; shared[b] is block b's in a cooperative launch, shared[0] the running
 * block's in a plain one. Freed at the launch's end. */
struct shared_slot {
    const kn_emu_shared_site *site;
    void *p;
    size_t bytes;
};
std::vector<std::vector<shared_slot>> shared;
std::vector<void *> shared_spent;

void shared_reset(size_t blocks) {
    for (auto &b : shared) {
        for (auto &e : b) shared_spent.push_back(e.p);
        b.clear();
    }
    if (shared.size() < blocks) shared.resize(blocks);
}

void shared_free(void) {
    shared_reset(0);
    tsan_ignored quiet; /* (the blocks' accesses are ordered before the host's later work, not before this) */
    for (void *p : shared_spent) free(p);
    shared_spent.clear();
}

/* Runs the running block's fibers, [base, base + n), until each has exited or waits at the
 * grid barrier: every runnable fiber in turn, then releases what can go on: a warp whose
 * every thread waits in a shuffle, else the block when all its threads wait at
 * __syncthreads. Anything else can never finish: a fault (block_failed). base is 0 but in a
 * cooperative launch, whose blocks all have their fibers at once. */
void run_block(int base, int n) {
    block_base = base;
    for (;;) {
        for (int k = 0; k < n; k++) {
            int i = base + (reverse ? n - 1 - k : k);
            if (fibers[i].state != RUNNABLE) continue;
            enter_fiber(i);
        }
        int exited = 0, at_block = 0, at_warp = 0, at_grid = 0, at_door = 0;
        for (int i = base; i < base + n; i++) {
            int s = fibers[i].state;
            exited += s == EXITED, at_block += s == AT_BLOCK_BARRIER, at_warp += s == AT_WARP_BARRIER;
            at_grid += s == AT_GRID_BARRIER, at_door += s == AT_DOOR;
        }
        if (at_grid && !coop_launch) { /* on a GPU: a hang, or blocks not yet resident never arriving */
            faultf("kernel %s: kn__grid_sync in a launch that is not cooperative (KN_LAUNCH_COOP)", kernel_name);
            block_failed = true;
            return;
        }
        if (at_door && !coop_launch) { /* (its blocks wait for one another's samples: all must be resident) */
            faultf("kernel %s: kn__door_wait in a launch that is not cooperative (KN_LAUNCH_COOP)", kernel_name);
            block_failed = true;
            return;
        }
        if (exited + at_grid == n) return;
        bool released = false;
        for (int w = base; w < base + n; w += 32) {
            int end = w + 32 < base + n ? w + 32 : base + n, waiting = 0, live = 0;
            for (int i = w; i < end; i++) live += fibers[i].state != EXITED, waiting += fibers[i].state == AT_WARP_BARRIER;
            if (waiting && waiting == live) {
                for (int i = w; i < end; i++)
                    if (fibers[i].state == AT_WARP_BARRIER) fibers[i].state = RUNNABLE;
                released = true;
            }
        }
        if (released) continue;
        if (at_door && exited + at_grid + at_door + at_block == n) return; /* waits for the host: run_cooperative's */
        if (at_block == n) {
            for (int i = base; i < base + n; i++) fibers[i].state = RUNNABLE;
            continue;
        }
        const dim3 &b = kn_emu_at.block;
        std::string grid = coop_launch ? ", " + std::to_string(at_grid) + " at kn__grid_sync" : "";
        faultf("kernel %s, block (%u,%u,%u): a barrier its threads cannot all reach (%d exited, %d at __syncthreads, %d in "
               "a shuffle%s; from thread:%s)",
               kernel_name, b.x, b.y, b.z, exited, at_block, at_warp, grid.c_str(), thread_states(base, n).c_str());
        block_failed = true;
        return; /* the waiting fibers are abandoned (their stacks are reused) */
    }
}

/* ------------------------------------------------------------------ work */

struct work {
    enum { KERNEL, COPY, MEMSET, HOST } kind;
    std::string name;
    kn_emu_kernel kernel;               /* KERNEL */
    void *dst = nullptr;                /* COPY, MEMSET */
    const void *src = nullptr;          /* COPY (the staged bytes when staged is set) */
    std::shared_ptr<std::vector<unsigned char>> staged;
    size_t bytes = 0;
    cudaMemcpyKind copy_kind = cudaMemcpyDefault;
    int value = 0;                      /* MEMSET */
    void (*fn)(void *) = nullptr;       /* HOST */
    std::shared_ptr<std::vector<unsigned char>> args;
    /* ThreadSanitizer: released by the host when it queued the work (what the host did
     * before the launch, not after); then by the stream, when the work starts, with what
     * the work is ordered after; acquired by the work's threads */
    std::shared_ptr<char> launched;
};

/* Fiber i of a block's n threads: thread i in x-fastest order, as a GPU numbers them. */
uint3 thread_coords(const dim3 &block, int i) {
    return uint3{(unsigned)i % block.x, (unsigned)(i / block.x) % block.y, (unsigned)(i / (block.x * block.y))};
}

/* Block b of the grid, x fastest (the order a plain launch runs them in). */
uint3 block_coords(const dim3 &grid, size_t b) {
    return uint3{(unsigned)(b % grid.x), (unsigned)(b / grid.x % grid.y), (unsigned)(b / ((size_t)grid.x * grid.y))};
}

/* A grid barrier some threads never reach (they exited while others wait there): a fault
 * naming the first block with exited threads and where its threads are. */
void fault_grid_barrier(const dim3 &grid, int n, size_t blocks, size_t exited, size_t at_grid) {
    size_t b = 0;
    while (b + 1 < blocks && std::none_of(fibers.begin() + (long)(b * n), fibers.begin() + (long)((b + 1) * n),
                                          [](const fiber &f) { return f.state == EXITED; }))
        b++;
    uint3 c = block_coords(grid, b);
    faultf("kernel %s: a grid barrier its threads cannot all reach (%zu exited, %zu at kn__grid_sync; block (%u,%u,%u) "
           "from thread:%s)",
           kernel_name, exited, at_grid, c.x, c.y, c.z, thread_states((int)(b * n), n).c_str());
}

/* A cooperative launch runs on a stack of its own, the scheduler's, so that it can park:
 * when its threads have all exited or wait at barriers, some at their doorbell
 * (kn_emu_door_wait) on a word the host has not rung, and the host only asked whether the
 * stream is done (cudaStreamQuery, drain_query), the scheduler switches back to the host
 * (park_to_host) with the launch's fibers as they are; the stream's next query or
 * synchronization goes on from there (resume_scheduler). So a persistent kernel keeps
 * running between the host's samples, as on a GPU. A synchronization that would wait on a
 * doorbell nobody rang is a fault (on a GPU, a hang). One launch at a time: another
 * stream's work while one is parked is a fault too. */
char *sched_stack;
void *sched_sp, *host_sp;                 /* the stack pointer of whichever is switched out */
const kn_emu_kernel *sched_kernel;        /* the launch on the scheduler's stack */
bool sched_running, sched_parked;
bool drain_query;                         /* the drain is cudaStreamQuery's: a launch may park */

void run_kernel(const kn_emu_kernel &k);

extern "C" void sched_entry(void) {
    run_kernel(*sched_kernel);
    sched_running = false;
    kn_emu_switch(&sched_sp, host_sp);
    abort(); /* never resumed */
}

void run_on_scheduler(const kn_emu_kernel &k) {
    if (!sched_stack) sched_stack = map_stack();
    sched_sp = entry_stack(sched_stack, sched_entry);
    sched_kernel = &k;
    sched_running = true, sched_parked = false;
    kn_emu_switch(&host_sp, sched_sp); /* back when the launch has ended or parked */
}

void resume_scheduler(void) {
    sched_parked = false;
    kn_emu_switch(&host_sp, sched_sp);
}

/* From run_cooperative, on the scheduler's stack: back to the host until resumed. */
void park_to_host(void) {
    sched_parked = true;
    kn_emu_switch(&sched_sp, host_sp);
}

/* Whether a thread waiting at its doorbell would find it rung (a peek: the thread's own
 * acquire load, which ThreadSanitizer sees, is in device.cuh's loop). */
bool door_rung(size_t total) {
    for (size_t i = 0; i < total; i++)
        if (fibers[i].state == AT_DOOR && __atomic_load_n(fibers[i].door, __ATOMIC_ACQUIRE) != fibers[i].door_seen)
            return true;
    return false;
}

/* A cooperative launch (KN_LAUNCH_COOP): every block is resident at once, as the launch
 * guarantees on a GPU, so every thread of every block has its fiber from the start. Blocks
 * still run one at a time, each until its threads have exited or wait at the grid barrier
 * (kn__grid_sync); when every thread of the grid waits there, all go on: the next phase.
 * The phases run the blocks in alternate orders (forward, then backward; backward first
 * under KILN_CUDA_EMU_REVERSE=1): a block that reads, without a grid barrier between, what
 * another block writes sees it written in one phase and not in the next. Each block keeps
 * its own __shared__ memory across the barriers, as on a GPU. */
void run_cooperative(const kn_emu_kernel &k, int n) {
    size_t blocks = (size_t)k.grid.x * k.grid.y * k.grid.z, total = blocks * n; /* bounded by the device's capacity */
    ensure_fibers(total);
    shared_reset(blocks);
    tsan_set = 0;
    size_t warps = ((size_t)n + 31) / 32;
    for (size_t i = 0; i < total; i++) {
        fibers[i].idx = thread_coords(k.block, (int)(i % n));
        fiber_start(fibers[i], (int)(i % n), i / n * warps + i % n / 32);
    }
    pdl_waited.assign(blocks, 0);
    for (int phase = 0;; phase++) {
        bool backward = reverse != (phase % 2 == 1);
        for (size_t j = 0; j < blocks; j++) {
            running_block = backward ? blocks - 1 - j : j;
            kn_emu_at.block = block_coords(k.grid, running_block);
            run_block((int)(running_block * n), n);
            if (block_failed) return;
        }
        size_t exited = 0, at_grid = 0, at_door = 0;
        for (size_t i = 0; i < total; i++)
            exited += fibers[i].state == EXITED, at_grid += fibers[i].state == AT_GRID_BARRIER, at_door += fibers[i].state == AT_DOOR;
        if (exited == total) break;
        if (at_door) { /* a persistent kernel between samples: on once the host rings */
            while (!door_rung(total)) {
                if (!drain_query || !sched_running) {
                    faultf("kernel %s: waits on its doorbell (kn__door_wait), which the host did not ring before it "
                           "synchronized (on a GPU: a hang)", kernel_name);
                    block_failed = true;
                    return;
                }
                park_to_host();
            }
            for (size_t i = 0; i < total; i++)
                if (fibers[i].state == AT_DOOR) fibers[i].state = RUNNABLE;
            continue;
        }
        if (at_grid < total) {
            fault_grid_barrier(k.grid, n, blocks, exited, at_grid);
            return;
        }
        for (size_t i = 0; i < total; i++) fibers[i].state = RUNNABLE;
    }
    for (size_t b = 0; b < blocks && pdl_launch; b++)
        if (!pdl_waited[b]) {
            uint3 c = block_coords(k.grid, b);
            faultf("kernel %s: launched with programmatic dependence, block (%u, %u, %u) never waited (kn__pdl_wait)",
                   k.name, c.x, c.y, c.z);
            return;
        }
}

void run_plain(const kn_emu_kernel &k, int n);

void run_kernel(const kn_emu_kernel &k) {
    for (const auto &a : k.pointers)
        if (a.second && !device_range(a.second, 1)) {
            const void *p = a.second;
            const region *r = find_region(p, nullptr);
            if (r && r->mapped) continue; /* mapped pinned memory: the device's view is the same address (UVA) */
            faultf("kernel %s: argument %d (from 0), %p, is %s", k.name, a.first, p,
                   r ? "pinned host memory" : "not device memory (a host pointer, or freed)");
            return;
        }
    int n = (int)(k.block.x * k.block.y * k.block.z);
    kernel_name = k.name;
    pdl_launch = k.pdl;
    coop_launch = k.coop;
    cluster_launch = k.cluster;
    body = &k.body;
    kn_emu_at.block_dim = uint3{k.block.x, k.block.y, k.block.z};
    kn_emu_at.grid_dim = uint3{k.grid.x, k.grid.y, k.grid.z};
    block_failed = false;
    if (tsan_on()) scheduler_tsan = __tsan_get_current_fiber();
    if (k.coop) {
        run_cooperative(k, n);
        shared_free();
        return;
    }
    run_plain(k, n);
    shared_free();
}

/* A plain launch: its blocks one after another, each on the fibers [0, n). */
void run_plain(const kn_emu_kernel &k, int n) {
    ensure_fibers((size_t)n);
    for (int i = 0; i < n; i++) fibers[i].idx = thread_coords(k.block, i);
    pdl_waited.assign(1, 0);
    running_block = 0;
    for (unsigned z = 0; z < k.grid.z; z++)
        for (unsigned y = 0; y < k.grid.y; y++)
            for (unsigned x = 0; x < k.grid.x; x++) {
                kn_emu_at.block = reverse ? uint3{k.grid.x - 1 - x, k.grid.y - 1 - y, k.grid.z - 1 - z} : uint3{x, y, z};
                pdl_waited[0] = 0;
                shared_reset(1);
                if (tsan_on()) /* a thread of another block is another thread; host work: set 2 */
                    tsan_set = k.host_work ? 2 : tsan_set == 0 ? 1 : 0;
                for (int i = 0; i < n; i++) fiber_start(fibers[i], i, (size_t)i / 32);
                run_block(0, n);
                if (block_failed) return;
                if (pdl_launch && !pdl_waited[0]) { /* it may have read what the kernel before was still writing */
                    faultf("kernel %s: launched with programmatic dependence, block (%u, %u, %u) never waited "
                           "(kn__pdl_wait)", k.name, kn_emu_at.block.x, kn_emu_at.block.y, kn_emu_at.block.z);
                    return;
                }
            }
}

/* KILN_CUDA_EMU_PROFILE=1: each kernel's (and copy's, cuBLASLt product's) runs, threads and
 * CPU time, printed at exit, largest time first: what a step launches and how often. */
struct profile_entry {
    long runs = 0;
    double threads = 0, seconds = 0;
};
std::map<std::string, profile_entry> *profile;

double now_seconds() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void print_profile() {
    std::vector<std::pair<std::string, profile_entry>> rows(profile->begin(), profile->end());
    std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) { return a.second.seconds > b.second.seconds; });
    fprintf(stderr, "cuda-emu profile: %-32s %10s %14s %10s\n", "work", "runs", "threads/run", "seconds");
    for (const auto &r : rows)
        fprintf(stderr, "cuda-emu profile: %-32s %10ld %14.0f %10.3f\n", r.first.c_str(), r.second.runs,
                r.second.runs ? r.second.threads / (double)r.second.runs : 0.0, r.second.seconds);
}

void run_work_now(const work &w);

/* The host from here on is ordered after the stream items run so far: at once after each
 * (the emulator runs them while the host waits in a synchronizing call), before it touches
 * the item again (its threads read their arguments, a copy its staged bytes, from it). */
void host_after_kernels(void) { tsan_acquire(&kernel_end_sync); }

/* Stream work is running (run_work_now): the API lock is already held, by the host that
 * drains; the work's own calls into the API (the cuBLASLt and NCCL emulators' device-range
 * checks, faults) run on a fiber ThreadSanitizer takes for another thread, and must not
 * take it again. */
bool in_stream_work;
struct api_lock {
    bool taken = !in_stream_work;
    api_lock() {
        if (taken) big_lock.lock();
    }
    ~api_lock() {
        if (taken) big_lock.unlock();
    }
};

void run_work(const work &w) {
    if (!profile) {
        const char *p = getenv("KILN_CUDA_EMU_PROFILE");
        if (!(p && p[0] == '1')) return run_work_now(w);
        profile = new std::map<std::string, profile_entry>;
        atexit(print_profile);
    }
    double t0 = now_seconds();
    run_work_now(w);
    profile_entry &e = (*profile)[w.name];
    e.runs++;
    if (w.kind == work::KERNEL)
        e.threads += (double)w.kernel.grid.x * w.kernel.grid.y * w.kernel.grid.z * w.kernel.block.x * w.kernel.block.y *
                     w.kernel.block.z;
    e.seconds += now_seconds() - t0;
}

void run_host_work(const work &w);

/* Under ThreadSanitizer what a stream item is ordered after, given to its threads through
 * w.launched: the host's work before it was queued (released then), and the stream's
 * work before it (kernel_end_sync, which every thread of every item releases as it ends;
 * a kernel with programmatic dependence only from its blocks' kn__pdl_wait), taken by the
 * stream's own fiber; never the host's work after the launch, which a GPU does not order
 * before the item either (a host rewriting what queued work reads is a race). Copies,
 * memsets and host work (cuBLASLt's products) run as a kernel of one thread of their own
 * set (2), so that their accesses are theirs. */
void *stream_tsan;
void order_item(const work &w) {
    void *host = __tsan_get_current_fiber();
    if (!stream_tsan) stream_tsan = new_tsan_fiber();
    __tsan_switch_to_fiber(stream_tsan, tsan_no_sync);
    if (!(w.kind == work::KERNEL && w.kernel.pdl)) __tsan_acquire(&kernel_end_sync);
    __tsan_acquire(w.launched.get());
    __tsan_release(w.launched.get());
    __tsan_switch_to_fiber(host, tsan_no_sync);
    item_start_sync = w.launched.get();
}

void run_work_now(const work &w) {
    if (tsan_on()) {
        order_item(w);
        if (w.kind != work::KERNEL) { /* (off the host's stack too, as drain's items) */
            kn_emu_kernel *k;
            {
                tsan_ignored quiet;
                k = new kn_emu_kernel;
            }
            k->name = w.name.c_str();
            k->grid = dim3(1), k->block = dim3(1), k->shared = 0;
            k->host_work = true;
            k->body = [&w]() { run_host_work(w); };
            run_kernel(*k);
            tsan_ignored quiet; /* (its thread's reads are ordered before the host's next work, not before this) */
            delete k;
            return;
        }
    }
    if (w.kind == work::KERNEL) return w.kernel.coop ? run_on_scheduler(w.kernel) : run_kernel(w.kernel);
    run_host_work(w);
}

/* A copy, memset or host work item. */
void run_host_work(const work &w) {
    switch (w.kind) {
    case work::KERNEL: break;
    case work::COPY: {
        bool dev_dst = w.copy_kind == cudaMemcpyHostToDevice || w.copy_kind == cudaMemcpyDeviceToDevice;
        bool dev_src = w.copy_kind == cudaMemcpyDeviceToHost || w.copy_kind == cudaMemcpyDeviceToDevice;
        const void *src = w.staged ? (const void *)w.staged->data() : w.src;
        if ((dev_dst && !device_range(w.dst, w.bytes)) || (dev_src && !w.staged && !device_range(w.src, w.bytes))) {
            faultf("%s: %zu bytes from %p to %p leave device memory (freed, or out of range)", w.name.c_str(), w.bytes,
                   w.src, w.dst);
            return;
        }
        memmove(w.dst, src, w.bytes);
        break;
    }
    case work::MEMSET:
        if (!device_range(w.dst, w.bytes)) {
            faultf("%s: %zu bytes at %p leave device memory", w.name.c_str(), w.bytes, w.dst);
            return;
        }
        memset(w.dst, w.value, w.bytes);
        break;
    case work::HOST: w.fn(w.args ? w.args->data() : nullptr); break;
    }
}

/* ------------------------------------------------------------------ streams and graphs */

struct graph {
    std::vector<work> nodes;
};
struct stream {
    unsigned flags;
    std::deque<work> queue;
    graph *capture = nullptr; /* recording */
    bool capture_invalid = false;
};
stream legacy{0, {}, nullptr, false};
std::vector<stream *> streams; /* live created streams */

stream *get_stream(cudaStream_t s) {
    if (!s) return &legacy;
    for (stream *x : streams)
        if ((cudaStream_t)x == s) return x;
    return nullptr;
}

/* A launch parked on its doorbell (run_cooperative), its stream, and its work, kept: its
 * fibers read the kernel's arguments from it. */
stream *parked_stream;
std::unique_ptr<work> parked_work;

void drain(stream *s) {
    if (parked_stream && parked_stream != s && !s->queue.empty() && !faulted)
        faultf("work on a second stream (%s first) while kernel %s waits on its doorbell (the emulator runs one "
               "launch at a time)", s->queue.front().name.c_str(), parked_work->kernel.name);
    if (parked_stream && (parked_stream != s || faulted)) return;
    if (parked_stream) { /* the parked launch goes on first */
        in_stream_work = true;
        resume_scheduler();
        in_stream_work = false;
        if (sched_parked) return;
        host_after_kernels();
        parked_stream = nullptr;
        tsan_ignored quiet;
        parked_work.reset();
    }
    while (!s->queue.empty() && !faulted) {
        /* off the host's stack, where the host's own frames come and go while the item's
         * threads read its arguments (new memory: no history) */
        std::unique_ptr<work> w;
        {
            tsan_ignored quiet;
            w.reset(new work(std::move(s->queue.front())));
        }
        s->queue.pop_front();
        in_stream_work = true;
        run_work(*w);
        in_stream_work = false;
        if (sched_parked) { /* (the stream's later work waits behind it) */
            parked_stream = s;
            parked_work = std::move(w);
            return;
        }
        host_after_kernels();
    }
    if (faulted) s->queue.clear();
}

void drain_all() {
    drain(&legacy);
    for (stream *s : streams) drain(s);
}

/* Queues w on s, or records it while s captures. */
cudaError_t submit(cudaStream_t handle, work &&w) {
    stream *s = get_stream(handle);
    if (!s) return cudaErrorInvalidResourceHandle;
    if (s->capture) {
        if (s->capture_invalid) return cudaErrorStreamCaptureInvalidated;
        s->capture->nodes.push_back(std::move(w));
        return cudaSuccess;
    }
    if (s == &legacy) /* the legacy stream waits for the blocking streams' earlier work */
        for (stream *x : streams)
            if (!(x->flags & cudaStreamNonBlocking)) drain(x);
    if (tsan_on()) { /* what the host did until now is ordered before the work */
        w.launched = std::make_shared<char>(0);
        __tsan_release(w.launched.get());
    }
    s->queue.push_back(std::move(w));
    return cudaSuccess;
}

cudaError_t sticky(cudaError_t e) { return faulted ? cudaErrorLaunchFailure : e; }

/* ------------------------------------------------------------------ the device's capacity */

/* What a cooperative launch may hold at once: KILN_CUDA_EMU_SMS multiprocessors (default 2),
 * each holding KILN_CUDA_EMU_BLOCKS_PER_SM blocks (default 2), or as many as its 2048
 * threads allow, whichever is fewer. Small, so that a launcher that sizes its grid by
 * cudaOccupancyMaxActiveBlocksPerMultiprocessor and the multiprocessor count, and not by
 * its problem, is exercised (4 blocks of 256 by default; an H200 holds up to 132 x 8). */
const int max_threads_per_sm = 2048, max_shared_per_block = 48 * 1024;

int env_count(const char *name, int fallback) {
    const char *e = getenv(name);
    int v = e ? atoi(e) : 0;
    return v > 0 ? v : fallback;
}
int emulated_sms(void) { return env_count("KILN_CUDA_EMU_SMS", 2); }
int emulated_blocks_per_sm(void) { return env_count("KILN_CUDA_EMU_BLOCKS_PER_SM", 2); }

/* Blocks of `threads` threads (1 to 1024; whole warps count) and `shared` bytes one
 * multiprocessor holds at once: 0 when shared is past the block's limit. */
int resident_blocks_per_sm(int threads, size_t shared) {
    if (shared > (size_t)max_shared_per_block) return 0;
    return std::min(max_threads_per_sm / ((threads + 31) / 32 * 32), emulated_blocks_per_sm());
}

/* A synchronizing call on s while s (or, in the legacy stream's case, any stream) captures
 * is not allowed: it invalidates the capture. */
bool refuse_during_capture(stream *s) {
    bool bad = false;
    for (stream *x : streams)
        if (x->capture && (x == s || s == &legacy)) x->capture_invalid = true, bad = true;
    return bad;
}

} // namespace

/* ------------------------------------------------------------------ device side */

void kn_emu_syncthreads(void) { yield_to_scheduler(AT_BLOCK_BARRIER); }

/* The grid's barrier (device.cuh's kn__grid_sync): run_cooperative releases it when every
 * thread of every block waits there; in a launch that is not cooperative, run_block faults. */
void kn_emu_grid_sync(void) { yield_to_scheduler(AT_GRID_BARRIER); }

/* A persistent kernel's wait on its doorbell (device.cuh's kn__door_wait, which reads it):
 * the thread waits until door no longer holds seen; run_cooperative goes on once the host
 * has rung, or parks the launch until then (the scheduler's stack, above). */
void kn_emu_door_wait(const uint32_t *door, uint32_t seen) {
    fibers[current].door = door;
    fibers[current].door_seen = seen;
    yield_to_scheduler(AT_DOOR);
}

/* Lanes and warps count from the running block's first fiber (block_base: in a cooperative
 * launch every block's threads have fibers, side by side). */
int kn_emu_lane(void) { return (current - block_base) % 32; }

namespace {

/* A shuffle's wait for the rest of its warp, lanes [warp, end). Without ThreadSanitizer the
 * lanes hand the wait on among themselves: the next lane that has not arrived runs, and the
 * last to arrive releases the warp and runs its first lane; the scheduler (run_block) is
 * entered only when the warp cannot go on by itself (a lane exited or waits elsewhere: a
 * fault it reports). One switch a lane instead of two, and no scan of the block's threads:
 * the shuffles' reductions were most of the emulator's time in the small-batch chain. */
void warp_barrier(int warp, int end) {
    if (tsan_on()) { /* (its fibers are switched with the scheduler's) */
        yield_to_scheduler(AT_WARP_BARRIER);
        return;
    }
    int me = current, next = -1, live = 0, waiting = 0, n = end - warp;
    fibers[me].state = AT_WARP_BARRIER;
    for (int k = (reverse ? end - 1 - me : me - warp) + 1; k < n && next < 0; k++) { /* the lanes after it */
        int i = reverse ? end - 1 - k : warp + k;
        if (fibers[i].state == RUNNABLE) next = i;
    }
    for (int k = 0; k < n && next < 0; k++) { /* none: then the whole warp (before it, and the counts) */
        int i = reverse ? end - 1 - k : warp + k;
        int st = fibers[i].state;
        if (st == RUNNABLE) next = i;
        live += st != EXITED, waiting += st == AT_WARP_BARRIER;
    }
    if (next < 0 && waiting == live) { /* the last to arrive: the warp goes on, first lane first */
        for (int k = 0; k < end - warp; k++) {
            int i = reverse ? end - 1 - k : warp + k;
            if (fibers[i].state == AT_WARP_BARRIER) {
                fibers[i].state = RUNNABLE;
                if (next < 0) next = i;
            }
        }
    }
    if (next < 0) {
        yield_to_scheduler(AT_WARP_BARRIER);
        return;
    }
    if (next == me) return;
    current = next;
    kn_emu_at.thread = fibers[next].idx;
    kn_emu_switch(&fibers[me].sp, fibers[next].sp);
}

} // namespace

uint64_t kn_emu_warp_exchange(unsigned mask, uint64_t v, int src_lane) {
    int thread = current - block_base, warp = current - thread % 32;
    int block_threads = (int)(kn_emu_at.block_dim.x * kn_emu_at.block_dim.y * kn_emu_at.block_dim.z);
    int end = warp + 32 < block_base + block_threads ? warp + 32 : block_base + block_threads;
    if (mask != 0xffffffffu) faultf("kernel %s: a shuffle with mask %#x (the emulator knows full warps only)", kernel_name, mask);
    /* Each lane's slot alternates between two from one shuffle to the next, so one wait a
     * shuffle is enough: a lane writes its slot for the next shuffle only after every lane
     * has come to that one, having read this one's. */
    unsigned slot = fibers[current].shuffles++ & 1;
    exchange[2 * (size_t)current + slot] = v;
    warp_barrier(warp, end); /* every lane has published */
    int src = warp + src_lane;
    uint64_t r = v;
    /* (a lane that has made this shuffle may exit before the others read it: its slot holds) */
    if (src_lane < 0 || src_lane >= 32 || src - block_base >= block_threads ||
        (fibers[src].state == EXITED && fibers[src].shuffles < fibers[current].shuffles))
        faultf("kernel %s: thread %d shuffles from lane %d, which %s", kernel_name, thread, src_lane,
               src - block_base >= block_threads || src_lane < 0 || src_lane >= 32 ? "is not in the block" : "has exited");
    else
        r = exchange[2 * (size_t)src + slot];
    return r;
}

void kn_emu_submit(cudaStream_t s, kn_emu_kernel &&k) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    const dim3 &g = k.grid, &b = k.block;
    uint64_t threads = (uint64_t)b.x * b.y * b.z;
    if (!g.x || !g.y || !g.z || !b.x || !b.y || !b.z || threads > 1024 || b.x > 1024 || b.y > 1024 || b.z > 64 ||
        g.x > 2147483647u || g.y > 65535 || g.z > 65535 || k.shared > 48 * 1024) {
        fprintf(stderr, "cuda-emu: kernel %s: launch of (%u,%u,%u) blocks of (%u,%u,%u) threads refused\n", k.name, g.x,
                g.y, g.z, b.x, b.y, b.z);
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    uint64_t blocks = (uint64_t)g.x * g.y * g.z, capacity = (uint64_t)emulated_sms() * resident_blocks_per_sm((int)threads, k.shared);
    if (k.cluster && (g.x != k.cluster || g.y != 1 || g.z != 1 || k.cluster > 16 || !k.coop)) {
        fprintf(stderr, "cuda-emu: kernel %s: cluster launch of (%u,%u,%u) blocks in clusters of %u refused (the emulator "
                "runs one cluster a launch, of at most 16)\n", k.name, g.x, g.y, g.z, k.cluster);
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    if (k.coop && !k.cluster && blocks > capacity) { /* its blocks could not all be resident: a grid barrier would never open */
        fprintf(stderr, "cuda-emu: kernel %s: cooperative launch of %llu blocks of %llu threads refused (the device holds "
                "%llu at once)\n", k.name, (unsigned long long)blocks, (unsigned long long)threads, (unsigned long long)capacity);
        last_error = cudaErrorCooperativeLaunchTooLarge;
        return;
    }
    work w;
    w.kind = work::KERNEL;
    w.name = k.name;
    w.kernel = std::move(k);
    cudaError_t e = submit(s, std::move(w));
    if (e) last_error = e;
}

/* ------------------------------------------------------------------ emu_api.h */

extern "C" cudaError_t kn_emu_enqueue_host(cudaStream_t s, const char *name, void (*fn)(void *), const void *args,
                                           size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (!fn) return cudaErrorInvalidValue;
    work w;
    w.kind = work::HOST;
    w.name = name ? name : "host work";
    w.fn = fn;
    w.args = std::make_shared<std::vector<unsigned char>>((const unsigned char *)args,
                                                           (const unsigned char *)args + (args ? bytes : 0));
    return submit(s, std::move(w));
}

extern "C" int kn_emu_device_range(const void *p, size_t bytes) {
    api_lock lock;
    return device_range(p, bytes);
}

/* kn__pdl_wait (device.cuh) on the emulator: the launches before have all run already;
 * only noted, for the check above. */
void kn_emu_pdl_wait(void) {
    pdl_waited[running_block] = 1;
    tsan_acquire(&kernel_end_sync);
}

/* The running block's memory for the __shared__ declaration at site: the same for all its
 * threads, another for each block; 0xff bytes until written. */
/* Block b's memory for a __shared__ declaration's site, made (0xff bytes) at its first use:
 * the block's own declaration, or another block's map into it (kn_emu_shared_map). */
void *shared_of(size_t b, const kn_emu_shared_site *site, size_t bytes) {
    auto &slots = shared[b];
    for (auto &e : slots)
        if (e.site == site) return e.p;
    tsan_ignored quiet; /* new memory: no history (not a write of this thread's) */
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "cuda-emu: out of memory for shared memory\n");
        abort();
    }
    memset(p, 0xff, bytes);
    slots.push_back({site, p, bytes});
    return p;
}

void *kn_emu_shared_slot(const kn_emu_shared_site *site, size_t bytes) {
    return shared_of(coop_launch ? running_block : 0, site, bytes);
}

void *kn_emu_shared_map(const void *p, unsigned rank) {
    if (!cluster_launch || rank >= shared.size() || rank >= cluster_launch) {
        faultf("kernel %s: kn__cluster_map to block %u%s", kernel_name, rank,
                     cluster_launch ? " of a smaller cluster" : " in a launch that is not a cluster (KN_LAUNCH_CLUSTER)");
        return (void *)p; /* (the fault ends the launch at the next switch) */
    }
    for (const auto &e : shared[running_block]) {
        const char *base = (const char *)e.p;
        if ((const char *)p >= base && (const char *)p < base + e.bytes)
            return (char *)shared_of(rank, e.site, e.bytes) + ((const char *)p - base);
    }
    faultf("kernel %s: kn__cluster_map of %p, not in the block's shared memory", kernel_name, p);
    return (void *)p;
}

extern "C" void kn_emu_fault(const char *fmt, ...) {
    api_lock lock;
    va_list ap;
    va_start(ap, fmt);
    fault(fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ the runtime API */

#define LOCK std::lock_guard<std::recursive_mutex> lock_(big_lock)

extern "C" {

cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return cudaErrorInvalidValue;
    const char *e = getenv("KILN_CUDA_EMU_DEVICES");
    *count = e ? atoi(e) : 1;
    return *count > 0 ? cudaSuccess : cudaErrorNoDevice;
}

static bool valid_device(int device) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && device >= 0 && device < n;
}

/* The host thread's device, as cudaSetDevice chose it (one memory for all, see above). */
static thread_local int current_device = 0;

cudaError_t cudaSetDevice(int device) {
    if (!valid_device(device)) return cudaErrorInvalidDevice;
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device) {
    if (!device) return cudaErrorInvalidValue;
    *device = current_device;
    return cudaSuccess;
}

/* The emulated device's attributes (those kiln asks, and the capacity's); others are
 * cudaErrorInvalidValue, with a line saying so. */
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device) {
    if (!value) return cudaErrorInvalidValue;
    if (!valid_device(device)) return cudaErrorInvalidDevice;
    switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = emulated_sms(); break;
    case cudaDevAttrCooperativeLaunch: *value = 1; break;
    case cudaDevAttrMaxBlocksPerMultiprocessor: *value = emulated_blocks_per_sm(); break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = max_threads_per_sm; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = max_shared_per_block; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrCanMapHostMemory: *value = 1; break;
    case cudaDevAttrUnifiedAddressing: *value = 1; break;
    case cudaDevAttrClusterLaunch: *value = 1; break; /* (one cluster a launch: KN_LAUNCH_CLUSTER) */
    default:
        fprintf(stderr, "cuda-emu: cudaDeviceGetAttribute: attribute %d is not emulated\n", (int)attr);
        return cudaErrorInvalidValue;
    }
    return cudaSuccess;
}

/* The same values as cudaDeviceGetAttribute's, the rest zero. */
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device) {
    if (!prop) return cudaErrorInvalidValue;
    if (!valid_device(device)) return cudaErrorInvalidDevice;
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "kiln CUDA emulator");
    prop->totalGlobalMem = total_bytes;
    prop->sharedMemPerBlock = (size_t)max_shared_per_block;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = 1024, prop->maxThreadsDim[1] = 1024, prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 2147483647, prop->maxGridSize[1] = 65535, prop->maxGridSize[2] = 65535;
    prop->major = 9, prop->minor = 0;
    prop->multiProcessorCount = emulated_sms();
    prop->canMapHostMemory = 1;
    prop->unifiedAddressing = 1;
    prop->maxThreadsPerMultiProcessor = max_threads_per_sm;
    prop->cooperativeLaunch = 1;
    prop->maxBlocksPerMultiProcessor = emulated_blocks_per_sm();
    return cudaSuccess;
}

/* Blocks of blockSize threads one multiprocessor holds at once (the capacity above; func,
 * any kernel, is not looked at). */
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, const void *func, int blockSize,
                                                          size_t dynamicSMemSize) {
    if (!numBlocks || !func || blockSize < 1 || blockSize > 1024) return cudaErrorInvalidValue;
    *numBlocks = resident_blocks_per_sm(blockSize, dynamicSMemSize);
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    LOCK;
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return sticky(e);
}

cudaError_t cudaPeekAtLastError(void) {
    LOCK;
    return sticky(last_error);
}

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorCooperativeLaunchTooLarge: return "cudaErrorCooperativeLaunchTooLarge";
    default: return "cudaErrorUnknown";
    }
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure (emulator fault: see the cuda-emu line above)";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorCooperativeLaunchTooLarge: return "too many blocks in cooperative launch";
    default: return cudaGetErrorName(e);
    }
}

/* Device memory reads 0xff bytes until written. A large allocation maps a file of 0xff bytes
 * (a memfd, made at the first such allocation) copy-on-write instead of filling its pages:
 * pages never touched (cuBLASLt's 32 MB workspace, which the emulator's cuBLASLt never
 * uses) cost nothing, where a fill faulted in every page of every graph's workspace (most
 * of test_cuda_ops's time). Its mapping, or null where it cannot be made (then: a fill). */
const size_t ff_file_bytes = (size_t)64 << 20, ff_file_from = (size_t)1 << 20;
static void *map_ff(size_t map_bytes) {
    static int fd = -2;
    if (map_bytes > ff_file_bytes) return nullptr;
    if (fd == -2) {
        fd = memfd_create("kn-emu-0xff", MFD_CLOEXEC);
        static unsigned char ff[1 << 16];
        memset(ff, 0xff, sizeof ff);
        for (size_t at = 0; fd >= 0 && at < ff_file_bytes; at += sizeof ff)
            if (write(fd, ff, sizeof ff) != (ssize_t)sizeof ff) {
                close(fd);
                fd = -1;
            }
    }
    if (fd < 0) return nullptr;
    void *m = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
    return m == MAP_FAILED ? nullptr : m;
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
    LOCK;
    if (!p) return cudaErrorInvalidValue;
    *p = nullptr;
    if (device_bytes + bytes > total_bytes) return cudaErrorMemoryAllocation;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), body = (bytes + 255) & ~(size_t)255;
    if (!body) body = 256;
    size_t map_bytes = (body + page - 1) / page * page + page;
    tsan_ignored quiet; /* new memory: no history, and its filling no thread's write */
    void *m = body >= ff_file_from ? map_ff(map_bytes) : nullptr;
    bool filled = m != nullptr;
    if (!m) m = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return cudaErrorMemoryAllocation;
    char *guard = (char *)m + map_bytes - page;
    mprotect(guard, page, PROT_NONE);
    char *start = guard - body;
    if (!filled) memset(start, 0xff, body);
    regions[(uintptr_t)start] = region{bytes, m, map_bytes, true, false};
    device_bytes += bytes;
    *p = start;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
    LOCK;
    if (!p) return cudaSuccess;
    if (refuse_during_capture(&legacy)) return cudaErrorStreamCaptureUnsupported;
    drain_all(); /* cudaFree waits for the device */
    auto it = regions.find((uintptr_t)p);
    if (it == regions.end() || !it->second.device) {
        faultf("cudaFree(%p): not the start of a live device allocation", p);
        return cudaErrorInvalidValue;
    }
    device_bytes -= it->second.bytes;
    munmap(it->second.map, it->second.map_bytes);
    regions.erase(it);
    return sticky(cudaSuccess);
}

cudaError_t cudaMallocHost(void **p, size_t bytes) {
    LOCK;
    if (!p) return cudaErrorInvalidValue;
    void *m = nullptr;
    if (posix_memalign(&m, 4096, bytes ? bytes : 1)) return cudaErrorMemoryAllocation;
    memset(m, 0xa5, bytes);
    regions[(uintptr_t)m] = region{bytes, m, bytes, false, false};
    *p = m;
    return cudaSuccess;
}

/* cudaHostAllocMapped: a kernel may use the block through cudaHostGetDevicePointer's
 * pointer, which under unified addressing is the host's own (as on kiln's GPUs). */
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int flags) {
    cudaError_t e = cudaMallocHost(p, bytes);
    if (e == cudaSuccess && (flags & cudaHostAllocMapped)) {
        LOCK;
        regions[(uintptr_t)*p].mapped = true;
    }
    return e;
}

cudaError_t cudaHostGetDevicePointer(void **dev, void *host, unsigned int flags) {
    LOCK;
    uintptr_t start;
    const region *r = find_region(host, &start);
    if (!dev || flags || !r || r->device || !r->mapped) {
        faultf("cudaHostGetDevicePointer(%p): not mapped pinned memory", host);
        return sticky(cudaErrorInvalidValue);
    }
    *dev = host;
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void *p) {
    LOCK;
    if (!p) return cudaSuccess;
    drain_all();
    auto it = regions.find((uintptr_t)p);
    if (it == regions.end() || it->second.device) {
        faultf("cudaFreeHost(%p): not the start of a pinned allocation", p);
        return cudaErrorInvalidValue;
    }
    free(it->second.map);
    regions.erase(it);
    return sticky(cudaSuccess);
}

cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total) {
    LOCK;
    if (free_b) *free_b = total_bytes - device_bytes;
    if (total) *total = total_bytes;
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags) {
    LOCK;
    if (!s) return cudaErrorInvalidValue;
    stream *x = new stream{flags, {}, nullptr, false};
    streams.push_back(x);
    *s = (cudaStream_t)x;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t h) {
    LOCK;
    stream *s = get_stream(h);
    if (!s || s == &legacy) return cudaErrorInvalidResourceHandle;
    drain(s); /* queued work still completes */
    for (size_t i = 0; i < streams.size(); i++)
        if (streams[i] == s) streams.erase(streams.begin() + (long)i);
    delete s->capture;
    delete s;
    return sticky(cudaSuccess);
}

cudaError_t cudaStreamSynchronize(cudaStream_t h) {
    LOCK;
    stream *s = get_stream(h);
    if (!s) return cudaErrorInvalidResourceHandle;
    if (refuse_during_capture(s)) return cudaErrorStreamCaptureUnsupported;
    drain(s);
    return sticky(cudaSuccess);
}

cudaError_t cudaStreamQuery(cudaStream_t h) {
    LOCK;
    stream *s = get_stream(h);
    if (!s) return cudaErrorInvalidResourceHandle;
    if (refuse_during_capture(s)) return cudaErrorStreamCaptureUnsupported;
    drain_query = true;
    drain(s); /* the queue "completes" when asked about, but a persistent kernel waiting on its doorbell */
    drain_query = false;
    return sticky(parked_stream == s ? cudaErrorNotReady : cudaSuccess);
}

cudaError_t cudaDeviceSynchronize(void) {
    LOCK;
    if (refuse_during_capture(&legacy)) return cudaErrorStreamCaptureUnsupported;
    drain_all();
    return sticky(cudaSuccess);
}

static cudaError_t copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t h, bool sync) {
    if (!bytes) return sticky(cudaSuccess);
    if (!dst || !src) return cudaErrorInvalidValue;
    if (kind == cudaMemcpyDefault)
        kind = device_range(src, 1) ? (device_range(dst, 1) ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost)
                                    : (device_range(dst, 1) ? cudaMemcpyHostToDevice : cudaMemcpyHostToHost);
    bool dev_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool dev_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (dev_dst != device_range(dst, bytes) || dev_src != device_range(src, bytes)) {
        fprintf(stderr, "cuda-emu: %s of %zu bytes from %p to %p: the pointers do not match the kind %d\n",
                sync ? "cudaMemcpy" : "cudaMemcpyAsync", bytes, src, dst, (int)kind);
        return cudaErrorInvalidValue;
    }
    stream *s = sync ? &legacy : get_stream(h);
    if (!s) return cudaErrorInvalidResourceHandle;
    const void *host = dev_dst ? src : dst;
    bool pageable = kind != cudaMemcpyDeviceToDevice && !pinned(host);
    if (s->capture && pageable) { /* a capture cannot hold a copy of pageable memory */
        s->capture_invalid = true;
        return cudaErrorStreamCaptureUnsupported;
    }
    if (sync && refuse_during_capture(&legacy)) return cudaErrorStreamCaptureUnsupported;
    work w;
    w.kind = work::COPY;
    w.name = sync ? "cudaMemcpy" : "cudaMemcpyAsync";
    w.dst = dst;
    w.src = src;
    w.bytes = bytes;
    w.copy_kind = kind;
    if (pageable && kind == cudaMemcpyHostToDevice) /* staged at the call */
        w.staged = std::make_shared<std::vector<unsigned char>>((const unsigned char *)src, (const unsigned char *)src + bytes);
    cudaError_t e = submit(sync ? 0 : h, std::move(w));
    if (e) return e;
    if (sync) drain(&legacy); /* returns when done (blocking streams were drained before it) */
    return sticky(cudaSuccess);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    LOCK;
    return copy(dst, src, bytes, kind, 0, true);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    LOCK;
    return copy(dst, src, bytes, kind, s, false);
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t s) {
    LOCK;
    if (!bytes) return sticky(cudaSuccess);
    if (!device_range(dst, bytes)) return cudaErrorInvalidValue;
    work w;
    w.kind = work::MEMSET;
    w.name = "cudaMemsetAsync";
    w.dst = dst;
    w.bytes = bytes;
    w.value = value;
    return submit(s, std::move(w));
}

cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
    LOCK;
    cudaError_t e = cudaMemsetAsync(dst, value, bytes, 0);
    if (e) return e;
    drain(&legacy);
    return sticky(cudaSuccess);
}

cudaError_t cudaStreamBeginCapture(cudaStream_t h, cudaStreamCaptureMode mode) {
    LOCK;
    (void)mode;
    stream *s = get_stream(h);
    if (!s) return cudaErrorInvalidResourceHandle;
    if (s == &legacy) return cudaErrorStreamCaptureUnsupported;
    if (s->capture) return cudaErrorIllegalState;
    s->capture = new graph;
    s->capture_invalid = false;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t h, cudaGraph_t *out) {
    LOCK;
    stream *s = get_stream(h);
    if (!s) return cudaErrorInvalidResourceHandle;
    if (!s->capture) return cudaErrorIllegalState;
    graph *gr = s->capture;
    bool invalid = s->capture_invalid;
    s->capture = nullptr;
    s->capture_invalid = false;
    if (invalid) {
        delete gr;
        if (out) *out = nullptr;
        return cudaErrorStreamCaptureInvalidated;
    }
    if (!out) {
        delete gr;
        return cudaErrorInvalidValue;
    }
    *out = (cudaGraph_t)gr;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t g, unsigned long long flags) {
    LOCK;
    (void)flags;
    if (!exec || !g) return cudaErrorInvalidValue;
    *exec = (cudaGraphExec_t) new graph(*(graph *)g);
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t h) {
    LOCK;
    if (!exec) return cudaErrorInvalidValue;
    for (const work &w : ((graph *)exec)->nodes) {
        work copy_of = w;
        cudaError_t e = submit(h, std::move(copy_of));
        if (e) return e;
    }
    return sticky(cudaSuccess);
}

/* The captured graph's node count (the nodes themselves are not handed out: *num only). */
cudaError_t cudaGraphGetNodes(cudaGraph_t g, cudaGraphNode_t *nodes, size_t *num) {
    LOCK;
    if (!g || !num || nodes) {
        if (nodes) fprintf(stderr, "cuda-emu: cudaGraphGetNodes: only the count is emulated\n");
        return cudaErrorInvalidValue;
    }
    *num = ((graph *)g)->nodes.size();
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    LOCK;
    delete (graph *)g;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    LOCK;
    delete (graph *)e;
    return cudaSuccess;
}

} /* extern "C" */

static_assert(sizeof(void *) == 8, "the emulator assumes 64-bit pointers");
