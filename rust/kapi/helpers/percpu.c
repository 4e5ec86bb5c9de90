// SPDX-License-Identifier: GPL-2.0
/*
 * Per-CPU u64 counters (kame_helpers.h): the allocator, this_cpu_add() and
 * the fold over possible CPUs are macros or inlines.  The area crosses to
 * Rust as a plain pointer that only these helpers dereference.
 */
#include <linux/percpu.h>

#include "kame_helpers.h"

KAME_INLINE
void *kame_percpu_u64_alloc(unsigned int n)
{
	return (void __force *)__alloc_percpu(n * sizeof(u64), __alignof__(u64));
}

KAME_INLINE
void kame_percpu_free(void *p)
{
	free_percpu((void __percpu __force *)p);
}

KAME_INLINE
void kame_percpu_u64_add(void *p, unsigned int i, u64 n)
{
	this_cpu_add(((u64 __percpu __force *)p)[i], n);
}

KAME_INLINE
u64 kame_percpu_u64_sum(const void *p, unsigned int i)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(*per_cpu_ptr((u64 __percpu __force *)p + i, cpu));
	return sum;
}
