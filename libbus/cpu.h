/*
 * cpu.h - hints to the processor.
 */
#ifndef BUS_CPU_H
#define BUS_CPU_H

/* One turn of a spin-wait loop (x86 pause, AArch64 yield). */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::
	                             : "memory");
#endif
}

#endif
