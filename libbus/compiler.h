/*
 * compiler.h - what is asked of the compiler itself, not of the
 * processor: inlining on the fast paths and a barrier to its reordering.
 */
#ifndef BUS_COMPILER_H
#define BUS_COMPILER_H

#include <stdatomic.h>

/*
 * A fast-path helper that must be inlined into its public function even
 * when it has several callers: a call and its register saves cost as
 * much as the work inside.
 */
#define COMPILER_HOT_INLINE static inline __attribute__((always_inline))

/* Keeps the compiler from moving memory accesses across this point. */
#define compiler_barrier() atomic_signal_fence(memory_order_seq_cst)

#endif
