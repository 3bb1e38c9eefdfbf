/* Thread pool over shared memory, per-instance stack set-up, memory helpers.
 *
 * Every thread is one instance of the same module on one shared memory. Thread 0 calls the
 * model's run(); threads 1.. sit in wd_worker(), spinning or waiting in memory.atomic.wait32 until
 * wd_parallel() publishes a job (a new generation number), then take tasks with an atomic
 * counter. Without shared memory there is one thread and wd_parallel() is a plain loop. */
#include "wdnn.h"

int wd_nthreads = 1;
char* wd_scratch;
int wd_scratch_bytes;

/* pool_word = generation << 16 | next unclaimed task. A thread claims a task with a compare-and-swap
 * on the whole word, so a thread that wakes late can never run a task of a job that is over; and the
 * caller waits for the tasks to be done, not for every thread to show up (on a busy machine a
 * descheduled helper costs nothing). */
static volatile uint32_t pool_word;
static volatile int pool_done, pool_n, pool_chunk;
static wd_task_fn volatile pool_fn;
static const void* volatile pool_arg;

/* Helper threads spin on the pool word for the whole of a run (wd_run_begin .. wd_run_end), so that a
 * job published between two short kernels starts at once instead of after a wake-up (in a browser
 * an atomic notify can take tens of microseconds to reach a sleeping worker). Outside a run, or
 * after SPIN_RUN idle polls within one (a long single-threaded kernel), they nap: a wait with a
 * timeout (NAP_NS) on a word nobody notifies, so each helper wakes by its own core's timer and stays
 * on its core. Only after NAPS naps in a row (about a second without a job) does a helper sleep
 * until notified. Why not sleep at once: a thread woken by another thread's notify is often placed
 * on the waker's core (the scheduler may take the other core, idle in a halt, for busy; virtual
 * machines do), and two threads that spin on one core run a model slower than one thread until the
 * scheduler moves one away, milliseconds later. A model run every few tens of milliseconds (a
 * camera loop) would pay that on every run; napping helpers join a run within NAP_NS instead. */
#define SPIN 20000
#define SPIN_RUN (1 << 21)
#define NAP_NS 500000
#define NAPS 2000
#define WAIT_NS 50000 /* the caller's waits for the last tasks of a job: it polls again after this */
static volatile int pool_active;
static volatile int pool_nap_word;  /* never notified */
static volatile int pool_sleepers;  /* helpers in a sleep that only a notify ends */
void wd_run_begin(void) { __atomic_store_n(&pool_active, 1, __ATOMIC_SEQ_CST); }
void wd_run_end(void) { __atomic_store_n(&pool_active, 0, __ATOMIC_SEQ_CST); }
#define CLOSED 0xffffu  /* next-task field while a job is being set up */

/* Claims and runs tasks of generation gen until none is left, pool_chunk consecutive tasks per claim:
 * a job of many small tasks (a reduction or a pooling per channel) would otherwise pass the pool word
 * between the cores once per task. */
