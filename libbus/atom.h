/*
 * atom.h - named-ordering helpers for fields shared between processes.
 *
 * Every access to a shared field goes through one of these, so the ordering
 * is visible at the call site and each call carries a comment saying what
 * it orders.  They are thin wrappers over C11 <stdatomic.h> (and GCC's
 * __atomic builtins for a field not declared _Atomic); the _sc forms
 * are sequentially consistent and are used only for the two store-then-load
 * (Dekker) handshakes of the wait protocol (see wait.h).
 */
#ifndef BUS_ATOM_H
#define BUS_ATOM_H

#include <stdatomic.h>

#define atom_load_relaxed(p)     atomic_load_explicit((p), memory_order_relaxed)
#define atom_load_acquire(p)     atomic_load_explicit((p), memory_order_acquire)
#define atom_load_sc(p)          atomic_load_explicit((p), memory_order_seq_cst)
#define atom_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define atom_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define atom_store_sc(p, v)      atomic_store_explicit((p), (v), memory_order_seq_cst)

/*
 * A field not declared _Atomic that another process may write meanwhile
 * (a record's header words): one relaxed reading, never torn.
 */
#define atom_load_relaxed_plain(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* Read-modify-writes; each returns the value before. */
#define atom_fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define atom_fetch_add_sc(p, v)      atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define atom_fetch_or_sc(p, v)       atomic_fetch_or_explicit((p), (v), memory_order_seq_cst)
#define atom_exchange_acquire(p, v)  atomic_exchange_explicit((p), (v), memory_order_acquire)

/*
 * atom_cas_<order>(p, e, d): strong compare-and-swap of *p from *e (the
 * expected value) to d (the desired one), with the named ordering on
 * success.  A failed CAS orders nothing here (relaxed); it stores what it
 * found in *e.  Returns true on success.  atom_cas_() is their common form.
 */
#define atom_cas_(p, expected, desired, order)                              \
	atomic_compare_exchange_strong_explicit((p), (expected), (desired), \
	                                        (order), memory_order_relaxed)
#define atom_cas_relaxed(p, e, d) atom_cas_((p), (e), (d), memory_order_relaxed)
#define atom_cas_release(p, e, d) atom_cas_((p), (e), (d), memory_order_release)
#define atom_cas_acq_rel(p, e, d) atom_cas_((p), (e), (d), memory_order_acq_rel)
#define atom_cas_sc(p, e, d)      atom_cas_((p), (e), (d), memory_order_seq_cst)

/* Single-writer counter bump: only the owner writes, readers may load. */
#define atom_counter_add(p, n) atom_store_relaxed((p), atom_load_relaxed(p) + (n))

#endif