static void run_tasks(uint32_t gen, int tid) {
  for (;;) {
    uint32_t w = __atomic_load_n(&pool_word, __ATOMIC_SEQ_CST);
    if ((w >> 16) != gen) return;
    uint32_t t = w & 0xffff;
    if (t == CLOSED) continue;  /* the caller is still filling in the job */
    int n = pool_n;
    if ((int)t >= n) return;
    uint32_t end = (int)t + pool_chunk < n ? t + (uint32_t)pool_chunk : (uint32_t)n;
    if (!__atomic_compare_exchange_n(&pool_word, &w, (w & 0xffff0000u) | end, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      continue;
    for (uint32_t i = t; i < end; i++) pool_fn(pool_arg, (int)i, tid);  /* the job cannot end before these are done */
    if (__atomic_add_fetch(&pool_done, (int)(end - t), __ATOMIC_SEQ_CST) == n)
      __builtin_wasm_memory_atomic_notify((int*)&pool_done, 1);
  }
}

void wd_parallel(int n, wd_task_fn fn, const void* arg) {
  if (wd_nthreads <= 1 || n <= 1) {
    for (int t = 0; t < n; t++) fn(arg, t, 0);
    return;
  }
  if (n >= (int)CLOSED) {  /* the task index has 16 bits: a longer job runs on this thread */
    for (int t = 0; t < n; t++) fn(arg, t, 0);
    return;
  }
  /* close the new generation first: a thread holding a stale word can no longer claim anything,
   * then fill in the job, then open it */
  uint32_t gen = ((__atomic_load_n(&pool_word, __ATOMIC_SEQ_CST) >> 16) + 1) & 0xffff;
  __atomic_store_n(&pool_word, gen << 16 | CLOSED, __ATOMIC_SEQ_CST);
  pool_fn = fn;
  pool_arg = arg;
  pool_n = n;
  pool_chunk = n / (8 * wd_nthreads) > 1 ? n / (8 * wd_nthreads) : 1;  /* still 8 claims per thread */
  __atomic_store_n(&pool_done, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&pool_word, gen << 16, __ATOMIC_SEQ_CST);
  /* a helper that sleeps (the increment comes before its wait, and the wait returns at once if the
   * word changed since the helper read it) needs the notify; napping and spinning ones see the word */
  if (__atomic_load_n(&pool_sleepers, __ATOMIC_SEQ_CST)) __builtin_wasm_memory_atomic_notify((int*)&pool_word, (unsigned)-1);
  run_tasks(gen, 0);
  int spin = 0, d;
  while ((d = __atomic_load_n(&pool_done, __ATOMIC_SEQ_CST)) != n) {
    /* the helper that finishes the last task notifies; the timeout bounds a wait on a late helper */
    if (++spin > SPIN) __builtin_wasm_memory_atomic_wait32((int*)&pool_done, d, WAIT_NS);
  }
}

/* A helper thread's loop; never returns (the runtime terminates the worker). */
WD_EXPORT(wd_worker) void wd_worker(int tid) {
  uint32_t seen = 0;  /* generations start at 1 */
  for (;;) {
    uint32_t w;
    int spin = 0, naps = 0;
    while (((w = __atomic_load_n(&pool_word, __ATOMIC_SEQ_CST)) >> 16) == seen) {
      if (++spin > (__atomic_load_n(&pool_active, __ATOMIC_SEQ_CST) ? SPIN_RUN : SPIN)) {
        if (naps < NAPS) {
          __builtin_wasm_memory_atomic_wait32((int*)&pool_nap_word, 0, NAP_NS);
          naps++;
        } else {
          __atomic_add_fetch(&pool_sleepers, 1, __ATOMIC_SEQ_CST);
          __builtin_wasm_memory_atomic_wait32((int*)&pool_word, (int)w, -1);
          __atomic_sub_fetch(&pool_sleepers, 1, __ATOMIC_SEQ_CST);
          naps = 0;
        }
        spin = SPIN_RUN;  /* after a nap: one look at the word, then the next nap */
      }
    }
    seen = w >> 16;
    run_tasks(seen, tid);
  }
}

/* Each instance starts with the linker's stack pointer; helper threads get their own stack. */
WD_EXPORT(wd_set_stack) void wd_set_stack(int sp) {
  __asm__ volatile("local.get %0\n\tglobal.set __stack_pointer" ::"r"(sp));
}

/* ---- memory helpers (the compiler may call these; bulk-memory makes them single instructions) */
void* memcpy(void* dst, const void* src, size_t n) { __builtin_memcpy(dst, src, n); return dst; }
void* memmove(void* dst, const void* src, size_t n) { __builtin_memmove(dst, src, n); return dst; }
void* memset(void* dst, int c, size_t n) { __builtin_memset(dst, c, n); return dst; }

void wd_copy(void* dst, const void* src, size_t bytes) { __builtin_memmove(dst, src, bytes); }

void wd_copy2d(void* dst, int dst_stride, const void* src, int src_stride, int rows, int row_bytes) {
  char* d = (char*)dst;
  const char* s = (const char*)src;
  for (int r = 0; r < rows; r++) __builtin_memmove(d + (size_t)r * dst_stride, s + (size_t)r * src_stride, row_bytes);
}

uint32_t wd_plan_arena(int n, const uint32_t* size, const int32_t* first, const int32_t* last, uint32_t* off,
                       int32_t* order, uint32_t* tmp, uint32_t align) {
  /* largest first (ties: earliest first), as memory.plan() orders a static plan */
  for (int i = 0; i < n; i++) {
    int j = i;
    while (j > 0 && (size[order[j - 1]] < size[i] || (size[order[j - 1]] == size[i] && first[order[j - 1]] > first[i]))) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  uint32_t top = 0;
  for (int a = 0; a < n; a++) {
    int g = order[a];
    uint32_t need = (size[g] + align - 1) / align * align;
    if (need == 0) need = align;
    int busy = 0;  /* [lo, hi) of the placed groups alive at the same time, sorted by lo */
    for (int b = 0; b < a; b++) {
      int h = order[b];
      if (last[h] < first[g] || last[g] < first[h]) continue;
      uint32_t lo = off[h], hi = off[h] + (size[h] + align - 1) / align * align;
      if (hi == lo) hi = lo + align;
      int k = busy;
      while (k > 0 && tmp[2 * (k - 1)] > lo) {
        tmp[2 * k] = tmp[2 * (k - 1)];
        tmp[2 * k + 1] = tmp[2 * (k - 1) + 1];
        k--;
      }
      tmp[2 * k] = lo;
      tmp[2 * k + 1] = hi;
      busy++;
    }
    uint32_t cursor = 0, best = 0xffffffffu, best_gap = 0xffffffffu;
    for (int k = 0; k < busy; k++) {
      uint32_t lo = tmp[2 * k], hi = tmp[2 * k + 1];
      if (lo > cursor && lo - cursor >= need && lo - cursor < best_gap) {
        best = cursor;
        best_gap = lo - cursor;
      }
      if (hi > cursor) cursor = hi;
    }
    off[g] = best != 0xffffffffu ? best : cursor;
    if (off[g] + need > top) top = off[g] + need;
  }
  return top;
}
